"""A scoring run: features -> rules -> model -> explanations -> flags, for every Year 9+ pupil in a term.

`score_frame` works on a pupil-terms frame and needs no store (notebooks, benchmarks, backtests);
`score_term` reads the store, scores and saves the run with every version that produced it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pandas as pd

from riskengine.features import Catalogue, compute_features, load_catalogue
from riskengine.flags.combine import FLAGGING_BANDS, combine_flags
from riskengine.flags.thresholds import as_threshold, model_flags
from riskengine.model.spec import FlagThreshold, load_model_spec
from riskengine.model.tracking import LoadedModel, champion_exists, load_model
from riskengine.spec import upload as spec

if TYPE_CHECKING:  # scikit-learn loads with the model, not with this module (`explain` stays fast)
    from riskengine.model.pipeline import RiskModel

ModelReference: TypeAlias = "LoadedModel | RiskModel | str | Path | None"
Progress = Callable[[str], None]


def _no_progress(stage: str) -> None:
    """Default progress callback: silent (the CLI passes one that moves a tqdm bar)."""


def pupils_in_scope(pupil_terms: pd.DataFrame, academic_year: str, term: str) -> pd.DataFrame:
    """One row per pupil on roll in that term in Year 9 or above: upn, school_urn, ncyear (latest row)."""
    at_term = pupil_terms[
        ((pupil_terms["academic_year"] == academic_year) & (pupil_terms["term"] == term)).fillna(False)
    ]
    at_term = at_term[(at_term["ncyear"] >= spec.SCORED_FROM_NCYEAR).fillna(False)]
    return at_term.drop_duplicates("upn", keep="last")[["upn", "school_urn", "ncyear"]].reset_index(drop=True)


def _pupil_description(
    scope: pd.DataFrame, pupil_reference: Callable[[str], str] | None
) -> Callable[[int], str]:
    """For error messages: the pupil at a row of `scope` by school and opaque reference, never by UPN."""

    def describe(row: int) -> str:
        school = scope["school_urn"].iloc[row]
        who = f"reference {pupil_reference(scope['upn'].iloc[row])}" if pupil_reference else f"row {row + 1}"
        return f"a pupil at school {school} ({who})"

    return describe


def _model_side(
    loaded: LoadedModel,
    features: pd.DataFrame,
    rules: pd.DataFrame,
    catalogue: Catalogue,
    threshold: FlagThreshold | dict[str, Any] | None,
    reasons_per_side: int | None,
) -> tuple[dict[str, Any], np.ndarray, dict[str, Any], dict[str, Any]]:
    """Probability, SHAP contributions, top reasons and model flags: (score columns, flags, threshold
    record, settings). Threshold and reasons per side default to those of the spec the model was trained
    with (for a model without that record, the shipped spec's)."""
    from riskengine.model.explain import contribution_records, top_reasons
    from riskengine.model.pipeline import RULE_POINTS

    metadata = getattr(loaded.model, "metadata_", {})
    trained_spec = metadata.get("spec") or load_model_spec().model_dump(mode="json")
    inputs = features.assign(**{RULE_POINTS: rules["points"].astype("Float64")})
    explanation = loaded.model.explain(inputs)
    k = reasons_per_side or trained_spec["reasons_per_side"]
    up, down = top_reasons(explanation.contributions, inputs, catalogue, k, explanation.groups)
    flagged, record = model_flags(
        explanation.probability, as_threshold(threshold or trained_spec["flag_threshold"])
    )
    columns = {
        "probability": pd.array(explanation.probability, dtype="Float64"),
        "reasons_up": up,
        "reasons_down": down,
        "contributions": contribution_records(explanation.contributions),
    }
    settings = {
        "rules_only": False,
        "reasons_per_side": k,
        "explanation_base_log_odds": explanation.base_value,
        "explanations": "SHAP (linear, interventional) in the logistic model's log-odds",
        "model_spec_version": metadata.get("spec_version"),
        "explained_together": {name: list(members) for name, members in explanation.groups.items()},
    }
    return columns, flagged, record, settings


def score_frame(
    pupil_terms: pd.DataFrame,
    academic_year: str,
    term: str,
    model: ModelReference = None,
    rule_set: Any = None,
    catalogue: Catalogue | None = None,
    threshold: FlagThreshold | dict[str, Any] | None = None,
    reasons_per_side: int | None = None,
    flagging_bands: tuple[str, ...] | None = None,
    n_jobs: int = 1,
    progress: Progress = _no_progress,
    rule_evaluator: Callable[..., pd.DataFrame] | None = None,
    pupil_reference: Callable[[str], str] | None = None,
) -> pd.DataFrame:
    """Score every Year 9+ pupil on roll in `term` of `academic_year` (rules-only when `model` is None).

    Rules flag on their own through any always-flag rule and `flagging_bands` (default: the rule set's top
    band). By default the rules run through durable-rules (the engine of record), checked against the
    vectorised evaluator: any disagreement raises `RuleDisagreement` naming the rule and an example pupil
    by school and `pupil_reference(upn)` (an opaque reference; default: the pupil's position), never by
    UPN. A `rule_evaluator` (e.g. `evaluate_rules_vectorised`) replaces both, unchecked. Returns the
    scores frame of docs/architecture.md (one row per pupil, column `upn`); `.attrs["run"]` holds what a
    stored run records: versions, threshold and settings.
    """
    from riskengine.rules import RESULT_COLUMNS, evaluate_rules_checked, load_rule_set

    catalogue = catalogue or load_catalogue()
    rule_set = rule_set or load_rule_set(catalogue=catalogue)
    flagging_bands = flagging_bands or (getattr(rule_set, "top_band", FLAGGING_BANDS[0]),)
    scope = pupils_in_scope(pupil_terms, academic_year, term)
    history = pupil_terms[pupil_terms["upn"].isin(scope["upn"]).fillna(False)]
    features = compute_features(history, academic_year, term, catalogue).reindex(pd.Index(scope["upn"]))
    progress("features")
    if rule_evaluator is None:
        describe = _pupil_description(scope, pupil_reference)
        rules = evaluate_rules_checked(rule_set, features, describe, n_jobs=n_jobs)
    else:
        rules = rule_evaluator(rule_set, features)
    rules = rules.reindex(features.index)
    progress("rules")

    scores = scope.assign(academic_year=academic_year, term=term)
    for column in RESULT_COLUMNS:
        scores[column] = rules[column].to_numpy()
    run: dict[str, Any] = {
        "academic_year": academic_year,
        "term": term,
        "rule_set_version": rule_set.version,
        "feature_version": catalogue.version,
        "model_version": None,
        "threshold": {"rule_bands": list(flagging_bands), "always_flag": True, "model": None},
        "settings": {"rules_only": True},
    }
    if model is None:
        combined = combine_flags(rules, flagging_bands=flagging_bands)
        scores = scores.assign(
            probability=pd.array([pd.NA] * len(scores), dtype="Float64"),
            reasons_up=None,
            reasons_down=None,
            contributions=None,
        )
    else:
        loaded = model if isinstance(model, LoadedModel) else load_model(model)
        columns, flagged, record, settings = _model_side(
            loaded, features, rules, catalogue, threshold, reasons_per_side
        )
        progress("model")
        combined = combine_flags(
            rules, columns["probability"], flagged, columns["reasons_up"], flagging_bands
        )
        scores = scores.assign(**columns)
        run.update(model_version=loaded.version, settings=settings)
        run["threshold"]["model"] = record
    run["settings"]["rule_engine"] = "evaluate_rules" if rule_evaluator is None else rule_evaluator.__name__
    run["settings"]["rules_cross_checked"] = rule_evaluator is None
    for column in ("flag", "flag_source", "flag_reason"):
        scores[column] = combined[column].to_numpy()
    progress("explanations and flags")
    scores.attrs["run"] = run
    return scores


def _default_model(model: ModelReference, tracking_uri: str | None) -> ModelReference:
    """None means: the registered champion if there is one, else rules only. "none" forces rules only."""
    if isinstance(model, str) and model.lower() in ("none", "rules", "rules-only"):
        return None
    if model is None:
        return load_model(tracking_uri=tracking_uri) if champion_exists(tracking_uri=tracking_uri) else None
    if isinstance(model, str | Path) and not Path(model).is_file():
        return load_model(model, tracking_uri=tracking_uri)
    return model


def _opaque_reference(store: Any, upn: str) -> str:
    """The pupil's opaque reference (the web's pupil ref, made if the pupil has none): for error messages."""
    from riskengine.web.pupils import ensure_refs

    return str(ensure_refs(store, [upn]).iloc[0])


def score_term(
    store: Any,
    academic_year: str,
    term: str,
    model: ModelReference = None,
    rule_set: Any = None,
    catalogue: Catalogue | None = None,
    capacity: FlagThreshold | dict[str, Any] | None = None,
    tracking_uri: str | None = None,
    n_jobs: int = 1,
    progress: Progress = _no_progress,
) -> tuple[int, pd.DataFrame]:
    """Score a term from the store and save the run; returns (run id, scores).

    `model`: None = the registered champion if any, else rules only; "none" = rules only; an alias, a
    registry version, a `models:/` URI or a joblib path. `capacity` overrides the model spec's threshold.
    """
    # Loading the model (importing scikit-learn) overlaps with reading the store, which waits on the
    # database driver: on two cores that takes about a second off a fresh `riskengine score`.
    with ThreadPoolExecutor(max_workers=1) as pool:
        loading = pool.submit(_default_model, model, tracking_uri)
        pupil_terms = store.read_pupil_terms(  # only the pupils scored, with their history
            up_to=(academic_year, term), on_roll=(academic_year, term), min_ncyear=spec.SCORED_FROM_NCYEAR
        )
        model = loading.result()
    progress("read")
    scores = score_frame(
        pupil_terms,
        academic_year,
        term,
        model=model,
        rule_set=rule_set,
        catalogue=catalogue,
        threshold=capacity,
        n_jobs=n_jobs,
        progress=progress,
        pupil_reference=lambda upn: _opaque_reference(store, upn),
    )
    run = dict(scores.attrs["run"], n_pupils=len(scores))
    run_id = store.save_scores(run, scores.assign(points=scores["points"].astype(float)))
    progress("saved")
    return run_id, scores


def scored_pupil(scores: pd.DataFrame, upn: str) -> pd.Series:
    """One pupil's row of a scores frame; a clear error if they were not scored."""
    rows = scores[(scores["upn"] == upn).fillna(False).to_numpy(bool)]
    if rows.empty:
        raise LookupError("that pupil was not scored in this run (not on roll in Year 9+ that term)")
    return rows.iloc[-1]


def format_explanation(row: pd.Series, run: dict[str, Any] | pd.Series | None = None) -> str:
    """A pupil's full reasoning as plain text: risk, band, fired rules, top reasons, flag and versions."""
    lines = [
        f"Pupil {row['upn']} - school {row['school_urn']}, Year {row['ncyear']}, "
        f"{row['term']} {row['academic_year']}"
    ]
    probability = row.get("probability")
    if probability is not None and not pd.isna(probability):
        lines.append(f"Model risk: {float(probability):.0%}")
    else:
        lines.append("Model risk: not scored (rules only)")
    lines.append(f"Rule points: {float(row['points']):g} (band {row['band']})")
    fired, reasons = list(row.get("fired") or []), list(row.get("reasons") or [])
    lines.append("Rules fired:" if fired else "Rules fired: none")
    lines += [f"  - {rule}: {reason}" for rule, reason in zip(fired, reasons, strict=True)]
    for title, key in (("Reasons raising risk", "reasons_up"), ("Reasons lowering risk", "reasons_down")):
        items = row.get(key)
        if items is not None and not (np.ndim(items) == 0 and pd.isna(items)):
            lines.append(f"{title}:")
            lines += [f"  - {sentence}" for sentence in items] or ["  (none)"]
    flagged = bool(row["flag"]) if not pd.isna(row["flag"]) else False
    lines.append(f"Flag: {'YES - ' + str(row['flag_reason']) if flagged else 'no'}")
    if run is not None:
        lines.append(
            f"Versions: rules {run.get('rule_set_version')}, features {run.get('feature_version')}, "
            f"model {run.get('model_version') or 'none'}"
        )
    return "\n".join(lines)


def explain_pupil(store: Any, upn: str, academic_year: str | None = None, term: str | None = None) -> str:
    """`riskengine explain`: one pupil's stored reasoning from the latest run (of that year and term)."""
    scores = store.read_scores(academic_year=academic_year, term=term)
    if scores.empty:
        raise LookupError("no scoring run found; run `riskengine score` first")
    row = scored_pupil(scores, upn)
    runs = store.list_score_runs()
    run = runs[runs["id"] == row["run_id"]].iloc[0] if "id" in runs else None
    return format_explanation(row, run)
