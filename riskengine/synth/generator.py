"""A synthetic English local authority: termly pupil uploads and NCCIS destinations, seeded.

Several schools and several consecutive Year 7 intakes, each followed term by term up to Year 11 (or the
as-of term), and NCCIS destination records after Year 11 for the intakes old enough to have them. Rates and
relationships are calibrated to published English figures; the targets, tolerances and sources are in
`riskengine.synth.calibration` (TARGETS, each with its source), which the tests check against:

- DfE, "Participation in education, training and employment age 16 to 18" and "NEET and participation:
  local authority figures" (NCCIS), 2023-24: about 5-6% of 16-17 year olds NEET or not known.
- DfE, "Pupil absence in schools in England", 2022/23: secondary overall absence ~9%, persistent absence
  (>= 10%) ~26.5%, severe absence (>= 50%) ~2-3%.
- DfE, "Schools, pupils and their characteristics", 2023/24: 24.6% of pupils eligible for free school
  meals; English as an additional language ~18% in secondary schools; ethnicity of secondary pupils.
- DfE, "Special educational needs in England", 2024: SEN support ~12-13% and EHC plans ~2.5-3.5% of
  mainstream secondary pupils; SEMH the commonest need among SEN support in secondary schools.
- DfE, "Children looked after in England including adoptions", 2024 (~70 per 10,000 children, more at
  secondary ages) and "Characteristics of children in need", 2024 (~3.3% of children); care leavers are
  about three times as likely to be NEET.
- DfE, "Suspensions and permanent exclusions in England", 2022/23: secondary suspension rate 18.9 and
  permanent exclusion rate 0.22 per 100 pupils a year, higher for boys, pupils with SEN and FSM pupils.
- DfE, "Key stage 4 destination measures" (not sustained by characteristic) and Local Government
  Association / DfE guidance on Risk of NEET Indicators (RONI): NEET or not known rates relative to other
  pupils ~3x for looked-after children, ~2-3x with an EHC plan, ~4-6x after permanent exclusion, ~2.5-4x
  for persistent absentees and ~2-2.5x for FSM pupils.
- Youth Justice Board, "Youth justice statistics", 2022-23, and ONS Census 2021 (young carers ~1-2%).

The outcome comes from the documented latent risk in `riskengine.synth.risk`, so a fitted model can be
compared against the true probabilities (`truth.true_probability`, the best achievable AUC).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskengine.spec import upload as spec
from riskengine.spec.upload import ETHNICITY_MAJOR_GROUP, term_index, year_start
from riskengine.synth.destinations import MOVED_AWAY_SHARE, as_of_date, check_under_record, draw_destinations
from riskengine.synth.population import N_TERMS, make_pupils, make_schools
from riskengine.synth.risk import latent_logit, risk_drivers
from riskengine.synth.service import ServiceData, ServiceSpec, add_days_neet, run_service
from riskengine.synth.terms import simulate_terms, to_pupil_terms

DEFAULT_AS_OF = ("2026/27", "autumn")


@dataclass(frozen=True)
class SyntheticLA:
    """A generated local authority.

    `pupil_terms` and `destinations` are canonical frames (the contracts of docs/architecture.md).
    `truth` is indexed by upn, one row per pupil on roll by the as-of term: `true_probability`,
    `latent_logit`, `outcome` (the drawn true outcome), `year11_start`, `cohort`, `window_started` /
    `window_complete` (their destination window had begun / ended by the as-of date), `has_destination`
    (they have NCCIS rows), `under_recorded` (their positive outcome was recorded as EET or dropped by the
    `under_record` bias), and the risk drivers (`riskengine.synth.risk`) the probability comes from.
    """

    pupil_terms: pd.DataFrame
    destinations: pd.DataFrame
    truth: pd.DataFrame
    schools: pd.DataFrame  # school_urn, kind (mainstream or pupil referral unit)
    as_of: tuple[str, str]
    seed: int
    params: dict[str, object] = field(default_factory=dict)
    #: The optional early-intervention service (`generate(service=...)`), with both potential outcomes.
    service: ServiceData | None = None


def _validate(pupils: int, cohorts: int, schools: int, seed: int, as_of: tuple[str, str]) -> None:
    if pupils < 1 or cohorts < 1 or schools < 1:
        raise ValueError("pupils, cohorts and schools must each be at least 1")
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    if not spec.is_valid_academic_year(as_of[0]) or as_of[1] not in spec.TERMS:
        raise ValueError(f"as_of must be an academic year and term, e.g. {DEFAULT_AS_OF}")


def _under_recorded(
    people: pd.DataFrame, under_record: Mapping[str, object] | None, rng: np.random.Generator
) -> np.ndarray:
    """Which positive outcomes the bias hook hides; never any unless asked (the draw happens regardless)."""
    draw = rng.random(len(people))
    if under_record is None:
        return np.zeros(len(people), dtype=bool)
    attribute = str(under_record["attribute"])
    values = (
        people["ethnicity"].map(ETHNICITY_MAJOR_GROUP) if attribute == "ethnic_group" else people[attribute]
    )
    in_group = (values == under_record["group"]).to_numpy()
    return in_group & people["outcome"].to_numpy() & (draw < float(under_record["share"]))  # type: ignore[arg-type]


def generate(
    pupils: int = 600,
    cohorts: int = 8,
    schools: int = 4,
    seed: int = 0,
    as_of: tuple[str, str] = DEFAULT_AS_OF,
    under_record: Mapping[str, object] | None = None,
    service: ServiceSpec | None = None,
) -> SyntheticLA:
    """Generate a local authority: `cohorts` consecutive Year 7 intakes of `pupils` each over `schools`.

    The newest intake is in Year 7 in the as-of year; each intake is followed from Year 7 autumn to Year 11
    summer or the as-of term, whichever comes first. Intakes whose destination window (1 September after
    Year 11 to 31 March) has begun by the as-of date get NCCIS rows dated no later than it.

    `under_record` biases the recorded outcomes for the fairness audit, e.g. `{"attribute": "ethnic_group",
    "group": "Black", "share": 0.3, "record_as": "eet"}`: 30% of that group's positive outcomes are recorded
    as EET ("missing": no record at all). Attributes: sex, ethnicity (a code) or ethnic_group (a DfE major
    group). The default None records every outcome faithfully.

    `service` adds an early-intervention service with a planted effect (`riskengine.synth.service`): the
    outcomes, attendance and assessments then reflect who was supported, and `SyntheticLA.service` holds
    its records and both potential outcomes of every pupil. None (the default) changes nothing.
    """
    _validate(pupils, cohorts, schools, seed, as_of)
    check_under_record(under_record)
    rng = np.random.default_rng(seed)
    school_table = make_schools(schools, rng)
    people = make_pupils(pupils, cohorts, year_start(as_of[0]), school_table, rng)
    terms = simulate_terms(people, school_table, rng)

    k = np.arange(N_TERMS)
    present = (k >= people.arrive[:, None]) & (k <= people.leave[:, None])
    observed = present & (people.y7_start[:, None] * 3 + k <= term_index(*as_of))
    full = to_pupil_terms(people, school_table, terms, present)  # sorted by term first: observed is a prefix
    pupil_terms = full.iloc[: int(observed.sum())].reset_index(drop=True)

    drivers = risk_drivers(full).reindex(people.upn)
    logit = latent_logit(drivers).to_numpy()
    probability = 1.0 / (1.0 + np.exp(-logit))
    u = rng.random(len(people))
    outcome = u < probability
    service_data = None
    if service is not None:
        full, outcome, service_data = run_service(
            service, people, full, drivers, logit, u, as_of, as_of_date(as_of), seed
        )
        pupil_terms = full.iloc[: int(observed.sum())].reset_index(drop=True)
    year11 = people.y7_start + 4
    window_started = as_of_date(as_of) >= pd.to_datetime(
        pd.DataFrame({"year": year11 + 1, "month": 9, "day": 1})
    )
    window_complete = as_of_date(as_of) > pd.to_datetime(
        pd.DataFrame({"year": year11 + 2, "month": 3, "day": 31})
    )
    moved_away = rng.random(len(people)) < MOVED_AWAY_SHARE
    on_roll_in_year11 = people.leave == N_TERMS - 1
    ks2 = pd.DataFrame({"r": people.ks2_reading, "m": people.ks2_maths}).mean(axis=1).to_numpy()
    truth = pd.DataFrame(
        {
            "upn": people.upn,
            "cohort": people.cohort,
            "year11_start": year11,
            "latent_logit": logit,
            "true_probability": probability,
            "outcome": outcome,
            "window_started": window_started.to_numpy(),
            "window_complete": window_complete.to_numpy(),
            "sex": people.sex,
            "ethnicity": people.ethnicity,
        }
    )
    truth["under_recorded"] = _under_recorded(truth, under_record, rng)
    hidden = truth["under_recorded"].to_numpy()
    dropped = hidden & ((under_record or {}).get("record_as", "eet") == "missing")
    truth["has_destination"] = window_started.to_numpy() & on_roll_in_year11 & ~moved_away & ~dropped
    recorded = truth.assign(
        recorded=truth["has_destination"],
        shown_positive=outcome & ~hidden,
        youth_justice=drivers["youth_justice_to_date"].to_numpy() > 0,
        eal=people.eal,
        ehc_plan=drivers["ehc_plan"].to_numpy() > 0,
        ks2=ks2,
    )
    twin = copy.deepcopy(rng)  # the same draws again, for the service's potential destinations
    destinations = draw_destinations(recorded, as_of, rng)
    if service_data is not None:
        add_days_neet(service_data, recorded, hidden, as_of, twin)
    truth["has_destination"] = np.isin(people.upn, destinations["upn"].unique().to_numpy(dtype=str))
    seen = observed.any(axis=1)  # pupils not yet on roll by the as-of term are left out
    truth = truth[seen].drop(columns=["sex", "ethnicity"]).set_index("upn").join(drivers).sort_index()

    urns = school_table.urn
    return SyntheticLA(
        pupil_terms=pupil_terms,
        destinations=destinations,
        truth=truth,
        schools=pd.DataFrame(
            {"school_urn": urns, "kind": ["mainstream"] * (len(urns) - 1) + ["pupil referral unit"]}
        ).astype("string"),
        as_of=as_of,
        seed=seed,
        params={"pupils": pupils, "cohorts": cohorts, "schools": schools, "under_record": under_record},
        service=service_data,
    )


def demo_la(seed: int = 0, service: ServiceSpec | None = None) -> SyntheticLA:
    """A local authority sized for a quick demonstration: 4 schools, 8 intakes of 600 pupils (and, if
    given, an early-intervention service with a planted effect)."""
    return generate(pupils=600, cohorts=8, schools=4, seed=seed, service=service)
