"""Generated evaluation inputs with a known truth, built here so the tests do not depend on the generator.

Each pupil has audit attributes drawn independently of their risk, a true probability, an outcome drawn
from it and recorded as a destination, and scores from two scoring runs (Year 10 and Year 11 autumn):
rule points and a model probability that are noisy views of the true risk.

The documented bias: with `under_record`, a share of one group's positive outcomes is recorded as EET
(as if the service lost track of them and assumed they were in education). The flags do not change, so
that group's recorded precision falls and its false positive rate rises: the audit must find it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskengine.outcomes import OutcomeDefinition, derive_outcomes
from riskengine.spec.upload import academic_year

ETHNICITIES = {
    "WBRI": 0.55,
    "WOTH": 0.05,
    "AIND": 0.12,
    "BAFR": 0.12,
    "MWBC": 0.08,
    "OOTH": 0.05,
    "NOBT": 0.025,
    "CHNE": 0.005,
}
#: The outcome definition the generated outcomes are derived with (the shipped default's rules, renamed).
DEFINITION = OutcomeDefinition(name="generated test outcome")
COHORTS = (2022, 2023)  # start years of Year 11
SCHOOLS = ("100001", "100002", "100003", "100004")


@dataclass
class EvaluationInputs:
    scores: pd.DataFrame
    destinations: pd.DataFrame
    attributes: pd.DataFrame
    outcomes: pd.DataFrame
    truth: pd.Series  # true probability per upn


def generated_inputs(
    pupils: int,
    seed: int = 0,
    under_record: tuple[str, str, float] | None = None,
    no_destination: float = 0.05,
) -> EvaluationInputs:
    """`under_record=(column, value, share)`: that share of the group's positives is recorded as EET."""
    rng = np.random.default_rng(seed)
    upn = pd.Series([f"T{i:012d}" for i in range(pupils)], dtype="string")
    cohort = rng.choice(COHORTS, pupils)
    attributes = pd.DataFrame(
        {
            "upn": upn,
            "sex": rng.choice(["F", "M"], pupils),
            "ethnicity": rng.choice(list(ETHNICITIES), pupils, p=list(ETHNICITIES.values())),
            "sen_provision": rng.choice(["N", "K", "E"], pupils, p=[0.8, 0.15, 0.05]),
            "fsm_eligible": rng.random(pupils) < 0.25,
            "looked_after": rng.random(pupils) < 0.03,
            "eal": pd.array(
                np.where(rng.random(pupils) < 0.05, None, rng.random(pupils) < 0.2), dtype="boolean"
            ),
        }
    )
    risk = rng.normal(-1.8, 1.0, pupils)
    truth = 1 / (1 + np.exp(-risk))
    positive = rng.random(pupils) < truth
    recorded = positive.copy()
    if under_record is not None:
        column, value, share = under_record
        in_group = attributes[column].astype(str).to_numpy() == value
        recorded &= ~(in_group & (rng.random(pupils) < share))
    has_record = rng.random(pupils) >= no_destination
    codes = np.where(recorded, rng.choice([619, 640, 810], pupils), rng.choice([230, 310, 210], pupils))
    first_date = pd.to_datetime([f"{c + 1}-10-01" for c in cohort]) + pd.to_timedelta(
        rng.integers(0, 60, pupils), "D"
    )
    destinations = pd.DataFrame(
        {
            "upn": upn,
            "activity_code": pd.array(codes, dtype="Int64"),
            "activity_date": first_date,
            "academic_age": pd.array(np.full(pupils, 16), dtype="Int64"),
        }
    )[has_record]
    # A second record about 100 days later: half the young people are then in further education.
    later = destinations[rng.random(len(destinations)) < 0.5].assign(
        activity_code=pd.array([230], dtype="Int64")[0],
        activity_date=lambda d: d["activity_date"] + pd.Timedelta(days=100),
    )
    destinations = pd.concat([destinations, later], ignore_index=True)

    runs = []
    for ncyear, noise in ((10, 1.0), (11, 0.6)):
        logit = risk + rng.normal(0, noise, pupils)
        probability = 1 / (1 + np.exp(-logit))
        points = np.clip(np.round((risk + rng.normal(0, noise * 1.5, pupils) + 3) * 2), 0, None)
        by_model = probability >= np.quantile(probability, 0.85)
        by_rule = points >= np.quantile(points, 0.9)
        source = np.select([by_rule & by_model, by_rule, by_model], ["both", "rule", "model"], default="")
        runs.append(
            pd.DataFrame(
                {
                    "upn": upn,
                    "school_urn": pd.array(
                        np.asarray(SCHOOLS)[np.arange(pupils) % len(SCHOOLS)], dtype="string"
                    ),
                    "academic_year": pd.array(
                        [academic_year(c - (11 - ncyear)) for c in cohort], dtype="string"
                    ),
                    "term": pd.array(np.full(pupils, "autumn"), dtype="string"),
                    "ncyear": pd.array(np.full(pupils, ncyear), dtype="Int64"),
                    "points": points.astype(float),
                    "band": pd.array(np.where(by_rule, "high", "low"), dtype="string"),
                    "always_flag": pd.array(np.zeros(pupils, bool), dtype="boolean"),
                    "probability": pd.array(probability, dtype="Float64"),
                    "flag": pd.array(by_rule | by_model, dtype="boolean"),
                    "flag_source": pd.array(np.where(source == "", None, source), dtype="string"),
                    "rule_set_version": "rules-test",
                    "feature_version": "features-test",
                    "model_version": "model-test",
                }
            )
        )
    scores = pd.concat(runs, ignore_index=True)
    year11 = pd.Series(cohort, index=pd.Index(upn, name="upn"), name="year11_start")
    outcomes = derive_outcomes(destinations, year11, DEFINITION)
    per_term = scores[["upn", "academic_year", "term"]].merge(attributes, on="upn")
    return EvaluationInputs(scores, destinations, per_term, outcomes, pd.Series(truth, index=upn))
