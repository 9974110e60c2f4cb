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


def model_flags(probability: np.ndarray, threshold: FlagThreshold) -> tuple[np.ndarray, dict[str, Any]]:
    """Which pupils the model flags, and the record of the threshold (kind, value, implied cut-off, count).

    Top N / top p% flag exactly that many pupils (ties at the boundary broken by row order), so a team's
    caseload is what it said it could take.
    """
    p = np.asarray(probability, dtype=float)
    if threshold.kind == "probability":
        flags = p >= threshold.probability
    else:
        wanted = (
            threshold.top_n
            if threshold.top_n is not None
            else math.ceil(len(p) * threshold.top_percent / 100)
        )
        flags = np.zeros(len(p), dtype=bool)
        flags[np.argsort(-p, kind="stable")[: min(wanted, len(p))]] = True
    record = {
        "kind": threshold.kind,
        "value": threshold.value,
        "description": threshold.describe(),
        "probability_cutoff": float(p[flags].min()) if flags.any() else None,
        "n_model_flagged": int(flags.sum()),
        "n_scored": len(p),
    }
    return flags, record
