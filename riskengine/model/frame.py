"""The training frame: past pupils' features at one year group and term, with the outcome they reached.

Each pupil is taken as they looked at the point the model will later be used (e.g. the autumn of Year 9),
so training sees exactly what scoring will see; the outcome comes from destinations by the declared
definition (evaluation/outcome.yaml). Pupils with no outcome are left out and counted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskengine.cohorts import OPEN, cohort_names, outcome_windows
from riskengine.features import Catalogue, compute_features_at_year_group, load_catalogue
from riskengine.model.pipeline import RULE_POINTS
from riskengine.model.spec import ModelSpec
from riskengine.outcomes import OutcomeDefinition, derive_outcomes, load_outcome_definition, year11_start
from riskengine.spec import upload as spec


@dataclass(frozen=True)
class TrainingFrame:
    """Model inputs, outcomes and cohorts of past pupils, aligned on the same `upn` index."""

    features: pd.DataFrame  # the spec's features (+ rule_points when asked for)
    outcome: pd.Series  # bool
    cohort: pd.Series  # the cohort's one name (riskengine.cohorts), e.g. "left Year 11 in summer 2023"
    audit: pd.DataFrame  # sex and ethnicity major group, for the fairness summary only
    n_without_outcome: int  # window closed, but no destination recorded in it
    n_window_open: int  # destination window not yet over by the as-of date: left out
    outcome_definition: str
    rule_set_version: str | None
    school: pd.Series | None = None  # school at the training term (which features a school supplied)
    as_of: str = ""  # the destinations extract's as-of date (ISO) that decided which cohorts count
    cohort_notices: tuple[str, ...] = ()  # cohorts left out or warned about, in words

    def split(self) -> tuple[np.ndarray, np.ndarray]:
        """Temporal validation: train on the older cohorts, validate on the newest one with outcomes."""
        cohorts = sorted(self.cohort.unique())
        if len(cohorts) < 2:
            raise ValueError(
                f"temporal validation needs at least two cohorts with outcomes; found {len(cohorts)}"
            )
        validation = (self.cohort == cohorts[-1]).to_numpy()
        return ~validation, validation

    def fingerprint(self) -> dict[str, Any]:
        """Counts and hashes that identify the data, never rows or UPNs."""
        features = pd.util.hash_pandas_object(self.features, index=False).to_numpy()
        outcome = self.outcome.to_numpy(dtype=np.uint8)
        return {
            "n_pupils": len(self.features),
            "n_positive": int(self.outcome.sum()),
            "n_without_outcome": self.n_without_outcome,
            "n_window_open": self.n_window_open,
            "pupils_per_cohort": {str(k): int(v) for k, v in self.cohort.value_counts().sort_index().items()},
            "features_sha256": hashlib.sha256(features.tobytes()).hexdigest(),
            "outcome_sha256": hashlib.sha256(outcome.tobytes()).hexdigest(),
            "outcome_definition": self.outcome_definition,
            "destinations_as_of": self.as_of,
            "cohort_notices": list(self.cohort_notices),
        }


def build_training_frame(
    pupil_terms: pd.DataFrame,
    destinations: pd.DataFrame,
    model_spec: ModelSpec,
    catalogue: Catalogue | None = None,
    rule_set: Any = None,
    definition: OutcomeDefinition | None = None,
    as_of: dt.date | str | None = None,
) -> TrainingFrame:
    """Features at the spec's year group and term for every past pupil with an outcome.

    `rule_set` is used only when the spec includes rule points (the shipped rule set when None). `as_of`
    is the destinations extract's as-of date (default today): only cohorts whose outcome window ended by
    then count (`riskengine.cohorts.outcome_windows`); the others are named in `cohort_notices`.
    """
    catalogue = catalogue or load_catalogue()
    definition = definition or load_outcome_definition()
    unknown = [f for f in model_spec.features if f not in catalogue.features]
    if unknown:
        raise ValueError(f"model spec {model_spec.name} names features not in the catalogue: {unknown}")
    at_year_group = compute_features_at_year_group(
        pupil_terms, model_spec.year_group, model_spec.term, catalogue
    )
    year11 = year11_start(pupil_terms).reindex(at_year_group.index)
    year11 = year11[year11.notna()].astype(int)
    outcome = derive_outcomes(destinations, year11, definition)["outcome"].reindex(at_year_group.index)
    windows = outcome_windows(year11, destinations, as_of, definition)
    over = windows.table.loc[windows.table["status"] != OPEN, "year11_start"]
    closed = year11.isin(over).reindex(at_year_group.index, fill_value=False)
    included = windows.included(year11).reindex(at_year_group.index, fill_value=False)
    known = (outcome.notna() & included).to_numpy()
    rows = at_year_group[known]

    inputs = rows[list(model_spec.features)]
    rule_set_version = None
    if model_spec.include_rule_points:
        rule_set, points = rule_points(rows[catalogue.names], rule_set)
        inputs = inputs.assign(**{RULE_POINTS: points})
        rule_set_version = rule_set.version
    return TrainingFrame(
        features=inputs,
        outcome=outcome[known].astype(bool),
        cohort=cohort_names(year11.reindex(rows.index)).astype(str),
        audit=_audit_attributes(pupil_terms, model_spec, rows.index),
        n_without_outcome=int((closed & outcome.isna()).sum()),
        n_window_open=int((~closed).sum()),
        outcome_definition=f"{definition.name} ({definition.fingerprint})",
        rule_set_version=rule_set_version,
        school=_school_at(pupil_terms, model_spec, rows.index),
        as_of=windows.as_of.isoformat(),
        cohort_notices=tuple(windows.notices()),
    )


def rule_points(features: pd.DataFrame, rule_set: Any = None) -> tuple[Any, pd.Series]:
    """The rule set (loaded if None) and each pupil's points, as a model input."""
    from riskengine.rules import evaluate_rules, load_rule_set

    rule_set = rule_set or load_rule_set()
    return rule_set, evaluate_rules(rule_set, features)["points"].astype("Float64")


def _school_at(pupil_terms: pd.DataFrame, model_spec: ModelSpec, upns: pd.Index) -> pd.Series:
    """Each pupil's school at the training term (to tell a feature a school never supplied from blanks)."""
    at = pupil_terms[
        (pupil_terms["ncyear"] == model_spec.year_group).fillna(False)
        & (pupil_terms["term"] == model_spec.term)
    ]
    return at.drop_duplicates("upn").set_index("upn")["school_urn"].reindex(upns).astype("string")


def _audit_attributes(pupil_terms: pd.DataFrame, model_spec: ModelSpec, upns: pd.Index) -> pd.DataFrame:
    """Sex and ethnicity major group as recorded at the training term (audit only, never model inputs)."""
    at = pupil_terms[
        (pupil_terms["ncyear"] == model_spec.year_group).fillna(False)
        & (pupil_terms["term"] == model_spec.term)
    ]
    present = [c for c in spec.AUDIT_COLUMNS if c in at.columns]
    audit = at.drop_duplicates("upn").set_index("upn")[present].reindex(upns)
    if "ethnicity" in audit:
        audit["ethnicity"] = audit["ethnicity"].map(spec.ETHNICITY_MAJOR_GROUP).astype("string")
    return audit
