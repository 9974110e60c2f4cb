"""Term by term, Year 7 autumn to Year 11 summer: how each pupil's circumstances drift.

The simulation steps over the 15 terms and is vectorised over pupils. Circumstances are correlated the way
they are in life: a latent disadvantage raises free school meals, special needs, care, absence and
suspensions together; absence is a random walk on the logit scale around a pupil's own level and rises
with year group; suspensions cluster in a minority and peak in Years 9-10; FSM eligibility is sticky
(transitional protection); care is persistent; youth-justice contact rises with age; a permanent exclusion
moves the pupil to the LA's pupil referral unit (alternative provision) for the rest of their schooling.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from riskengine.spec import upload as spec
from riskengine.synth.population import N_TERMS, NEED_EHC_BOOST, Pupils, Schools

#: Logit-scale absence shifts by year group (7..11) and term: absence rises through secondary school.
ABSENCE_BY_YEAR: Final = (0.0, 0.17, 0.33, 0.45, 0.50)
ABSENCE_BY_TERM: Final = (-0.12, 0.0, 0.10)
#: Suspension rate shifts by year group: they peak in Years 9-10.
SUSPENSIONS_BY_YEAR: Final = (-0.45, -0.05, 0.25, 0.30, 0.0)


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _ar1(previous: np.ndarray, rho: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    """One step of a stationary AR(1) with standard deviation `sd`."""
    return rho * previous + np.sqrt(1 - rho**2) * sd * rng.normal(0.0, 1.0, len(previous))


def _sessions_possible(
    pupils: Pupils, schools: Schools, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each school's possible sessions per term of each calendar year (autumn longest, Year 11 summer cut
    short by exams); a pupil's first term is partial when they arrive mid-term."""
    calendar = pupils.y7_start[:, None] * 3 + np.arange(N_TERMS)
    first = calendar.min()
    n_cal = calendar.max() - first + 1
    season = (first + np.arange(n_cal)) % 3
    low = np.array([134, 116, 112])[season]
    base = rng.integers(low, low + 9, size=(len(schools.urn), n_cal)) // 2 * 2
    return base, calendar - first


def simulate_terms(pupils: Pupils, schools: Schools, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every pupil's 15 terms as (pupils x terms) arrays named after the upload columns (plus `school`)."""
    n, t = len(pupils), N_TERMS
    d, e = pupils.disadvantage, pupils.engagement
    male, female, semh = pupils.sex == "M", pupils.sex == "F", pupils.semh
    ehc_boost = pd.Series(pupils.need).map(NEED_EHC_BOOST).fillna(0.0).to_numpy()
    base_possible, calendar = _sessions_possible(pupils, schools, rng)
    out: dict[str, np.ndarray] = {}

    # Pupil-level levels the terms drift around.
    absence_level = -3.1 + 0.38 * d + 0.5 * e + 0.35 * semh + 2.2 * np.maximum(e + 0.3 * d - 1.4, 0)
    suspension_frailty = rng.normal(0.0, 0.9, n)
    unauthorised_share = _expit(-0.9 + 0.45 * d + 0.35 * e)
    young_carer_level = 0.45 * d + 0.25 * female + rng.normal(0.0, 1.0, n)

    fsm_noise = rng.normal(0.0, 0.5, n)
    sen_noise = rng.normal(0.0, 0.3, n)
    cin_noise = rng.normal(0.0, 0.7, n)
    carer_noise = rng.normal(0.0, 0.3, n)
    absence_noise = rng.normal(0.0, 0.45, n)
    fsm = d + fsm_noise > 1.05
    ehc = np.zeros(n, dtype=bool)
    looked_after = rng.random(n) < _expit(-5.7 + 1.1 * d)
    youth_justice = np.zeros(n, dtype=bool)
    in_ap = np.zeros(n, dtype=bool)
    excluded = np.zeros(n, dtype=bool)  # permanently excluded earlier: now on the PRU's roll
    suspensions_to_date = np.zeros(n)
    school = pupils.school.copy()
    moves = np.zeros(n, dtype=np.int64)
    n_schools = len(schools.share)

    for k in range(t):
        year, season = k // 3, k % 3
        moves += pupils.arrive == k if k else 0  # an in-year arrival is a non-standard move

        fsm_noise = _ar1(fsm_noise, 0.9, 0.5, rng)
        fsm = (fsm & (rng.random(n) > 0.02)) | (d + fsm_noise > 1.05)
        sen_noise = _ar1(sen_noise, 0.95, 0.3, rng)
        level = pupils.sen_level + sen_noise
        ehc |= level + ehc_boost > 2.8
        sen_support = ~ehc & (level > 1.42)
        looked_after = (looked_after & (rng.random(n) > 0.03)) | (
            rng.random(n) < _expit(-8.0 + 1.0 * d + 0.5 * semh + 0.3 * e)
        )
        cin_noise = _ar1(cin_noise, 0.85, 0.7, rng)
        child_in_need = looked_after | (0.8 * d + 0.4 * semh + 0.3 * e + cin_noise > 2.4)
        carer_noise = _ar1(carer_noise, 0.9, 0.3, rng)
        young_carer = young_carer_level + carer_noise > 2.65

        absence_noise = _ar1(absence_noise, 0.8, 0.45, rng)
        logit = (
            absence_level
            + ABSENCE_BY_YEAR[year]
            + ABSENCE_BY_TERM[season]
            + absence_noise
            + 0.4 * child_in_need
            + 0.3 * young_carer
            + 0.5 * in_ap
            + 0.6 * excluded
        )
        school_now = np.where(excluded, schools.pru, school)
        possible = base_possible[school_now, calendar[:, k]]
        if season == 2 and year == 4:
            possible = (possible * 0.68).round().astype(np.int64)
        arriving = (pupils.arrive == k) & (k > 0)
        possible = np.where(arriving, np.ceil(possible * rng.uniform(0.2, 1.0, n)).astype(np.int64), possible)
        absent = rng.binomial(possible, _expit(logit))

        rate = np.exp(
            -4.05
            + 0.45 * d
            + 0.55 * e
            + 0.8 * semh
            + 0.5 * male
            + SUSPENSIONS_BY_YEAR[year]
            + 0.6 * absence_noise
            + suspension_frailty
        )
        suspensions = rng.poisson(rate)
        suspension_sessions = np.minimum(2 * (suspensions + rng.poisson(0.6 * suspensions)), possible)
        permanent = ~excluded & (
            rng.random(n)
            < _expit(
                -8.1 + 1.3 * np.log1p(suspensions) + 0.7 * np.log1p(suspensions_to_date) + 0.4 * d + 0.4 * e
            )
        )
        suspensions_to_date += suspensions

        unauthorised = rng.binomial(absent, unauthorised_share)
        # Suspensions are recorded as authorised absence (code E).
        authorised = np.minimum(absent - unauthorised + suspension_sessions, possible - unauthorised)

        youth_justice = (youth_justice & (rng.random(n) > 0.15)) | (
            rng.random(n)
            < _expit(
                -8.9
                + 0.5 * d
                + 0.4 * e
                + 1.0 * male
                + 0.6 * np.log1p(suspensions_to_date)
                + 0.45 * year
                + 1.0 * looked_after
            )
        )
        in_ap = (
            excluded
            | (in_ap & (rng.random(n) > 0.2))
            | (
                rng.random(n)
                < _expit(
                    -7.6
                    + 0.5 * d
                    + 0.5 * e
                    + 0.6 * semh
                    + 0.6 * np.log1p(suspensions_to_date)
                    + 0.6 * (year >= 3)
                )
            )
        )

        for name, value in (
            ("school", school_now),
            ("sessions_possible", possible),
            ("sessions_authorised_absence", authorised),
            ("sessions_unauthorised_absence", unauthorised),
            ("suspensions", suspensions),
            ("suspension_sessions", suspension_sessions),
            ("permanent_exclusion", permanent),
            ("sen_provision", np.where(ehc, "E", np.where(sen_support, "K", "N"))),
            ("looked_after", looked_after),
            ("child_in_need", child_in_need),
            ("fsm_eligible", fsm),
            ("young_carer", young_carer),
            ("youth_justice", youth_justice),
            ("alternative_provision", in_ap),
            ("school_moves", moves),
        ):
            out.setdefault(name, np.empty((n, t), dtype=np.asarray(value).dtype))[:, k] = value

        # Changes that show from next term: exclusion to the PRU, and managed / non-standard moves.
        moves += permanent
        excluded |= permanent
        if n_schools > 1:
            moving = ~excluded & (rng.random(n) < _expit(-6.0 + 0.3 * d + 0.6 * np.log1p(suspensions)))
            school = np.where(moving, (school + rng.integers(1, n_schools, n)) % n_schools, school)
            moves += moving
    return out


def _strings(values: np.ndarray, index: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """`values[index]` as a "string" array (-1 = blank), built by a fast Arrow take."""
    return pd.array(values, dtype="string").take(index, allow_fill=True)


def to_pupil_terms(
    pupils: Pupils, schools: Schools, terms: dict[str, np.ndarray], rows: np.ndarray
) -> pd.DataFrame:
    """The canonical pupil-terms frame for the (pupil, term) cells where `rows` is True.

    Rows are sorted by academic year, term, school URN and UPN, so the rows up to any term are a prefix.
    """
    pupil, k = np.nonzero(rows)
    calendar = pupils.y7_start[pupil] * 3 + k
    school = terms["school"][pupil, k]
    upn_rank = np.empty(len(pupils), dtype=np.int64)
    upn_rank[np.argsort(pupils.upn)] = np.arange(len(pupils))
    order = np.lexsort((upn_rank[pupil], schools.urn.astype(np.int64)[school], calendar))
    pupil, k, calendar, school = pupil[order], k[order], calendar[order], school[order]

    first_year = calendar.min() // 3 if len(k) else 0
    year_names = np.array(
        [spec.academic_year(y) for y in range(first_year, calendar.max() // 3 + 1)] if len(k) else []
    )
    sen = terms["sen_provision"][pupil, k]
    need = np.where(sen == "N", -1, pupil)
    columns = {
        "upn": _strings(pupils.upn, pupil),
        "school_urn": _strings(schools.urn, school),
        "academic_year": _strings(year_names, calendar // 3 - first_year),
        "term": _strings(np.array(spec.TERMS), k % 3),
        "ncyear": 7 + k // 3,
        **{
            c: terms[c][pupil, k]
            for c in (*spec.COUNT_COLUMNS, *spec.BOOL_COLUMNS, "school_moves")
            if c in terms
        },
        "eal": pupils.eal[pupil],
        "sen_provision": sen,
        "sen_primary_need": _strings(pupils.need, need),
        "ks2_reading_scaled": pd.array(pupils.ks2_reading[pupil], dtype="Float64"),
        "ks2_maths_scaled": pd.array(pupils.ks2_maths[pupil], dtype="Float64"),
        "sex": _strings(pupils.sex, pupil),
        "ethnicity": _strings(pupils.ethnicity, pupil),
    }
    frame = pd.DataFrame({c: columns[c] for c in spec.COLUMNS}, copy=False)
    return frame.astype(spec.canonical_dtypes())
