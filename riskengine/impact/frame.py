"""The one table every impact figure is computed from: a row per pupil scored at the service's scoring
point, with their risk score and flag, whether and when they were supported, their outcome, attendance
before and after, and the main risk factors at the scoring term. Built from frames only (scores, pupil
terms, outcomes, current interventions), so it runs the same from the store, a notebook or a test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from riskengine.evaluation.inputs import cohort_of, member_of
from riskengine.spec import upload as spec

#: Intervention statuses that mean support actually began (planned-only does not count).
STARTED = ("active", "completed", "withdrawn")
MAIN_FACTORS = (
    "absence_rate",
    "suspensions_to_date",
    "excluded_to_date",
    "looked_after",
    "child_in_need",
    "ehc_plan",
    "sen_support",
    "fsm_eligible",
    "youth_justice",
    "young_carer",
    "alternative_provision",
    "eal",
)
_TERM_START = {"autumn": (0, 9, 1), "spring": (1, 1, 1), "summer": (1, 4, 15)}


def term_start(academic_year: pd.Series, term: pd.Series) -> pd.Series:
    """The (approximate) first day of each term: 1 September, 1 January, 15 April."""
    start = academic_year.astype(str).str[:4].astype(int)
    parts = term.astype(str).map(_TERM_START)
    years = start + parts.str[0]
    return pd.to_datetime(
        pd.DataFrame({"year": years, "month": parts.str[1], "day": parts.str[2]}), errors="coerce"
    )


def cutoff_for(threshold: Mapping[str, Any] | None, ncyear: int) -> float | None:
    """The model's probability cut-off for a year group in a run's threshold record: the year group's own
    cut-off when capacity was applied within each year group (`model.by_year_group`, written by
    `riskengine.flags.thresholds`), else the run's single `model.probability_cutoff`; None when the run
    has no model threshold."""
    model = (threshold or {}).get("model") if isinstance(threshold, Mapping) else None
    if not isinstance(model, Mapping):
        return None
    own = (model.get("by_year_group") or {}).get(str(ncyear))
    value = own.get("probability_cutoff") if isinstance(own, Mapping) else model.get("probability_cutoff")
    return None if value is None else float(value)


def _logit(p: pd.Series) -> pd.Series:
    p = p.astype(float).clip(1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _attendance(terms: pd.DataFrame) -> pd.Series:
    possible = terms["sessions_possible"].astype(float)
    absent = terms["sessions_authorised_absence"].astype(float) + terms[
        "sessions_unauthorised_absence"
    ].astype(float)
    return (
        pd.DataFrame({"upn": terms["upn"], "absent": absent, "possible": possible})
        .groupby("upn")
        .sum(min_count=1)
        .eval("1 - absent / possible")
    )


def impact_frame(
    scores: pd.DataFrame,
    pupil_terms: pd.DataFrame,
    outcomes: pd.DataFrame,
    interventions: pd.DataFrame,
    *,
    ncyear: int = 9,
    term: str = "autumn",
) -> pd.DataFrame:
    """One row per pupil scored in Year `ncyear` `term` (their latest such score).

    `scores` needs upn, school_urn, academic_year, term, ncyear, probability, flag, flag_source and
    either `probability_cutoff` or `threshold` (the run's record). `interventions` is
    `current_interventions`' frame. A pupil is supported when an intervention that began (status active,
    completed or withdrawn) started after their scoring term began and before the end of Year 11; a
    cohort in which nobody was supported and which was scored before support first began counts as before
    the service. Pupils supported before the
    scoring point are left out and counted in `attrs["left_out"]`.
    """
    picked = scores[(scores["ncyear"].astype(int) == ncyear) & (scores["term"].astype(str) == term)]
    picked = picked.drop_duplicates("upn", keep="last").reset_index(drop=True)
    if picked.empty:
        raise ValueError(f"no scores in Year {ncyear} {term}: the service's scoring point")
    frame = pd.DataFrame(
        {
            "upn": picked["upn"].astype(str),
            "school_urn": picked["school_urn"].astype(str),
            "cohort": cohort_of(picked).to_numpy(),
            "scored_from": term_start(picked["academic_year"], picked["term"]).to_numpy(),
            "probability": picked["probability"].astype(float).to_numpy(),
            "flagged": picked["flag"].astype("boolean").fillna(False).to_numpy(dtype=bool),
            "rule_flag": picked["flag_source"]
            .astype("string")
            .isin(["rule", "both"])
            .fillna(False)
            .to_numpy(),
        }
    )
    if "probability_cutoff" in picked:
        cutoff = picked["probability_cutoff"].astype(float)
    else:
        cutoff = pd.Series(
            [cutoff_for(t, ncyear) for t in picked.get("threshold", pd.Series([None] * len(picked)))],
            dtype=float,
        )
    frame["score_logit"] = _logit(frame["probability"])
    frame["running"] = frame["score_logit"] - _logit(cutoff.fillna(np.nan).reindex(frame.index))
    left = pd.to_datetime(frame["cohort"].astype(str) + "-08-31") + pd.DateOffset(years=1)

    started = interventions[interventions["status"].isin(STARTED)] if len(interventions) else interventions
    first = started.groupby("upn")["start_date"].min() if len(started) else pd.Series(dtype="datetime64[ns]")
    start = frame["upn"].map(first)
    frame["support_start"] = start
    frame["supported"] = (start >= frame["scored_from"]) & (start <= left)
    # A cohort is before the service when nobody in it was supported and it was scored before the first
    # support began (a cohort scored since, whose support has not started yet, is not "before").
    first_support = start[frame["supported"]].min()
    nobody = ~frame.groupby("cohort")["supported"].transform("any")
    frame["before_service"] = nobody & (
        frame["scored_from"] < first_support if pd.notna(first_support) else True
    )
    # Pupils whose support began before the scoring point were neither prompted by it nor untouched by
    # the service: they are left out of every comparison, and counted (frame.attrs["left_out"]).
    earlier = (start < frame["scored_from"]).fillna(False)
    left_out = {"supported before the scoring point": int(earlier.sum())}
    frame = frame[~earlier.to_numpy()].reset_index(drop=True)

    own = outcomes if "upn" in outcomes.columns else outcomes.reset_index()
    own = own.set_index("upn").reindex(frame["upn"])
    frame["outcome"] = own["outcome"].astype("boolean").astype(float).to_numpy()
    for column in ("any_neet", "any_not_known"):
        if column in own:
            frame[column] = own[column].astype("boolean").astype(float).to_numpy()

    terms = pupil_terms[member_of(pupil_terms["upn"], frame["upn"])]
    index = spec.term_indices(terms["academic_year"], terms["term"]).to_numpy()
    scoring_year = terms["upn"].astype(str).map(picked.set_index("upn")["academic_year"].astype(str))
    scoring = spec.term_indices(scoring_year, pd.Series(term, index=terms.index)).to_numpy()
    at = terms[index == scoring]
    before = terms[index <= scoring]
    after = terms[index > scoring]
    frame = frame.set_index("upn")
    frame["attendance_pre"] = _attendance(at).reindex(frame.index)
    frame["attendance"] = _attendance(after).reindex(frame.index)
    now = at.drop_duplicates("upn", keep="last").set_index("upn").reindex(frame.index)
    history = before.groupby("upn")
    frame["absence_rate"] = 1 - frame["attendance_pre"]
    frame["suspensions_to_date"] = np.log1p(history["suspensions"].sum().reindex(frame.index).astype(float))
    frame["excluded_to_date"] = history["permanent_exclusion"].any().reindex(frame.index).astype(float)
    frame["ehc_plan"] = (now["sen_provision"] == "E").astype(float)
    frame["sen_support"] = (now["sen_provision"] == "K").astype(float)
    for column in ("looked_after", "child_in_need", "fsm_eligible", "youth_justice", "young_carer"):
        frame[column] = now[column].astype("boolean").astype(float)
    for column in ("alternative_provision", "eal"):
        frame[column] = now[column].astype("boolean").astype(float) if column in now else np.nan
    frame.attrs["left_out"] = left_out
    return frame
