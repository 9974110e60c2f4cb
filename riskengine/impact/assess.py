"""`assess_impact`: every impact figure, from the impact frame and the service's own records.

A pure function of frames (no store, no files). Each fair comparison runs where the data allow it and
otherwise says why not; the seeds' outcome measures (positive behaviours, qualifications, resilience,
NEET, days NEET, Not Known) are computed from uploads, destinations and records, never typed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import riskengine
from riskengine.evaluation.impact import days_neet_after_leaving
from riskengine.evaluation.inputs import member_of
from riskengine.impact.before_after import before_after
from riskengine.impact.discontinuity import fuzzy_rd
from riskengine.impact.estimate import Estimate
from riskengine.impact.frame import MAIN_FACTORS
from riskengine.impact.weighting import weighted_att
from riskengine.interventions.catalogue import Instrument
from riskengine.interventions.change import cohort_change, distance_travelled, unpaired_counts
from riskengine.spec import upload as spec

GAINED = ("entry_level", "level_1", "level_2")
MIN_GROUP = 10
NO_COMPARISON = (
    "Measured only for supported pupils, so there is no comparison group: pupils are chosen at a low "
    "point and tend to improve anyway, and this change cannot be told apart from the effect of support."
)


@dataclass
class ImpactResult:
    """What the impact report shows: the fair comparisons (`estimates`), those that could not be made
    and why (`not_estimated`), and tidy aggregate tables (never a pupil row)."""

    run_info: dict[str, Any]
    estimates: list[Estimate] = field(default_factory=list)
    not_estimated: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def positive_behaviours(pupil_terms: pd.DataFrame, starts: pd.Series, window: int = 3) -> pd.DataFrame:
    """Per supported pupil: attendance and suspensions in the `window` terms before the term support
    began against the `window` terms from it, and `improved` (attendance up or suspensions down).
    Pupils without terms on both sides have no figure (NaN)."""
    starts = starts.dropna()
    terms = pupil_terms[member_of(pupil_terms["upn"], starts.index)]
    index = spec.term_indices(terms["academic_year"], terms["term"])
    start_day = terms["upn"].map(starts)
    start_index = (start_day.dt.year - (start_day.dt.month < 9)) * 3 + np.select(
        [start_day.dt.month >= 9, start_day.dt.month < 4], [0, 1], 2
    )
    offset = index - start_index
    side = np.where(
        (offset < 0) & (offset >= -window), "before", np.where((offset >= 0) & (offset < window), "after", "")
    )
    frame = terms.assign(
        side=side,
        absent=terms["sessions_authorised_absence"].astype(float)
        + terms["sessions_unauthorised_absence"].astype(float),
        possible=terms["sessions_possible"].astype(float),
        susp=terms["suspensions"].astype(float),
    )
    frame = frame[frame["side"] != ""]
    sums = frame.groupby(["upn", "side"])[["absent", "possible", "susp"]].sum().unstack("side")
    out = pd.DataFrame(index=starts.index)
    for s in ("before", "after"):
        if ("possible", s) in sums:
            out[f"attendance_{s}"] = (1 - sums[("absent", s)] / sums[("possible", s)]).reindex(out.index)
            out[f"suspensions_{s}"] = sums[("susp", s)].reindex(out.index)
        else:
            out[f"attendance_{s}"] = np.nan
            out[f"suspensions_{s}"] = np.nan
    both = out[["attendance_before", "attendance_after"]].notna().all(axis=1)
    improved = (out["attendance_after"] > out["attendance_before"]) | (
        out["suspensions_after"] < out["suspensions_before"]
    )
    out["improved"] = improved.where(both)
    return out


def days_neet(frame: pd.DataFrame, destinations: pd.DataFrame | None) -> np.ndarray:
    """Each pupil's days NEET in the six months after Year 11, from the destination records (NaN when
    there are none)."""
    if destinations is None or not len(destinations):
        return np.full(len(frame), np.nan)
    cohort = frame["cohort"].astype(int)
    return days_neet_after_leaving(destinations, cohort).reindex(frame.index).to_numpy()


def outcome_measures(
    frame: pd.DataFrame,
    interventions: pd.DataFrame,
    pupil_terms: pd.DataFrame | None,
    destinations: pd.DataFrame | None,
) -> pd.DataFrame:
    """Supported and unsupported pupils of the service's cohorts: counts and rates for NEET, Not Known,
    mean days NEET in the first six months, positive behaviours improved and qualifications gained
    (the last two for supported pupils only)."""
    after = frame[~frame["before_service"]].copy()
    if "days_neet" not in after:
        after["days_neet"] = days_neet(after, destinations)
    behaviours = (
        positive_behaviours(pupil_terms, after.loc[after["supported"], "support_start"])
        if pupil_terms is not None and after["supported"].any()
        else pd.DataFrame(columns=["improved"])
    )
    qualified = (
        interventions.assign(gained=interventions["qualification"].isin(GAINED))
        .groupby("upn")["gained"]
        .any()
        if len(interventions)
        else pd.Series(dtype=bool)
    )
    rows = []
    for label, group in (
        ("supported", after[after["supported"]]),
        ("not supported", after[~after["supported"]]),
    ):
        with_outcome = group["outcome"].notna()
        row = {
            "group": label,
            "pupils": len(group),
            "with_outcome": int(with_outcome.sum()),
            "neet": int(group.get("any_neet", pd.Series(dtype=float)).fillna(0).sum()),
            "not_known": int(group.get("any_not_known", pd.Series(dtype=float)).fillna(0).sum()),
            "with_days_neet": int(group["days_neet"].notna().sum()),
            "mean_days_neet": float(group["days_neet"].mean())
            if group["days_neet"].notna().any()
            else np.nan,
        }
        row["neet_rate"] = row["neet"] / row["with_outcome"] if row["with_outcome"] else np.nan
        row["not_known_rate"] = row["not_known"] / row["with_outcome"] if row["with_outcome"] else np.nan
        if label == "supported":
            improved = behaviours["improved"].reindex(group.index)
            row["with_behaviour_terms"] = int(improved.notna().sum())
            row["behaviour_improved"] = int(improved.fillna(False).astype(bool).sum())
            row["behaviour_improved_rate"] = (
                row["behaviour_improved"] / row["with_behaviour_terms"]
                if row["with_behaviour_terms"]
                else np.nan
            )
            gained = qualified.reindex(group.index).fillna(False).astype(bool)
            row["qualification_gained"] = int(gained.sum())
            row["qualification_gained_rate"] = gained.mean() if len(group) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _try(result: ImpactResult, name: str, make) -> None:
    try:
        estimate = make()
    except (ValueError, np.linalg.LinAlgError) as error:
        result.not_estimated[name] = str(error)
        return
    if not np.isfinite([estimate.estimate, estimate.ci_low, estimate.ci_high]).all():
        result.not_estimated[name] = "the estimate or its interval is not finite (too little data)"
        return
    result.estimates.append(estimate)


def assess_impact(
    frame: pd.DataFrame,
    *,
    interventions: pd.DataFrame | None = None,
    assessments: pd.DataFrame | None = None,
    instruments: dict[str, Instrument] | None = None,
    pupil_terms: pd.DataFrame | None = None,
    destinations: pd.DataFrame | None = None,
    at_risk_share: float = 0.15,
    n_boot: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    run_info: dict[str, Any] | None = None,
) -> ImpactResult:
    """Every impact figure for the pupils of `impact_frame`."""
    interventions = (
        interventions if interventions is not None else pd.DataFrame(columns=["upn", "qualification"])
    )
    result = ImpactResult(
        run_info={
            **(run_info or {}),
            "pupils": len(frame),
            "left_out": dict(frame.attrs.get("left_out", {})),
            "supported": int(frame["supported"].sum()),
            "cohorts_before_service": sorted(
                int(c) for c in frame.loc[frame["before_service"], "cohort"].unique()
            ),
            "cohorts_with_service": sorted(
                int(c) for c in frame.loc[~frame["before_service"], "cohort"].unique()
            ),
            "confidence": confidence,
            "bootstrap_replicates": n_boot,
            "at_risk_share": at_risk_share,
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "riskengine_version": riskengine.__version__,
        }
    )
    frame = frame.assign(days_neet=days_neet(frame, destinations))
    after = frame[~frame["before_service"]]
    numeric = ["score_logit", "flagged", "rule_flag", *MAIN_FACTORS]
    numeric = [c for c in numeric if c in frame and frame[c].notna().any()]
    categorical = [c for c in ("school_urn", "cohort") if c in frame]
    labelled = after[after["outcome"].notna()]
    enough = labelled["supported"].sum() >= MIN_GROUP and (~labelled["supported"]).sum() >= MIN_GROUP
    reason = f"needs at least {MIN_GROUP} supported and {MIN_GROUP} unsupported pupils with an outcome"
    if enough:
        _try(result, "weighting: outcome", lambda: weighted_att(
            after, "outcome", numeric=numeric, categorical=categorical, n_boot=n_boot,
            confidence=confidence, seed=seed))  # fmt: skip
        _try(result, "discontinuity: outcome", lambda: fuzzy_rd(after, "outcome", confidence=confidence))
    else:
        result.not_estimated["weighting: outcome"] = reason
        result.not_estimated["discontinuity: outcome"] = reason
    if after["attendance"].notna().sum() > 2 * MIN_GROUP and after["supported"].sum() >= MIN_GROUP:
        _try(result, "weighting: attendance", lambda: weighted_att(
            after, "attendance", numeric=[*numeric, "attendance_pre"], categorical=categorical,
            baseline="attendance_pre", confidence=confidence, sandwich=True))  # fmt: skip
    else:
        result.not_estimated["weighting: attendance"] = (
            "too few pupils with attendance after the scoring term"
        )
    with_days = after[after["days_neet"].notna()]
    if with_days["supported"].sum() >= MIN_GROUP and (~with_days["supported"]).sum() >= MIN_GROUP:
        _try(result, "weighting: days NEET", lambda: weighted_att(
            after, "days_neet", numeric=numeric, categorical=categorical, n_boot=n_boot,
            confidence=confidence, seed=seed, log_scale=True))  # fmt: skip
    else:
        result.not_estimated["weighting: days NEET"] = (
            f"needs at least {MIN_GROUP} supported and {MIN_GROUP} unsupported pupils with destinations"
        )
    _try(result, "before/after: outcome", lambda: before_after(
        frame, "outcome", cohort="cohort", numeric=[c for c in numeric if c not in ("flagged", "rule_flag")],
        categorical=["school_urn"], share=at_risk_share, confidence=confidence))  # fmt: skip
    for estimate in result.estimates:  # the weighting estimates' balance, one table per outcome
        if len(estimate.tables.get("balance", ())):
            result.tables[f"balance_{estimate.outcome}"] = estimate.tables["balance"]
    result.tables["measures"] = outcome_measures(frame, interventions, pupil_terms, destinations)
    if assessments is not None and len(assessments) and instruments:
        per_pupil = distance_travelled(assessments, instruments)
        result.tables["distance_travelled"] = cohort_change(per_pupil, instruments, confidence).assign(
            comparison=NO_COMPARISON
        )
        result.tables["assessments_unpaired"] = unpaired_counts(assessments)
    return result
