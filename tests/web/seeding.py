"""Stores generated pupils (riskengine.synth) and scoring runs in the stored-scores contract, for the web
tests and the caseload load benchmark.

The runs are scored with a small transparent formula rather than the trained model, so the web tests do
not depend on MLflow or a fitted model: the web service only reads the scores contract, whatever made it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from riskengine.spec import upload as spec
from riskengine.store import Store
from riskengine.synth import generate

RULE_VERSION = "rules-test-1"
FEATURE_VERSION = "features-test-1"
MODEL_VERSION = "model-test-1"


def store_pupil_terms(store: Store, pupil_terms: pd.DataFrame) -> None:
    """Store every school's term as one upload, as the upload stage would after validation."""
    for (urn, year, term), frame in pupil_terms.groupby(["school_urn", "academic_year", "term"]):
        digest = hashlib.sha256(f"{urn}{year}{term}{len(frame)}".encode()).hexdigest()
        store.write_pupil_terms(
            frame,
            school_urn=str(urn),
            academic_year=str(year),
            term=str(term),
            upload={
                "filename": f"{urn}-{year.replace('/', '-')}-{term}.csv",
                "sha256": digest,
                "mapping": None,
                "mapping_sha256": None,
                "n_rows": len(frame),
                "n_warnings": 0,
                "uploaded_by": "seed@example.org",
            },
        )


def example_scores(pupil_terms: pd.DataFrame, academic_year: str, term: str) -> pd.DataFrame:
    """A scores frame (docs/architecture.md contract) for Year 9+ pupils on roll in that term."""
    now = pupil_terms[
        (pupil_terms["academic_year"] == academic_year)
        & (pupil_terms["term"] == term)
        & (pupil_terms["ncyear"] >= spec.SCORED_FROM_NCYEAR)
    ].reset_index(drop=True)
    possible = now["sessions_possible"].astype("Float64").where(lambda s: s > 0)
    absence = ((now["sessions_authorised_absence"] + now["sessions_unauthorised_absence"]) / possible).fillna(
        0
    )
    absence = absence.astype(float).to_numpy()
    suspensions = now["suspensions"].fillna(0).astype(float).to_numpy()
    fsm = now["fsm_eligible"].fillna(False).astype(bool).to_numpy()
    cla = now["looked_after"].fillna(False).astype(bool).to_numpy()
    contributions = pd.DataFrame(
        {
            "attendance_rate_term": 6.0 * (absence - 0.08),
            "suspensions_year": 0.8 * suspensions - 0.1,
            "fsm_eligible": np.where(fsm, 0.7, -0.2),
            "looked_after": np.where(cla, 1.2, -0.05),
        }
    ).round(4)
    logit = -2.2 + contributions.sum(axis=1).to_numpy()
    probability = 1 / (1 + np.exp(-logit))
    persistent, severe, suspended = absence >= 0.1, absence >= 0.5, suspensions > 0
    points = 3.0 * persistent + 5.0 * severe + 3.0 * suspended + 2.0 * fsm + 4.0 * cla
    band = np.select([points >= 8, points >= 4], ["high", "medium"], "low")
    sentences = pd.DataFrame(
        {
            "persistent_absence": np.where(persistent, "Persistently absent this year", None),
            "suspension": np.where(suspended, "Suspended this term", None),
            "looked_after": np.where(cla, "Looked after", None),
            "fsm": np.where(fsm, "Eligible for free school meals", None),
        }
    )
    reasons = sentences.apply(lambda row: row.dropna().tolist(), axis=1)
    fired = sentences.notna().apply(lambda row: row.index[row].tolist(), axis=1)
    rule_flag, model_flag = band == "high", probability >= 0.3
    return pd.DataFrame(
        {
            "upn": now["upn"],
            "school_urn": now["school_urn"],
            "academic_year": academic_year,
            "term": term,
            "ncyear": now["ncyear"],
            "points": points,
            "band": band,
            "always_flag": cla,
            "fired": fired,
            "reasons": reasons,
            "probability": probability,
            "flag": rule_flag | model_flag,
            "flag_source": np.select(
                [rule_flag & model_flag, rule_flag, model_flag], ["both", "rule", "model"], None
            ),
            "flag_reason": np.where(rule_flag | model_flag, "High risk by rules or model", None),
            "reasons_up": reasons,
            "reasons_down": [[] for _ in range(len(now))],
            "contributions": contributions.to_dict("records"),
            # issue 11: risk in percentage points beside the pupil's value, and what would change it
            "details": [
                {
                    "risk_points": {k: round(100 * v * p * (1 - p), 1) for k, v in row.items()},
                    "values": {"attendance_rate_term": f"{1 - a:.0%}", "looked_after": "yes" if c else "no"},
                }
                for row, p, a, c in zip(
                    contributions.to_dict("records"), probability, absence, cla, strict=True
                )
            ],
            "what_would_change": [
                {"enough": True, "text": f"if attendance this term were 96% rather than {1 - a:.0%}, ..."}
                if flagged
                else None
                for a, flagged in zip(absence, rule_flag | model_flag, strict=True)
            ],
        }
    )


def seed_store(
    store: Store,
    pupils: int = 60,
    cohorts: int = 4,
    schools: int = 2,
    seed: int = 1,
    as_of: tuple[str, str] = ("2026/27", "spring"),
) -> pd.DataFrame:
    """Generate and store pupils, and score the as-of term and the term before; returns the pupil-terms."""
    la = generate(pupils=pupils, cohorts=cohorts, schools=schools, seed=seed, as_of=as_of)
    store_pupil_terms(store, la.pupil_terms)
    index = spec.term_index(*as_of)
    for term_index in (index - 1, index):
        year = spec.academic_year(term_index // 3)
        term = spec.TERMS[term_index % 3]
        run = {
            "academic_year": year,
            "term": term,
            "rule_set_version": RULE_VERSION,
            "feature_version": FEATURE_VERSION,
            "model_version": MODEL_VERSION,
            "threshold": {
                "rule_bands": ["high"],
                "always_flag": True,
                "model": {
                    "kind": "probability",
                    "value": 0.3,
                    "description": "every pupil with a risk of 30% or more",
                    "probability_cutoff": 0.3,
                },
            },
            "settings": {},
        }
        store.save_scores(run, example_scores(la.pupil_terms, year, term))
    return la.pupil_terms
