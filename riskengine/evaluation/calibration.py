"""Calibration: does a predicted 20% risk come true for about 20% of pupils?

The table uses the same equal-width bins as the one ECE everyone uses
(`riskengine.model.calibration.expected_calibration_error`), so the curve and the ECE describe the same
bins; away from exact bin edges they are also `sklearn.calibration.calibration_curve`'s uniform bins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine.model.calibration import expected_calibration_error

__all__ = ["calibration_table", "expected_calibration_error"]


def calibration_table(y: np.ndarray, probability: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Per equal-width probability bin: pupils, mean predicted probability and observed positive rate."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.minimum((probability * n_bins).astype(int), n_bins - 1)
    pupils = np.bincount(bins, minlength=n_bins)
    predicted = np.bincount(bins, weights=probability, minlength=n_bins)
    positives = np.bincount(bins, weights=np.asarray(y, dtype=float), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame(
            {
                "bin_low": edges[:-1],
                "bin_high": edges[1:],
                "pupils": pupils,
                "positives": positives.astype(int),
                "mean_predicted": predicted / pupils,
                "observed_rate": positives / pupils,
            }
        )
