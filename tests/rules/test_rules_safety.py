"""durable-rules cannot fail silently or take the process down: crashes, engine errors and disagreements
all end as a RuleEngineError naming the rule where there is one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskengine.rules import RuleDisagreement, RuleEngineError, evaluate_rules, load_rule_set
from riskengine.rules import engine as rules_engine
from riskengine.rules.crosscheck import evaluate_rules_checked
from riskengine.rules.patterns import distinct_patterns, rule_patterns
from riskengine.rules.simulate import random_features


@pytest.fixture(scope="module")
def rule_set():
    return load_rule_set()


@pytest.fixture(scope="module")
def features(catalogue):
    return random_features(3_000, seed=21, catalogue=catalogue)


def test_the_sequence_that_aborted_the_process_now_ends_in_a_clear_error(rule_set, features):
    # Deleting a state while matches are pending and then completing the action crashed the process
    # (exit 134/139). The engine now runs in a child process, so the same calls end in an error here.
    facts = rules_engine._facts(rule_set, features.iloc[:2_500])
    with pytest.raises(RuleEngineError, match="crashed") as caught:
        rules_engine.run_durable(rule_set, facts, fault="delete_state_while_pending")
    assert "nothing was scored" in str(caught.value)
    # ... and this process carries on: the next evaluation works and matches the vectorised one
    assert evaluate_rules(rule_set, features)["fired"].str.len().sum() > 0


def test_an_error_while_draining_matches_names_the_rule(rule_set, features):
    facts = rules_engine._facts(rule_set, features.iloc[:100])
    with pytest.raises(RuleEngineError) as caught:
        rules_engine.run_durable(rule_set, facts, fault="unknown_rule")
    assert caught.value.rule_id is not None
    assert f"rule {caught.value.rule_id}:" in str(caught.value)
    assert not isinstance(caught.value, KeyError)


def test_patterns_are_far_fewer_than_pupils_and_decide_the_rules(rule_set, catalogue):
    features = random_features(20_000, seed=3, catalogue=catalogue)
    patterns = distinct_patterns(rule_set, features)
    assert patterns.count < len(features) / 2
    # pupils sharing a pattern fire the same rules (the vectorised evaluator, on every pupil, says so)
    from riskengine.rules.vectorised import fired_matrix_vectorised

    fired = fired_matrix_vectorised(rule_set, features)
    np.testing.assert_array_equal(fired, fired[patterns.representatives][patterns.inverse])


def test_each_rule_is_decided_by_the_pattern_of_its_own_tests(rule_set, catalogue):
    features = random_features(20_000, seed=4, catalogue=catalogue)
    patterns = rule_patterns(rule_set, features)
    # durable-rules sees far fewer facts than there are patterns of all the features together
    assert patterns.count < distinct_patterns(rule_set, features).count / 10
    from riskengine.rules.vectorised import fired_matrix_vectorised

    fired = fired_matrix_vectorised(rule_set, features)
    np.testing.assert_array_equal(patterns.broadcast(fired[patterns.rows]), fired)


def test_reasons_use_each_pupils_own_values_under_broadcast(rule_set, pupils):
    two = pupils({"attendance_rate_term": 0.61}, {"attendance_rate_term": 0.72})  # one pattern
    assert distinct_patterns(rule_set, two).count == 1
    results = evaluate_rules(rule_set, two)
    assert results["reasons"].iloc[0] == ["attendance this term was 61%, below 80%"]
    assert results["reasons"].iloc[1] == ["attendance this term was 72%, below 80%"]


def test_a_planted_disagreement_names_the_rule_and_no_pupil_identifier(rule_set, features, monkeypatch):
    real = rules_engine.fired_matrix_durable

    def drops_one_rule(*args, **kwargs):  # as if durable-rules lost every match of one rule
        fired = real(*args, **kwargs)
        fired[:, rule_set.rule_ids.index("free_school_meals")] = False
        return fired

    monkeypatch.setattr(rules_engine, "fired_matrix_durable", drops_one_rule)
    with pytest.raises(RuleDisagreement) as caught:
        evaluate_rules_checked(rule_set, features, describe=lambda row: f"pupil number {row}")
    error = caught.value
    assert error.rule_id == "free_school_meals" and "rule free_school_meals:" in str(error)
    assert "pupil number" in str(error) and "durable-rules did not fire" in str(error)
    assert not any(upn in str(error) for upn in features.index)


@pytest.mark.slow
def test_checked_evaluation_equals_durable_without_broadcast(rule_set, catalogue):
    features = random_features(20_000, seed=8, catalogue=catalogue)
    pd.testing.assert_frame_equal(
        evaluate_rules_checked(rule_set, features), evaluate_rules(rule_set, features, broadcast=False)
    )


def test_the_pinned_durable_rules_is_installed_and_its_c_core_loads():
    # no fallback: without the compiled engine, scoring cannot run, and this test fails the build
    import importlib.metadata
    import subprocess
    import sys

    assert importlib.metadata.version("durable_rules") == "2.0.28"
    subprocess.run([sys.executable, "-c", "import durable_rules_engine"], check=True)
