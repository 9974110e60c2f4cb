"""Turning per-feature contributions into the sentences an adviser reads: top reasons up and down.

A reason's size is what an adviser can weigh: the change in this pupil's model risk, in percentage points,
if that feature alone were at its catalogue reference (`Explanation.risk_points`). Only material reasons
are listed (at least the model spec's `materiality_pp`), and a feature read by a rule that fired for the
pupil is never listed as lowering their risk: the rules and the model must not contradict each other.

Choosing the top reasons is matrix work for all pupils at once; a sentence is rendered once per distinct
(feature, value) among the chosen ones, so a million pupils cost thousands of sentence fills, not millions.
A group of features explained together (the spec's `explain_together`) reads as its features' own catalogue
sentences joined into one reason.

A blank record (a missing-record indicator, such as "Key Stage 2 reading score is not known") is listed as a
reason only where the catalogue words it as a fact an adviser can act on (`when_missing_reason`: "has no Key
Stage 2 reading result on record"); otherwise its effect stays in the stored contributions and the effects
shown beside the pupil's values, and the next material reason takes its place in the list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import reduce
from itertools import chain

import numpy as np
import pandas as pd

from riskengine.features import Catalogue
from riskengine.model.spec import RULE_POINTS

#: Contributions smaller than this (in log-odds) are not worth a sentence.
MIN_CONTRIBUTION = 1e-3
#: Joins the sentences of a group of features explained together into one reason. Not "; ", which
#: separates whole reasons wherever a list of them is written as one text (flag reasons, flags.csv).
GROUP_JOINER = " and "


class _Sentences:
    """Each feature's catalogue sentence per pupil: its values factorised once (for both sides of the
    reasons), and a sentence written only once per distinct value that is asked for."""

    def __init__(self, features: pd.DataFrame, catalogue: Catalogue) -> None:
        self.features, self.catalogue = features, catalogue
        self.codes: dict[str, np.ndarray] = {}
        self.distinct: dict[str, list[object]] = {}
        self.written: dict[str, np.ndarray] = {}

    def __call__(self, name: str, rows: np.ndarray) -> np.ndarray:
        if name not in self.codes:
            if name == RULE_POINTS:  # a NaN is a value of its own here ("rule points were nan")
                values = self.features[name].to_numpy(float, na_value=np.nan)
                codes, distinct = pd.factorize(values, use_na_sentinel=False)
            else:  # the NA sentinel (-1) picks the last, "not known", sentence
                codes, distinct = pd.factorize(self.features[name], use_na_sentinel=True)
            self.codes[name], self.distinct[name] = codes, list(distinct)
            self.written[name] = np.full(len(distinct) + 1, None, dtype=object)
        codes, written = self.codes[name][rows], self.written[name]
        wanted = np.unique(codes)
        for code in wanted[np.equal(written[wanted], None)].tolist():
            value = None if code < 0 else self.distinct[name][code]
            written[code] = (
                f"rule points were {value:g}" if name == RULE_POINTS else self.catalogue.reason(name, value)
            )
        return written[codes]


def _reason_table(
    sentences: _Sentences, name: str, rows: np.ndarray, groups: Mapping[str, Sequence[str]]
) -> np.ndarray:
    """The reason for column `name` (a feature, or a group whose members' sentences are joined)."""
    tables = [sentences(member, rows) for member in groups.get(name, (name,))]
    return reduce(lambda joined, table: joined + GROUP_JOINER + table, tables)


def fired_rule_features(
    fired: Sequence[Sequence[str]],
    rule_features: Mapping[str, Sequence[str]],
    columns: Sequence[str],
    groups: Mapping[str, Sequence[str]] | None = None,
) -> np.ndarray:
    """(pupils x columns) True where a rule that fired for the pupil reads that column's feature (or one
    of its group's features). `fired` is the rule results' list of fired rule ids per pupil."""
    owner = {member: name for name, members in (groups or {}).items() for member in members}
    position = {name: i for i, name in enumerate(columns)}
    rules = list(rule_features)
    reads = np.zeros((len(rules), len(columns)), dtype=np.float32)  # rule x column: the rule reads it
    for r, rule in enumerate(rules):
        for feature in rule_features[rule]:
            if owner.get(feature, feature) in position:
                reads[r, position[owner.get(feature, feature)]] = 1.0
    counts = np.fromiter(map(len, fired), dtype=np.intp, count=len(fired))
    flat = np.fromiter(chain.from_iterable(fired), dtype=object, count=int(counts.sum()))
    code = pd.Index(rules, dtype=object).get_indexer(flat)
    pupil = np.repeat(np.arange(len(fired)), counts)
    known = code >= 0
    hit = np.zeros((len(fired), len(rules)), dtype=np.float32)  # pupil x rule: it fired
    hit[pupil[known], code[known]] = 1.0
    return (hit @ reads) > 0  # a matrix product, not a lookup per fired rule


def unlisted_blanks(
    features: pd.DataFrame,
    columns: Sequence[str],
    catalogue: Catalogue,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> np.ndarray:
    """(pupils x columns) True where a column's whole effect comes from blank records that the catalogue
    does not word as a reason (no `when_missing_reason`): for a group, every member is such a blank or at
    its reference, and at least one is such a blank."""
    groups = groups or {}
    blocked = np.zeros((len(features), len(columns)), dtype=bool)
    for j, name in enumerate(columns):
        unlisted, neutral = [], []
        for member in groups.get(name, (name,)):
            if member not in catalogue.features or member not in features:
                unlisted.append(np.zeros(len(features), bool))
                neutral.append(np.zeros(len(features), bool))
                continue
            spec = catalogue[member]
            silent = spec.when_missing_reason is None and spec.reference is not None
            if spec.kind == "category":  # plain arrays: a blank is None or NaN, never equal to anything
                values = features[member].to_numpy(object, na_value=None)
                blank = pd.isna(values)
            else:
                values = features[member].to_numpy(float, na_value=np.nan)
                blank = np.isnan(values)
            unlisted.append(blank & silent)
            at_reference = (
                values == spec.reference if spec.reference is not None else np.zeros(len(blank), bool)
            )
            neutral.append(at_reference | (blank & (spec.reference is None)))
        either = np.logical_or(unlisted, neutral)
        blocked[:, j] = either.all(axis=0) & np.any(unlisted, axis=0)
    return blocked


def top_reasons(
    contributions: pd.DataFrame,
    features: pd.DataFrame,
    catalogue: Catalogue,
    k: int = 3,
    groups: Mapping[str, Sequence[str]] | None = None,
    risk_points: pd.DataFrame | None = None,
    materiality_pp: float = 0.0,
    not_lowering: np.ndarray | None = None,
) -> tuple[list[list[str]], list[list[str]]]:
    """For each pupil (row), up to `k` sentences for the features raising risk most, and `k` lowering it.

    `contributions` (log-odds, one column per model feature or group) and `features` share their row
    order; `groups` (`Explanation.groups`) names the features of each group column. With `risk_points`
    (`Explanation.risk_points()`), reasons are ranked by it and listed only when at least `materiality_pp`
    percentage points; `not_lowering` (pupils x columns, e.g. `fired_rule_features`) marks features that
    may not be listed as lowering risk. Blanks the catalogue does not word as reasons are never listed
    (`unlisted_blanks`).
    """
    groups = groups or {}
    names = list(contributions.columns)
    unlisted = unlisted_blanks(features, names, catalogue, groups)
    matrix = contributions.to_numpy(float)
    size = matrix if risk_points is None else risk_points.to_numpy(float)
    floor = MIN_CONTRIBUTION if risk_points is None else max(materiality_pp, 1e-9)
    n, width = matrix.shape
    k = min(k, width)
    result = []
    sentences = _Sentences(features, catalogue)
    for sign in (1.0, -1.0):
        signed = np.where(unlisted, -np.inf, sign * size)
        if sign < 0 and not_lowering is not None:
            signed = np.where(not_lowering, -np.inf, signed)
        chosen = np.argsort(-signed, axis=1, kind="stable")[:, :k]
        keep = np.take_along_axis(signed, chosen, axis=1) >= floor
        chosen_text = np.full((n, k), None, dtype=object)
        kept_rows, kept_ranks = np.nonzero(keep)  # the kept reasons, grouped by the column they name
        columns = chosen[kept_rows, kept_ranks]
        by_column = np.argsort(columns, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(columns, minlength=width))]
        for column, name in enumerate(names):  # a loop over features, not pupils
            picked = by_column[bounds[column] : bounds[column + 1]]
            if len(picked):
                rows = kept_rows[picked]
                chosen_text[rows, kept_ranks[picked]] = _reason_table(sentences, name, rows, groups)
        # kept reasons are a prefix of each row (sorted strongest first): trim only the short rows
        counts = keep.sum(axis=1)
        lists = chosen_text.tolist()
        for row in np.flatnonzero(counts < k).tolist():
            lists[row] = lists[row][: counts[row]]
        result.append(lists)
    return result[0], result[1]


def value_text(kind: str, value: object, categories: Mapping[str, str]) -> str:
    """A feature value as an adviser reads it beside a reason: 59%, yes, 3, SEN support, not known."""
    if value is None or value is pd.NA or (not isinstance(value, str) and pd.isna(value)):
        return "not known"
    if kind == "flag":
        return "yes" if bool(value) else "no"
    if kind == "category":
        return categories.get(str(value), str(value))
    if kind == "rate":
        return f"{float(value):.0%}" if float(value) >= 0 else f"{float(value) * 100:+.0f} points"
    number = float(value)  # type: ignore[arg-type]
    return f"{int(number)}" if number.is_integer() else f"{number:g}"


def value_table(
    features: pd.DataFrame,
    names: Sequence[str],
    catalogue: Catalogue,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, np.ndarray]:
    """For each explained name (a feature or a group), every pupil's value as text (a group's joined with
    ", "); formatted once per distinct value."""
    groups = groups or {}
    table: dict[str, np.ndarray] = {}
    for name in names:
        parts = []
        for member in groups.get(name, (name,)):
            if member not in features:
                continue
            kind = "number" if member == RULE_POINTS else catalogue.kind(member)
            categories = {} if member == RULE_POINTS else catalogue[member].categories
            codes, distinct = pd.factorize(features[member], use_na_sentinel=True)
            texts = np.array([value_text(kind, v, categories) for v in distinct] + ["not known"], object)
            parts.append(texts[codes])
        if parts:
            table[name] = reduce(lambda joined, part: joined + ", " + part, parts)
    return table
