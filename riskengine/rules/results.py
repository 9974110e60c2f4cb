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


def reasons_for(rule_set: RuleSet, features: pd.DataFrame, fired: np.ndarray) -> list[list[str]]:
    """Each pupil's filled-in reason sentences, in rule-file order (one pass per rule, over its firings)."""
    reasons: list[list[str]] = [[] for _ in range(len(features))]
    for j, rule in enumerate(rule_set.rules):
        rows = np.flatnonzero(fired[:, j])
        if not len(rows):
            continue
        names = [f for _, f, _, _ in string.Formatter().parse(rule.reason) if f]
        values = {
            name: [_NOT_KNOWN if v is None else v for v in python_values(features[name].iloc[rows])]
            for name in dict.fromkeys(names)
        }
        for k, row in enumerate(rows):
            reasons[row].append(rule.reason.format_map({n: v[k] for n, v in values.items()}))
    return reasons


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
    ids = np.array(rule_set.rule_ids, dtype=object)
    return pd.DataFrame(
        {
            "points": points,
            "band": pd.array(band, dtype="string"),
            "always_flag": always_flag,
            "fired": pd.Series([ids[row].tolist() for row in fired], index=features.index, dtype=object),
            "reasons": pd.Series(reasons_for(rule_set, features, fired), index=features.index, dtype=object),
        },
        index=features.index,
    )
