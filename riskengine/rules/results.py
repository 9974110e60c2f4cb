"""From "which rules fired for which pupil" to the rule-results frame: points, band, flag and reasons.

Both evaluators (durable-rules, and the vectorised cross-check) decide only the fired matrix; turning it into
results is shared so the two can differ only in how they match conditions.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
import pandas as pd

from riskengine.rules.language import RuleSet

RESULT_COLUMNS = ("points", "band", "always_flag", "fired", "reasons")
NOT_KNOWN = "not known"


class _NotKnown:
    """Stands in for a missing value in a reason: reads "not known" whatever the format asks for."""

    def __format__(self, format_spec: str) -> str:
        return NOT_KNOWN


_NOT_KNOWN = _NotKnown()


def python_values(column: pd.Series) -> list[Any]:
    """Plain Python values (None for missing), so formats like {x:.0%} work on nullable dtypes."""
    return column.astype(object).where(column.notna(), None).tolist()


def _sentences(rule_reason: str, features: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """The rule's reason filled in for each pupil in `rows`, formatted once per distinct set of values."""
    names = list(dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(rule_reason) if f))
    if not names:
        return np.full(len(rows), rule_reason, dtype=object)
    codes = np.zeros(len(rows), dtype=np.int64)
    columns = []
    for name in names:
        values = features[name].iloc[rows]
        code, distinct = pd.factorize(values, use_na_sentinel=True)
        codes = codes * (len(distinct) + 1) + np.where(code < 0, len(distinct), code)  # missing: own value
        columns.append(values)
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    picked = [python_values(column.iloc[first]) for column in columns]
    filled = [
        rule_reason.format_map({n: _NOT_KNOWN if v is None else v for n, v in zip(names, row, strict=True)})
        for row in zip(*picked, strict=True)
    ]
    return np.asarray(filled, dtype=object)[inverse.reshape(-1)]


def _by_combination(fired: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of the fired matrix (combinations of rules) and each pupil's combination."""
    if fired.shape[1] <= 62:  # one integer per pupil: a fast 1-d unique
        key = fired.astype(np.int64) @ (np.int64(1) << np.arange(fired.shape[1], dtype=np.int64))
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    else:
        _, first, inverse = np.unique(
            np.packbits(fired, axis=1), axis=0, return_index=True, return_inverse=True
        )
    return fired[first], inverse.reshape(-1)


def reasons_for(
    rule_set: RuleSet,
    features: pd.DataFrame,
    fired: np.ndarray,
    combinations: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[list[str]]:
    """Each pupil's filled-in reason sentences, in rule-file order.

    Sentences are formatted once per rule and distinct value (not once per pupil), then each pupil's list
    is put together from the columns of the rules they fired.
    """
    sentences = np.full(fired.shape, None, dtype=object)
    for j, rule in enumerate(rule_set.rules):
        rows = np.flatnonzero(fired[:, j])
        if len(rows):
            sentences[rows, j] = _sentences(rule.reason, features, rows)
    combos, inverse = combinations or _by_combination(fired)
    order = np.argsort(inverse, kind="stable")
    groups = np.split(order, np.cumsum(np.bincount(inverse, minlength=len(combos)))[:-1])
    reasons: list[Any] = [None] * len(features)
    for combo, rows in zip(combos, groups, strict=True):  # a loop over combinations of rules
        columns = np.flatnonzero(combo)
        picked = sentences[np.ix_(rows, columns)].tolist() if len(columns) else [[] for _ in rows]
        for row, sentence_list in zip(rows.tolist(), picked, strict=True):
            reasons[row] = sentence_list
    return reasons


def fired_lists(
    rule_set: RuleSet, fired: np.ndarray, combinations: tuple[np.ndarray, np.ndarray] | None = None
) -> list[list[str]]:
    """Each pupil's fired rule ids in rule-file order (a new list per pupil)."""
    combos, inverse = combinations or _by_combination(fired)
    ids = np.array(rule_set.rule_ids, dtype=object)
    per_combo = [ids[combo].tolist() for combo in combos]
    return [list(per_combo[i]) for i in inverse.tolist()]


def assemble_results(rule_set: RuleSet, features: pd.DataFrame, fired: np.ndarray) -> pd.DataFrame:
    """The rule-results frame (indexed like `features`) from a pupils x rules boolean matrix."""
    points_per_rule = np.array([rule.points for rule in rule_set.rules], dtype=float)
    flagging = np.array([rule.always_flag for rule in rule_set.rules], dtype=bool)
    points = fired.astype(float) @ points_per_rule
    always_flag = (fired & flagging).any(axis=1)
    thresholds = np.array([threshold for threshold, _ in rule_set.bands])
    names = np.array(rule_set.band_names, dtype=object)
    band = names[np.maximum(np.searchsorted(thresholds, points, side="right") - 1, 0)]
    band[always_flag] = rule_set.top_band
    combos = _by_combination(fired)
    return pd.DataFrame(
        {
            "points": points,
            "band": pd.array(band, dtype="string"),
            "always_flag": always_flag,
            "fired": pd.Series(fired_lists(rule_set, fired, combos), index=features.index, dtype=object),
            "reasons": pd.Series(
                reasons_for(rule_set, features, fired, combos), index=features.index, dtype=object
            ),
        },
        index=features.index,
    )
