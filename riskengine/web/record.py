"""Everything the pupil page shows, gathered for one pupil within the user's scope."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from riskengine.spec import upload as spec
from riskengine.store import Store
from riskengine.store import tables as st
from riskengine.web.accounts import User
from riskengine.web.pupils import resolve_pupil
from riskengine.web.reviews import intervention_history, review_history

HISTORY_COLUMNS = (
    "academic_year",
    "term",
    "school_urn",
    "ncyear",
    "sessions_possible",
    "absence_sessions",
    "attendance_rate",
    "suspensions",
    "suspension_sessions",
    "permanent_exclusion",
    "band",
    "probability",
    "flag",
)


@dataclass(frozen=True)
class PupilRecord:
    """A pupil's term-by-term history, their latest score with its run's versions, and the reviews and
    interventions recorded so far (newest first)."""

    ref: str
    upn: str
    history: pd.DataFrame
    score: dict | None
    run: dict | None
    reviews: pd.DataFrame
    interventions: pd.DataFrame


def describe_threshold(threshold: Mapping[str, Any] | None) -> str:
    """The run's threshold in words, so an adviser can tell why this pupil was or was not flagged.

    Reads the record `riskengine.flags.score_pupils` stores (`rule_bands`, `always_flag`, `model`); a record
    of any other shape is shown as stored rather than guessed at.
    """
    if not isinstance(threshold, Mapping):
        return "not recorded"
    sentences = []
    model = threshold.get("model")
    if isinstance(model, Mapping) and model.get("description"):
        cutoff = model.get("probability_cutoff")
        note = "" if cutoff is None else f" (risk cut-off {float(cutoff):.1%})"
        by_year = model.get("by_year_group")
        if isinstance(by_year, Mapping) and by_year:  # capacity applied within each year group
            cutoffs = ", ".join(
                f"Year {year} {float(entry['probability_cutoff']):.1%}"
                for year, entry in by_year.items()
                if isinstance(entry, Mapping) and entry.get("probability_cutoff") is not None
            )
            note = f", within each year group (risk cut-offs: {cutoffs})"
        sentences.append(f"The model flags {model['description']}{note}.")
    bands = " or ".join(str(band) for band in threshold.get("rule_bands") or ())
    always = bool(threshold.get("always_flag"))
    if bands or always:
        band_part = f"pupils in the {bands} band" if bands else ""
        always_part = "pupils for whom an always-flag rule fires" if always else ""
        sentences.append(f"Rules flag {' and '.join(p for p in (band_part, always_part) if p)}.")
    return " ".join(sentences) or json.dumps(dict(threshold), sort_keys=True, default=str)


def _scores(store: Store, user: User, upn: str) -> list[dict]:
    """Every stored score of this pupil at a school in scope, with its run's term and versions."""
    s, r = st.scores, st.score_runs
    query = (
        sa.select(
            s,
            r.c.created_at.label("run_created_at"),
            r.c.rule_set_version,
            r.c.feature_version,
            r.c.model_version,
            r.c.threshold,
            r.c.settings.label("run_settings"),
        )
        .join(r, r.c.id == s.c.run_id)
        .where(s.c.upn == upn)
        .order_by(s.c.run_id)
    )
    if user.schools is not None:
        query = query.where(s.c.school_urn.in_(list(user.schools)))
    with store.engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def _history(terms: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """One row per term: attendance and suspensions, with that term's latest band and probability."""
    history = terms.copy()
    history["absence_sessions"] = (
        history["sessions_authorised_absence"] + history["sessions_unauthorised_absence"]
    )
    history["attendance_rate"] = 1 - history["absence_sessions"] / history["sessions_possible"].where(
        history["sessions_possible"] > 0
    )
    keys = ["academic_year", "term", "school_urn"]
    if scores.empty:
        for column in ("band", "probability", "flag"):
            history[column] = pd.NA
    else:
        latest = scores.sort_values("run_id").drop_duplicates(keys, keep="last")[
            [*keys, "band", "probability", "flag"]
        ]
        history = history.merge(latest.astype({k: "string" for k in keys}), on=keys, how="left")
    order = [spec.term_index(y, t) for y, t in zip(history["academic_year"], history["term"], strict=True)]
    return history.assign(_order=order).sort_values("_order")[list(HISTORY_COLUMNS)].reset_index(drop=True)


def pupil_record(store: Store, user: User, ref: str) -> PupilRecord:
    """The record behind `ref`, restricted to schools in the user's scope; raises PupilNotFound when the
    pupil is outside it (or does not exist)."""
    upn = resolve_pupil(store, user, ref)
    terms = store.read_pupil_terms(schools=user.schools, upns=[upn])
    scores = _scores(store, user, upn)
    latest = dict(scores[-1]) if scores else None  # plain Python values, straight from the database
    run = None
    if latest is not None:
        run = {
            key: latest.pop(key)
            for key in ("run_created_at", "rule_set_version", "feature_version", "model_version", "threshold")
        }
        run["id"] = latest["run_id"]
    return PupilRecord(
        ref=ref,
        upn=upn,
        history=_history(terms, pd.DataFrame(scores)),
        score=latest,
        run=run,
        reviews=review_history(store, upn),
        interventions=intervention_history(store, upn),
    )
