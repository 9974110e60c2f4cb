"""The generator's rates and risk ratios match the published English figures it cites, within tolerance."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from riskengine.outcomes import derive_outcomes, year11_start
from riskengine.synth import SyntheticLA
from riskengine.synth.calibration import TARGETS, measure, realised_outcome_rate
from riskengine.synth.risk import latent_logit, risk_drivers


@pytest.fixture(scope="module")
def measured(big_la: SyntheticLA) -> dict[str, float]:
    return measure(big_la)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_measure_lies_within_the_cited_tolerance(measured: dict[str, float], name: str) -> None:
    target = TARGETS[name]
    assert target.accepts(measured[name]), (
        f"{name}: {measured[name]:.4f} outside [{target.low}, {target.high}]"
    )


def test_every_target_names_its_source_and_contains_its_published_value() -> None:
    for name, target in TARGETS.items():
        assert target.source and target.measured_as, name
        assert target.low <= target.value <= target.high, name


def test_realised_outcomes_from_destination_rows_match_the_true_probabilities(big_la: SyntheticLA) -> None:
    realised, expected, n = realised_outcome_rate(big_la)
    assert n > 5000
    assert abs(realised - expected) < 3 * np.sqrt(expected * (1 - expected) / n)


def _outcomes_and_drivers(la: SyntheticLA):
    years = year11_start(la.pupil_terms)
    complete = years[la.truth.loc[years.index, "window_complete"].to_numpy()]
    outcomes = derive_outcomes(la.destinations, complete)["outcome"].dropna().astype(bool)
    drivers = risk_drivers(la.pupil_terms).loc[outcomes.index]
    return outcomes, drivers


def test_the_truth_is_a_function_of_data_up_to_year_9_autumn(big_la: SyntheticLA) -> None:
    """Recomputing the latent risk from the published pupil-terms reproduces truth for every pupil seen
    in Year 9 autumn, so nothing unobservable drives the outcome."""
    terms = big_la.pupil_terms
    seen = terms.loc[(terms["ncyear"] == 9) & (terms["term"] == "autumn"), "upn"].unique()
    recomputed = latent_logit(risk_drivers(terms)).loc[seen]
    np.testing.assert_allclose(recomputed.to_numpy(), big_la.truth.loc[seen, "latent_logit"].to_numpy())


def test_a_logistic_model_on_the_drivers_approaches_the_best_achievable_auc(big_la: SyntheticLA) -> None:
    outcomes, drivers = _outcomes_and_drivers(big_la)
    best = roc_auc_score(outcomes, big_la.truth.loc[outcomes.index, "true_probability"])
    model = LogisticRegression(C=1.0, max_iter=2000).fit(drivers, outcomes)
    fitted = roc_auc_score(outcomes, model.predict_proba(drivers)[:, 1])
    assert 0.70 < best < 0.90  # informative, but far from perfect, as early-warning risk is
    assert abs(fitted - best) < 0.02
