"""The model card: what a model is for, what it learnt from, how well it did, for whom, and its limits.

Written from a TrainingResult as markdown, logged with the model, so anyone deciding to promote a model
reads the same page. Counts and aggregates only: never a pupil row.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve

from riskengine.model.training import ECE_TOLERANCE, TEMPORAL, TrainingResult, fairness_top_percent


def _markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    rounded = frame.round(digits).astype(object).where(frame.notna(), "")
    header = "| " + " | ".join(map(str, rounded.columns)) + " |"
    rule = "|" + "---|" * len(rounded.columns)
    rows = ["| " + " | ".join(map(str, row)) + " |" for row in rounded.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _notices(fingerprint: dict) -> str:
    """Cohorts left out of training or warned about, as sub-bullets (empty when none)."""
    return "".join(f"\n  - {line}" for line in fingerprint.get("cohort_notices", []))


def _regularisation(result: TrainingResult) -> str:
    """The C fitted, and for `C: auto` how the training cohorts chose it."""
    search = result.model.C_search_
    if search is None:
        return f"C={result.model.C_:g} (fixed by the spec)"
    grid = search["C_grid"]
    return (
        f"C={result.model.C_:g} (chosen from {grid[0]:g} to {grid[-1]:g} by cross-validated log-loss, "
        f"{search['folds']} folds of the training cohorts)"
    )


def _cohorts(result: TrainingResult) -> str:
    if result.validation == TEMPORAL:
        return (
            f"Training cohorts: {', '.join(result.train_cohorts)}; validation cohort (newest "
            f"with outcomes): {result.validation_cohort}. Temporal split, never random across cohorts."
        )
    return f"Cohorts, all used for fitting: {', '.join(result.train_cohorts)}."


def _support(result: TrainingResult) -> str:
    """How pupils the service supported were handled (riskengine.model.support), in one sentence."""
    support = result.model.metadata_.get("support")
    if not support:
        return f"Support ({result.spec.support}): no record of the service's interventions was read."
    return support["note"]


def _not_available(result: TrainingResult) -> str:
    """The spec's features the model could not use, with the training notices that say why."""
    if not result.not_available:
        return ""
    lines = "\n".join(f"- {notice}" for notice in result.notices)
    return f"\nNot available in your data: {', '.join(result.not_available)}.\n{lines}\n"


def _points_section(result: TrainingResult) -> str:
    """One row per scoring point's model: its validation figures (a model per year group and term)."""
    points = result.model.metadata_.get("points") or {}
    if not points:
        return "One model, for the spec's own year group and term."
    rows = [
        {
            "point": point,
            "train cohorts": ", ".join(s["train_cohorts"]),
            "validation n": int(s["validation"]["n"]),
            "outcome rate": s["validation"]["base_rate"],
            "mean risk": s["validation"]["mean_probability"],
            "AUC": s["validation"]["auc"],
            "AUC unconstrained": s["validation_auc_unconstrained"],
            "ECE": s["validation"]["ece"],
            "C": s["C"],
        }
        for point, s in points.items()
    ]
    return (
        "Each pupil is scored by the model of their own year group and term (Years 12-14 by the last "
        "point's model); each was validated on the newest cohort with outcomes at its point.\n\n"
        + _markdown_table(pd.DataFrame(rows), digits=4)
    )


def model_card(result: TrainingResult) -> str:
    """The card as markdown."""
    spec, fp, valid = result.spec, result.fingerprint, result.metrics["validation"]
    catalogue_version = result.model.metadata_["catalogue_version"]
    metrics = pd.DataFrame(result.metrics).T[
        ["n", "base_rate", "mean_probability", "auc", "pr_auc", "brier", "ece"]
    ]
    top = result.coefficients[["label", "column", "coefficient", "unconstrained", "bound", "prior"]]
    free = result.metrics.get("validation_unconstrained", {})
    cost = (
        f"Validation AUC {valid['auc']:.4f} with the directions, {free['auc']:.4f} without them "
        f"(difference {free['auc'] - valid['auc']:+.4f})."
        if free
        else ""
    )
    calibration = (
        f"expected calibration error {valid['ece']:.3f} on the validation pupils "
        f"({'within' if result.calibration_ok else 'above'} the {ECE_TOLERANCE} tolerance); "
        f"calibration step: {spec.calibration}"
    )
    return f"""# Model card: {spec.name} ({spec.version})

## Intended use
Ranks pupils in Year 9 and above by their risk of being NEET, Not Known or Other after Year 11, so careers
advisers can decide whom to see first. It supports an adviser's judgement; it is not a decision about a pupil,
and a low score never rules a pupil out. Explanations list each material reason in percentage points of risk.
Flags: {spec.flag_threshold.describe()}, plus every pupil the rule set flags.

## Data window
- Pupils as they were in the {spec.term} term of Year {spec.year_group}.
- {_cohorts(result)}
- Validation: {result.validation_note or "temporal"}.
- Cohorts count once their outcome window has closed by the destinations' as-of date,
  {fp.get("destinations_as_of") or "not recorded"}.{_notices(fp)}
- Pupils with an outcome: {fp["n_pupils"]} ({fp["n_positive"]} positive); left out: {fp["n_without_outcome"]}
  with no destination recorded, {fp["n_window_open"]} whose destination window was not yet over.
  Per cohort: {fp["pupils_per_cohort"]}.
- Outcome: {fp["outcome_definition"]}.
- {_support(result)}
- Feature matrix sha256 `{fp["features_sha256"][:16]}`, catalogue {catalogue_version}.

## Model
Logistic regression with coefficients held to the catalogue's directions (scipy L-BFGS-B), penalty
{spec.penalty}, {_regularisation(result)} (the same C at every scoring point), class weight
{spec.class_weight}; blanks imputed with their own missing indicator, numbers standardised, codes against the
catalogue's reference code (a blank is its own code unless it is the reference).
Features: {", ".join(result.model.feature_kinds)}.
{_not_available(result)}
Explanations are measured against a reference pupil (every feature at its catalogue `reference`: no
factor, 95% attendance, KS2 score 100); contributions are in log-odds and shown to advisers as the change in
the pupil's risk, in percentage points, if that feature alone were at its reference.

Coefficients (per standard deviation for numbers, per yes for flags, per code against the reference code),
largest first. `coefficient` is held to the catalogue's direction (`bound`) and pulled towards `prior`
(a rare strong factor keeps a published-size effect rather than being shrunk to nothing by a few local
cases); `unconstrained` is the same fit without directions or priors, so a row where the two differ shows
where local data disagree with the catalogue. {cost}

{_markdown_table(top)}

## Models per scoring point
{_points_section(result)}

## Performance
{_markdown_table(metrics.reset_index(names="data"))}

Calibration: {calibration}.

## Fairness summary (validation cohort)
Flag rate and recall when the top {fairness_top_percent(spec):g}% by risk are flagged. Sex and
ethnicity are never model inputs; they are used here only to audit. Groups under 20 pupils show counts only.

{_markdown_table(result.fairness) if len(result.fairness) else "No sex or ethnicity recorded."}

## Limits
- Learnt from past cohorts of this local authority: patterns may drift (policy, attendance recording, new
  provision). Re-train each year and compare with the champion before promoting.
- Sees only what schools upload; a pupil missing from uploads, or with blanks, is scored on what is known.
- Probabilities are for groups of similar pupils, not certainties about one pupil.
- Outcomes exist only for pupils the local authority could track; those without one are excluded.
"""


def calibration_figure(y: np.ndarray, probability: np.ndarray) -> Figure:
    """Reliability diagram (10 equal-width bins) on the validation cohort."""
    observed, predicted = calibration_curve(y, probability, n_bins=10, strategy="uniform")
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    axes.plot(predicted, observed, marker="o", label="model")
    axes.set(xlabel="predicted risk", ylabel="observed outcome rate", title="Calibration (validation cohort)")
    axes.legend()
    return figure


def roc_figure(y: np.ndarray, probability: np.ndarray) -> Figure:
    """ROC curve on the validation cohort."""
    fpr, tpr, _ = roc_curve(y, probability)
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.plot(fpr, tpr)
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (validation cohort)")
    return figure
