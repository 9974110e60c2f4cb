"""The durable-rules engine: every matching rule fires, missing values never match, results are complete."""

from __future__ import annotations

import pandas as pd
import pytest

from riskengine.rules import evaluate_rules, evaluate_rules_vectorised, load_rule_set
from riskengine.rules.simulate import random_features

# Twelve rules that one pupil trips together; durable-rules *events* would credit only the first.
MANY = "name: many\nbands: {low: 0, high: 10}\nrules:\n" + "".join(
    f"""
  - id: rule_{i:02d}
    reason: "attendance {{attendance_rate_term:.0%}} is below {limit:.0%}"
    when: {{attendance_rate_term: {{"<": {limit}}}}}
    points: {i}
"""
    for i, limit in enumerate(
        [0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.91, 0.90, 0.85, 0.80], start=1
    )
)

EVERY_OPERATOR = """
name: operators
bands: {low: 0}
rules:
  - {id: eq, reason: "r", when: {school_moves: 2}, points: 1}
  - {id: ne, reason: "r", when: {school_moves: {"!=": 2}}, points: 1}
  - {id: lt, reason: "r", when: {school_moves: {"<": 2}}, points: 1}
  - {id: le, reason: "r", when: {school_moves: {"<=": 2}}, points: 1}
  - {id: gt, reason: "r", when: {school_moves: {">": 2}}, points: 1}
  - {id: ge, reason: "r", when: {school_moves: {">=": 2}}, points: 1}
  - {id: in, reason: "r", when: {sen_provision: {in: [K, E]}}, points: 1}
  - {id: not_in, reason: "r", when: {sen_provision: {not_in: [K, E]}}, points: 1}
  - {id: flag_false, reason: "r", when: {fsm_eligible: false}, points: 1}
  - {id: missing, reason: "r", when: {school_moves: {is_missing: true}}, points: 1}
  - {id: known, reason: "r", when: {school_moves: {is_missing: false}}, points: 1}
  - {id: either, reason: "r", when: {any: [{school_moves: {">": 5}}, {fsm_eligible: true}]}, points: 1}
"""


def test_a_pupil_who_trips_many_rules_gets_all_of_them(rule_file, pupils, catalogue):
    rule_set = load_rule_set(rule_file(MANY), catalogue=catalogue)
    results = evaluate_rules(rule_set, pupils({"attendance_rate_term": 0.5}, {"attendance_rate_term": 0.935}))
    assert results.loc["example-0", "fired"] == rule_set.rule_ids
    assert results.loc["example-0", "points"] == sum(range(1, 13))
    assert results.loc["example-0", "reasons"][-1] == "attendance 50% is below 80%"
    assert results.loc["example-1", "fired"] == [
        "rule_01",
        "rule_02",
        "rule_03",
        "rule_04",
        "rule_05",
        "rule_06",
    ]


def test_the_default_set_fires_every_factor_a_pupil_has(pupils):
    rule_set = load_rule_set()
    pupil = {
        "attendance_rate_term": 0.6,
        "severe_absence": True,
        "attendance_change_prev_term": -0.2,
        "suspensions_year": 1,
        "suspensions_ever": 4,
        "permanent_exclusion_ever": True,
        "alternative_provision": True,
        "looked_after": False,
        "looked_after_ever": True,
        "child_in_need": True,
        "youth_justice": True,
        "young_carer": True,
        "sen_provision": "E",
        "sen_primary_need": "SEMH",
        "fsm_eligible": True,
        "school_moves": 4,
        "ks2_reading_scaled": 90,
    }
    result = evaluate_rules(rule_set, pupils(pupil)).iloc[0]
    expected = set(rule_set.rule_ids) - {
        "attendance_85_to_90",  # attendance bands are exclusive
        "attendance_80_to_85",
        "suspended_before",  # suspended this year instead
        "looked_after",  # previously looked after instead
        "sen_support",  # EHC plan instead
    }
    assert result["fired"] == [r for r in rule_set.rule_ids if r in expected]
    assert result["always_flag"] and result["band"] == "high"
    assert len(result["reasons"]) == len(expected)


def test_a_test_on_a_missing_value_is_false_whatever_the_operator(rule_file, pupils, catalogue):
    rule_set = load_rule_set(rule_file(EVERY_OPERATOR), catalogue=catalogue)
    frame = pupils({}, {"school_moves": 2, "sen_provision": "N", "fsm_eligible": True})
    results = evaluate_rules(rule_set, frame)
    assert results.loc["example-0", "fired"] == ["missing"]
    assert results.loc["example-1", "fired"] == ["eq", "le", "ge", "not_in", "known", "either"]
    pd.testing.assert_frame_equal(results, evaluate_rules_vectorised(rule_set, frame))


def test_a_reason_shows_a_missing_value_as_not_known(pupils):
    rule_set = load_rule_set()
    result = evaluate_rules(rule_set, pupils({"ks2_maths_scaled": 93})).iloc[0]
    assert result["fired"] == ["ks2_below_expected", "ks2_well_below_expected"]
    assert "reading not known, maths 93" in result["reasons"][0]


def test_pupils_who_fire_the_same_rules_each_get_lists_of_their_own(pupils):
    results = evaluate_rules_vectorised(
        load_rule_set(), pupils({"attendance_rate_term": 0.5}, {"attendance_rate_term": 0.5})
    )
    for column in ("fired", "reasons"):
        first, second = results[column]
        assert first == second != []
        first.append("edited in a notebook")  # editing one pupil's list leaves the other's alone
        assert "edited in a notebook" not in second


@pytest.mark.slow
def test_results_are_the_same_in_two_processes_and_on_a_second_run(catalogue):
    rule_set = load_rule_set()
    features = random_features(12_000, seed=7, catalogue=catalogue)
    once = evaluate_rules(rule_set, features)
    pd.testing.assert_frame_equal(evaluate_rules(rule_set, features, n_jobs=2), once)
    pd.testing.assert_frame_equal(evaluate_rules(rule_set, features), once)
    assert list(once.columns) == ["points", "band", "always_flag", "fired", "reasons"]
    assert once.index.equals(features.index)


def test_a_frame_without_a_feature_the_rules_read_is_refused(pupils):
    with pytest.raises(ValueError, match="attendance_rate_term"):
        evaluate_rules(load_rule_set(), pupils({}).drop(columns="attendance_rate_term"))
