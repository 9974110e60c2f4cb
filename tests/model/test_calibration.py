import numpy as np
import pytest

from riskengine.model import expected_calibration_error, probability_metrics


def test_ece_of_a_constant_forecast_is_its_gap_to_the_observed_rate():
    y = np.array([1, 0, 1, 0, 1, 1, 0, 0, 0, 0])  # 40% positive
    assert expected_calibration_error(y, np.full(10, 0.25)) == pytest.approx(0.15)


def test_ece_weights_bins_by_their_share_of_pupils():
    # bin [0.1, 0.2): forecast 0.1, observed 0.5 (gap 0.4, 2 of 4 pupils); bin [0.9, 1]: no gap
    y = np.array([0, 1, 1, 1])
    p = np.array([0.1, 0.1, 1.0, 1.0])
    assert expected_calibration_error(y, p) == pytest.approx(0.2)


def test_outcomes_drawn_from_the_forecast_are_nearly_calibrated():
    rng = np.random.default_rng(0)
    p = rng.beta(1, 12, 200_000)
    y = rng.random(len(p)) < p
    assert expected_calibration_error(y, p) < 0.005
    assert expected_calibration_error(y, np.clip(p * 2, 0, 1)) > 0.05


def test_metrics_report_auc_and_brier():
    metrics = probability_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert metrics["auc"] == pytest.approx(0.75)
    assert metrics["brier"] == pytest.approx(np.mean([0.01, 0.16, 0.4225, 0.04]))
    assert metrics["base_rate"] == 0.5


def test_ece_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        expected_calibration_error([0, 1], [0.5])
