"""Generated local authorities shared by the model and flags tests (generated pupils only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskengine.features import load_catalogue
from riskengine.model import build_training_frame, fit_model, load_model_spec
from riskengine.synth import generate


@pytest.fixture(scope="session")
def small_la():
    """Ten intakes of 700: four with closed destination windows, so three train and one validates."""
    return generate(pupils=700, cohorts=10, schools=3, seed=11)


@pytest.fixture(scope="session")
def catalogue():
    return load_catalogue()


@pytest.fixture(scope="session")
def training_frame(small_la, catalogue):
    return build_training_frame(small_la.pupil_terms, small_la.destinations, load_model_spec(), catalogue)


@pytest.fixture(scope="session")
def trained(training_frame, catalogue):
    return fit_model(training_frame, load_model_spec(), catalogue)


def feature_frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A made-up frame following the feature-frame contract (nullable dtypes, blanks) and an outcome."""
    rng = np.random.default_rng(seed)
    attendance = pd.array(np.clip(rng.normal(0.92, 0.06, n), 0, 1), dtype="Float64")
    attendance[rng.random(n) < 0.05] = pd.NA
    looked_after = pd.array(rng.random(n) < 0.1, dtype="boolean")
    looked_after[rng.random(n) < 0.05] = pd.NA
    sen = pd.array(rng.choice(["N", "K", "E"], n, p=[0.8, 0.15, 0.05]), dtype="string")
    sen[rng.random(n) < 0.03] = pd.NA
    suspensions = pd.array(rng.poisson(0.3, n), dtype="Int64")
    frame = pd.DataFrame(
        {
            "attendance_rate_term": attendance,
            "looked_after": looked_after,
            "sen_provision": sen,
            "suspensions_year": suspensions,
        },
        index=pd.Index([f"P{i:05d}" for i in range(n)], name="upn", dtype="string"),
    )
    logit = (
        -2
        - 8 * (attendance.fillna(0.9).to_numpy(float) - 0.92)
        + 1.2 * looked_after.fillna(False).to_numpy(bool)
    )
    outcome = rng.random(n) < 1 / (1 + np.exp(-logit))
    return frame, outcome


KINDS = {
    "attendance_rate_term": "rate",
    "looked_after": "flag",
    "sen_provision": "category",
    "suspensions_year": "count",
}
