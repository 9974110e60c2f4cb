"""The report's plots, drawn from its tables (never from pupil rows) as PNG bytes.

matplotlib's object-oriented API with the Agg canvas: no display, no global pyplot state, safe in a web
worker or a test run.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

RATIO_TICKS = (0.25, 0.5, 0.8, 1.25, 2.0, 4.0)
DRAWN_RANGE = (0.2, 5.0)  # ratios beyond are drawn at the edge (a log axis cannot show 0); tables are exact
COLOURS = {"rules": "#1b9e77", "model": "#d95f02", "combined": "#7570b3"}


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return buffer.getvalue()


def roc_figure(roc: pd.DataFrame, accuracy: pd.DataFrame) -> bytes:
    figure = Figure(figsize=(5, 4.5))
    ax = figure.add_subplot()
    auc = accuracy.set_index("scorer")["roc_auc"]
    for scorer, curve in roc.groupby("scorer", sort=False):
        ax.plot(
            curve["false_positive_rate"],
            curve["true_positive_rate"],
            color=COLOURS.get(scorer),
            label=f"{scorer} (AUC {auc[scorer]:.3f})",
        )
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="False positive rate", ylabel="True positive rate (recall)", title="ROC curves")
    ax.legend(loc="lower right")
    return _png(figure)


def precision_at_k_figure(
    curve: pd.DataFrame, capacities: tuple[float, ...], base_rate: float | None
) -> bytes:
    figure = Figure(figsize=(5, 4.5))
    ax = figure.add_subplot()
    for scorer, points in curve.groupby("scorer", sort=False):
        ax.plot(points["capacity"] * 100, points["precision"], color=COLOURS.get(scorer), label=scorer)
    for k in capacities:
        ax.axvline(k * 100, color="grey", linewidth=0.8, linestyle="--")
    if base_rate is not None:
        ax.axhline(base_rate, color="grey", linestyle=":", linewidth=1, label="base rate")
    ax.set(
        xlabel="Pupils an adviser sees (% of cohort, highest score first)",
        ylabel="Precision",
        title="Precision at adviser capacity",
        ylim=(0, 1),
    )
    ax.legend()
    return _png(figure)


def calibration_figure(calibration: pd.DataFrame) -> bytes:
    figure = Figure(figsize=(5, 5.5))
    top, bottom = figure.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    filled = calibration[calibration["pupils"] > 0]
    top.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
    top.plot(
        filled["mean_predicted"], filled["observed_rate"], marker="o", color=COLOURS["model"], label="model"
    )
    top.set(
        ylabel="Observed positive rate", title="Calibration (model probability)", xlim=(0, 1), ylim=(0, 1)
    )
    top.legend(loc="upper left")
    width = calibration["bin_high"] - calibration["bin_low"]
    bottom.bar(
        calibration["bin_low"], calibration["pupils"].fillna(0), width=width, align="edge", color="#bbbbbb"
    )
    bottom.set(xlabel="Predicted probability", ylabel="Pupils (bins under 10 not drawn)")
    return _png(figure)


def disparities_figure(disparities: pd.DataFrame, band: tuple[float, float]) -> bytes:
    """Ratio and interval for every audited group and metric, one panel per metric, band shaded."""
    shown = disparities[disparities["ratio"].notna()]
    metrics = list(dict.fromkeys(shown["metric"])) or ["selection_rate"]
    labels = list(dict.fromkeys(shown["attribute"] + ": " + shown["group"]))
    height = max(3.0, 0.22 * len(labels) + 1.2)
    figure = Figure(figsize=(3.2 * len(metrics) + 2.5, height))
    axes = np.atleast_1d(figure.subplots(1, len(metrics), sharey=True))
    positions = {label: i for i, label in enumerate(labels)}
    colours = {"outside band": "#d7191c", "uncertain": "#fdae61", "within band": "#2c7bb6"}
    for ax, metric in zip(axes, metrics, strict=True):
        rows = shown[shown["metric"] == metric]
        y = (rows["attribute"] + ": " + rows["group"]).map(positions).to_numpy()
        ax.axvspan(*band, color="#e8f4e8")
        ax.axvline(1.0, color="grey", linewidth=0.8)
        ratio, low, high = (rows[c].clip(*DRAWN_RANGE) for c in ("ratio", "ratio_low", "ratio_high"))
        errors = [(ratio - low).clip(lower=0).fillna(0), (high - ratio).clip(lower=0).fillna(0)]
        ax.errorbar(ratio, y, xerr=errors, fmt="none", ecolor="#555555", elinewidth=0.8)
        ax.scatter(ratio, y, c=rows["status"].map(colours).fillna("#555555"), s=14, zorder=3)
        ax.set(title=metric.replace("_", " "), xlabel="ratio to reference group")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(RATIO_TICKS, [f"{t:g}" for t in RATIO_TICKS])
    axes[0].set_yticks(range(len(labels)), labels, fontsize=7)
    axes[0].invert_yaxis()
    figure.suptitle(
        "Disparity ratios with simultaneous intervals (shaded: four-fifths band; red: outside the band, "
        "orange: uncertain, grey: not judged)"
    )
    return _png(figure)


def lead_time_figure(lead_time: pd.DataFrame) -> bytes:
    figure = Figure(figsize=(5.5, 4))
    ax = figure.add_subplot()
    pivot = lead_time.pivot(index="first_flagged", columns="scorer", values="share_of_positives")
    pivot = pivot.reindex(list(dict.fromkeys(lead_time["first_flagged"])))
    width = 0.8 / max(len(pivot.columns), 1)
    for i, scorer in enumerate(pivot.columns):
        ax.bar(
            np.arange(len(pivot)) + i * width,
            pivot[scorer].fillna(0),
            width=width,
            color=COLOURS.get(scorer),
            label=scorer,
        )
    ax.set_xticks(np.arange(len(pivot)) + width * (len(pivot.columns) - 1) / 2, pivot.index)
    ax.set(ylabel="Share of eventual positives", title="When eventual positives were first flagged")
    ax.legend()
    return _png(figure)
