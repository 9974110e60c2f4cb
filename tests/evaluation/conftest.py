"""Shared generated inputs and their evaluations (computed once per session: evaluating takes seconds)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from evaluation_data import DEFINITION, EvaluationInputs, generated_inputs

from riskengine.evaluation import EvaluationResult, evaluate

PUPILS = 15_000
#: The documented bias: 60% of Black pupils' positive outcomes are recorded as EET.
UNDER_RECORDED = ("ethnicity", "BAFR", 0.6)


@pytest.fixture(scope="session")
def unbiased_inputs() -> EvaluationInputs:
    return generated_inputs(PUPILS, seed=11)


@pytest.fixture(scope="session")
def unbiased(unbiased_inputs: EvaluationInputs) -> EvaluationResult:
    d = unbiased_inputs
    return evaluate(d.scores, d.outcomes, d.attributes, destinations=d.destinations, definition=DEFINITION)


@pytest.fixture(scope="session")
def biased() -> EvaluationResult:
    d = generated_inputs(PUPILS, seed=12, under_record=UNDER_RECORDED)
    return evaluate(d.scores, d.outcomes, d.attributes, destinations=d.destinations, definition=DEFINITION)
