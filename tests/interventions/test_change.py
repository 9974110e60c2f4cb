"""Distance travelled agrees with a hand computation (Jacobson-Truax RCI, paired d_z, t interval)."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest

from riskengine.interventions import load_instruments
from riskengine.interventions.change import NO_RELIABILITY, cohort_change, distance_travelled


def _long(rows: list[tuple]) -> pd.DataFrame:
    """(id, upn, stage, date, {subscale: score}) -> read_assessments' long frame."""
    out = [
        (i, upn, "resilience_4c", pd.Timestamp(day), stage, name, float(score))
        for i, upn, stage, day, scores in rows
        for name, score in scores.items()
    ]
    return pd.DataFrame(out, columns=["id", "upn", "instrument", "date", "stage", "subscale", "score"])


SCORES = [
    (1, "P1", "pre", "2025-01-01", {"control": 3, "commitment": 4, "challenge": 5, "confidence": 2}),
    (2, "P1", "post", "2025-04-01", {"control": 8, "commitment": 5, "challenge": 5, "confidence": 4}),
    (3, "P2", "pre", "2025-01-01", {"control": 6, "commitment": 6, "challenge": 4, "confidence": 5}),
    (4, "P2", "review", "2025-02-01", {"control": 9, "commitment": 9, "challenge": 9, "confidence": 9}),
    (5, "P2", "post", "2025-04-01", {"control": 5, "commitment": 7, "challenge": 6, "confidence": 5}),
    (6, "P3", "pre", "2025-01-01", {"control": 2, "commitment": 2, "challenge": 2, "confidence": 2}),
    (7, "P3", "post", "2025-04-01", {"control": 4, "commitment": 3, "challenge": 2, "confidence": 6}),
    (8, "P4", "pre", "2025-01-01", {"control": 5, "commitment": 5, "challenge": 5, "confidence": 5}),
]


def test_shipped_instrument_reports_change_without_reliable_change_and_says_why() -> None:
    instruments = load_instruments()
    per_pupil = distance_travelled(_long(SCORES), instruments)
    assert set(per_pupil["upn"]) == {"P1", "P2", "P3"}  # P4 has no post assessment
    control = per_pupil[per_pupil["scale"] == "control"].set_index("upn")["change"]
    assert control.to_dict() == {"P1": 5.0, "P2": -1.0, "P3": 2.0}  # the review is neither pre nor post
    summary = cohort_change(per_pupil, instruments).set_index("scale")
    # hand computation: changes 5, -1, 2 -> mean 2, sd 3, d_z 2/3, t(2) half-width 4.303 * 3 / sqrt(3)
    row = summary.loc["control"]
    assert row["pupils"] == 3 and row["improved"] == 2
    assert row["mean_change"] == pytest.approx(2.0) and row["sd_change"] == pytest.approx(3.0)
    assert row["d_z"] == pytest.approx(2 / 3)
    assert row["ci_high"] - row["mean_change"] == pytest.approx(4.302653 * 3 / math.sqrt(3), rel=1e-5)
    assert math.isnan(row["reliably_improved_rate"]) and row["reliable_change_note"] == NO_RELIABILITY
    # total = mean of the subscales: P1 3.5 -> 5.5, P2 5.25 -> 5.75, P3 2 -> 3.75
    total = per_pupil[per_pupil["scale"] == "total"].set_index("upn")["change"]
    assert total.to_dict() == pytest.approx({"P1": 2.0, "P2": 0.5, "P3": 1.75})


def test_reliable_change_matches_jacobson_truax_by_hand() -> None:
    shipped = load_instruments()["resilience_4c"]
    subscales = tuple(dataclasses.replace(s, reliability=0.8, norm_sd=2.0) for s in shipped.subscales)
    instrument = dataclasses.replace(shipped, subscales=subscales)
    per_pupil = distance_travelled(_long(SCORES), {instrument.id: instrument})
    control = per_pupil[per_pupil["scale"] == "control"].set_index("upn")
    # S_diff = sqrt(2) * 2 * sqrt(1 - 0.8) = 1.26491; P1: 5 / 1.26491 = 3.953 (reliable), P3: 2 / 1.26491
    s_diff = math.sqrt(2) * 2 * math.sqrt(0.2)
    assert control.loc["P1", "rci"] == pytest.approx(5 / s_diff)
    assert control.loc["P3", "rci"] == pytest.approx(1.5811, rel=1e-4)
    assert control["reliably_improved"].tolist() == [True, False, False]
    confidence = per_pupil[per_pupil["scale"] == "confidence"].set_index("upn")
    assert confidence.loc["P3", "reliably_improved"]  # 2 -> 6: RCI 3.16
    summary = cohort_change(per_pupil, {instrument.id: instrument}).set_index("scale")
    assert summary.loc["control", "reliably_improved_rate"] == pytest.approx(1 / 3)
    assert summary.loc["control", "reliable_change_note"] == ""
    # the shipped total has no reliability, so it still says why
    assert summary.loc["total", "reliable_change_note"] == NO_RELIABILITY
