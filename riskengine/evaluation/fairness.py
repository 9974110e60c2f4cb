"""Fairness audit: does the flag work equally well for every group of pupils?

Per-group figures come from fairlearn's MetricFrame. Disparity ratios (group / reference group) get
simultaneous intervals from the bootstrap (weighted group sums on the same resamples), and are judged
against the four-fifths band by the rule in `ratio_status`. Groups smaller than `min_group_size` are
listed with their size and "too small", never with rates that would look more certain than they are;
a ratio whose rate rests on fewer than `min_events` pupils (e.g. positives, for a false negative rate)
is shown but "too few to judge".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from numpy.typing import ArrayLike
from scipy import sparse
from scipy.stats import norm
from sklearn.metrics import precision_score

from riskengine.evaluation.bootstrap import bootstrap, interval
from riskengine.evaluation.settings import AuditSettings

TOO_SMALL = "too small"
REFERENCE = "reference"
OUTSIDE = "outside band"
UNCERTAIN = "uncertain"
WITHIN = "within band"
UNDEFINED = "undefined"
TOO_FEW = "too few to judge"
NOT_JUDGED = "not judged"
#: Whose count a rate divides by: a ratio is judged only when group and reference have enough of them.
DENOMINATOR = {
    "selection_rate": "pupils",
    "false_positive_rate": "negatives",
    "false_negative_rate": "positives",
    "true_positive_rate": "positives",
    "precision": "flagged",
    "observed_over_predicted": "positives",
}

COUNT_COLUMNS = ("pupils", "positives", "flagged", "true_positives", "false_positives")
RATE_COLUMNS = (
    "base_rate",
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "false_negative_rate",
    "precision",
    "mean_predicted",
    "observed_over_predicted",
)


def pupils(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    """Pupils in the group (the weights are pupil counts)."""
    return float(np.sum(sample_weight))


def positives(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    """Pupils in the group with a positive outcome."""
    return float(np.sum(sample_weight * y_true))


def flagged(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    """Pupils in the group the scorer flagged."""
    return float(np.sum(sample_weight * y_pred))


def true_positives(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    """Flagged pupils in the group with a positive outcome."""
    return float(np.sum(sample_weight * (y_true & y_pred)))


def false_positives(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    """Flagged pupils in the group without a positive outcome."""
    return float(np.sum(sample_weight * (~y_true & y_pred)))


def base_rate(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    """Share of the group with a positive outcome."""
    return float(np.average(y_true, weights=sample_weight))


def mean_predicted(
    y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray, probability_sum: np.ndarray
) -> float:
    """The group's mean model probability, to set against its base rate (calibration in the large)."""
    return float(np.sum(probability_sum) / np.sum(sample_weight))


@dataclass(frozen=True)
class Grouping:
    """One audited attribute or intersection: its columns and its reference group (None: not found)."""

    name: str
    columns: tuple[str, ...]
    reference: str | None
    problem: str | None = None

    def labels(self, table: pd.DataFrame) -> pd.Series:
        parts = [table[c].astype(str) for c in self.columns]
        joined = parts[0]
        for part in parts[1:]:
            joined = joined + " / " + part
        return joined


def ratio_status(ratio: ArrayLike, low: ArrayLike, high: ArrayLike, band: tuple[float, float]) -> np.ndarray:
    """Outside the band only if the whole interval is (a chance disparity is not a finding);
    "uncertain" if the ratio is outside but its interval reaches into the band."""
    ratio, low, high = (np.asarray(v, dtype=float) for v in (ratio, low, high))
    with np.errstate(invalid="ignore"):
        return np.select(
            [
                np.isnan(ratio) | np.isnan(low),
                (high < band[0]) | (low > band[1]),
                (ratio < band[0]) | (ratio > band[1]),
            ],
            [UNDEFINED, OUTSIDE, UNCERTAIN],
            default=WITHIN,
        )


def simultaneous_z(confidence: float, comparisons: int) -> float:
    """Normal quantile for Bonferroni-simultaneous intervals over `comparisons` ratios: on data with no
    disparity, the chance that any of them looks outside the band stays below 1 - confidence."""
    return float(norm.ppf(1 - (1 - confidence) / (2 * max(comparisons, 1))))


def _metric_frame(
    y: np.ndarray, flag: np.ndarray, probability: np.ndarray | None, labels: pd.Series
) -> pd.DataFrame:
    """Per-group rates from fairlearn's MetricFrame.

    Pupils alike in group, outcome and flag are collapsed into one row weighted by their count (with
    their summed probability): every metric is then exactly the per-pupil one, and MetricFrame, which
    loops in Python over the rows it is given, takes milliseconds instead of minutes for 200,000 pupils.
    """
    collapsed = (
        pd.DataFrame(
            {
                "group": labels.to_numpy(),
                "y": y,
                "flag": flag,
                "probability": probability if probability is not None else np.zeros(len(y)),
            }
        )
        .groupby(["group", "y", "flag"], sort=True)
        .agg(weight=("y", "size"), probability_sum=("probability", "sum"))
        .reset_index()
    )
    weight = collapsed["weight"].to_numpy(dtype=np.float64)
    metrics = {
        "pupils": pupils,
        "positives": positives,
        "flagged": flagged,
        "true_positives": true_positives,
        "false_positives": false_positives,
        "base_rate": base_rate,
        "selection_rate": selection_rate,
        "true_positive_rate": true_positive_rate,
        "false_positive_rate": false_positive_rate,
        "false_negative_rate": false_negative_rate,
        "precision": partial(precision_score, zero_division=np.nan),
        "mean_predicted": mean_predicted,
    }
    params = {name: {"sample_weight": weight} for name in metrics}
    params["mean_predicted"]["probability_sum"] = collapsed["probability_sum"].to_numpy(dtype=np.float64)
    frame = MetricFrame(
        metrics=metrics,
        y_true=collapsed["y"].to_numpy(dtype=bool),
        y_pred=collapsed["flag"].to_numpy(dtype=bool),
        sensitive_features=collapsed["group"].rename("group"),
        sample_params=params,
    )
    by_group = frame.by_group.reset_index()
    by_group[list(COUNT_COLUMNS)] = by_group[list(COUNT_COLUMNS)].astype(int)
    if probability is None:
        by_group["mean_predicted"] = np.nan
    by_group["observed_over_predicted"] = by_group["base_rate"] / by_group["mean_predicted"]
    return by_group


def _bootstrap_group_sums(
    codes: dict[str, np.ndarray],
    y: np.ndarray,
    probability: np.ndarray | None,
    flags: dict[str, np.ndarray],
    settings: AuditSettings,
) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Per grouping and scorer, resampled group sums (reps, groups): pupils, positives, flagged, hits and
    summed probability, all from one sparse product per block of resamples (float64 throughout).

    Each pupil falls in one cell per grouping and scorer, (group, outcome, flag), plus one probability
    column per group, so the design has few non-zeros per pupil however many groups are audited.
    """
    n = len(y)
    rows = np.arange(n)
    blocks, layout, offset = [], {}, 0
    for grouping, group_codes in codes.items():
        width = int(group_codes.max()) + 1
        values = probability if probability is not None else np.zeros(n)
        blocks.append(sparse.csr_matrix((values, (rows, group_codes)), shape=(n, width)))
        layout[(grouping, "prob")] = (offset, width)
        offset += width
        for scorer, flag in flags.items():
            cell = group_codes * 4 + y.astype(int) * 2 + flag.astype(int)
            blocks.append(sparse.csr_matrix((np.ones(n), (rows, cell)), shape=(n, 4 * width)))
            layout[(grouping, scorer)] = (offset, width)
            offset += 4 * width
    design = sparse.hstack(blocks, format="csr", dtype=np.float64).T.tocsr()
    samples = bootstrap(
        n, {"sums": lambda w: (design @ w.T).T}, settings.bootstrap_reps, settings.bootstrap_seed
    )["sums"]

    result = {}
    for grouping in codes:
        start, width = layout[(grouping, "prob")]
        predicted = samples[:, start : start + width]
        for scorer in flags:
            start, width = layout[(grouping, scorer)]
            cells = samples[:, start : start + 4 * width].reshape(len(samples), width, 2, 2)  # group, y, flag
            result[(grouping, scorer)] = {
                "n": cells.sum(axis=(2, 3)),
                "pos": cells[:, :, 1, :].sum(axis=2),
                "flag": cells[:, :, :, 1].sum(axis=2),
                "hit": cells[:, :, 1, 1],
                "prob": predicted,
            }
    return result


def _group_rates(sums: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each audited rate from weighted group sums (same definitions as the MetricFrame metrics)."""
    n, pos, flagged, hits, predicted = (sums[k] for k in ("n", "pos", "flag", "hit", "prob"))
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = {
            "selection_rate": flagged / n,
            "false_positive_rate": (flagged - hits) / (n - pos),
            "false_negative_rate": (pos - hits) / pos,
            "true_positive_rate": hits / pos,
            "precision": hits / flagged,
            "observed_over_predicted": pos / predicted,
        }
    return {k: np.where(np.isfinite(v), v, np.nan) for k, v in rates.items()}


GROUP_COLUMNS = [
    "scorer",
    "attribute",
    "group",
    "status",
    "reason",
    "pupils_scored",
    "no_outcome_count",
    *COUNT_COLUMNS,
    *RATE_COLUMNS,
    "observed_over_predicted_low",
    "observed_over_predicted_high",
]
DISPARITY_COLUMNS = [
    "scorer",
    "attribute",
    "group",
    "reference",
    "metric",
    "value",
    "reference_value",
    "ratio",
    "ratio_low",
    "ratio_high",
    "status",
    "reason",
]


def audit_groups(
    labels: pd.DataFrame,
    groupings: list[Grouping],
    outcome: pd.Series,
    flags: dict[str, np.ndarray],
    probability: np.ndarray | None,
    settings: AuditSettings,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Group figures and disparity ratios for every grouping and flag: the engine under `audit`.

    `labels` holds each grouping's column(s) as text, one row per pupil; `outcome` is boolean with NA for
    no outcome; `flags` and `probability` are per pupil in the same order. Only pupils with an outcome
    enter the rates; each group's count of pupils without one is reported beside them.
    """
    has_outcome = outcome.notna().to_numpy()
    if not groupings or not has_outcome.any() or not flags:
        return pd.DataFrame(columns=GROUP_COLUMNS), pd.DataFrame(columns=DISPARITY_COLUMNS)
    labelled = labels[has_outcome].reset_index(drop=True)
    y = outcome[has_outcome].astype(bool).to_numpy()
    prob = probability[has_outcome].astype(np.float64) if probability is not None else None
    audited = {name: np.asarray(flag, dtype=bool)[has_outcome] for name, flag in flags.items()}
    codes = {g.name: pd.factorize(g.labels(labelled), sort=True) for g in groupings}
    sums = _bootstrap_group_sums({k: c for k, (c, _) in codes.items()}, y, prob, audited, settings)

    group_frames, disparity_frames = [], []
    for g in groupings:
        all_labels = g.labels(labels)
        scored = all_labels.value_counts().rename("pupils_scored")
        no_outcome = all_labels[~has_outcome].value_counts().rename("no_outcome_count")
        uniques = list(codes[g.name][1])
        labelled_labels = g.labels(labelled)
        for name, flag in audited.items():
            by_group = _metric_frame(y, flag, prob, labelled_labels)
            boot = _group_rates(sums[(g.name, name)])
            low, high = interval(boot["observed_over_predicted"], settings.confidence)
            ci = pd.DataFrame(
                {"group": uniques, "observed_over_predicted_low": low, "observed_over_predicted_high": high}
            )
            by_group = (
                pd.DataFrame({"pupils_scored": scored})
                .rename_axis("group")
                .reset_index()
                .merge(no_outcome.rename_axis("group").reset_index(), on="group", how="left")
                .merge(by_group, on="group", how="left")
                .merge(ci, on="group", how="left")
                .sort_values("group", kind="stable")
                .reset_index(drop=True)
            )
            counts = ["pupils_scored", "no_outcome_count", *COUNT_COLUMNS]
            by_group[counts] = by_group[counts].fillna(0).astype(int)
            small = (by_group["pupils"] < settings.min_group_size).to_numpy()
            is_reference = (by_group["group"] == g.reference).to_numpy()
            by_group["status"] = np.where(small, TOO_SMALL, np.where(is_reference, REFERENCE, "audited"))
            by_group["reason"] = np.where(
                small, f"fewer than {settings.min_group_size} pupils with an outcome: no rates", ""
            )
            blank = ["observed_over_predicted_low", "observed_over_predicted_high"]
            by_group.loc[small, [*RATE_COLUMNS, *blank]] = np.nan
            if prob is None:
                by_group[blank] = np.nan
            group_frames.append(by_group.assign(scorer=name, attribute=g.name))
            disparity_frames.append(
                _ratios(by_group, boot, uniques, g, settings).assign(scorer=name, attribute=g.name)
            )

    groups = pd.concat(group_frames, ignore_index=True)[GROUP_COLUMNS]
    ratios = pd.concat(disparity_frames, ignore_index=True)
    disparities = _judge(ratios, settings) if len(ratios) else pd.DataFrame(columns=DISPARITY_COLUMNS)
    return groups, disparities.reindex(columns=DISPARITY_COLUMNS)


def _ratios(
    by_group: pd.DataFrame,
    boot: dict[str, np.ndarray],
    uniques: list[str],
    g: Grouping,
    settings: AuditSettings,
) -> pd.DataFrame:
    """Each audited group's rates over the reference group's, the bootstrap spread of their logarithm,
    and whether both have enough pupils in the rate's denominator to be judged. When the reference is
    missing or too small, every group gets a "not judged" row saying why (never a silent drop)."""
    others = by_group[by_group["group"] != g.reference].reset_index(drop=True)
    reference_rows = by_group[by_group["group"] == g.reference]
    problem = g.problem
    if problem is None and (reference_rows.empty or g.reference not in uniques):
        problem = f"reference group {g.reference!r} has no pupil with an outcome"
    elif problem is None and reference_rows["status"].iloc[0] == TOO_SMALL:
        problem = (
            f"reference group {g.reference!r} has fewer than {settings.min_group_size} pupils with an outcome"
        )
    frames = []
    for metric in settings.disparity_metrics:
        if problem is not None:
            frames.append(
                pd.DataFrame(
                    {
                        "group": others["group"],
                        "reference": g.reference,
                        "metric": metric,
                        "value": others[metric],
                        "reference_value": np.nan,
                        "ratio": np.nan,
                        "log_spread": np.nan,
                        "small": others["status"] == TOO_SMALL,
                        "enough": False,
                        "problem": problem,
                    }
                )
            )
            continue
        reference = reference_rows.iloc[0]
        counts = _denominators(others)
        reference_counts = {k: v.iloc[0] for k, v in _denominators(reference_rows).items()}
        columns = [uniques.index(group) if group in uniques else -1 for group in others["group"]]
        with np.errstate(invalid="ignore", divide="ignore"):
            log_ratios = np.log(boot[metric] / boot[metric][:, [uniques.index(g.reference)]])
            spread = _log_spread(log_ratios)
            ratio = others[metric] / reference[metric]
        denominator = DENOMINATOR[metric]
        frames.append(
            pd.DataFrame(
                {
                    "group": others["group"],
                    "reference": g.reference,
                    "metric": metric,
                    "value": others[metric],
                    "reference_value": reference[metric],
                    "ratio": ratio.where(np.isfinite(ratio)),
                    "log_spread": [spread[c] if c >= 0 else np.nan for c in columns],
                    "small": others["status"] == TOO_SMALL,
                    "enough": (counts[denominator] >= settings.min_events).fillna(False)
                    & (reference_counts[denominator] >= settings.min_events),
                    "problem": None,
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _denominators(rows: pd.DataFrame) -> dict[str, pd.Series]:
    """The counts each audited rate divides by (see DENOMINATOR)."""
    return {
        "pupils": rows["pupils"],
        "positives": rows["positives"],
        "negatives": rows["pupils"] - rows["positives"],
        "flagged": rows["flagged"],
    }


def _log_spread(log_ratios: np.ndarray) -> np.ndarray:
    """Bootstrap standard deviation per column over finite resamples; NaN when over a tenth of the
    resamples had no ratio (a zero or empty rate), as the spread would then mean little."""
    finite = np.isfinite(log_ratios)
    count = finite.sum(axis=0)
    values = np.where(finite, log_ratios, 0.0)
    mean = values.sum(axis=0) / np.maximum(count, 1)
    variance = (((values - mean) ** 2) * finite).sum(axis=0) / np.maximum(count - 1, 1)
    return np.where(count >= 0.9 * len(log_ratios), np.sqrt(variance), np.nan)


def _judge(ratios: pd.DataFrame, settings: AuditSettings) -> pd.DataFrame:
    """Intervals and status for every ratio: simultaneous (Bonferroni) intervals over the ratios each
    scorer has judged, from the bootstrap standard error of the log ratio."""
    not_judged = ratios["problem"].notna()
    judged = (
        ~not_judged
        & ~ratios["small"]
        & ratios["enough"]
        & ratios["ratio"].gt(0)
        & ratios["log_spread"].notna()
    )
    comparisons = judged.groupby(ratios["scorer"]).transform("sum")
    z = comparisons.map(lambda m: simultaneous_z(settings.confidence, int(m)))  # one value per scorer
    with np.errstate(invalid="ignore", divide="ignore"):
        low = (ratios["ratio"] * np.exp(-z * ratios["log_spread"])).where(judged)
        high = (ratios["ratio"] * np.exp(z * ratios["log_spread"])).where(judged)
    status = pd.Series(ratio_status(ratios["ratio"], low, high, settings.band), index=ratios.index)
    status = status.mask(~ratios["enough"], TOO_FEW).mask(ratios["small"], TOO_SMALL)
    status = status.mask(~ratios["small"] & ratios["enough"] & ~judged, UNDEFINED)
    status = status.mask(not_judged, NOT_JUDGED)
    reason = pd.Series("", index=ratios.index, dtype=object)
    reason = reason.mask(
        status == TOO_FEW, f"fewer than {settings.min_events} pupils in the rate's denominator"
    )
    reason = reason.mask(
        status == TOO_SMALL, f"group has fewer than {settings.min_group_size} pupils with an outcome"
    )
    reason = reason.mask(
        status == UNDEFINED, "no ratio: a zero reference rate, or no stable bootstrap spread"
    )
    reason = reason.mask(not_judged, ratios["problem"])
    result = ratios.assign(ratio_low=low, ratio_high=high, status=status, reason=reason)
    result.loc[ratios["small"], ["value", "ratio"]] = np.nan
    return result
