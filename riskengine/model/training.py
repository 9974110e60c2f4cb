"""Training with temporal validation: fit on older cohorts, judge on the newest one with outcomes.

Never a random split across cohorts: a model is always used on a cohort it has not seen, so that is how it
is judged. The model validated is the model registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, selection_rate
from sklearn.metrics import recall_score, roc_auc_score

from riskengine.features import Catalogue, load_catalogue
from riskengine.model.calibration import probability_metrics
from riskengine.model.frame import TrainingFrame, build_training_frame
from riskengine.model.pipeline import RULE_POINTS, RiskModel
from riskengine.model.spec import ModelSpec, load_model_spec
from riskengine.outcomes import OutcomeDefinition

#: A calibrated model's validation ECE is under this; above it, the spec should say sigmoid or isotonic.
ECE_TOLERANCE = 0.02
#: The share of pupils the fairness summary flags when the spec's threshold is not a top percentage.
FAIRNESS_TOP_PERCENT = 10.0


@dataclass
class TrainingResult:
    """Everything a training run produced: the fitted model and what it is judged and described by."""

    model: RiskModel
    spec: ModelSpec
    metrics: dict[str, dict[str, float]]  # {"train": {...}, "validation": {...}}
    fingerprint: dict[str, Any]
    coefficients: pd.DataFrame
    fairness: pd.DataFrame
    train_cohorts: list[str]
    validation_cohort: str
    validation_outcome: np.ndarray = field(repr=False)
    validation_probability: np.ndarray = field(repr=False)

    @property
    def calibration_ok(self) -> bool:
        """True when the validation ECE is within tolerance, i.e. no (further) calibration is needed."""
        return self.metrics["validation"]["ece"] < ECE_TOLERANCE


def fairness_top_percent(model_spec: ModelSpec) -> float:
    """The spec's top percentage, else a fixed 10%: groups are compared at a share flagged, not a cut-off."""
    return model_spec.flag_threshold.top_percent or FAIRNESS_TOP_PERCENT


def make_model(model_spec: ModelSpec, catalogue: Catalogue) -> RiskModel:
    """An unfitted RiskModel configured by the spec."""
    kinds = {name: catalogue.kind(name) for name in model_spec.features}
    references = {name: catalogue[name].reference for name in model_spec.features}
    directions = {name: catalogue[name].direction for name in model_spec.features}
    if model_spec.include_rule_points:
        kinds[RULE_POINTS] = "number"
        references[RULE_POINTS], directions[RULE_POINTS] = 0, "raises"
    categories = {n: list(catalogue[n].categories) for n, k in kinds.items() if k == "category"}
    return RiskModel(
        feature_kinds=kinds,
        categories=categories,
        penalty=model_spec.penalty,
        C=model_spec.C,
        class_weight=None if model_spec.class_weight == "none" else model_spec.class_weight,
        calibration=model_spec.calibration,
        explain_together={name: list(members) for name, members in model_spec.explain_together.items()},
        references=references,
        directions=directions,
        priors=dict(model_spec.priors),
        constrained=model_spec.sign_constraints,
    )


def fit_model(frame: TrainingFrame, model_spec: ModelSpec, catalogue: Catalogue) -> TrainingResult:
    """Fit on the older cohorts of `frame` and validate on its newest one."""
    train, validation = frame.split()
    x_train, y_train = frame.features[train], frame.outcome[train].to_numpy()
    model = make_model(model_spec, catalogue).fit(x_train, y_train, groups=frame.cohort[train].to_numpy())
    p_train = model.predict_proba(x_train)[:, 1]
    p_valid = model.predict_proba(frame.features[validation])[:, 1]
    y_valid = frame.outcome[validation].to_numpy()
    # the same model without the catalogue's directions or priors: what holding to them costs
    p_free = 1.0 / (1.0 + np.exp(-model.decision_function(frame.features[validation], constrained=False)))
    validation_cohort = str(frame.cohort[validation].iloc[0])
    train_cohorts = sorted(frame.cohort[train].unique())
    model.metadata_ = {
        "spec": model_spec.model_dump(mode="json"),
        "spec_version": model_spec.version,
        "catalogue_version": catalogue.version,
        "rule_set_version": frame.rule_set_version,
        "outcome_definition": frame.outcome_definition,
        "train_cohorts": train_cohorts,
        "validation_cohort": validation_cohort,
        "C": model.C_,  # the C fitted: the spec's, or the one `C: auto` chose
        "C_search": model.C_search_,
    }
    return TrainingResult(
        model=model,
        spec=model_spec,
        metrics={
            "train": probability_metrics(y_train, p_train),
            "validation": probability_metrics(y_valid, p_valid),
            "validation_unconstrained": probability_metrics(y_valid, p_free),
        },
        fingerprint=frame.fingerprint(),
        coefficients=coefficient_table(model, catalogue),
        fairness=fairness_summary(
            y_valid, p_valid, frame.audit[validation], fairness_top_percent(model_spec)
        ),
        train_cohorts=train_cohorts,
        validation_cohort=validation_cohort,
        validation_outcome=y_valid,
        validation_probability=p_valid,
    )


def train_model(
    pupil_terms: pd.DataFrame,
    destinations: pd.DataFrame,
    model_spec: ModelSpec | None = None,
    catalogue: Catalogue | None = None,
    rule_set: Any = None,
    definition: OutcomeDefinition | None = None,
) -> TrainingResult:
    """Build the training frame from past cohorts and fit and validate the spec's model (no tracking)."""
    model_spec = model_spec or load_model_spec()
    catalogue = catalogue or load_catalogue()
    frame = build_training_frame(pupil_terms, destinations, model_spec, catalogue, rule_set, definition)
    result = fit_model(frame, model_spec, catalogue)
    return fit_point_models(result, pupil_terms, destinations, catalogue, rule_set, definition)


def fit_point_models(
    result: TrainingResult,
    pupil_terms: pd.DataFrame,
    destinations: pd.DataFrame,
    catalogue: Catalogue,
    rule_set: Any = None,
    definition: OutcomeDefinition | None = None,
) -> TrainingResult:
    """Fit a model for each of the spec's other scoring points and attach them to `result.model`.

    Each point's model is trained and validated exactly as the spec's own (temporal split) on past pupils
    as they were at that year group and term, with the C the spec's own point used (chosen there when the
    spec says `C: auto`: the same pupils at a later term need no new choice, and it saves 45 fits a point).
    Its validation figures are in `metadata_["points"]`.
    """
    spec, model = result.spec, result.model
    model.point_ = spec.point
    model.point_models_ = {}
    summary = {spec.point: _point_summary(result)}
    for point in spec.scoring_points[1:]:
        year, term = point.split()
        at = spec.model_copy(update={"year_group": int(year), "term": term, "C": model.C_})
        frame = build_training_frame(pupil_terms, destinations, at, catalogue, rule_set, definition)
        fitted = fit_model(frame, at, catalogue)
        model.point_models_[point] = fitted.model
        summary[point] = _point_summary(fitted)
    model.metadata_["points"] = summary
    return result


def _point_summary(result: TrainingResult) -> dict[str, Any]:
    valid, free = result.metrics["validation"], result.metrics.get("validation_unconstrained", {})
    keys = ("n", "base_rate", "mean_probability", "auc", "ece")
    return {
        "C": result.model.C_,
        "train_cohorts": result.train_cohorts,
        "validation_cohort": result.validation_cohort,
        "validation": {k: valid[k] for k in keys},
        "validation_auc_unconstrained": free.get("auc"),
    }


def coefficient_table(model: RiskModel, catalogue: Catalogue) -> pd.DataFrame:
    """The model's coefficients with each column's catalogue feature label, largest effects first."""
    table = model.coefficients()
    labels = {n: catalogue.label(n) for n in catalogue.names} | {RULE_POINTS: "Rule points", "": "Baseline"}
    table.insert(2, "label", table["feature"].map(labels))
    order = np.r_[0, 1 + np.argsort(-table["coefficient"].iloc[1:].abs().to_numpy(), kind="stable")]
    return table.iloc[order].reset_index(drop=True)


def fairness_summary(
    y: np.ndarray, probability: np.ndarray, audit: pd.DataFrame, top_percent: float
) -> pd.DataFrame:
    """Per sex and ethnicity group on the validation cohort: size, outcome rate, mean risk, AUC, flag rate
    and recall when the top `top_percent`% are flagged. Groups under 20 pupils are reported as counts only.
    """
    cutoff = np.quantile(probability, 1 - top_percent / 100) if len(probability) else 1.0
    flagged = probability >= cutoff

    def auc(y_true: np.ndarray, p: np.ndarray) -> float:
        return float(roc_auc_score(y_true, p)) if len(np.unique(y_true)) == 2 else float("nan")

    tables = []
    for attribute in audit.columns:
        groups = audit[attribute].astype("string").fillna("(not recorded)").to_numpy()
        frame = MetricFrame(
            metrics={
                "n": lambda t, p: len(t),
                "outcome_rate": lambda t, p: float(np.mean(t)),
                "flag_rate": selection_rate,
                "recall": lambda t, p: recall_score(t, p, zero_division=np.nan),
            },
            y_true=y,
            y_pred=flagged,
            sensitive_features=pd.Series(groups, name="group"),
        ).by_group
        frame["mean_probability"] = pd.Series(probability).groupby(groups).mean()
        frame["auc"] = pd.Series({g: auc(y[groups == g], probability[groups == g]) for g in frame.index})
        frame["n"] = frame["n"].astype(int)
        small = frame["n"] < 20
        frame.loc[small, ["outcome_rate", "flag_rate", "recall", "mean_probability", "auc"]] = np.nan
        tables.append(frame.reset_index().assign(attribute=attribute))
    columns = ["attribute", "group", "n", "outcome_rate", "mean_probability", "auc", "flag_rate", "recall"]
    if not tables:
        return pd.DataFrame(columns=columns)
    return pd.concat(tables, ignore_index=True)[columns]
