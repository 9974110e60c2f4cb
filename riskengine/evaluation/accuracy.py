"""Accuracy against actual destinations: how well each scorer ranks and flags the pupils who became NEET.

Point estimates come straight from scikit-learn; intervals from the vectorised bootstrap, which computes
the same quantities on resampled pupils.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from riskengine.evaluation.bootstrap import (
    bootstrap,
    interval,
    weighted_ranking,
    weighted_sums,
)
from riskengine.evaluation.calibration import calibration_table, expected_calibration_error
from riskengine.evaluation.inputs import Scorer
from riskengine.evaluation.settings import AuditSettings


def outcome_counts(table: pd.DataFrame, excluded_no_probability: int = 0) -> pd.DataFrame:
    """How many pupils the figures rest on, including those with no outcome (never silently EET)."""
    outcome = table["outcome"]
    rows = {
        "pupils scored": len(table),
        "with an outcome": int(outcome.notna().sum()),
        "positive outcome": int(outcome.fillna(False).sum()),
        "negative outcome (EET)": int((~outcome).fillna(False).sum()),
        "no outcome (excluded from accuracy and audit)": int(outcome.isna().sum()),
        "any NEET record in the window": int(table["any_neet"].sum()),
        "any Not Known record in the window": int(table["any_not_known"].sum()),
    }
    if excluded_no_probability:
        rows["with an outcome but no model probability (excluded)"] = excluded_no_probability
    return pd.DataFrame({"measure": list(rows), "pupils": list(rows.values())})


def at_capacity(y: np.ndarray, score: np.ndarray, shares: np.ndarray) -> pd.DataFrame:
    """Pupils seen, precision and recall when an adviser works down the list to each share of pupils.

    Pupils tied on the last score seen are taken at random; we report the expectation over that draw,
    so ties (common with rule points) neither help nor hurt a scorer.
    """
    n = len(score)
    order = np.argsort(score, kind="stable")
    ascending = score[order]
    hits_below = np.r_[0, np.cumsum(y[order])]  # hits_below[i]: positives among the i lowest scores
    seen = np.maximum(1, np.round(np.asarray(shares) * n).astype(int))
    cutoff = ascending[n - seen]
    tie_start = np.searchsorted(ascending, cutoff, side="left")
    tie_end = np.searchsorted(ascending, cutoff, side="right")
    above = n - tie_end
    tied_hits = hits_below[tie_end] - hits_below[tie_start]
    expected_hits = (hits_below[n] - hits_below[tie_end]) + tied_hits * (seen - above) / (tie_end - tie_start)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = expected_hits / hits_below[n] if hits_below[n] else np.full(len(seen), np.nan)
    return pd.DataFrame(
        {
            "capacity": shares,
            "pupils_seen": seen,
            "positives_found": expected_hits,
            "precision": expected_hits / seen,
            "recall": recall,
        }
    )


def capacity_table(y: np.ndarray, found: dict[str, Scorer], shares: tuple[float, ...]) -> pd.DataFrame:
    """Precision and recall at adviser capacity k, per scorer."""
    grid = np.asarray(shares, dtype=float)
    frames = [at_capacity(y, scorer.score, grid).assign(scorer=name) for name, scorer in found.items()]
    table = pd.concat(frames, ignore_index=True)
    return table[["scorer", "capacity", "pupils_seen", "positives_found", "precision", "recall"]]


def accuracy_table(y: np.ndarray, found: dict[str, Scorer], settings: AuditSettings) -> pd.DataFrame:
    """Per scorer: ROC AUC and PR AUC with bootstrap intervals, and precision, recall, F1 of its flag."""
    statistics = {}
    for name, scorer in found.items():
        statistics[f"ranking_{name}"] = weighted_ranking(y, scorer.score)
        statistics[f"flags_{name}"] = weighted_sums(np.column_stack([y, scorer.flag, y & scorer.flag]))
    samples = bootstrap(len(y), statistics, settings.bootstrap_reps, settings.bootstrap_seed)
    rows = []
    for name, scorer in found.items():
        sums = samples[f"flags_{name}"]
        positives, flagged, hits = sums[:, 0], sums[:, 1], sums[:, 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = {
                "roc_auc": samples[f"ranking_{name}"][:, 0],
                "pr_auc": samples[f"ranking_{name}"][:, 1],
                "precision": np.where(flagged > 0, hits / flagged, np.nan),
                "recall": np.where(positives > 0, hits / positives, np.nan),
            }
        row = {
            "scorer": name,
            "pupils": len(y),
            "positives": int(y.sum()),
            "flagged": int(scorer.flag.sum()),
            "true_positives": int((y & scorer.flag).sum()),
            "roc_auc": roc_auc_score(y, scorer.score),
            "pr_auc": average_precision_score(y, scorer.score),
            "precision": precision_score(y, scorer.flag, zero_division=np.nan),
            "recall": recall_score(y, scorer.flag, zero_division=np.nan),
            "f1": f1_score(y, scorer.flag, zero_division=np.nan),
        }
        for metric, values in boot.items():
            row[f"{metric}_low"], row[f"{metric}_high"] = (
                float(v) for v in interval(values, settings.confidence)
            )
        rows.append(row)
    columns = ["scorer", "pupils", "positives", "flagged", "true_positives"]
    for metric in ("roc_auc", "pr_auc", "precision", "recall"):
        columns += [metric, f"{metric}_low", f"{metric}_high"]
    return pd.DataFrame(rows)[[*columns, "f1"]]


def calibration_summary(y: np.ndarray, probability: np.ndarray, n_bins: int) -> tuple[pd.DataFrame, dict]:
    """The model's calibration curve, Brier score and ECE."""
    summary = {
        "brier_score": float(brier_score_loss(y, probability)),
        "ece": expected_calibration_error(y, probability, n_bins),
        "mean_predicted": float(probability.mean()),
        "observed_rate": float(y.mean()),
    }
    return calibration_table(y, probability, n_bins), summary


def roc_points(y: np.ndarray, found: dict[str, Scorer], max_points: int = 400) -> pd.DataFrame:
    """ROC curves for plotting, thinned to at most `max_points` per scorer (AUCs are not taken from these)."""
    frames = []
    for name, scorer in found.items():
        fpr, tpr, _ = roc_curve(y, scorer.score)
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), max_points)).round().astype(int))
        frames.append(
            pd.DataFrame({"scorer": name, "false_positive_rate": fpr[keep], "true_positive_rate": tpr[keep]})
        )
    return pd.concat(frames, ignore_index=True)


def accuracy_by_term(rows: pd.DataFrame) -> pd.DataFrame:
    """ROC AUC of rule points and model probability at each year group and term scored (no intervals)."""
    labelled = rows[rows["outcome"].notna()]
    records = []
    for (ncyear, term), group in labelled.groupby(["ncyear", "term"], sort=True):
        y = group["outcome"].astype(bool).to_numpy()
        both_classes = 0 < y.sum() < len(y)
        probability = group["probability"].astype("Float64")
        records.append(
            {
                "ncyear": int(ncyear),
                "term": term,
                "pupils": len(group),
                "positives": int(y.sum()),
                "rules_roc_auc": roc_auc_score(y, group["points"].astype(float)) if both_classes else np.nan,
                "model_roc_auc": roc_auc_score(y, probability.to_numpy(dtype=float))
                if both_classes and probability.notna().all()
                else np.nan,
            }
        )
    return pd.DataFrame(
        records, columns=["ncyear", "term", "pupils", "positives", "rules_roc_auc", "model_roc_auc"]
    )
