"""Training with temporal validation: fit on older cohorts, judge on the newest one with outcomes.

Never a random split across cohorts: a model is always used on a cohort it has not seen, so that is how it
is judged. A local authority starting out has one cohort of outcomes (or older cohorts with too few
positive cases to fit on their own); then the model is fitted on all of them and judged by stratified
K-fold cross-validation within them (each pupil predicted by a model fitted without their fold), and every
output says so. The model validated is the model registered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, selection_rate
from sklearn.base import clone
from sklearn.metrics import recall_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from riskengine.features import Catalogue, load_catalogue
from riskengine.model.calibration import probability_metrics
from riskengine.model.frame import TrainingFrame, build_training_frame
from riskengine.model.pipeline import RULE_POINTS, RiskModel
from riskengine.model.spec import SUPPORTED, ModelSpec, load_model_spec
from riskengine.model.support import handle_support
from riskengine.outcomes import OutcomeDefinition

#: A calibrated model's validation ECE is under this; above it, the spec should say sigmoid or isotonic.
ECE_TOLERANCE = 0.02
#: The share of pupils the fairness summary flags when the spec's threshold is not a top percentage.
FAIRNESS_TOP_PERCENT = 10.0
#: Folds of the cross-validated validation used when temporal validation is not possible.
CV_FOLDS = 5
#: A school counts as not supplying a feature when fewer than this share of its training pupils have a value
#: (the few who do came with it from another school), judged only in schools with at least
#: MIN_SCHOOL_PUPILS training pupils (in a handful of pupils, e.g. a small referral unit, every blank can be
#: a real "none").
NOT_SUPPLIED_SHARE = 0.05
MIN_SCHOOL_PUPILS = 20
TEMPORAL, CROSS_VALIDATED = "temporal", "cross-validated"


class NotEnoughOutcomes(ValueError):
    """Too few pupils with an outcome, or too few positive cases, to fit a model; the message has counts."""


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
    validation: str = TEMPORAL  # or CROSS_VALIDATED
    validation_note: str = ""  # how the model was validated, in words (output, MLflow, model card)
    notices: list[str] = field(default_factory=list)  # what training left out and why, in words
    not_available: list[str] = field(default_factory=list)  # spec features left out: no usable data

    @property
    def calibration_ok(self) -> bool:
        """True when the validation ECE is within tolerance, i.e. no (further) calibration is needed."""
        return self.metrics["validation"]["ece"] < ECE_TOLERANCE


def fairness_top_percent(model_spec: ModelSpec) -> float:
    """The spec's top percentage, else a fixed 10%: groups are compared at a share flagged, not a cut-off."""
    return model_spec.flag_threshold.top_percent or FAIRNESS_TOP_PERCENT


def make_model(
    model_spec: ModelSpec,
    catalogue: Catalogue,
    features: Sequence[str] | None = None,
    supported: bool = False,
) -> RiskModel:
    """An unfitted RiskModel configured by the spec, on `features` (default: all the spec's features), plus
    the `supported` indicator when asked (riskengine.model.support; either direction, reference "no").

    An `explain_together` group keeps only its members among `features`, and goes when fewer than two stay.
    """
    names = list(model_spec.features if features is None else features)
    kinds = {name: catalogue.kind(name) for name in names}
    references = {name: catalogue[name].reference for name in names}
    directions = {name: catalogue[name].direction for name in names}
    if model_spec.include_rule_points:
        kinds[RULE_POINTS] = "number"
        references[RULE_POINTS], directions[RULE_POINTS] = 0, "raises"
    if supported:
        kinds[SUPPORTED], references[SUPPORTED], directions[SUPPORTED] = "flag", False, "either"
    categories = {n: list(catalogue[n].categories) for n, k in kinds.items() if k == "category"}
    groups = {
        name: [m for m in members if m in kinds] for name, members in model_spec.explain_together.items()
    }
    return RiskModel(
        feature_kinds=kinds,
        categories=categories,
        penalty=model_spec.penalty,
        C=model_spec.C,
        class_weight=None if model_spec.class_weight == "none" else model_spec.class_weight,
        calibration=model_spec.calibration,
        explain_together={name: members for name, members in groups.items() if len(members) >= 2},
        references=references,
        directions=directions,
        priors={name: prior for name, prior in model_spec.priors.items() if name in kinds},
        constrained=model_spec.sign_constraints,
    )


def check_enough_outcomes(frame: TrainingFrame, model_spec: ModelSpec) -> None:
    """Refuse, with the counts, when there are no outcomes or too few positive (or negative) cases to fit."""
    n, positives = len(frame.outcome), int(frame.outcome.sum())
    where = f"Year {model_spec.year_group} {model_spec.term}"
    if n == 0:
        raise NotEnoughOutcomes(
            f"cannot train: no pupil seen in {where} has an outcome yet ({frame.n_without_outcome} with no "
            f"destination recorded, {frame.n_window_open} whose destination window is still open); load "
            "destinations for a cohort whose window has closed"
        )
    if positives < model_spec.min_positives:
        raise NotEnoughOutcomes(
            f"cannot train: {n} pupils have an outcome but only {positives} of them are positive cases "
            f"(NEET, Not Known or Other); the model spec asks for at least {model_spec.min_positives} "
            f"(min_positives in {model_spec.name}'s spec) to fit and validate a model"
        )
    if n - positives < 2:
        raise NotEnoughOutcomes(
            f"cannot train: {n} pupils have an outcome and only {n - positives} of them a negative one; "
            "a model needs both outcomes"
        )


def usable_features(
    frame: TrainingFrame, model_spec: ModelSpec, catalogue: Catalogue
) -> tuple[list[str], list[str], list[str]]:
    """The spec's features the model can learn from: (kept, not available in the data, notices in words).

    A feature with no observed value carries no information (and sklearn would warn about it). A feature
    that some schools did not supply (under NOT_SUPPLIED_SHARE of their pupils with a value, in a school
    with at least MIN_SCHOOL_PUPILS training pupils) while others did would make its
    "was blank" indicator, or its "(missing)" code, learn which school a pupil attends, not their risk:
    it is left out too, and said so.
    """
    features = list(model_spec.features)
    observed = frame.features[features].notna()
    never = [f for f in features if not observed[f].any()]
    notices = []
    if never:
        notices.append(
            "Not available in your data (no pupil has a value), so left out of the model: "
            + "; ".join(f"{catalogue.label(f)} ({f})" for f in never)
            + "."
        )
    by_school = pd.DataFrame()
    if frame.school is not None and len(frame.school):
        grouped = observed.groupby(frame.school.fillna("(no school)").to_numpy())
        by_school = grouped.mean()[grouped.size() >= MIN_SCHOOL_PUPILS] >= NOT_SUPPLIED_SHARE
    partial = {}
    for feature in (f for f in features if f not in never and len(by_school)):  # a few dozen features
        missing_at = by_school.index[~by_school[feature].to_numpy()]
        if 0 < len(missing_at) < len(by_school):
            partial[feature] = list(missing_at)
    if partial:
        described = "; ".join(
            f"{catalogue.label(f)} ({f}): blank for almost every pupil at {len(s)} of {len(by_school)} "
            f"schools ({', '.join(map(str, s))})"
            for f, s in partial.items()
        )
        notices.append(
            "Left out of the model because some schools did not supply them, so their missing-value "
            "indicator would only learn which school a pupil attends: " + described + ". Supply them for "
            "every school (or for none) to use them."
        )
    dropped = set(never) | set(partial)
    return [f for f in features if f not in dropped], [*never, *partial], notices


def _stratified_folds(y: np.ndarray) -> np.ndarray:
    """Each row's fold (0..k-1) of a stratified K-fold split, k = CV_FOLDS or fewer for tiny classes."""
    k = int(min(CV_FOLDS, y.sum(), (~y).sum()))
    folds = np.empty(len(y), dtype=int)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=0)
    for fold, (_, held) in enumerate(splitter.split(np.zeros(len(y)), y)):
        folds[held] = fold
    return folds


def _out_of_fold(
    model: RiskModel, x: pd.DataFrame, y: np.ndarray, folds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each pupil's probability from a model fitted without their fold (C chosen again inside each fit),
    and the same without the catalogue's directions or priors."""
    probability, free = np.empty(len(y)), np.empty(len(y))
    for fold in np.unique(folds):  # k fits, k <= 5
        held = folds == fold
        fitted = clone(model).fit(x[~held], y[~held], groups=folds[~held])
        probability[held] = fitted.predict_proba(x[held])[:, 1]
        free[held] = _sigmoid(fitted.decision_function(x[held], constrained=False))
    return probability, free


def _sigmoid(log_odds: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-log_odds))


def _validation_plan(frame: TrainingFrame, model_spec: ModelSpec) -> tuple[str, str]:
    """Temporal when there are older cohorts with enough positive cases, else cross-validated and why."""
    cohorts = sorted(frame.cohort.unique())
    if len(cohorts) < 2:
        return CROSS_VALIDATED, (
            f"only one cohort ({cohorts[0]}) has outcomes, and temporal validation needs two"
        )
    older = (frame.cohort != cohorts[-1]).to_numpy()
    positives = int(frame.outcome[older].sum())
    if positives < model_spec.min_positives:
        return CROSS_VALIDATED, (
            f"the cohorts before the newest ({', '.join(cohorts[:-1])}) have only {positives} positive "
            f"cases, fewer than the spec's min_positives ({model_spec.min_positives}), to fit on alone"
        )
    return TEMPORAL, ""


def fit_model(frame: TrainingFrame, model_spec: ModelSpec, catalogue: Catalogue) -> TrainingResult:
    """Fit on the older cohorts of `frame` and validate on its newest one; or, with one cohort of outcomes
    (or older cohorts with too few positive cases), fit on all and validate by stratified K-fold."""
    check_enough_outcomes(frame, model_spec)
    features, not_available, notices = usable_features(frame, model_spec, catalogue)
    extra = [RULE_POINTS] if model_spec.include_rule_points else []
    supported = SUPPORTED in frame.features  # added by riskengine.model.support for `support: adjust`
    inputs = frame.features[features + extra + ([SUPPORTED] if supported else [])]
    unfitted = make_model(model_spec, catalogue, features, supported)
    validation, why = _validation_plan(frame, model_spec)
    cohorts = sorted(frame.cohort.unique())
    if validation == TEMPORAL:
        train, valid = frame.split()
        x_train, y_train = inputs[train], frame.outcome[train].to_numpy()
        model = unfitted.fit(x_train, y_train, groups=frame.cohort[train].to_numpy())
        y_valid = frame.outcome[valid].to_numpy()
        p_valid = model.predict_proba(inputs[valid])[:, 1]
        # the same model without the catalogue's directions or priors: what holding to them costs
        p_free = _sigmoid(model.decision_function(inputs[valid], constrained=False))
        audit = frame.audit[valid]
        train_cohorts, validation_cohort = cohorts[:-1], cohorts[-1]
        note = (
            f"temporal: fitted on {', '.join(train_cohorts)}; validated on the newest cohort, "
            f"{validation_cohort} ({len(y_valid)} pupils), which the fit never saw"
        )
    else:
        x_train, y_train = inputs, frame.outcome.to_numpy()
        folds = _stratified_folds(y_train)
        model = unfitted.fit(x_train, y_train, groups=folds)
        y_valid = y_train
        p_valid, p_free = _out_of_fold(unfitted, x_train, y_train, folds)
        audit = frame.audit
        train_cohorts, validation_cohort = cohorts, cohorts[-1]
        note = (
            f"cross-validated within {', '.join(cohorts)}: {why}, so the model is fitted on all "
            f"{len(y_train)} pupils and judged by {folds.max() + 1}-fold stratified cross-validation "
            "(each pupil predicted by a model fitted without their fold). Less strict than validating on "
            "a later cohort: re-train when the next cohort's outcomes arrive"
        )
    p_train = model.predict_proba(x_train)[:, 1]
    model.metadata_ = {
        "spec": model_spec.model_dump(mode="json"),
        "spec_version": model_spec.version,
        "catalogue_version": catalogue.version,
        "rule_set_version": frame.rule_set_version,
        "outcome_definition": frame.outcome_definition,
        "train_cohorts": train_cohorts,
        "validation_cohort": validation_cohort,
        "validation": validation,
        "validation_note": note,
        "not_available": not_available,
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
        fairness=fairness_summary(y_valid, p_valid, audit, fairness_top_percent(model_spec)),
        train_cohorts=train_cohorts,
        validation_cohort=validation_cohort,
        validation_outcome=y_valid,
        validation_probability=p_valid,
        validation=validation,
        validation_note=note,
        notices=notices,
        not_available=not_available,
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
    supported: pd.Index | None = None,
) -> TrainingResult:
    """Fit a model for each of the spec's other scoring points and attach them to `result.model`.

    Each point's model is trained and validated exactly as the spec's own (temporal split, or cross-validated
    when there is too little history; its own notices join the result's) on past pupils
    as they were at that year group and term, with the C the spec's own point used (chosen there when the
    spec says `C: auto`: the same pupils at a later term need no new choice, and it saves 45 fits a point).
    Its validation figures are in `metadata_["points"]`. `supported` (UPNs) are handled as at the spec's
    own point (`support` in the spec).
    """
    spec, model = result.spec, result.model
    model.point_ = spec.point
    model.point_models_ = {}
    summary = {spec.point: _point_summary(result)}
    for point in spec.scoring_points[1:]:
        year, term = point.split()
        at = spec.model_copy(update={"year_group": int(year), "term": term, "C": model.C_})
        frame = build_training_frame(pupil_terms, destinations, at, catalogue, rule_set, definition)
        if supported is not None:
            frame = handle_support(frame, supported, spec.support)[0]
        fitted = fit_model(frame, at, catalogue)
        model.point_models_[point] = fitted.model
        summary[point] = _point_summary(fitted)
        result.notices += [f"At {point}: {n}" for n in fitted.notices if n not in result.notices]
    model.metadata_["points"] = summary
    return result


def _point_summary(result: TrainingResult) -> dict[str, Any]:
    valid, free = result.metrics["validation"], result.metrics.get("validation_unconstrained", {})
    keys = ("n", "base_rate", "mean_probability", "auc", "ece")
    return {
        "C": result.model.C_,
        "train_cohorts": result.train_cohorts,
        "validation_cohort": result.validation_cohort,
        "validation_method": result.validation,
        "not_available": result.not_available,
        "validation": {k: valid[k] for k in keys},
        "validation_auc_unconstrained": free.get("auc"),
    }


def coefficient_table(model: RiskModel, catalogue: Catalogue) -> pd.DataFrame:
    """The model's coefficients with each column's catalogue feature label, largest effects first."""
    table = model.coefficients()
    labels = {n: catalogue.label(n) for n in catalogue.names} | {
        RULE_POINTS: "Rule points",
        SUPPORTED: "Supported by the service (scored as not supported)",
        "": "Baseline",
    }
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
