"""How well predicted probabilities match what happened: the one ECE and metric set everyone uses."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def expected_calibration_error(y_true: Any, probability: Any, n_bins: int = 10) -> float:
    """Expected calibration error: the share-weighted gap between mean predicted and observed rate.

    Equal-width bins on [0, 1] (the last one closed), as in Guo et al. (2017); empty bins count for nothing.
    """
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(probability, dtype=float)
    if y.shape != p.shape or y.ndim != 1 or len(y) == 0:
        raise ValueError("y_true and probability must be equal-length, non-empty 1-d arrays")
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    gap = np.abs(
        np.bincount(bins, weights=y, minlength=n_bins) - np.bincount(bins, weights=p, minlength=n_bins)
    )
    return float(gap.sum() / counts.sum())


def probability_metrics(y_true: Any, probability: Any) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision), Brier score, ECE (10 bins), base rate and count."""
    y = np.asarray(y_true, dtype=bool)
    p = np.asarray(probability, dtype=float)
    both = len(np.unique(y)) == 2
    return {
        "n": float(len(y)),
        "base_rate": float(y.mean()) if len(y) else float("nan"),
        "mean_probability": float(p.mean()) if len(p) else float("nan"),
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)) if len(y) else float("nan"),
        "ece": expected_calibration_error(y, p) if len(y) else float("nan"),
    }
