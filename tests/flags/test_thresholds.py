import numpy as np
import pytest

from riskengine.flags import as_threshold, model_flags


@pytest.fixture
def probability():
    return np.random.default_rng(0).random(1000)


def test_top_n_flags_exactly_n_highest(probability):
    flags, record = model_flags(probability, as_threshold({"top_n": 25}))
    assert flags.sum() == 25
    assert probability[flags].min() >= probability[~flags].max()
    assert record["kind"] == "top_n" and record["n_model_flagged"] == 25
    assert record["probability_cutoff"] == pytest.approx(np.sort(probability)[-25])


def test_top_percent_rounds_up_to_whole_pupils(probability):
    flags, record = model_flags(probability[:999], as_threshold({"top_percent": 10}))
    assert flags.sum() == 100  # 99.9 -> 100
    assert record["n_scored"] == 999


def test_probability_cut_off_flags_everyone_at_or_above_it(probability):
    flags, record = model_flags(probability, as_threshold({"probability": 0.9}))
    assert np.array_equal(flags, probability >= 0.9)
    assert record["description"] == "every pupil with a risk of 90% or more"


def test_ties_at_the_boundary_still_give_the_stated_caseload():
    flags, _ = model_flags(np.array([0.5, 0.5, 0.5, 0.1]), as_threshold({"top_n": 2}))
    assert flags.sum() == 2


def test_more_capacity_than_pupils_flags_everyone():
    flags, record = model_flags(np.array([0.2, 0.3]), as_threshold({"top_n": 10}))
    assert flags.all() and record["n_model_flagged"] == 2
