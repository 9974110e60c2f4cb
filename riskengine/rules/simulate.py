"""Random but realistic feature frames, for cross-checking the rule engines and benchmarking them.

Rates and prevalences are roughly those of English secondary pupils (attendance around 92%, about a quarter
eligible for free school meals, 13% on SEN support...), with blanks in every feature, so that every rule of a
realistic rule set fires for some pupils and the missing-value semantics are exercised. These are not
pupils and not the synthetic cohorts of `riskengine.synth`: just one feature row per made-up pupil.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from riskengine.features import load_catalogue

_FLAG_RATES = {
    "permanent_exclusion_ever": 0.004,
    "looked_after": 0.01,
    "child_in_need": 0.03,
    "fsm_eligible": 0.25,
    "eal": 0.17,
    "young_carer": 0.02,
    "youth_justice": 0.01,
    "alternative_provision": 0.015,
}


def random_features(n: int, seed: int = 0, catalogue: Any = None, missing: float = 0.05) -> pd.DataFrame:
    """`n` made-up pupils' features (catalogue columns and dtypes, indexed by a made-up `upn`).

    About `missing` of each feature's values are blank (more for the optional ones).
    """
    catalogue = catalogue or load_catalogue()
    rng = np.random.default_rng(seed)
    term = np.clip(rng.beta(18, 1.6, n), 0, 1)
    ytd = np.clip(term + rng.normal(0, 0.03, n), 0, 1)
    severe = rng.random(n) < 0.015
    ytd[severe] = rng.uniform(0.2, 0.6, severe.sum())
    term[severe] = np.clip(ytd[severe] + rng.normal(0, 0.05, severe.sum()), 0, 1)
    suspensions_year = rng.poisson(0.15, n)
    suspensions_ever = suspensions_year + rng.poisson(0.2, n)
    sen = rng.choice(np.array(["N", "K", "E"]), n, p=[0.83, 0.13, 0.04])
    needs = np.array(list(catalogue["sen_primary_need"].categories))
    need = np.where(sen == "N", None, rng.choice(needs, n)).astype(object)
    looked_after = rng.random(n) < _FLAG_RATES["looked_after"]
    columns: dict[str, Any] = {
        "attendance_rate_term": term,
        "attendance_rate_ytd": ytd,
        "persistent_absence": ytd < 0.9,
        "severe_absence": ytd <= 0.5,
        "attendance_change_prev_term": rng.normal(0, 0.06, n),
        "attendance_change_last_year": rng.normal(-0.01, 0.05, n),
        "suspensions_year": suspensions_year,
        "suspension_sessions_year": suspensions_year * rng.poisson(3, n),
        "suspensions_ever": suspensions_ever,
        "suspension_sessions_ever": suspensions_ever * rng.poisson(3, n),
        "sen_provision": sen.astype(object),
        "sen_primary_need": need,
        "looked_after": looked_after,
        "looked_after_ever": looked_after | (rng.random(n) < 0.02),
        "school_moves": rng.poisson(0.4, n),
        "ks2_reading_scaled": np.clip(np.rint(rng.normal(104, 7, n)), 80, 120),
        "ks2_maths_scaled": np.clip(np.rint(rng.normal(104, 7, n)), 80, 120),
        "ncyear": rng.integers(9, 12, n),
        **{name: rng.random(n) < rate for name, rate in _FLAG_RATES.items() if name != "looked_after"},
    }
    frame = pd.DataFrame(index=pd.Index([f"GEN{i:09d}" for i in range(n)], name="upn", dtype="string"))
    for name, dtype in catalogue.dtypes.items():
        raw = columns[name] if name in columns else _by_kind(catalogue, name, rng, n)
        values = pd.Series(raw, index=frame.index).astype(dtype)
        blank = rng.random(n) < (missing if name != "ncyear" else 0)
        frame[name] = values.mask(blank)
    return frame


def _by_kind(catalogue: Any, name: str, rng: np.random.Generator, n: int) -> Any:
    """Plausible values for a feature this module does not know by name (a catalogue addition)."""
    kind = catalogue.kind(name)
    if kind == "rate":
        return rng.uniform(0, 1, n)
    if kind in ("count", "number"):
        return rng.poisson(1, n)
    if kind == "flag":
        return rng.random(n) < 0.1
    return rng.choice(np.array(list(catalogue[name].categories)), n).astype(object)
