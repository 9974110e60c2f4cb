"""Pupils grouped by the pattern that decides every rule: one fact per pattern goes through durable-rules.

Rules compare features with constants. For each feature the rules read, the constants it is compared with
cut its values into classes: missing, below the smallest constant, equal to it, between it and the next,
... above the largest (for codes and flags: each listed code, or any other). Two pupils whose values fall
in the same class for every feature satisfy exactly the same tests, so they fire the same rules. Evaluating
one representative pupil per distinct pattern and broadcasting its fired rules to the others gives the same
fired matrix; reasons are still filled in from each pupil's own values.

A rule reads only its own features, so the same holds rule by rule (`rule_patterns`): two pupils whose
values fall in the same classes of one rule's tests fire that rule alike. Durable-rules then sees one
representative pupil per distinct pattern of each rule (a few dozen a term, where the patterns of all the
features together number a thousand or more), and each rule's column is broadcast from its own
representatives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskengine.rules.language import Condition, RuleSet, Test

_OTHER = object()  # stands for "a code no rule lists"
_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _tests(condition: Condition) -> list[Test]:
    if isinstance(condition, Test):
        return [condition]
    return [test for part in condition.parts for test in _tests(part)]


def rule_tests(rule_set: RuleSet) -> dict[str, list[Test]]:
    """Feature -> every test any rule makes of it."""
    found: dict[str, list[Test]] = {}
    for rule in rule_set.rules:
        for test in _tests(rule.condition):
            found.setdefault(test.feature, []).append(test)
    return {name: list(dict.fromkeys(tests)) for name, tests in found.items()}


def _holds(test: Test, value: Any) -> bool:
    """The documented meaning of one test for one value (None: missing; _OTHER: an unlisted code)."""
    if test.op == "is_missing":
        return (value is None) == test.value
    if value is None:
        return False  # a comparison with a missing value is false, whatever the operator
    if test.op in ("in", "not_in"):
        member = value is not _OTHER and value in test.value
        return member if test.op == "in" else not member
    if value is _OTHER:
        return test.op == "!="
    return bool(_COMPARE[test.op](value, test.value))


def test_constants(tests: list[Test]) -> list:
    """Every constant the tests compare a value with (listed codes included), each once, in order."""
    values: list = []
    for test in tests:
        if test.op in ("in", "not_in"):
            values.extend(test.value)
        elif test.op != "is_missing":
            values.append(test.value)
    return list(dict.fromkeys(values))


def _classes(column: pd.Series, tests: list[Test]) -> tuple[np.ndarray, int]:
    """Each value's class (0..n-1) and the number of classes n: values in one class pass the same tests.

    First the constants cut the values into intervals (or listed codes and "any other"), plus missing;
    then intervals that every test treats alike are merged.
    """
    constants = test_constants(tests)
    known = column.notna().to_numpy(bool)
    numeric = pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)
    if numeric:
        cuts = np.unique(np.asarray([float(c) for c in constants], dtype=float))
        values = column.to_numpy(float, na_value=np.nan)
        # 2i: below cut i (between cut i-1 and cut i); 2i+1: equal to cut i; 2k: above every cut. Two
        # comparisons per cut count the cuts below and at or below each value (a feature has a few cuts,
        # and this is quicker than two searchsorted); NaN sorts after every cut, as searchsorted puts it.
        code = np.where(np.isnan(values), 2 * len(cuts), 0)
        for cut in cuts:
            code += values > cut
            code += values >= cut
        edges = [cuts[0] - 1.0, *cuts, cuts[-1] + 1.0] if len(cuts) else [0.0]
        samples: list[Any] = []
        for i in range(len(cuts) + 1):
            samples.append((edges[i] + edges[i + 1]) / 2 if 0 < i < len(cuts) else edges[i if i == 0 else -1])
            if i < len(cuts):
                samples.append(float(cuts[i]))
    else:
        listed = list(dict.fromkeys(constants))
        found, distinct = pd.factorize(column, use_na_sentinel=True)
        position = {value: i for i, value in enumerate(listed)}
        # each distinct value's class: its place among the listed codes, or one class for any other
        per_value = np.array([position.get(v, len(listed)) for v in distinct.tolist()] + [0], dtype=np.int64)
        code = per_value[found]  # a missing value (-1) is set to its own class below
        samples = [*listed, _OTHER]
    samples.append(None)  # the missing class, last
    code = np.where(known, code, len(samples) - 1)
    signatures: dict[tuple[bool, ...], int] = {}
    merged = np.array(
        [signatures.setdefault(tuple(_holds(t, v) for t in tests), len(signatures)) for v in samples]
    )
    return merged[code].astype(np.int64, copy=False), len(signatures)


@dataclass(frozen=True)
class Patterns:
    """`representatives`: a row number per distinct pattern; `inverse`: each pupil's pattern number."""

    representatives: np.ndarray
    inverse: np.ndarray

    @property
    def count(self) -> int:
        return len(self.representatives)


def distinct_patterns(rule_set: RuleSet, features: pd.DataFrame) -> Patterns:
    """Group pupils (rows of `features`) by the class of every feature the rules read."""
    classes = [_classes(features[name], tests) for name, tests in rule_tests(rule_set).items()]
    return _grouped(classes, len(features))


@dataclass(frozen=True)
class RulePatterns:
    """`rules`: per rule, its pupils grouped by the classes of that rule's tests; `rows`: every rule's
    representatives together, each once (sorted): the pupils whose facts go through durable-rules."""

    rules: tuple[Patterns, ...]
    rows: np.ndarray

    @property
    def count(self) -> int:
        return len(self.rows)

    def broadcast(self, fired: np.ndarray) -> np.ndarray:
        """pupils x rules from `fired` (`rows` x rules): each rule's column from its own representatives."""
        n = len(self.rules[0].inverse) if self.rules else 0
        result = np.zeros((n, len(self.rules)), dtype=bool)
        for j, patterns in enumerate(self.rules):
            result[:, j] = fired[np.searchsorted(self.rows, patterns.representatives), j][patterns.inverse]
        return result


def rule_patterns(rule_set: RuleSet, features: pd.DataFrame) -> RulePatterns:
    """Group pupils rule by rule, by the classes of that rule's own tests (see the module's docstring)."""
    per_rule = []
    for rule in rule_set.rules:
        tests: dict[str, list[Test]] = {}
        for test in _tests(rule.condition):
            tests.setdefault(test.feature, []).append(test)
        classes = [_classes(features[name], list(dict.fromkeys(t))) for name, t in tests.items()]
        per_rule.append(_grouped(classes, len(features)))
    rows = [patterns.representatives for patterns in per_rule]
    return RulePatterns(tuple(per_rule), np.unique(np.concatenate(rows)) if rows else np.zeros(0, np.intp))


def _grouped(codes: list[tuple[np.ndarray, int]], n: int) -> Patterns:
    """The `n` pupils grouped by their classes (`_classes` of each feature) taken together."""
    key = np.zeros(n, dtype=np.int64)
    columns: list[np.ndarray] = []
    radix = 1
    for code, classes in codes:
        if radix * classes < 2**62:  # pack into one integer while it fits, else keep columns apart
            key = key * classes + code
            radix *= classes
        else:
            columns.append(key)
            key, radix = code, classes
    columns.append(key)
    if not n:
        return Patterns(np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp))
    if len(columns) == 1 and radix <= 4 * n:  # few enough possible keys to count them
        first, inverse = _first_and_inverse(columns[0], radix)
    elif len(columns) == 1:
        _, first, inverse = np.unique(columns[0], return_index=True, return_inverse=True)
    else:
        _, first, inverse = np.unique(
            np.column_stack(columns), axis=0, return_index=True, return_inverse=True
        )
    return Patterns(first.astype(np.intp), inverse.reshape(-1).astype(np.intp))


def _first_and_inverse(key: np.ndarray, radix: int) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(key, return_index=True, return_inverse=True)[1:]` for keys below `radix`, by counting
    instead of sorting: a rule's patterns are a handful of small numbers, and this runs per rule and term."""
    seen = np.bincount(key, minlength=radix) > 0
    inverse = (np.cumsum(seen) - 1)[key]  # the key's place among the distinct keys, in order
    first = np.full(int(seen.sum()), len(key), dtype=np.intp)
    np.minimum.at(first, inverse, np.arange(len(key)))  # each distinct key's first row
    return first, inverse
