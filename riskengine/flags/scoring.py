"""A scoring run: features -> rules -> model -> explanations -> flags, for every Year 9+ pupil in a term.

`score_frame` works on a pupil-terms frame and needs no store (notebooks, benchmarks, backtests);
`score_term` reads the store, scores and saves the run with every version that produced it.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pandas as pd

from riskengine.features import Catalogue, load_catalogue
from riskengine.features.compute import scored_features
from riskengine.features.derivations import SESSIONS
from riskengine.flags.combine import FLAGGING_BANDS, combine_flags
from riskengine.flags.thresholds import as_threshold, model_flags
from riskengine.model.spec import POINT_TERM, RULE_POINTS, FlagThreshold, load_model_spec
from riskengine.model.tracking import LoadedModel, champion_exists, load_model
from riskengine.spec import upload as spec

if TYPE_CHECKING:  # scikit-learn loads with the model, not with this module (`explain` stays fast)
    from riskengine.model.pipeline import RiskModel

ModelReference: TypeAlias = "LoadedModel | RiskModel | str | Path | None"
Progress = Callable[[str], None]


def _no_progress(stage: str) -> None:
    """Default progress callback: silent (the CLI passes one that moves a tqdm bar)."""


def pupils_in_scope(pupil_terms: pd.DataFrame, academic_year: str, term: str) -> pd.DataFrame:
    """One row per pupil on roll in that term in Year 9 or above: upn, school_urn, ncyear (latest row).
    The year and term are compared in Arrow: pandas' masked comparisons cost a third more, over the whole
    frame for every term scored."""
    import pyarrow as pa  # with the data, not at start-up
    import pyarrow.compute as pc

    in_term = pc.and_(
        pc.equal(pa.array(pupil_terms["academic_year"]), academic_year),
        pc.equal(pa.array(pupil_terms["term"]), term),
    )
    at_term = in_term.fill_null(False).to_numpy(zero_copy_only=False)
    at_term = at_term & (pupil_terms["ncyear"] >= spec.SCORED_FROM_NCYEAR).to_numpy(bool, na_value=False)
    at_term = pupil_terms.loc[at_term, ["upn", "school_urn", "ncyear"]]  # only these columns
    return at_term.drop_duplicates("upn", keep="last").reset_index(drop=True)


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
    rule_set: Any,
    term: str,
) -> tuple[dict[str, Any], np.ndarray, dict[str, Any], dict[str, Any], Any]:
    """Probability, contributions, material reasons and model flags: (score columns, flags, threshold
    record, settings, explanation). Threshold, reasons per side and materiality default to those of the
    spec the model was trained with (for a model without that record, the shipped spec's). Each pupil is
    scored by their year group and term's model when the model has one per point; capacity then applies
    within each year group."""
    from riskengine.model.explain import fired_rule_features, top_reasons, value_table
    from riskengine.model.linear import unseen_code_notices
    from riskengine.model.records import contribution_records, detail_records

    metadata = getattr(loaded.model, "metadata_", {})
    trained_spec = metadata.get("spec") or load_model_spec().model_dump(mode="json")
    inputs = features.assign(**{RULE_POINTS: rules["points"].astype("Float64"), POINT_TERM: term})
    explanation = loaded.model.explain(inputs)
    k = reasons_per_side or trained_spec["reasons_per_side"]
    names = list(explanation.contributions.columns)
    risk_points = explanation.risk_points()
    rule_features = {rule.id: rule.features for rule in rule_set.rules}
    up, down = top_reasons(
        explanation.contributions,
        inputs,
        catalogue,
        k,
        explanation.groups,
        risk_points=risk_points,
        materiality_pp=trained_spec.get("materiality_pp", 1.0),
        not_lowering=fired_rule_features(list(rules["fired"]), rule_features, names, explanation.groups),
    )
    per_year = explanation.points is not None
    year_groups = features["ncyear"].fillna(0).to_numpy(int) if per_year else None
    flagged, record = model_flags(
        explanation.probability, as_threshold(threshold or trained_spec["flag_threshold"]), year_groups
    )
    details = detail_records(
        risk_points,
        value_table(inputs, names, catalogue, explanation.groups),
        also={"model_point": explanation.points, "model_note": explanation.notes} if per_year else None,
    )
    columns = {
        "probability": pd.array(explanation.probability, dtype="Float64"),
        "reasons_up": up,
        "reasons_down": down,
        "contributions": contribution_records(explanation.contributions),
        "details": details,
    }
    base = np.atleast_1d(explanation.base_value)
    settings = {
        "rules_only": False,
        "reasons_per_side": k,
        "materiality_pp": trained_spec.get("materiality_pp", 1.0),
        "explanation_base_log_odds": float(base[0]) if base.size == 1 else None,
        "explanation_base_log_odds_by_point": (
            {
                str(p): float(b)
                for p, b in pd.Series(base, index=explanation.points).groupby(level=0).first().items()
            }
            if per_year
            else None
        ),
        "explanations": (
            "linear SHAP against the reference pupil (catalogue references) in the logistic model's "
            "log-odds; reasons listed only if they move the pupil's risk by materiality_pp or more"
        ),
        "model_spec_version": metadata.get("spec_version"),
        "explained_together": {name: list(members) for name, members in explanation.groups.items()},
        "notices": unseen_code_notices(
            loaded.model, inputs, {n: catalogue.label(n) for n in catalogue.names}
        ),
    }
    return columns, flagged, record, settings, explanation


def _as_one_batch(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run with one BLAS thread and the cyclic garbage collector paused, for the same numbers at about
    half the CPU: scoring's matrix products are small, so a second BLAS thread only spins; and scoring
    makes hundreds of thousands of per-pupil lists and dicts (no cycles among them), which the collector
    would re-scan, with every other live object, every few thousand allocations."""

    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        from threadpoolctl import threadpool_limits  # with the data, not at start-up

        collecting = gc.isenabled()
        gc.disable()
        try:
            with threadpool_limits(1, user_api="blas"):
                return function(*args, **kwargs)
        finally:
            if collecting:
                gc.enable()

    return wrapped


@_as_one_batch
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
    history, features = scored_features(pupil_terms, scope["upn"], academic_year, term, catalogue, SESSIONS)
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
        combined = combine_flags(rules, flagging_bands=flagging_bands, titles=rule_set.titles)
        scores = scores.assign(
            probability=pd.array([pd.NA] * len(scores), dtype="Float64"),
            reasons_up=None,
            reasons_down=None,
            contributions=None,
            details=None,
        )
    else:
        loaded = model if isinstance(model, LoadedModel) else load_model(model, for_scoring=True)
        columns, flagged, record, settings, _ = _model_side(
            loaded, features, rules, catalogue, threshold, reasons_per_side, rule_set, term
        )
        progress("model")
        combined = combine_flags(
            rules, columns["probability"], flagged, columns["reasons_up"], flagging_bands, rule_set.titles
        )
        scores = scores.assign(**columns)
        run.update(model_version=loaded.version, settings=settings)
        run["threshold"]["model"] = record
    run["settings"]["rule_engine"] = "evaluate_rules" if rule_evaluator is None else rule_evaluator.__name__
    run["settings"]["rules_cross_checked"] = rule_evaluator is None
    run["settings"]["rule_titles"] = rule_set.titles
    for column in ("flag", "flag_source", "flag_reason"):
        scores[column] = combined[column].to_numpy()
    scores["what_would_change"] = None
    if model is not None:
        flagged_rows = np.flatnonzero(combined["flag"].to_numpy(bool))
        scores["what_would_change"] = _what_would_change(
            loaded, rule_set, features, history, academic_year, term, scores, run, flagged_rows, catalogue
        )
        run["settings"]["what_would_change"] = (
            "for flagged pupils, for each lever the catalogue declares (attendance this term, suspensions "
            "this year): the smallest change (whole percent, whole number) that takes them below their year "
            "group's model cut-off and below the rules' top band, by walking the breakpoints of every "
            "feature that follows it"
        )
    progress("explanations and flags")
    scores.attrs["run"] = run
    return scores


def _what_would_change(
    loaded: LoadedModel,
    rule_set: Any,
    features: pd.DataFrame,
    history: pd.DataFrame,
    academic_year: str,
    term: str,
    scores: pd.DataFrame,
    run: dict[str, Any],
    rows: np.ndarray,
    catalogue: Catalogue,
) -> list[dict[str, Any] | None]:
    """ "What would change it" for the flagged rows (None for the others), stored with the scores."""
    from riskengine.flags.counterfactual import term_weights, what_would_change

    result: list[dict[str, Any] | None] = [None] * len(scores)
    if not len(rows):
        return result
    record = run["threshold"]["model"] or {}
    by_year = record.get("by_year_group") or {}
    years = scores["ncyear"].iloc[rows].astype("Int64").astype(str).to_numpy()
    cutoffs = np.array([(by_year.get(y) or record).get("probability_cutoff") for y in years], dtype=float)
    picked = features.iloc[rows]
    weights = term_weights(history, picked.index, academic_year, term).to_numpy(float)
    answers = what_would_change(
        loaded.model,
        rule_set,
        picked,
        term,
        weights,
        cutoffs,
        scores["probability"].iloc[rows].to_numpy(float),
        scores["points"].iloc[rows].to_numpy(float),
        catalogue,
    )
    for row, answer in zip(rows, answers, strict=True):
        result[row] = answer
    return result


def _default_model(model: ModelReference, tracking_uri: str | None) -> ModelReference:
    """None means: the registered champion if there is one, else rules only. "none" forces rules only."""
    if isinstance(model, str) and model.lower() in ("none", "rules", "rules-only"):
        return None
    if model is None:
        found = champion_exists(tracking_uri=tracking_uri)
        return load_model(tracking_uri=tracking_uri, for_scoring=True) if found else None
    if isinstance(model, str | Path) and not Path(model).is_file():
        return load_model(model, tracking_uri=tracking_uri, for_scoring=True)
    return model


def _opaque_reference(store: Any, upn: str) -> str:
    """The pupil's opaque reference (the web's pupil ref, made if the pupil has none): for error messages."""
    from riskengine.web.pupils import refs_of

    return str(refs_of(store, [upn]).iloc[0])


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
    model = _default_model(model, tracking_uri)
    pupil_terms = store.read_pupil_terms(  # only the pupils scored, with their history
        up_to=(academic_year, term),
        on_roll=(academic_year, term),
        min_ncyear=spec.SCORED_FROM_NCYEAR,
        columns=[c for c in spec.COLUMNS if c not in spec.AUDIT_COLUMNS],  # audit-only: never scored on
    )
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


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def contribution_lines(details: dict[str, Any], labels: dict[str, str], limit: int = 10) -> list[str]:
    """The features that move this pupil's risk most, each with the pupil's value and the change in risk
    in percentage points (against a pupil at every catalogue reference), largest first."""
    points, values = _mapping(details.get("risk_points")), _mapping(details.get("values"))
    shown = sorted(
        ((n, float(p)) for n, p in points.items() if p is not None and abs(float(p)) >= 0.05),
        key=lambda item: -abs(item[1]),
    )[:limit]
    width = max((len(labels.get(n, n)) for n, _ in shown), default=0)
    return [f"  {labels.get(n, n):<{width}}  {values.get(n, ''):<14} {p:+.1f} pp" for n, p in shown]


def format_explanation(
    row: pd.Series, run: dict[str, Any] | pd.Series | None = None, labels: dict[str, str] | None = None
) -> str:
    """A pupil's full reasoning as plain text: risk (and which model), band, fired rules by title, material
    reasons, each feature's effect in percentage points beside the pupil's value, what would change it,
    the flag and versions. `labels` names features (catalogue labels; names stand in)."""
    labels = labels or {}
    settings = _mapping(run.get("settings")) if run is not None else {}
    titles = _mapping(settings.get("rule_titles"))
    details = _mapping(row.get("details"))
    lines = [
        f"Pupil {row['upn']} - school {row['school_urn']}, Year {row['ncyear']}, "
        f"{row['term']} {row['academic_year']}"
    ]
    probability = row.get("probability")
    if probability is not None and not pd.isna(probability):
        point = details.get("model_point")
        lines.append(f"Model risk: {float(probability):.0%}" + (f" (Year {point} model)" if point else ""))
        if details.get("model_note"):
            lines.append(f"  Note: {details['model_note']}")
    else:
        lines.append("Model risk: not scored (rules only)")
    lines.append(f"Rule points: {float(row['points']):g} (band {row['band']})")
    fired, reasons = list(row.get("fired") or []), list(row.get("reasons") or [])
    lines.append("Rules fired:" if fired else "Rules fired: none")
    lines += [
        f"  - {titles[rule]}: {reason}" if titles.get(rule) else f"  - {reason}"
        for rule, reason in zip(fired, reasons, strict=True)
    ]
    materiality = settings.get("materiality_pp")
    for title, key in (("Reasons raising risk", "reasons_up"), ("Reasons lowering risk", "reasons_down")):
        items = row.get(key)
        if items is not None and not (np.ndim(items) == 0 and pd.isna(items)):
            lines.append(f"{title}:")
            lines += [f"  - {sentence}" for sentence in items] or [
                f"  (none of {materiality:g} percentage points or more)" if materiality else "  (none)"
            ]
    effects = contribution_lines(details, labels)
    if effects:
        lines.append(
            "Effect on model risk (percentage points, against a pupil with no risk factors and 95% "
            "attendance):"
        )
        lines += effects
    change = _mapping(row.get("what_would_change"))
    if change.get("text"):
        lines.append(f"What would change it: {change['text']}")
    flagged = bool(row["flag"]) if not pd.isna(row["flag"]) else False
    lines.append(f"Flag: {'YES - ' + str(row['flag_reason']) if flagged else 'no'}")
    if run is not None:
        lines.append(
            f"Versions: rules {run.get('rule_set_version')}, features {run.get('feature_version')}, "
            f"model {run.get('model_version') or 'none'}"
        )
    return "\n".join(lines)


def explain_pupil(
    store: Any,
    upn: str,
    academic_year: str | None = None,
    term: str | None = None,
    run_id: int | None = None,
) -> str:
    """`riskengine explain`: one pupil's stored reasoning, and which run it came from.

    By default from the latest term in which the pupil was scored (its newest run), not the newest run
    overall, which may be a back-test of another term; `academic_year`/`term` narrow it, `run_id` chooses
    the run. One indexed lookup (`Store.read_pupil_score`).
    """
    found = store.read_pupil_score(upn, run_id=run_id, academic_year=academic_year, term=term)
    if found is None:
        where = (
            f"run {run_id}"
            if run_id is not None
            else " ".join(p for p in (term, academic_year) if p) or "any scoring run"
        )
        raise LookupError(
            f"that pupil was not scored in {where} (not on roll in Year 9+, or no `riskengine score` yet)"
        )
    row, run = found
    created = run.get("created_at")
    when = f", scored {created:%Y-%m-%d %H:%M}" if created is not None else ""
    chosen = "as asked" if run_id is not None else "the latest term in which this pupil was scored"
    header = f"Using run {run['id']} ({run['term']} {run['academic_year']}{when}): {chosen}."
    return header + "\n" + format_explanation(pd.Series(row), run, explanation_labels(run))


def explanation_labels(run: Any = None) -> dict[str, str]:
    """Feature (and explained group) -> plain-English label, from the shipped catalogue; a group's label
    joins its features' ("SEN provision and SEN primary need")."""
    catalogue = load_catalogue()
    labels = {name: catalogue.label(name) for name in catalogue.names} | {RULE_POINTS: "Rule points"}
    settings = _mapping(run.get("settings")) if run is not None else {}
    for group, members in _mapping(settings.get("explained_together")).items():
        labels[group] = " and ".join(labels.get(m, m) for m in members)
    return labels
