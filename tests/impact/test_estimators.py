"""The impact estimators recover effects that are known: on small hand-made designs (pure functions), and
on generated local authorities with a planted service against the truth from both potential outcomes.

Tolerances are four standard errors (from each interval's own width), which a correct implementation
passes with near certainty; every interval must be finite and narrower than a stated width."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskengine.impact.before_after import before_after
from riskengine.impact.check import estimates_against_truth
from riskengine.impact.discontinuity import fuzzy_rd, ik_bandwidth
from riskengine.impact.weighting import weighted_att
from riskengine.synth import generate
from riskengine.synth.service import ServiceSpec

Z = 1.959964


def _within(estimate, truth: float, ses: float = 4.0) -> bool:
    se = (estimate.ci_high - estimate.ci_low) / (2 * Z)
    return abs(estimate.estimate - truth) <= ses * se


def test_fuzzy_rd_recovers_a_known_local_effect() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    r = rng.uniform(-1, 1, n)
    d = np.where(r >= 0, rng.random(n) < 0.8, rng.random(n) < 0.1)
    y = 0.4 * r - 0.3 * r**2 + 0.25 * d + rng.normal(0, 0.5, n)
    frame = pd.DataFrame({"running": r, "supported": d, "y": y})
    estimate = fuzzy_rd(frame, "y")
    assert np.isfinite([estimate.ci_low, estimate.ci_high]).all() and estimate.width < 0.3
    assert _within(estimate, 0.25)
    assert 0.05 < estimate.details["bandwidth"] < 1.0
    assert estimate.details["first_stage_jump"] == pytest.approx(0.7, abs=0.08)
    assert ik_bandwidth(r, y) == pytest.approx(estimate.details["bandwidth"])


def test_weighted_att_removes_confounding_the_naive_difference_keeps() -> None:
    rng = np.random.default_rng(6)
    n = 6000
    risk = rng.normal(0, 1, n)
    school = rng.choice(["a", "b", "c"], n)
    supported = rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 1.2 * risk + 0.3 * (school == "b"))))
    y = 0.5 * risk + 0.2 * (school == "c") - 0.3 * supported + rng.normal(0, 0.4, n)
    frame = pd.DataFrame({"risk": risk, "school": school, "supported": supported, "y": y})
    estimate = weighted_att(frame, "y", numeric=["risk"], categorical=["school"], n_boot=100)
    assert np.isfinite([estimate.ci_low, estimate.ci_high]).all() and estimate.width < 0.2
    assert _within(estimate, -0.3)
    assert estimate.naive > 0  # supported pupils are at higher risk: the raw difference has the wrong sign
    # a normal interval from the refitted replicates: symmetric about the estimate
    assert estimate.estimate - estimate.ci_low == pytest.approx(estimate.ci_high - estimate.estimate)
    balance = estimate.tables["balance"].set_index("covariate")
    assert abs(balance.loc["risk", "smd_before"]) > 0.5 > 0.1 > abs(balance.loc["risk", "smd_after"])


def test_sandwich_standard_error_agrees_with_a_long_bootstrap() -> None:
    """The analytic (M-estimation) standard error used for attendance, which allows for the fitted
    propensity model, matches the spread of many refitted replicates on a confounded design."""
    rng = np.random.default_rng(8)
    n = 3000
    risk = rng.normal(0, 1, n)
    supported = rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 1.0 * risk)))
    rate = np.clip(0.9 - 0.04 * risk + 0.03 * supported + rng.normal(0, 0.06, n), 0, 1)
    frame = pd.DataFrame({"risk": risk, "supported": supported, "rate": rate})
    sandwich = weighted_att(frame, "rate", numeric=["risk"], sandwich=True)
    boot = weighted_att(frame, "rate", numeric=["risk"], n_boot=400, seed=1)
    assert sandwich.estimate == pytest.approx(boot.estimate)
    se = sandwich.details["standard_error"]
    assert se == pytest.approx(boot.details["standard_error"], rel=0.15)
    assert sandwich.ci_high - sandwich.estimate == pytest.approx(Z * se, rel=1e-4)
    assert "sandwich" in sandwich.details["interval"] and sandwich.details["bootstrap_replicates"] == 0
    with pytest.raises(ValueError, match="sandwich"):
        weighted_att(frame, "rate", numeric=["risk"], sandwich=True, outcome_model=True)


def test_days_like_count_gets_an_interval_reaching_further_below_a_small_comparison_mean() -> None:
    """Zero for most pupils, up to 180 for a few, and few comparable unsupported pupils: the comparison
    mean is right-skewed, so the log-scale interval reaches further below the effect than above it."""
    rng = np.random.default_rng(7)
    n = 4000
    risk = rng.normal(0, 1, n)
    supported = rng.random(n) < 1 / (1 + np.exp(-(-2.5 + 1.5 * risk)))
    neet = rng.random(n) < 1 / (1 + np.exp(-(-2.0 + 0.8 * risk - 0.5 * supported)))
    days = np.where(neet, rng.integers(1, 181, n), 0).astype(float)
    frame = pd.DataFrame({"risk": risk, "supported": supported, "days": days})
    estimate = weighted_att(frame, "days", numeric=["risk"], n_boot=100, log_scale=True)
    assert np.isfinite([estimate.ci_low, estimate.ci_high]).all() and estimate.width < 40
    assert estimate.estimate - estimate.ci_low > estimate.ci_high - estimate.estimate > 0
    assert "log scale" in estimate.details["interval"]
    with pytest.raises(ValueError, match="non-negative"):
        weighted_att(frame.assign(days=days - 1), "days", numeric=["risk"], n_boot=10, log_scale=True)


def test_before_after_needs_both_periods() -> None:
    frame = pd.DataFrame({"y": [0.0, 1.0] * 10, "c": [1] * 20, "x": np.arange(20.0), "before_service": True})
    with pytest.raises(ValueError, match="both before and after"):
        before_after(frame, "y", cohort="c", numeric=["x"])


WIDTHS = {
    "weighted ATT, outcome": 0.4,
    "weighted ATT, attendance": 0.4,
    "weighted ATT, days NEET": 20.0,
    "fuzzy RD at the cut-off, outcome": 0.9,
    "before/after, at-risk outcome (ITT)": 0.35,
}


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_estimators_cover_the_planted_service_effect(seed: int) -> None:
    la = generate(pupils=700, cohorts=10, schools=3, seed=seed, service=ServiceSpec())
    rows = estimates_against_truth(la, n_boot=60, seed=seed).set_index("estimator")
    for name, width in WIDTHS.items():
        row = rows.loc[name]
        assert np.isfinite([row["ci_low"], row["ci_high"]]).all(), name
        assert row["ci_high"] - row["ci_low"] < width, name
        se = (row["ci_high"] - row["ci_low"]) / (2 * Z)
        assert abs(row["estimate"] - row["truth"]) <= 4 * se, name
    # the planted effects are harmful-to-NEET reductions and attendance gains, so the truth has a sign
    assert rows.loc["weighted ATT, outcome", "truth"] < 0 < rows.loc["weighted ATT, attendance", "truth"]
    assert rows.loc["weighted ATT, days NEET", "truth"] < 0
    # pupils assessed at a low point improve anyway: the naive resilience change overstates the effect
    resilience = rows.loc["naive pre/post, resilience (mean sten)"]
    assert resilience["estimate"] > resilience["truth"] + 0.3


def test_days_neet_truth_comes_from_both_potential_destination_records() -> None:
    """Each pupil's days NEET from the destination records are their own potential outcome (with support
    if supported), so the truth in days NEET is computed from the same records the report reads."""
    from riskengine.synth.service import analysis_frame, true_estimands

    frame = analysis_frame(generate(pupils=200, cohorts=10, schools=2, seed=3, service=ServiceSpec()))
    own = np.where(frame["supported"], frame["days_neet1"], frame["days_neet0"])
    np.testing.assert_array_equal(frame["days_neet"].to_numpy(), own)
    assert (frame["days_neet1"] <= frame["days_neet0"]).all()  # support only ever turns NEET into EET
    assert (frame["days_neet1"] < frame["days_neet0"]).any()
    helped = frame[frame["supported"]]
    assert true_estimands(frame)["att_days_neet"] == pytest.approx(
        (helped["days_neet1"] - helped["days_neet0"]).mean()
    )
