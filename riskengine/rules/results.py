"""From "which rules fired for which pupil" to the rule-results frame: points, band, flag and reasons.

Both evaluators (durable-rules, and the vectorised cross-check) decide only the fired matrix; turning it into
results is shared so the two can differ only in how they match conditions.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.extensions import ExtensionArray

from riskengine.rules.language import RuleSet

RESULT_COLUMNS = ("points", "band", "always_flag", "fired", "reasons")
NOT_KNOWN = "not known"


class _NotKnown:
    """Stands in for a missing value in a reason: reads "not known" whatever the format asks for."""

    def __format__(self, format_spec: str) -> str:
        return NOT_KNOWN


_NOT_KNOWN = _NotKnown()


def python_values(column: pd.Series | ExtensionArray) -> list[Any]:
    """Plain Python values (None for missing), so formats like {x:.0%} work on nullable dtypes."""
    values = np.array(column.astype(object), dtype=object)  # a writable copy
    values[np.asarray(pd.isna(column), dtype=bool)] = None
    return values.tolist()


def _sentences(rule_reason: str, features: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """The rule's reason filled in for each pupil in `rows`, formatted once per distinct set of values.

    Values are taken from the columns' arrays (`.array.take`), not through `.iloc`, which would also take
    the pupils' index each time. With one value, `pd.factorize` alone groups the pupils: its uniques are
    each group's first value, as the first pupil of the group would give it.
    """
    names = list(dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(rule_reason) if f))
    if not names:
        sentences = np.empty(len(rows), dtype=object)
        sentences[:] = rule_reason  # one shared str (np.full would make a new str per pupil)
        return sentences
    columns = [features[name].array.take(rows) for name in names]
    if len(columns) == 1:
        which, distinct = pd.factorize(columns[0], use_na_sentinel=True)
        picked = [[*python_values(distinct), None]]  # a missing value (-1) takes the last: None
    else:
        codes = np.zeros(len(rows), dtype=np.int64)
        for values in columns:
            code, distinct = pd.factorize(values, use_na_sentinel=True)
            codes = codes * (len(distinct) + 1) + np.where(code < 0, len(distinct), code)  # missing: own
        _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        which = inverse.reshape(-1)
        picked = [python_values(values.take(first)) for values in columns]
    filled = [
        rule_reason.format_map({n: _NOT_KNOWN if v is None else v for n, v in zip(names, row, strict=True)})
        for row in zip(*picked, strict=True)
    ]
    return np.asarray(filled, dtype=object)[which]


def _groups(codes: np.ndarray, n_values: int) -> list[np.ndarray]:
    """For each value 0..n_values-1, the positions in `codes` that hold it, in order: one stable argsort
    of small ints (which numpy does by radix, without comparisons) and one split."""
    if not n_values:
        return []
    small = codes.astype(np.min_scalar_type(n_values))
    ends = np.cumsum(np.bincount(small, minlength=n_values))
    return np.split(np.argsort(small, kind="stable"), ends[:-1])


class _Cells:
    """The fired cells of a pupils x rules matrix, found once for both the ids and the reasons: `rows`
    and `columns` pupil by pupil, rules in order (as `np.nonzero` gives them), and each pupil's count."""

    def __init__(self, fired: np.ndarray) -> None:
        self.rows, self.columns = np.divmod(np.flatnonzero(fired), fired.shape[1])  # quicker than 2-D
        self.counts = np.bincount(self.rows, minlength=len(fired))
        self.rules = fired.shape[1]

    def per_pupil(self, values: np.ndarray) -> np.ndarray:
        """Each pupil's run of `values` (one per fired cell) as a new list, in an object array.

        Pupils with the same number of fired cells are taken together: their runs are one (pupils x
        count) take, whose `tolist()` makes the lists in C, half the cost of a Python slice per pupil.
        """
        starts = np.cumsum(self.counts) - self.counts
        lists = np.empty(len(self.counts), dtype=object)
        for count, group in enumerate(_groups(self.counts, self.rules + 1)):
            runs = values[starts[group, None] + np.arange(count)].tolist()
            lists[group] = np.fromiter(runs, dtype=object, count=len(group))
        return lists


def _reasons(rule_set: RuleSet, features: pd.DataFrame, cells: _Cells) -> np.ndarray:
    sentences = np.empty(len(cells.rows), dtype=object)
    for rule, at in zip(rule_set.rules, _groups(cells.columns, len(rule_set.rules)), strict=True):
        if len(at):
            sentences[at] = _sentences(rule.reason, features, cells.rows[at])
    return cells.per_pupil(sentences)


def reasons_for(rule_set: RuleSet, features: pd.DataFrame, fired: np.ndarray) -> list[list[str]]:
    """Each pupil's filled-in reason sentences, in rule-file order.

    Sentences are formatted once per rule and distinct value (not once per pupil), then cut into each
    pupil's list along the fired cells in row order (pupil by pupil, rules in order).
    """
    return _reasons(rule_set, features, _Cells(fired)).tolist()


def _fired(rule_set: RuleSet, cells: _Cells) -> np.ndarray:
    return cells.per_pupil(np.array(rule_set.rule_ids, dtype=object)[cells.columns])


def fired_lists(rule_set: RuleSet, fired: np.ndarray) -> list[list[str]]:
    """Each pupil's fired rule ids in rule-file order (a new list per pupil)."""
    return _fired(rule_set, _Cells(fired)).tolist()


def assemble_results(rule_set: RuleSet, features: pd.DataFrame, fired: np.ndarray) -> pd.DataFrame:
    """The rule-results frame (indexed like `features`) from a pupils x rules boolean matrix."""
    points_per_rule = np.array([rule.points for rule in rule_set.rules], dtype=float)
    flagging = np.array([rule.always_flag for rule in rule_set.rules], dtype=bool)
    points = fired.astype(float) @ points_per_rule
    always_flag = fired[:, flagging].any(axis=1)  # only the always-flag columns
    thresholds = np.array([threshold for threshold, _ in rule_set.bands])
    band = np.maximum(np.searchsorted(thresholds, points, side="right") - 1, 0)
    band[always_flag] = len(rule_set.bands) - 1  # the top band
    names = pa.array(rule_set.band_names, type=pa.large_string())  # as Arrow: one take, no per-row check
    cells = _Cells(fired)  # found once for both lists
    return pd.DataFrame(
        {
            "points": points,
            "band": pd.array(names.take(band), dtype="string"),
            "always_flag": always_flag,
            "fired": pd.Series(_fired(rule_set, cells), index=features.index, dtype=object),
            "reasons": pd.Series(_reasons(rule_set, features, cells), index=features.index, dtype=object),
        },
        index=features.index,
    )
