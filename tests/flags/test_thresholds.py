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


def test_capacity_applies_within_each_year_group_and_records_each_cut_off(probability):
    years = np.repeat([9, 10, 11], [500, 300, 200])
    shifted = probability + (years - 9) * 0.5  # older pupils all score higher: one line would take only them
    flags, record = model_flags(shifted, as_threshold({"top_percent": 10}), years)
    assert [flags[years == y].sum() for y in (9, 10, 11)] == [50, 30, 20]
    by_year = record["by_year_group"]
    for year in (9, 10, 11):
        rows = years == year
        assert by_year[str(year)]["probability_cutoff"] == pytest.approx(shifted[rows & flags].min())
        assert by_year[str(year)]["n_scored"] == rows.sum()
    # top N is shared across year groups in proportion to their pupils
    flags, record = model_flags(shifted, as_threshold({"top_n": 99}), years)
    # 49.5, 29.7, 19.8: whole pupils by largest remainder
    assert [flags[years == y].sum() for y in (9, 10, 11)] == [49, 30, 20] and flags.sum() == 99
    assert record["applied"] == "within each year group"
