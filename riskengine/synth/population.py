"""Who the pupils are: schools, Year 7 intakes and the characteristics a pupil carries from Year 7.

Everything that varies term by term is simulated in `riskengine.synth.terms`; here live the pupil-level
traits that drive it (a latent disadvantage, a latent level of special needs, a type of need, ethnicity,
sex, first language, KS2 scores) and the pupils' real-format UPNs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from riskengine.spec.upload import ETHNICITY_MAJOR_GROUP
from riskengine.spec.upn import with_check_letter

#: Terms followed per pupil: Year 7 autumn (0) to Year 11 summer (14).
N_TERMS: Final = 15

#: Issuing local authorities: the home LA (Sefton) and neighbours whose primary schools also feed it.
HOME_LA: Final = 343
NEIGHBOUR_LAS: Final = (340, 341, 342, 344, 888)
SHARE_FROM_NEIGHBOURS: Final = 0.08

#: Ethnicity of secondary pupils, roughly England 2023/24 (Schools, pupils and their characteristics).
ETHNICITY_SHARE: Final = {
    "WBRI": 0.625, "WIRI": 0.002, "WIRT": 0.001, "WROM": 0.004, "WOTH": 0.062,
    "MWBC": 0.016, "MWBA": 0.008, "MWAS": 0.013, "MOTH": 0.027,
    "AIND": 0.034, "APKN": 0.046, "ABAN": 0.019, "AOTH": 0.020,
    "BCRB": 0.010, "BAFR": 0.041, "BOTH": 0.009,
    "CHNE": 0.005, "OOTH": 0.022, "REFU": 0.006, "NOBT": 0.010,
}  # fmt: skip
#: Chance that a pupil of each group speaks English as an additional language (overall ~18%).
EAL_CHANCE: Final = {
    "WBRI": 0.005, "WIRI": 0.02, "WIRT": 0.05, "White": 0.70, "Mixed": 0.12,
    "Asian": 0.68, "Black": 0.42, "Chinese": 0.70, "Other": 0.72, "Unclassified": 0.20,
}  # fmt: skip
SEX_SHARE: Final = {"F": 0.4985, "M": 0.4995, "U": 0.002}

#: Primary need among pupils with SEN (other than SEMH, whose chance rises with disadvantage), and how much
#: each need raises the chance of an EHC plan rather than SEN support.
NEED_SHARE: Final = {"SPLD": 0.19, "MLD": 0.17, "SLCN": 0.16, "ASD": 0.22, "OTH": 0.06, "NSA": 0.05,
                     "PD": 0.04, "HI": 0.03, "VI": 0.02, "SLD": 0.04, "PMLD": 0.01, "MSI": 0.01}  # fmt: skip
NEED_EHC_BOOST: Final = {"ASD": 0.7, "SLD": 1.5, "PMLD": 2.5, "MSI": 1.0, "PD": 0.5, "HI": 0.4, "VI": 0.4}


@dataclass(frozen=True)
class Schools:
    """The LA's mainstream schools (index 0..S-1) and its pupil referral unit (index S)."""

    urn: np.ndarray  # str, S + 1 entries; the last is the PRU
    effect: np.ndarray  # deprivation of each mainstream school's intake (added to pupils' disadvantage)
    share: np.ndarray  # share of each intake each mainstream school takes

    @property
    def pru(self) -> int:
        return len(self.urn) - 1


@dataclass(frozen=True)
class Pupils:
    """One entry per pupil, in order of cohort (newest intake first) then pupil number."""

    cohort: np.ndarray  # 0 = the intake in Year 7 in the as-of year, 1 = a year older, ...
    y7_start: np.ndarray  # start year of the pupil's Year 7
    school: np.ndarray  # index of the school joined in Year 7 (or on arrival)
    upn: np.ndarray
    sex: np.ndarray
    ethnicity: np.ndarray
    eal: np.ndarray
    disadvantage: np.ndarray  # latent, ~N(school effect, 1): drives FSM, SEN, care, absence, behaviour
    sen_level: np.ndarray  # latent level of special needs; thresholds give SEN support / EHC plan
    need: np.ndarray  # primary need shown whenever the pupil has SEN
    engagement: np.ndarray  # latent disengagement (~N(0,1)): absence and behaviour beyond disadvantage
    arrive: np.ndarray  # first term on roll (0 for most; later for in-year arrivals)
    leave: np.ndarray  # last term on roll in the LA (14 unless the family moves away)
    ks2_reading: np.ndarray  # float, NaN = blank
    ks2_maths: np.ndarray

    def __len__(self) -> int:
        return len(self.upn)

    @property
    def semh(self) -> np.ndarray:
        return self.need == "SEMH"


def make_schools(n_schools: int, rng: np.random.Generator) -> Schools:
    """Distinct 6-digit URNs, unequal sizes and intakes of differing deprivation."""
    urns = rng.choice(np.arange(100000, 150000), size=n_schools + 1, replace=False)
    share = rng.lognormal(0.0, 0.35, n_schools)
    share /= share.sum()
    effect = rng.normal(0.0, 0.4, n_schools)
    # Centred, so the LA as a whole matches the national figures the generator is calibrated to.
    return Schools(urn=urns.astype(str), effect=effect - share @ effect, share=share)


def choose(rng: np.random.Generator, table: Mapping[Any, float], size: int) -> np.ndarray:
    """`size` draws from a {value: weight} table; weights need not sum to 1, so tables stay readable."""
    keys = np.array(list(table))
    weights = np.array(list(table.values()))
    return keys[rng.choice(len(keys), size=size, p=weights / weights.sum())]


def make_upns(y7_start: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Real-format UPNs, unique: issued in Reception (7 years before Year 7) by the pupil's primary school.

    Body = issuing LA (3) + the primary's DfE establishment number (4) + year of issue (2) + serial (3);
    pupils from one primary get consecutive serials, so (LA, school, year, serial) never repeats.
    """
    n = len(y7_start)
    from_neighbour = rng.random(n) < SHARE_FROM_NEIGHBOURS
    la = np.where(from_neighbour, np.array(NEIGHBOUR_LAS)[rng.integers(0, len(NEIGHBOUR_LAS), n)], HOME_LA)
    bodies = np.empty(n, dtype=object)
    for year in np.unique(y7_start):  # one pass per intake, vectorised within it
        for la_code in np.unique(la[y7_start == year]):
            members = np.flatnonzero((y7_start == year) & (la == la_code))
            n_primaries = max(1, -(-len(members) // 45))
            estab = rng.choice(np.arange(2000, 4000), size=n_primaries, replace=False)
            primary = rng.integers(0, n_primaries, len(members))
            order = np.argsort(primary, kind="stable")
            rank = np.empty(len(members), dtype=int)
            starts = np.searchsorted(primary[order], np.arange(n_primaries))
            rank[order] = np.arange(len(members)) - starts[primary[order]]
            serial = rng.integers(1, 200, n_primaries)[primary] + rank
            issued = (year - 7) % 100
            bodies[members] = [
                f"{la_code:03d}{e:04d}{issued:02d}{s:03d}"
                for e, s in zip(estab[primary], serial, strict=True)
            ]
    return np.array([with_check_letter(body) for body in bodies])


def make_pupils(
    pupils_per_intake: int, n_cohorts: int, first_y7_start: int, schools: Schools, rng: np.random.Generator
) -> Pupils:
    """`n_cohorts` intakes of `pupils_per_intake`, the newest starting Year 7 in `first_y7_start`."""
    cohort = np.repeat(np.arange(n_cohorts), pupils_per_intake)
    n = len(cohort)
    y7_start = first_y7_start - cohort
    school = rng.choice(len(schools.share), size=n, p=schools.share)
    sex = choose(rng, SEX_SHARE, n)
    ethnicity = choose(rng, ETHNICITY_SHARE, n)
    by_code = pd.Series(ethnicity).map(EAL_CHANCE)
    eal_chance = by_code.fillna(pd.Series(ethnicity).map(ETHNICITY_MAJOR_GROUP).map(EAL_CHANCE)).to_numpy()
    eal = rng.random(n) < eal_chance
    disadvantage = schools.effect[school] + rng.normal(0.0, 1.0, n)
    male = sex == "M"
    sen_level = 0.35 * disadvantage + 0.45 * male + rng.normal(0.0, 1.0, n)
    semh_chance = 1 / (1 + np.exp(-(-1.7 + 0.5 * disadvantage + 0.5 * male)))
    need = np.where(rng.random(n) < semh_chance, "SEMH", choose(rng, NEED_SHARE, n))
    engagement = rng.normal(0.0, 1.0, n)

    # In-year arrivals (from elsewhere in the country or abroad) and families moving away: random, so
    # that missing destinations are not related to risk.
    arrives_late = rng.random(n) < 0.06
    arrive = np.where(arrives_late, rng.integers(1, N_TERMS, n), 0)
    moves_away = rng.random(n) < 0.05
    leave = np.where(moves_away, rng.integers(arrive, N_TERMS), N_TERMS - 1)

    # KS2 scaled scores (national mean ~105, sd ~7): lower with disadvantage and special needs; blank for
    # pupils who arrived from abroad or did not sit the tests.
    ehc_like = sen_level + pd.Series(need).map(NEED_EHC_BOOST).fillna(0.0).to_numpy() > 2.1
    sen_like = sen_level > 1.1
    general = 106.5 - 2.6 * disadvantage - 5.0 * sen_like - 4.0 * ehc_like + rng.normal(0.0, 4.8, n)
    ks2_reading = np.clip(np.rint(general + rng.normal(0.0, 3.2, n)), 80, 120)
    ks2_maths = np.clip(np.rint(general - 0.8 + rng.normal(0.0, 3.2, n)), 80, 120)
    blank_chance = 0.015 + 0.10 * eal + 0.30 * arrives_late + 0.25 * np.isin(need, ["SLD", "PMLD"]) * ehc_like
    blank = rng.random(n) < blank_chance
    ks2_reading[blank] = np.nan
    ks2_maths[blank] = np.nan

    return Pupils(
        cohort=cohort,
        y7_start=y7_start,
        school=school,
        upn=make_upns(y7_start, rng),
        sex=sex,
        ethnicity=ethnicity,
        eal=eal,
        disadvantage=disadvantage,
        sen_level=sen_level,
        need=need,
        engagement=engagement,
        arrive=arrive,
        leave=leave,
        ks2_reading=ks2_reading,
        ks2_maths=ks2_maths,
    )
