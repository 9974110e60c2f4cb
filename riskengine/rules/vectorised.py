"""An independent evaluation of a rule set by pandas boolean masks, to cross-check the durable-rules engine.

It shares nothing with the durable-rules compiler but the parsed rule set, so agreement between the two on
many generated pupils is evidence that both implement the documented semantics (rules/README.md).
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd

from riskengine.rules.language import Condition, RuleSet, Test
from riskengine.rules.results import assemble_results

_COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _mask(condition: Condition, features: pd.DataFrame) -> np.ndarray:
    if not isinstance(condition, Test):
        masks = [_mask(part, features) for part in condition.parts]
        return np.logical_and.reduce(masks) if condition.kind == "all" else np.logical_or.reduce(masks)
    column = features[condition.feature]
    known = column.notna().to_numpy(dtype=bool)
    if condition.op == "is_missing":
        return ~known if condition.value else known
    if condition.op in ("in", "not_in"):
        member = column.isin(list(condition.value)).to_numpy(dtype=bool, na_value=False)
        return known & (member if condition.op == "in" else ~member)
    result = _COMPARE[condition.op](column, condition.value)
    return known & np.asarray(pd.array(result, dtype="boolean").fillna(False), dtype=bool)


def fired_matrix_vectorised(rule_set: RuleSet, features: pd.DataFrame) -> np.ndarray:
    """pupils x rules: whether each rule's condition holds, a missing value making its test false."""
    if not rule_set.rules:
        return np.zeros((len(features), 0), dtype=bool)
    return np.column_stack([_mask(rule.condition, features) for rule in rule_set.rules])


def evaluate_rules_vectorised(rule_set: RuleSet, features: pd.DataFrame) -> pd.DataFrame:
    """Rule results (as `evaluate_rules`) computed with vectorised pandas masks instead of durable-rules."""
    return assemble_results(rule_set, features, fired_matrix_vectorised(rule_set, features))
