"""An independent evaluation of a rule set by numpy boolean masks, to cross-check the durable-rules engine.

It shares nothing with the durable-rules compiler but the parsed rule set, so agreement between the two on
many generated pupils is evidence that both implement the documented semantics (rules/README.md). Each
feature a rule reads is turned into a plain array once (numbers and flags as floats, codes as integer
positions among the feature's distinct codes), so a million pupils cost a few array comparisons per test.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping

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

#: A feature's values (float with NaN, or positions in its distinct codes), where they are known, and
#: its distinct codes (None for numbers and flags).
Column = tuple[np.ndarray, np.ndarray, pd.Index | None]


def _column(values: pd.Series) -> Column:
    known = values.notna().to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=float, na_value=np.nan), known, None
    codes, levels = pd.factorize(values, use_na_sentinel=True)
    return codes, known, pd.Index(np.asarray(levels, dtype=object), dtype=object)


def _mask(condition: Condition, columns: Mapping[str, Column]) -> np.ndarray:
    if not isinstance(condition, Test):
        masks = [_mask(part, columns) for part in condition.parts]
        return np.logical_and.reduce(masks) if condition.kind == "all" else np.logical_or.reduce(masks)
    values, known, levels = columns[condition.feature]
    if condition.op == "is_missing":
        return ~known if condition.value else known
    if levels is not None:  # codes: "is one of" is "its position is one of the listed codes' positions"
        listed = condition.value if condition.op in ("in", "not_in") else (condition.value,)
        member = np.isin(values, levels.get_indexer(list(listed)))  # an absent code (-1): a blank only
        return known & (member if condition.op in ("in", "==") else ~member)
    with np.errstate(invalid="ignore"):  # NaN compares false; `known` decides anyway
        if condition.op in ("in", "not_in"):
            member = np.logical_or.reduce([values == value for value in condition.value])
            return known & (member if condition.op == "in" else ~member)
        return known & np.asarray(_COMPARE[condition.op](values, condition.value), dtype=bool)


def rule_columns(features: pd.DataFrame, names: Iterable[str]) -> dict[str, Column]:
    """The features `names` as the masks read them: convert once, then take rows (`take_columns`) to
    evaluate many candidate rows (`fired_from_columns`)."""
    return {name: _column(features[name]) for name in names}


def take_columns(columns: Mapping[str, Column], rows: np.ndarray) -> dict[str, Column]:
    """`columns` at `rows`: the same masks as converting those rows afresh (codes keep their levels)."""
    return {name: (values[rows], known[rows], levels) for name, (values, known, levels) in columns.items()}


def fired_from_columns(rule_set: RuleSet, columns: Mapping[str, Column], n: int) -> np.ndarray:
    """pupils x rules (`n` pupils) from the rules' features already converted (`rule_columns`)."""
    if not rule_set.rules:
        return np.zeros((n, 0), dtype=bool)
    return np.column_stack([_mask(rule.condition, columns) for rule in rule_set.rules])


def fired_matrix_vectorised(rule_set: RuleSet, features: pd.DataFrame) -> np.ndarray:
    """pupils x rules: whether each rule's condition holds, a missing value making its test false."""
    return fired_from_columns(rule_set, rule_columns(features, rule_set.features), len(features))


def evaluate_rules_vectorised(rule_set: RuleSet, features: pd.DataFrame) -> pd.DataFrame:
    """Rule results (as `evaluate_rules`) computed with vectorised numpy masks instead of durable-rules."""
    return assemble_results(rule_set, features, fired_matrix_vectorised(rule_set, features))
