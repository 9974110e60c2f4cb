"""`evaluate`: every figure of an evaluation report, from scores, outcomes and audit attributes.

A pure function of frames (no store, no files), so it runs the same from a notebook, the CLI or a test.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import riskengine
from riskengine.cohorts import cohort_name
from riskengine.evaluation.accuracy import (
    accuracy_by_term,
    accuracy_table,
    calibration_summary,
    capacity_table,
    outcome_counts,
    roc_points,
)
from riskengine.evaluation.audit_frame import build_groupings
from riskengine.evaluation.fairness import OUTSIDE, audit_groups
from riskengine.evaluation.impact import days_neet_after_leaving, impact_table
from riskengine.evaluation.inputs import evaluation_table, member_of, scorers, with_term_order
from riskengine.evaluation.lead_time import first_flags, lead_time_tables
from riskengine.evaluation.settings import AuditSettings, load_audit_settings
from riskengine.outcomes import OutcomeDefinition, load_outcome_definition

REQUIRED_SCORE_COLUMNS = (
    "upn",
    "school_urn",
    "academic_year",
    "term",
    "ncyear",
    "points",
    "always_flag",
    "probability",
    "flag",
    "flag_source",
)
VERSION_KEYS = ("rule_set_version", "feature_version", "model_version")
PRECISION_CURVE_SHARES = tuple(np.round(np.arange(0.01, 0.505, 0.01), 2))


@dataclass
class EvaluationResult:
    """Everything a report shows: what was evaluated (`run_info`), headline numbers and tidy tables.

    Tables hold aggregates only, never a pupil row or UPN, so the whole result may be logged and shared.
    """

    run_info: dict[str, Any]
    headline: dict[str, float]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def evaluate(
    scores: pd.DataFrame,
    outcomes: pd.DataFrame,
    attributes: pd.DataFrame | None = None,
    settings: AuditSettings | None = None,
    run_info: dict[str, Any] | None = None,
    *,
    destinations: pd.DataFrame | None = None,
    definition: OutcomeDefinition | None = None,
) -> EvaluationResult:
    """Accuracy, fairness audit, lead time and impact figures for scored pupils with known destinations.

    `scores`: the scores frame of one or more scoring runs. `outcomes`: `riskengine.outcomes.derive_outcomes`
    output for those pupils (pupils missing from it have no outcome). `attributes`: audit attributes (sex,
    ethnicity, sen_provision, fsm_eligible, looked_after, eal) per upn and, ideally, academic_year and
    term, so each pupil's are taken at the scoring term. `destinations` (optional) gives days NEET after
    leaving. `definition` is the outcome definition `outcomes` were derived with (the shipped default if
    None); `run_info` carries the scoring runs' versions and thresholds, stated in the report.
    """
    settings = settings or load_audit_settings()
    definition = definition or load_outcome_definition()
    missing = [c for c in REQUIRED_SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"scores are missing columns {missing}")
    table = evaluation_table(scores, outcomes, attributes, settings.score_at, tuple(settings.references))
    if table.empty:
        raise ValueError(f"no scores at the evaluation point {settings.score_at!r}")
    probability = table["probability"].astype("Float64")
    no_probability = probability.isna() & probability.notna().any()
    table = table[~no_probability].reset_index(drop=True)  # same pupils for rules, model and combined
    labelled = table[table["outcome"].notna()].reset_index(drop=True)
    if labelled["outcome"].nunique() < 2:
        raise ValueError("evaluation needs pupils with both positive and negative outcomes")
    y = labelled["outcome"].astype(bool).to_numpy()
    found = scorers(labelled)

    tables: dict[str, pd.DataFrame] = {
        "counts": outcome_counts(table, int((no_probability & table["outcome"].notna()).sum())),
        "accuracy": accuracy_table(y, found, settings),
        "capacity": capacity_table(y, found, settings.capacities),
        "precision_curve": capacity_table(y, found, PRECISION_CURVE_SHARES),
        "roc_curve": roc_points(y, found),
    }
    headline: dict[str, float] = {
        "pupils_scored": float(len(table)),
        "pupils_with_outcome": float(len(labelled)),
        "positive_rate": float(y.mean()),
    }
    for row in tables["accuracy"].itertuples():  # one row per scorer
        headline[f"{row.scorer}_roc_auc"] = float(row.roc_auc)
        headline[f"{row.scorer}_pr_auc"] = float(row.pr_auc)
    if "model" in found:
        tables["calibration"], calibration = calibration_summary(
            y, found["model"].score, settings.calibration_bins
        )
        headline.update({k: calibration[k] for k in ("brier_score", "ece")})

    tables["audit_groups"], tables["disparities"], not_audited = _audit(table, settings)
    headline["disparities_outside_band"] = float(
        (tables["disparities"]["status"] == OUTSIDE).sum() if len(tables["disparities"]) else 0
    )

    rows = with_term_order(scores[member_of(scores["upn"], table["upn"])]).reset_index(drop=True)
    row_flags = {name: s.flag for name, s in scorers(rows).items()} if len(rows) else {}
    positive_upns = pd.Index(labelled.loc[y, "upn"].unique())
    by_year, by_term = lead_time_tables(first_flags(rows, row_flags, positive_upns))
    tables["lead_time"], tables["lead_time_by_term"] = by_year, by_term
    tables["accuracy_by_term"] = accuracy_by_term(rows.merge(table[["upn", "outcome"]], on="upn", how="left"))

    ever_flagged = rows.groupby("upn")["flag"].any()
    pupils = table.assign(ever_flagged=table["upn"].map(ever_flagged).astype(bool))
    cohort = pupils.set_index("upn")["cohort"]
    pupils["days_neet"] = (
        days_neet_after_leaving(destinations, cohort, definition.re_engagement_is_eet).to_numpy()
        if destinations is not None
        else np.nan
    )
    tables["impact"] = impact_table(pupils, settings.min_group_size)

    info = _describe_run(rows, table, settings, definition, run_info or {}, has_model="model" in found)
    info["attributes_not_audited"] = not_audited
    return EvaluationResult(run_info=info, headline=headline, tables=tables)


def _audit(table: pd.DataFrame, settings: AuditSettings) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """The fairness audit of the stored flags (the engine of `audit`), and every declared attribute or
    intersection it could not audit, with why (a reference that matches nothing is a visible row)."""
    present = [a for a in settings.references if a in table.columns]
    not_audited = {a: "no such column in the data" for a in settings.references if a not in table.columns}
    combos = []
    for combo in settings.intersections:
        if missing := [a for a in combo if a not in present]:
            not_audited[" & ".join(combo)] = f"no column {', '.join(missing)} in the data"
        else:
            combos.append(combo)
    found = scorers(table)
    flags = {name: found[name].flag for name in settings.audit_scorers if name in found}
    has_outcome = table["outcome"].notna().to_numpy()
    labels = table[present].reset_index(drop=True)
    references = {a: settings.references[a] for a in present}
    groupings = build_groupings(labels, has_outcome, references, combos, strict=False)
    probability = found["model"].score if "model" in found else None
    groups, disparities = audit_groups(
        labels, groupings, table["outcome"].reset_index(drop=True), flags, probability, settings
    )
    return groups, disparities, not_audited


def _describe_run(
    rows: pd.DataFrame,
    table: pd.DataFrame,
    settings: AuditSettings,
    definition: OutcomeDefinition,
    given: dict[str, Any],
    has_model: bool,
) -> dict[str, Any]:
    """What a reader needs to trust the figures: data window, versions, definition and settings."""
    terms = rows.drop_duplicates(["term_index"]).sort_values("term_index")
    cohorts = sorted(int(c) for c in table["cohort"].unique())
    cohort_span = " to ".join(dict.fromkeys(cohort_name(c) for c in (cohorts[0], cohorts[-1])))
    info: dict[str, Any] = {
        "scoring_terms": [f"{r.academic_year} {r.term}" for r in terms.itertuples()],
        "cohorts_year11": [cohort_name(c) for c in cohorts],  # the one name of each (riskengine.cohorts)
        "cohorts_with_outcomes": [
            cohort_name(int(c)) for c in sorted(table.loc[table["outcome"].notna(), "cohort"].unique())
        ],
        "cohorts_without_outcomes": [
            cohort_name(int(c))
            for c in sorted(set(table["cohort"]) - set(table.loc[table["outcome"].notna(), "cohort"]))
        ],
        "evaluation_point": settings.score_at,
        "outcome_definition": definition.describe(),
        "outcome_definition_fingerprint": definition.fingerprint,
        "outcome_definition_version": definition.version,
        "destinations_window": (
            f"{definition.window_start} to {definition.window_end} after Year 11"
            + (f" (+{definition.window_year_offset} year(s))" if definition.window_year_offset else "")
            + f", for the pupils who {cohort_span}"
        ),
        **settings.run_info(),
        "model_used": has_model,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "riskengine_version": riskengine.__version__,
    }
    for key in VERSION_KEYS:
        values = sorted({str(v) for v in rows[key].dropna().unique()}) if key in rows.columns else []
        info[key] = given.get(key) or ", ".join(values) or "not recorded"
    info.update({k: v for k, v in given.items() if k not in info})
    return info
