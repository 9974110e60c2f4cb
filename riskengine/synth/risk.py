"""The documented latent risk behind every generated outcome.

A pupil's true log-odds of a positive outcome (NEET, Not Known or Other between September and March after
Year 11, the default of `evaluation/outcome.yaml`) is

    latent_logit = INTERCEPT + sum(COEFFICIENTS[name] * driver[name])

where every driver is read from the pupil's own rows of the canonical pupil-terms frame up to and including
Year 9 autumn (`risk_drivers`): that term's attendance, flags and SEN, and counts to date. Terms after Year
9 autumn keep drifting (absence, suspensions, exclusions, care...) but carry no extra information about the
outcome, so a model fitted at Year 9 autumn on the same drivers can reach the best achievable AUC, the AUC
of `truth.true_probability`. Later-term flags still predict the outcome, through their correlation with
these drivers, which is how the published risk ratios (`calibration.TARGETS`) arise.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from riskengine.spec import upload as spec

#: The term whose data (and history before it) fixes the outcome: Year 9 autumn.
DRIVERS_AT: Final = (9, "autumn")

INTERCEPT: Final = -3.74
#: Log-odds per unit of each driver. Flags are 0/1; see `risk_drivers` for each driver's exact definition.
COEFFICIENTS: Final = {
    "absence_rate": 2.5,  # share of possible sessions missed in Year 9 autumn (0-1)
    "persistent_absence": 0.35,  # absence rate >= 10% in Year 9 autumn
    "severe_absence": 0.5,  # absence rate >= 50% in Year 9 autumn
    "log1p_suspensions_to_date": 0.45,  # log(1 + suspensions from Year 7 autumn to Year 9 autumn)
    "permanently_excluded_to_date": 1.3,
    "looked_after": 0.35,
    "child_in_need": 0.35,
    "ehc_plan": 0.55,  # sen_provision E
    "sen_support": 0.3,  # sen_provision K
    "semh": 0.3,  # primary need SEMH (only pupils with SEN have one)
    "fsm_eligible": 0.15,
    "youth_justice_to_date": 0.6,
    "young_carer": 0.3,
    "school_moves": 0.25,  # non-standard moves since Year 7, counted up to 3
    "ks2_above_105": -0.035,  # mean of the KS2 reading and maths scaled scores minus 105; 0 when blank
    "ks2_blank": 0.3,  # no KS2 score
    "alternative_provision": 0.5,
    "eal": -0.4,  # pupils with English as an additional language are less often NEET
}


def risk_drivers(pupil_terms: pd.DataFrame) -> pd.DataFrame:
    """Each pupil's drivers of the latent risk, from their rows up to and including Year 9 autumn.

    "Current" drivers come from the pupil's latest row up to Year 9 autumn (their Year 9 autumn row when
    they have one); "to date" drivers from all those rows. A pupil who arrived after Year 9 autumn is read
    from their first row instead. Blank values count as 0 (the generator leaves only KS2 blank).
    """
    codes, upns = pd.factorize(pupil_terms["upn"], sort=True)
    term = pupil_terms["term"].map({t: i for i, t in enumerate(spec.TERMS)}).to_numpy(dtype=np.int64)
    stage = (pupil_terms["ncyear"].to_numpy(dtype=np.int64) - 7) * 3 + term
    first_stage = np.full(len(upns), np.iinfo(np.int64).max)
    np.minimum.at(first_stage, codes, stage)
    cutoff = np.maximum(first_stage, (DRIVERS_AT[0] - 7) * 3 + spec.TERMS.index(DRIVERS_AT[1]))
    history = np.flatnonzero(stage <= cutoff[codes])
    history = history[np.lexsort((stage[history], codes[history]))]
    owner = codes[history]
    now = history[np.r_[owner[1:] != owner[:-1], True]]  # each pupil's last row in the history

    def column(name: str, rows: np.ndarray) -> np.ndarray:
        return pupil_terms[name].to_numpy(dtype=float, na_value=0.0)[rows]

    def to_date(name: str) -> np.ndarray:
        return np.bincount(owner, weights=column(name, history), minlength=len(upns))

    possible = column("sessions_possible", now)
    absent = column("sessions_authorised_absence", now) + column("sessions_unauthorised_absence", now)
    absence = np.clip(np.divide(absent, possible, out=np.zeros_like(absent), where=possible > 0), 0.0, 1.0)
    ks2 = pupil_terms[list(spec.KS2_COLUMNS)].iloc[now].astype("float64").mean(axis=1).to_numpy()
    sen = pupil_terms["sen_provision"].to_numpy(dtype=object, na_value="")[now]
    need = pupil_terms["sen_primary_need"].to_numpy(dtype=object, na_value="")[now]
    drivers = pd.DataFrame(
        {
            "absence_rate": absence,
            "persistent_absence": absence >= 0.1,
            "severe_absence": absence >= 0.5,
            "log1p_suspensions_to_date": np.log1p(to_date("suspensions")),
            "permanently_excluded_to_date": to_date("permanent_exclusion") > 0,
            "looked_after": column("looked_after", now),
            "child_in_need": column("child_in_need", now),
            "ehc_plan": sen == "E",
            "sen_support": sen == "K",
            "semh": need == "SEMH",
            "fsm_eligible": column("fsm_eligible", now),
            "youth_justice_to_date": to_date("youth_justice") > 0,
            "young_carer": column("young_carer", now),
            "school_moves": np.minimum(column("school_moves", now), 3.0),
            "ks2_above_105": np.nan_to_num(ks2 - 105.0),
            "ks2_blank": np.isnan(ks2),
            "alternative_provision": column("alternative_provision", now),
            "eal": column("eal", now),
        },
        index=pd.Index(upns, name="upn"),
    )
    return drivers[list(COEFFICIENTS)].astype(float)


def latent_logit(drivers: pd.DataFrame) -> pd.Series:
    """The true log-odds of a positive outcome for each pupil in `drivers` (see the module docstring)."""
    weights = np.array(list(COEFFICIENTS.values()))
    logit = INTERCEPT + drivers[list(COEFFICIENTS)].to_numpy(dtype=float) @ weights
    return pd.Series(logit, index=drivers.index, name="latent_logit")
