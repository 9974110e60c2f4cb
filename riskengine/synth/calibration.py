"""What the generator is calibrated to: published English figures, with tolerances, and how each is measured.

TARGETS is the one place the figures live; the tests compare `measure(la)` against them. Tolerances are
wide enough for a few thousand pupils per intake and for the spread between published sources and years,
narrow enough that a mis-specified generator fails. Sources: see `riskengine.synth.generator`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from riskengine.outcomes import derive_outcomes, year11_start
from riskengine.synth.generator import SyntheticLA


@dataclass(frozen=True)
class Target:
    value: float  # the published figure
    low: float  # accepted range for a generated local authority
    high: float
    source: str
    measured_as: str

    def accepts(self, measured: float) -> bool:
        return self.low <= measured <= self.high


PARTICIPATION = "DfE, Participation in education, training and employment 16-18; NEET and participation (LAs)"
ABSENCE = "DfE, Pupil absence in schools in England 2022/23 (state-funded secondary)"
CHARACTERISTICS = "DfE, Schools, pupils and their characteristics 2023/24"
SEN = "DfE, Special educational needs in England 2024 (state-funded secondary)"
CLA = "DfE, Children looked after in England 2024; Characteristics of children in need 2024"
EXCLUSIONS = "DfE, Suspensions and permanent exclusions in England 2022/23 (state-funded secondary)"
RONI = "DfE KS4 destination measures; LGA / DfE Risk of NEET Indicators guidance"
YOUTH = "Youth Justice Board, Youth justice statistics 2022-23; ONS Census 2021 (young carers)"
KS2 = "DfE, Key stage 2 attainment (national scaled-score distribution)"

_SHARE = "share of pupil-terms"
_YEARS_10_11 = "at any time in Years 10-11"
TARGETS: Final[dict[str, Target]] = {
    # Outcome: mean true probability of pupils in Year 11 whose destination window has begun.
    "neet_or_not_known": Target(0.055, 0.045, 0.065, PARTICIPATION, "mean true probability, leavers"),
    # Attendance and behaviour, per pupil-year (three terms on roll), as the annual DfE measures.
    "overall_absence": Target(0.090, 0.075, 0.105, ABSENCE, "absent / possible sessions"),
    "persistent_absence": Target(0.265, 0.23, 0.30, ABSENCE, "pupil-years with absence >= 10%"),
    "severe_absence": Target(0.025, 0.012, 0.04, ABSENCE, "pupil-years with absence >= 50%"),
    "suspensions_per_100": Target(18.9, 13.0, 25.0, EXCLUSIONS, "suspensions per 100 pupil-years"),
    "permanent_exclusions_per_100": Target(0.22, 0.10, 0.35, EXCLUSIONS, "per 100 pupil-years"),
    # Characteristics, as the share of pupil-terms with the flag (a termly census).
    "fsm": Target(0.246, 0.21, 0.28, CHARACTERISTICS, f"{_SHARE} eligible for FSM"),
    "eal": Target(0.18, 0.15, 0.21, CHARACTERISTICS, f"{_SHARE} with EAL"),
    "sen_support": Target(0.125, 0.10, 0.15, SEN, f"{_SHARE} with SEN support"),
    "ehc_plan": Target(0.030, 0.02, 0.045, SEN, f"{_SHARE} with an EHC plan"),
    "looked_after": Target(0.008, 0.005, 0.012, CLA, f"{_SHARE} looked after"),
    "child_in_need": Target(0.033, 0.02, 0.045, CLA, f"{_SHARE} in need (including looked after)"),
    "young_carer": Target(0.015, 0.008, 0.025, YOUTH, f"{_SHARE} recorded as young carers"),
    "youth_justice": Target(0.004, 0.002, 0.007, YOUTH, f"{_SHARE} known to youth justice"),
    "ks2_reading_mean": Target(105.0, 103.5, 106.5, KS2, "mean KS2 reading scaled score (non-blank)"),
    # Risk ratios: mean true probability in the group over the mean outside it, Year 11 leavers.
    "rr_looked_after": Target(3.0, 2.2, 4.5, RONI, f"looked after {_YEARS_10_11}"),
    "rr_ehc_plan": Target(2.5, 1.8, 3.5, RONI, "EHC plan at any time in Year 11"),
    "rr_permanently_excluded": Target(5.0, 3.5, 7.0, RONI, "ever permanently excluded (Years 7-11)"),
    "rr_persistent_absence": Target(3.0, 2.3, 4.0, RONI, "absence >= 10% over Years 10-11"),
    "rr_fsm": Target(2.2, 1.7, 2.8, RONI, f"FSM {_YEARS_10_11}"),
}


def _numeric(pupil_terms: pd.DataFrame) -> pd.DataFrame:
    """The columns the measures need, as numbers, keyed by integer pupil and year codes (fast groupbys)."""
    frame = pd.DataFrame(
        {c: pupil_terms[c].to_numpy(dtype=float, na_value=np.nan) for c in _NUMERIC},
        index=pd.Index(pd.factorize(pupil_terms["upn"])[0], name="pupil"),
    )
    frame["year"] = pd.factorize(pupil_terms["academic_year"])[0]
    frame["ehc_plan"] = (pupil_terms["sen_provision"] == "E").to_numpy(dtype=float, na_value=0.0)
    frame["absent"] = frame["sessions_authorised_absence"] + frame["sessions_unauthorised_absence"]
    return frame


_NUMERIC = (
    "ncyear",
    "sessions_possible",
    "sessions_authorised_absence",
    "sessions_unauthorised_absence",
    "suspensions",
    "permanent_exclusion",
    "fsm_eligible",
    "looked_after",
)


def _risk_ratio(probability: pd.Series, group: pd.Series) -> float:
    group = group.reindex(probability.index, fill_value=False).astype(bool)
    return float(probability[group].mean() / probability[~group].mean())


def measure(la: SyntheticLA) -> dict[str, float]:
    """The generated counterpart of every entry in TARGETS (keys match)."""
    terms = la.pupil_terms
    numeric = _numeric(terms)
    by_year = numeric.groupby(["pupil", "year"])
    years = by_year[["sessions_possible", "absent", "suspensions", "permanent_exclusion"]].sum()[
        by_year.size() == 3
    ]
    year_absence = years["absent"] / years["sessions_possible"]

    def share(column: str) -> float:
        return float(terms[column].to_numpy(dtype=float, na_value=np.nan).mean())

    # Risk ratios (of true probabilities) among pupils in Year 11 whose destination window has begun.
    upns = pd.Index(pd.factorize(terms["upn"])[1])
    started = la.truth["window_started"].reindex(upns).to_numpy()
    history = numeric[started[numeric.index]]
    ks4 = history[history["ncyear"] >= 10].groupby("pupil")
    ks4_absence = ks4["absent"].sum() / ks4["sessions_possible"].sum()
    year11 = history[history["ncyear"] == 11].groupby("pupil")
    probability = pd.Series(la.truth["true_probability"].reindex(upns).to_numpy()).iloc[year11.size().index]

    return {
        "neet_or_not_known": float(probability.mean()),
        "overall_absence": float(numeric["absent"].sum() / numeric["sessions_possible"].sum()),
        "persistent_absence": float((year_absence >= 0.1).mean()),
        "severe_absence": float((year_absence >= 0.5).mean()),
        "suspensions_per_100": float(100 * years["suspensions"].mean()),
        "permanent_exclusions_per_100": float(100 * years["permanent_exclusion"].mean()),
        "fsm": share("fsm_eligible"),
        "eal": share("eal"),
        "sen_support": float((terms["sen_provision"] == "K").mean()),
        "ehc_plan": float(numeric["ehc_plan"].mean()),
        "looked_after": share("looked_after"),
        "child_in_need": share("child_in_need"),
        "young_carer": share("young_carer"),
        "youth_justice": share("youth_justice"),
        "ks2_reading_mean": float(terms.drop_duplicates("upn")["ks2_reading_scaled"].mean()),
        "rr_looked_after": _risk_ratio(probability, ks4["looked_after"].max() > 0),
        "rr_ehc_plan": _risk_ratio(probability, year11["ehc_plan"].max() > 0),
        "rr_permanently_excluded": _risk_ratio(
            probability, history.groupby("pupil")["permanent_exclusion"].max() > 0
        ),
        "rr_persistent_absence": _risk_ratio(probability, ks4_absence >= 0.1),
        "rr_fsm": _risk_ratio(probability, ks4["fsm_eligible"].max() > 0),
    }


def realised_outcome_rate(la: SyntheticLA) -> tuple[float, float, int]:
    """(realised positive rate, mean true probability, n) for pupils with an outcome in a complete window.

    The outcome is derived from the destination rows by `riskengine.outcomes.derive_outcomes`, exactly as
    the evaluation stage does, so this checks the rendering of outcomes into NCCIS codes and dates.
    """
    years = year11_start(la.pupil_terms)
    complete = years[la.truth.loc[years.index, "window_complete"].to_numpy()]
    outcomes = derive_outcomes(la.destinations, complete)["outcome"].dropna()
    probability = la.truth.loc[outcomes.index, "true_probability"]
    return float(outcomes.astype(float).mean()), float(np.mean(probability)), len(outcomes)
