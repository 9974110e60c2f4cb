"""An optional early-intervention service in a generated local authority, with a known effect.

At each cohort's Year 9 autumn a scoring run ranks pupils by a screening score (the true latent risk seen
through model error) and flags the top `capacity` share of the year group (the cut-off), plus pupils a
rule always flags (looked after, permanently excluded or known to youth justice). Assignment is fuzzy:
most flagged pupils take up support from Year 9 spring, a few unflagged pupils are referred anyway, and
cohorts whose Year 9 began before `start_year` had no service at all.

The planted effect acts on both potential outcomes of every pupil, so every estimand is known exactly:
- NEET odds: the positive outcome's log-odds move by log(`neet_odds_ratio`); with one shared uniform draw
  per pupil, y0 = u < p0 and y1 = u < p1, and the observed outcome is y1 for supported pupils, else y0;
- attendance: supported pupils miss `attendance_effect` fewer of their absence sessions from the term
  support starts (which changes no risk driver, all fixed by Year 9 autumn);
- resilience: pre/post assessments (resilience_4c stens) with measurement error, taken at a low point
  (pupils are referred when things are bad, so they would score better next time anyway); the post score
  rises by `resilience_effect` stens with support.
Days NEET follow from the NEET outcome through the destination records, which are drawn under both
potential outcomes from the same random numbers (`days_neet0` / `days_neet1`), so the observed records
are each pupil's own potential ones.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from riskengine.spec import upload as spec
from riskengine.synth.population import Pupils

#: The scoring point: Year 9 autumn (term 6 counting from Year 7 autumn = 0); support starts next term.
SCORING_TERM: Final = 6
SUBSCALES: Final = ("control", "commitment", "challenge", "confidence")
TYPES_BY_NEED: Final = (
    ("youth_justice_to_date", "youth_justice_liaison"),
    ("looked_after", "care_experienced_support"),
    ("persistent_absence", "attendance_plan"),
    ("ehc_plan", "sen_specialist"),
)


@dataclass(frozen=True)
class ServiceSpec:
    """What the generated service does. `start_year`: first academic year (start) whose Year 9 pupils are
    offered support (None: the middle of the intakes that have left school by the as-of date)."""

    start_year: int | None = None
    capacity: float = 0.15
    take_up: float = 0.8
    referred: float = 0.04
    score_noise: float = 0.6
    neet_odds_ratio: float = 0.6
    attendance_effect: float = 0.2
    resilience_effect: float = 1.0
    resilience_low_point: float = 0.8
    measurement_sd: float = 0.9


@dataclass(frozen=True)
class ServiceData:
    """The service's records: `pupils` (one row per pupil on roll at Year 9 autumn: score, cut-off, flags,
    support and both potential outcomes), `interventions` and `assessments` in the import formats of
    shared/spec/interventions.md, and the spec that made them."""

    pupils: pd.DataFrame
    interventions: pd.DataFrame
    assessments: pd.DataFrame
    spec: ServiceSpec
    start_year: int
    notes: dict[str, str] = field(default_factory=dict)


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def default_start_year(y7_start: np.ndarray, as_of_year: int) -> int:
    """The middle of the intakes whose destination windows are complete: half before, half after."""
    left = np.unique(y7_start[y7_start + 6 <= as_of_year])  # left Year 11 at least a year before
    if len(left) < 2:
        return int(y7_start.min()) + 2
    return int(np.sort(left)[len(left) // 2]) + 2


def assign(
    service: ServiceSpec,
    people: Pupils,
    drivers: pd.DataFrame,
    logit: np.ndarray,
    u: np.ndarray,
    start_year: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Score, cut-off, flags, support and potential outcomes, one row per pupil (all pupils)."""
    n = len(people)
    scored = (people.arrive <= SCORING_TERM) & (people.leave >= SCORING_TERM)
    score_logit = logit + rng.normal(0.0, service.score_noise, n)
    score = _expit(score_logit)
    frame = pd.DataFrame({"upn": people.upn, "y7_start": people.y7_start, "score": score, "scored": scored})
    ranked = frame[scored].groupby("y7_start")["score"]
    cutoff = ranked.transform(lambda s: np.sort(s.to_numpy())[-max(1, round(service.capacity * len(s)))])
    frame["cutoff"] = cutoff.reindex(frame.index)
    frame["model_flag"] = scored & (frame["score"] >= frame["cutoff"]).fillna(False).to_numpy()
    rule = (
        (drivers["looked_after"] > 0) | (drivers["permanently_excluded_to_date"] > 0)
        | (drivers["youth_justice_to_date"] > 0)
    ).to_numpy()  # fmt: skip
    frame["rule_flag"] = scored & rule
    frame["flagged"] = frame["model_flag"] | frame["rule_flag"]
    frame["service_on"] = people.y7_start + 2 >= start_year
    draw = rng.random(n)
    chance = np.where(frame["flagged"], service.take_up, service.referred)
    frame["supported"] = frame["service_on"] & scored & (draw < chance)
    p0 = _expit(logit)
    p1 = _expit(logit + np.log(service.neet_odds_ratio))
    frame["p0"], frame["p1"] = p0, p1
    frame["y0"], frame["y1"] = u < p0, u < p1
    frame["start_date"] = pd.to_datetime(
        pd.Series(people.y7_start + 3).astype(str) + "-01-05"
    ) + pd.to_timedelta(rng.integers(0, 50, n), unit="D")
    return frame


def apply_attendance(
    full: pd.DataFrame, people: Pupils, pupils: pd.DataFrame, effect: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pupil-terms with supported pupils' absence cut from Year 9 spring on, per-pupil attendance:
    `attendance_pre` at Year 9 autumn and `attendance0` / `attendance1` over Year 9 spring - Year 11
    summer without / with support)."""
    stage = (full["ncyear"].to_numpy(dtype=int) - 7) * 3 + full["term"].map(
        {t: i for i, t in enumerate(spec.TERMS)}
    ).to_numpy(dtype=int)
    codes = pd.Index(people.upn).get_indexer(full["upn"])
    after = stage > SCORING_TERM
    columns = ["sessions_authorised_absence", "sessions_unauthorised_absence"]
    absent0 = full[columns].to_numpy(dtype=float, na_value=0.0)
    absent1 = np.floor(absent0 * (1.0 - effect))
    possible = full["sessions_possible"].to_numpy(dtype=float, na_value=0.0)

    def rate(rows: np.ndarray, absent: np.ndarray) -> np.ndarray:
        missed = np.bincount(codes[rows], weights=absent[rows].sum(axis=1), minlength=len(people))
        total = np.bincount(codes[rows], weights=possible[rows], minlength=len(people))
        with np.errstate(invalid="ignore", divide="ignore"):
            return 1.0 - missed / total

    attendance = pd.DataFrame(
        {
            "attendance_pre": rate(stage == SCORING_TERM, absent0),
            "attendance0": rate(after, absent0),
            "attendance1": rate(after, absent1),
        }
    )
    supported = pupils["supported"].to_numpy()[codes] & after
    changed = full.copy()
    for i, column in enumerate(columns):
        values = changed[column].to_numpy(dtype=float, na_value=np.nan)
        values[supported] = absent1[supported, i]
        changed[column] = pd.array(np.where(np.isnan(values), None, values), dtype="Int64")
    return changed, attendance


def _resilience(
    service: ServiceSpec, pupils: pd.DataFrame, logit: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Stable level, pre (at a low point) and both potential post scores per subscale, as measured."""
    n = len(pupils)
    z = (logit - logit.mean()) / logit.std()
    common = rng.normal(0.0, 1.0, n)
    out = {}
    for name in SUBSCALES:
        stable = 5.5 - 0.8 * z + 1.0 * common + rng.normal(0.0, 0.9, n)
        low = -np.abs(rng.normal(service.resilience_low_point, 0.5, n))
        pre = stable + low + rng.normal(0.0, service.measurement_sd, n)
        error = rng.normal(0.0, service.measurement_sd, n)

        def sten(x: np.ndarray) -> np.ndarray:
            return np.clip(np.rint(x), 1, 10)

        out[f"{name}_pre"] = sten(pre)
        out[f"{name}_post0"] = sten(stable + error)
        out[f"{name}_post1"] = sten(stable + service.resilience_effect + error)
    return pd.DataFrame(out, index=pupils.index)


def records(
    service: ServiceSpec,
    pupils: pd.DataFrame,
    drivers: pd.DataFrame,
    resilience: pd.DataFrame,
    as_of: pd.Timestamp,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The service's interventions.csv and assessments.csv rows for supported pupils whose support had
    started by the as-of date."""
    started = pupils["supported"].to_numpy() & (pupils["start_date"] <= as_of).to_numpy()
    own = pupils[started]
    n = len(own)
    kind = np.where(rng.random(n) < 0.5, "one_to_one_guidance", "mentoring").astype(object)
    need = drivers.reindex(own["upn"]).to_numpy(dtype=float)
    names = list(drivers.columns)
    for driver, type_ in TYPES_BY_NEED[::-1]:  # the first listed need wins
        kind = np.where(need[:, names.index(driver)] > 0, type_, kind)
    ids = [f"S{i:06d}" for i in np.flatnonzero(started)]
    start = own["start_date"]
    end = start + pd.to_timedelta(rng.integers(90, 240, n), unit="D")
    ended = (end <= as_of).to_numpy()
    withdrawn = rng.random(n) < 0.08
    qualification = np.where(rng.random(n) < 0.35, "entry_level", np.where(rng.random(n) < 0.3, "none", ""))
    adviser = np.array([f"adviser{k}@service.example" for k in rng.integers(1, 6, n)])
    first = pd.DataFrame(
        {
            "upn": own["upn"].to_numpy(),
            "intervention_id": ids,
            "type": kind,
            "start_date": start.dt.strftime("%Y-%m-%d").to_numpy(),
            "end_date": "",
            "status": "active",
            "adviser": adviser,
            "prompted_by_run": "",
            "qualification": "",
            "notes": "",
        }
    )
    last = first[ended].assign(
        end_date=end[ended].dt.strftime("%Y-%m-%d").to_numpy(),
        status=np.where(withdrawn[ended], "withdrawn", "completed"),
        qualification=qualification[ended],
    )
    interventions = pd.concat([first, last], ignore_index=True)
    post_date = start + pd.to_timedelta(rng.integers(150, 200, n), unit="D")
    pre = pd.DataFrame({"upn": own["upn"].to_numpy(), "instrument": "resilience_4c", "stage": "pre"})
    pre["date"] = start.dt.strftime("%Y-%m-%d").to_numpy()
    scores = resilience[started]
    for name in SUBSCALES:
        pre[name] = scores[f"{name}_pre"].to_numpy(dtype=int)
    post_seen = (post_date <= as_of).to_numpy()
    post = pre[post_seen].assign(stage="post", date=post_date[post_seen].dt.strftime("%Y-%m-%d").to_numpy())
    for name in SUBSCALES:
        post[name] = scores.loc[post_seen, f"{name}_post1"].to_numpy(dtype=int)
    assessments = pd.concat([pre, post], ignore_index=True)[
        ["upn", "instrument", "date", "stage", *SUBSCALES]
    ]
    return interventions, assessments


def run_service(
    service: ServiceSpec,
    people: Pupils,
    full: pd.DataFrame,
    drivers: pd.DataFrame,
    logit: np.ndarray,
    u: np.ndarray,
    as_of: tuple[str, str],
    as_of_day: pd.Timestamp,
    seed: int,
) -> tuple[pd.DataFrame, np.ndarray, ServiceData]:
    """(pupil-terms with the service's attendance effect, observed outcomes, the service's data)."""
    rng = np.random.default_rng([seed, 0x53455256])  # "SERV": the generator's own stream is untouched
    start_year = service.start_year or default_start_year(people.y7_start, spec.year_start(as_of[0]))
    pupils = assign(service, people, drivers.reindex(people.upn), logit, u, start_year, rng)
    changed, attendance = apply_attendance(full, people, pupils, service.attendance_effect)
    resilience = _resilience(service, pupils, logit, rng)
    pupils = pd.concat([pupils, attendance, resilience], axis=1)
    outcome = np.where(pupils["supported"], pupils["y1"], pupils["y0"])
    interventions, assessments = records(
        service, pupils, drivers.reindex(people.upn), resilience, as_of_day, rng
    )
    data = ServiceData(
        pupils=pupils.set_index("upn"),
        interventions=interventions,
        assessments=assessments,
        spec=service,
        start_year=start_year,
    )
    return changed, outcome, data


def add_days_neet(
    service: ServiceData, people: pd.DataFrame, hidden: np.ndarray, as_of: tuple[str, str], rng
) -> None:
    """Add `days_neet0` / `days_neet1` to `service.pupils`: days NEET in the six months after Year 11
    without and with support, from destination records drawn under each potential outcome with `rng`'s
    draws (a copy of the generator's state just before it drew the observed records)."""
    from riskengine.evaluation.impact import days_neet_after_leaving
    from riskengine.synth.destinations import draw_destinations

    cohort = pd.Series(people["year11_start"].to_numpy(), index=people["upn"].astype(str))
    for arm in ("0", "1"):
        potential = service.pupils[f"y{arm}"].reindex(people["upn"]).to_numpy(dtype=bool)
        shown = people.assign(shown_positive=potential & ~hidden)
        records = draw_destinations(shown, as_of, copy.deepcopy(rng))
        days = days_neet_after_leaving(records, cohort)
        service.pupils[f"days_neet{arm}"] = days.reindex(service.pupils.index).to_numpy()


#: The risk drivers an analyst would compare pupils on (the "main factors"), all observed at Year 9 autumn.
MAIN_FACTORS: Final = (
    "absence_rate",
    "log1p_suspensions_to_date",
    "permanently_excluded_to_date",
    "looked_after",
    "child_in_need",
    "ehc_plan",
    "sen_support",
    "semh",
    "fsm_eligible",
    "youth_justice_to_date",
    "young_carer",
    "ks2_above_105",
    "ks2_blank",
    "alternative_provision",
    "eal",
)


POTENTIAL: Final = ("y0", "y1", "p0", "p1", "attendance0", "attendance1", "days_neet0", "days_neet1")


def analysis_frame(la) -> pd.DataFrame:
    """One row per pupil scored at Year 9 autumn whose destination window is complete and recorded: what an
    evaluator would have (cohort, school, score, `running` = logit(score) - logit(cut-off), flags,
    support, observed outcome and attendance, the main factors) plus both potential outcomes (`y0`, `y1`,
    `p0`, `p1`, `attendance0`, `attendance1`, `days_neet0`, `days_neet1`) for computing the truth; `days_neet`
    is computed from the destination records, as the impact report does."""
    from riskengine.evaluation.impact import days_neet_after_leaving

    if la.service is None:
        raise ValueError("this local authority was generated without a service (generate(service=...))")
    pupils = la.service.pupils
    truth = la.truth
    rows = truth.index[truth["window_complete"] & truth["has_destination"]]
    rows = rows[pupils.loc[rows, "scored"].to_numpy(dtype=bool)]
    own = pupils.loc[rows]
    terms = la.pupil_terms
    y9 = terms[(terms["ncyear"] == 9) & (terms["term"] == "autumn")].drop_duplicates("upn")
    school = y9.set_index("upn")["school_urn"].reindex(rows)

    def logit(p: pd.Series) -> pd.Series:
        return np.log(p / (1 - p))

    supported = own["supported"].to_numpy(dtype=bool)
    cohort = pd.Series(own["y7_start"].to_numpy() + 4, index=rows.astype(str))
    frame = pd.DataFrame(
        {
            "cohort": own["y7_start"].to_numpy() + 4,
            "school_urn": school.astype("string").fillna("unknown").to_numpy(),
            "score": own["score"].to_numpy(),
            "score_logit": logit(own["score"]).to_numpy(),
            "running": (logit(own["score"]) - logit(own["cutoff"])).to_numpy(),
            "flagged": own["flagged"].to_numpy(dtype=bool),
            "rule_flag": own["rule_flag"].to_numpy(dtype=bool),
            "supported": supported,
            "before_service": ~own["service_on"].to_numpy(dtype=bool),
            "outcome": truth.loc[rows, "outcome"].to_numpy(dtype=float),
            "attendance_pre": own["attendance_pre"].to_numpy(),
            "attendance": np.where(supported, own["attendance1"], own["attendance0"]),
            "days_neet": days_neet_after_leaving(la.destinations, cohort).to_numpy(),
            **{c: own[c].to_numpy() for c in POTENTIAL},
            **{c: truth.loc[rows, c].to_numpy(dtype=float) for c in MAIN_FACTORS},
        },
        index=rows,
    )
    return frame.assign(y0=frame["y0"].astype(float), y1=frame["y1"].astype(float))


def true_estimands(frame: pd.DataFrame, rd_bandwidth: float = 0.4) -> dict[str, float]:
    """Every estimand from both potential outcomes: the effect on the supported (risk difference in the
    outcome, attendance, days NEET in the first six months) and the local effect at the cut-off (for
    pupils the rules did not flag, whose support followed the capacity flag), fitted local-linearly to
    p1 - p0 with a narrow bandwidth."""
    supported = frame["supported"].astype(bool)
    after = ~frame["before_service"].astype(bool)
    local = frame[after & ~frame["rule_flag"].astype(bool)]
    r = local["running"].to_numpy()
    weights = np.clip(1 - np.abs(r) / rd_bandwidth, 0, None)
    x = np.column_stack([np.ones_like(r), r, r * (r >= 0)])
    keep = weights > 0
    effect = (local["p1"] - local["p0"]).to_numpy()
    wx = x[keep] * weights[keep, None]
    beta = np.linalg.lstsq(wx.T @ x[keep], wx.T @ effect[keep], rcond=None)[0]
    return {
        "att_outcome": float((frame["y1"] - frame["y0"])[supported].mean()),
        "att_attendance": float((frame["attendance1"] - frame["attendance0"])[supported].mean()),
        "att_days_neet": float((frame["days_neet1"] - frame["days_neet0"])[supported].mean()),
        "rd_outcome": float(beta[0]),
    }


def scoring_run(la) -> pd.DataFrame:
    """The service's Year 9 autumn scoring runs as a scores file (the scores contract's columns plus each
    row's `probability_cutoff`), for `riskengine impact --scores` on generated data."""
    pupils = la.service.pupils
    terms = la.pupil_terms
    y9 = terms[(terms["ncyear"] == 9) & (terms["term"] == "autumn")].drop_duplicates("upn", keep="last")
    own = pupils.reindex(y9["upn"].astype(str))
    keep = own["scored"].fillna(False).to_numpy(dtype=bool)
    y9, own = y9[keep], own[keep]
    source = np.select(
        [own["model_flag"] & own["rule_flag"], own["model_flag"], own["rule_flag"]],
        ["both", "model", "rule"],
        "",
    )
    return pd.DataFrame(
        {
            "upn": y9["upn"].astype(str).to_numpy(),
            "school_urn": y9["school_urn"].astype(str).to_numpy(),
            "academic_year": y9["academic_year"].astype(str).to_numpy(),
            "term": "autumn",
            "ncyear": 9,
            "probability": own["score"].round(6).to_numpy(),
            "flag": own["flagged"].to_numpy(dtype=bool),
            "flag_source": pd.Series(source).replace("", pd.NA).to_numpy(),
            "probability_cutoff": own["cutoff"].round(6).to_numpy(),
        }
    )


def write_service(la, folder) -> list:
    """interventions.csv, assessments.csv, service_scores.csv and service_truth.json into `folder`."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [
        folder / n
        for n in ("interventions.csv", "assessments.csv", "service_scores.csv", "service_truth.json")
    ]
    la.service.interventions.to_csv(paths[0], index=False, lineterminator="\n")
    la.service.assessments.to_csv(paths[1], index=False, lineterminator="\n")
    scoring_run(la).to_csv(paths[2], index=False, lineterminator="\n")
    frame = analysis_frame(la)
    truth = {
        "spec": asdict(la.service.spec),
        "start_year": la.service.start_year,
        "estimands": true_estimands(frame) if frame["supported"].any() else {},
        "note": "from both potential outcomes of the pupils with a complete destination window",
    }
    paths[3].write_text(json.dumps(truth, indent=2))
    return paths
