"""The engine of record (durable-rules) against an independent vectorised evaluation of the same rules."""

from __future__ import annotations

import pandas as pd
import pytest

from riskengine.rules import evaluate_rules, evaluate_rules_vectorised, load_rule_set
from riskengine.rules.simulate import random_features


@pytest.mark.slow
@pytest.mark.parametrize("broadcast", [True, False], ids=["one-fact-per-pattern", "one-fact-per-pupil"])
def test_durable_rules_and_vectorised_agree_on_50000_generated_pupils(catalogue, broadcast):
    rule_set = load_rule_set()
    features = random_features(50_000, seed=4, catalogue=catalogue, missing=0.08)
    durable = evaluate_rules(rule_set, features, broadcast=broadcast)
    vectorised = evaluate_rules_vectorised(rule_set, features)
    assert durable["fired"].tolist() == vectorised["fired"].tolist()
    assert durable["points"].tolist() == vectorised["points"].tolist()
    pd.testing.assert_frame_equal(durable, vectorised)
    # the comparison means something only if every rule fires for some pupils and not for others
    fired_somewhere = {rule for fired in durable["fired"] for rule in fired}
    assert fired_somewhere == set(rule_set.rule_ids)
    assert durable["fired"].str.len().max() >= 6
