"""`evaluate_store`: evaluate stored scoring runs against stored destinations, write the report, log it.

The store-backed convenience around `evaluate` + `write_report` + `log_evaluation` that the CLI wraps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from riskengine.cohorts import outcome_windows
from riskengine.evaluation.attributes import with_stored_attributes
from riskengine.evaluation.evaluate import EvaluationResult, evaluate
from riskengine.evaluation.inputs import cohort_of, member_of, with_term_order
from riskengine.evaluation.report import write_report
from riskengine.evaluation.settings import AuditSettings, load_audit_settings
from riskengine.outcomes import OutcomeDefinition, derive_outcomes, load_outcome_definition, year11_start

ATTRIBUTE_COLUMNS = ("sex", "ethnicity", "sen_provision", "fsm_eligible", "looked_after", "eal")
RUN_VERSION_COLUMNS = ("rule_set_version", "feature_version", "model_version")


def select_runs(
    runs: pd.DataFrame,
    run_ids: Sequence[int] | None = None,
    academic_year: str | None = None,
    term: str | None = None,
) -> pd.DataFrame:
    """The scoring runs to evaluate: the ids given, else the latest run of every year and term (filtered
    by `academic_year` and `term` when given)."""
    if run_ids:
        chosen = runs[runs["id"].isin(list(run_ids))]
        if unknown := sorted(set(run_ids) - set(chosen["id"])):
            raise ValueError(f"no scoring run with id {unknown}")
        return chosen
    chosen = runs
    if academic_year is not None:
        chosen = chosen[chosen["academic_year"] == academic_year]
    if term is not None:
        chosen = chosen[chosen["term"] == term]
    if chosen.empty:
        raise ValueError("no scoring runs match the selection")
    return chosen.sort_values("id").drop_duplicates(["academic_year", "term"], keep="last")


def read_scores_file(path: str | Path) -> pd.DataFrame:
    """A scores file (CSV, or Parquet by its suffix) with the scores contract's key columns as text."""
    path = Path(path)
    frame = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
    missing = [c for c in ("upn", "school_urn", "academic_year", "term", "ncyear") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path.name}: not a scores file (no column {', '.join(missing)})")
    return frame.astype({c: "string" for c in ("upn", "school_urn", "academic_year", "term")})


def _stored_attributes(store: Any, upns: pd.Index) -> pd.DataFrame:
    """Declared audit-only attributes stored at upload for these pupils (none for an older store)."""
    reader = getattr(store, "read_audit_attributes", None)
    if reader is None:
        return pd.DataFrame()
    stored = reader()
    return stored[member_of(stored["upn"], upns)] if len(stored) else stored


def is_engine_scores(frame: pd.DataFrame) -> bool:
    """A file in this engine's scores contract (today's `--scores` files), rather than another tool's."""
    from riskengine.evaluation.evaluate import REQUIRED_SCORE_COLUMNS

    return all(c in frame.columns for c in REQUIRED_SCORE_COLUMNS)


def store_outcomes_and_attributes(
    store: Any, upns: pd.Index, definition: OutcomeDefinition, settings: AuditSettings
) -> tuple[pd.Series | None, pd.DataFrame | None]:
    """For pupils scored by another tool: their outcome from stored destinations (Year 11 from their
    stored terms) and their audit attributes at their latest stored term; None where the store has none."""
    from riskengine.evaluation.inputs import audit_labels

    pupil_terms = store.read_pupil_terms(upns=list(upns))
    if pupil_terms.empty:
        return None, None
    pupil_terms = with_stored_attributes(pupil_terms, _stored_attributes(store, upns))
    year11 = year11_start(pupil_terms).rename_axis("upn")
    destinations = store.read_destinations()
    destinations = destinations[member_of(destinations["upn"], year11.index)]
    derived = derive_outcomes(destinations, year11, definition)
    derived = derived if "upn" in derived.columns else derived.reset_index()
    outcomes = derived.set_index("upn")["outcome"].astype("boolean")
    latest = pupil_terms.drop_duplicates("upn", keep="last").reset_index(drop=True)
    labels = audit_labels(latest, tuple(settings.references))
    return outcomes, pd.concat([latest[["upn"]], labels], axis=1)


def evaluate_scores_files(
    store: Any | None,
    files: Sequence[str | Path],
    columns: dict[str, Any] | None = None,
    mapping: str | Path | None = None,
    *,
    outcome_definition: OutcomeDefinition | str | Path | None = None,
    settings: AuditSettings | str | Path | None = None,
    out_dir: str | Path = "evaluation-report",
    mlflow: bool = True,
    tracking_uri: str | None = None,
) -> tuple[EvaluationResult, Path]:
    """Evaluate other tools' scores files (each one scorer, compared on the pupils all of them scored)
    against an outcome column or the store's destinations; write the report and log it unless told not."""
    from riskengine.evaluation.external import evaluate_external, load_mapping, read_external

    definition = (
        outcome_definition
        if isinstance(outcome_definition, OutcomeDefinition)
        else load_outcome_definition(outcome_definition)
    )
    settings = settings if isinstance(settings, AuditSettings) else load_audit_settings(settings)
    frames = {}
    for file in files:
        spec = load_mapping(mapping, Path(file), **(columns or {}))
        if spec.name in frames:
            raise ValueError(f"two scores files are both called {spec.name!r}: name them in the mapping YAML")
        frames[spec.name] = read_external(file, spec)
    outcomes, attributes = None, None
    info: dict[str, Any] = {}
    if store is not None:
        upns = pd.Index(pd.concat([f["upn"] for f in frames.values()]).unique())
        outcomes, attributes = store_outcomes_and_attributes(store, upns, definition, settings)
        if outcomes is not None:
            info = {
                "outcome_definition": definition.describe(),
                "outcome_definition_fingerprint": definition.fingerprint,
                "outcome_definition_version": definition.version,
                "destinations_window": f"{definition.window_start} to {definition.window_end} after Year 11",
            }
    result = evaluate_external(frames, outcomes, attributes, settings, info)
    path = write_report(result, out_dir)
    if mlflow:
        from riskengine.evaluation.tracking import log_evaluation

        result.run_info["mlflow_run_id"] = log_evaluation(result, out_dir, tracking_uri)
    return result, path


def evaluate_store(
    store: Any,
    run_ids: Sequence[int] | None = None,
    academic_year: str | None = None,
    term: str | None = None,
    *,
    scores: pd.DataFrame | None = None,
    outcome_definition: OutcomeDefinition | str | Path | None = None,
    settings: AuditSettings | str | Path | None = None,
    out_dir: str | Path = "evaluation-report",
    mlflow: bool = True,
    tracking_uri: str | None = None,
    progress: Callable[[str], None] | None = None,
    as_of: dt.date | str | None = None,
) -> tuple[EvaluationResult, Path]:
    """Evaluate scoring runs from `store` (or a `scores` frame read from a file) against its destinations.

    Writes the report into `out_dir` and, unless `mlflow=False`, logs it to MLflow (the run id is added
    to `result.run_info["mlflow_run_id"]`). Returns the result and the report's HTML path.
    `progress`, if given, is called after each of the four stages with its name (the CLI's bar).
    Only pupils of cohorts whose outcome window closed by `as_of` (default: the newest destinations
    extract's as-of date) have outcomes; the others are reported as "no destinations yet" and named, with
    why, in `run_info["cohort_notices"]`.
    """
    done = progress or (lambda stage: None)
    definition = (
        outcome_definition
        if isinstance(outcome_definition, OutcomeDefinition)
        else load_outcome_definition(outcome_definition)
    )
    settings = settings if isinstance(settings, AuditSettings) else load_audit_settings(settings)
    runs = store.list_score_runs()
    if scores is None:
        chosen = select_runs(runs, run_ids, academic_year, term)
        scores = pd.concat([store.read_scores(run_id=int(i)) for i in chosen["id"]], ignore_index=True)
    else:
        ids = set(scores["run_id"].dropna().astype(int)) if "run_id" in scores else set()
        chosen = runs[runs["id"].isin(list(ids))] if len(runs) else runs
    if "run_id" in scores and len(chosen):
        versions = chosen.set_index("id")[[c for c in RUN_VERSION_COLUMNS if c in chosen.columns]]
        scores = scores.drop(columns=[c for c in versions.columns if c in scores.columns]).merge(
            versions, left_on="run_id", right_index=True, how="left"
        )
    if scores.empty:
        raise ValueError("the selected scoring runs hold no scores")

    ordered = with_term_order(scores)
    last = ordered.loc[ordered["term_index"].idxmax()]
    pupil_terms = store.read_pupil_terms(
        up_to=(str(last["academic_year"]), str(last["term"])),
        schools=sorted(scores["school_urn"].astype(str).unique()),
    )
    pupil_terms = pupil_terms[member_of(pupil_terms["upn"], scores["upn"])]
    # Year 11 as the outcomes contract counts it; a pupil with no stored term falls back on their score.
    year11 = year11_start(pupil_terms) if len(pupil_terms) else pd.Series(dtype=int)
    from_scores = pd.Series(cohort_of(ordered).to_numpy(), index=ordered["upn"]).groupby(level=0).last()
    year11 = year11.reindex(from_scores.index).fillna(from_scores).astype(int).rename_axis("upn")
    destinations = store.read_destinations()
    destinations = destinations[member_of(destinations["upn"], year11.index)]
    windows = outcome_windows(year11, destinations, as_of or store.destinations_as_of(), definition)
    notices = windows.notices()
    included = windows.included(year11).to_numpy()
    if not included.any():
        raise ValueError(
            "no scored pupil is in a cohort whose outcome window has closed. " + " ".join(notices)
        )
    # A left-out cohort stays in the report as "no destinations yet": its pupils have no outcome, so they
    # enter no figure, and the notices say why.
    left_out = year11.index[~included]
    outcomes = derive_outcomes(destinations[~member_of(destinations["upn"], left_out)], year11, definition)
    pupil_terms = with_stored_attributes(pupil_terms, _stored_attributes(store, year11.index))
    extra = [a for a in settings.references if a in pupil_terms.columns and a not in ATTRIBUTE_COLUMNS]
    attributes = pupil_terms[["upn", "academic_year", "term", *ATTRIBUTE_COLUMNS, *extra]]

    done("read the store")
    run_info: dict[str, Any] = {"scoring_runs": [int(i) for i in chosen["id"]] if len(chosen) else []}
    run_info.update(destinations_as_of=windows.as_of.isoformat(), cohort_notices=notices)
    if len(chosen) and "threshold" in chosen:
        described = dict.fromkeys(_describe_threshold(t) for t in chosen["threshold"] if t)
        run_info["threshold"] = "; ".join(described) or "not recorded"
    result = evaluate(
        scores, outcomes, attributes, settings, run_info, destinations=destinations, definition=definition
    )
    done("evaluated")
    path = write_report(result, out_dir)
    done("report written")
    if mlflow:
        from riskengine.evaluation.tracking import log_evaluation

        result.run_info["mlflow_run_id"] = log_evaluation(result, out_dir, tracking_uri)
    done("logged to MLflow" if mlflow else "not logged")
    return result, path


def _describe_threshold(threshold: Any) -> str:
    """A run's threshold in words: the rule bands that flag, and the model's capacity rule."""
    if not isinstance(threshold, dict):
        return str(threshold)
    parts = [f"rule bands {', '.join(threshold.get('rule_bands') or []) or 'none'}"]
    if threshold.get("always_flag"):
        parts.append("always-flag rules")
    model = threshold.get("model")
    parts.append(f"model: {model.get('description', model)}" if isinstance(model, dict) else "no model")
    return ", ".join(parts)
