"""How many pupils the model flags, from adviser capacity: the top N, the top p%, or a probability cut-off.

Capacity is what limits how many pupils advisers can see, so it sets the threshold; the cut-off it implied
is recorded with every scoring run.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from riskengine.model.spec import FlagThreshold


def as_threshold(value: FlagThreshold | dict[str, Any]) -> FlagThreshold:
    """A FlagThreshold from itself or a mapping such as {"top_percent": 10}."""
    return value if isinstance(value, FlagThreshold) else FlagThreshold.model_validate(value)


def _top(p: np.ndarray, wanted: int) -> np.ndarray:
    flags = np.zeros(len(p), dtype=bool)
    flags[np.argsort(-p, kind="stable")[: min(wanted, len(p))]] = True
    return flags


def shares(total: int, sizes: np.ndarray) -> np.ndarray:
    """`total` split across groups in proportion to `sizes` (largest remainders; never above a size)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    total = min(total, int(sizes.sum()))
    exact = total * sizes / max(sizes.sum(), 1)
    share = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - share), kind="stable")
    share[order[: total - share.sum()]] += 1
    return np.minimum(share, sizes)


def model_flags(
    probability: np.ndarray, threshold: FlagThreshold, year_groups: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Which pupils the model flags, and the record of the threshold (kind, value, implied cut-off, count).

    Top N / top p% flag exactly that many pupils (ties at the boundary broken by row order), so a team's
    caseload is what it said it could take. With `year_groups` (each pupil's year group) capacity is applied
    within each year group, as each has its own model: top p% of each year group; top N shared across
    year groups in proportion to their pupils; a probability is the same line for all. The record then
    has `by_year_group`: each year group's cut-off (the lowest flagged probability), flagged and scored.
    """
    p = np.asarray(probability, dtype=float)
    groups = np.zeros(len(p), dtype=np.int64) if year_groups is None else np.asarray(year_groups, np.int64)
    labels, codes = np.unique(groups, return_inverse=True)
    sizes = np.bincount(codes, minlength=len(labels))
    if threshold.kind == "probability":
        flags = p >= threshold.probability
    else:
        wanted = (
            shares(threshold.top_n, sizes)
            if threshold.top_n is not None
            else np.array([math.ceil(n * threshold.top_percent / 100) for n in sizes])
        )
        flags = np.zeros(len(p), dtype=bool)
        for code, n in enumerate(wanted):  # a handful of year groups
            rows = np.flatnonzero(codes == code)
            flags[rows] = _top(p[rows], int(n))
    record: dict[str, Any] = {
        "kind": threshold.kind,
        "value": threshold.value,
        "description": threshold.describe(),
        "probability_cutoff": float(p[flags].min()) if flags.any() else None,
        "n_model_flagged": int(flags.sum()),
        "n_scored": len(p),
    }
    if year_groups is not None:
        record["applied"] = "within each year group"
        record["by_year_group"] = {
            str(label): {
                "probability_cutoff": float(p[(codes == i) & flags].min())
                if flags[codes == i].any()
                else None,
                "n_model_flagged": int(flags[codes == i].sum()),
                "n_scored": int(sizes[i]),
            }
            for i, label in enumerate(labels)
        }
    return flags, record
