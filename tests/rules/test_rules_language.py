"""Loading rule files: what an analyst's mistakes produce, versions and bands."""

from __future__ import annotations

import hashlib

import pytest

from riskengine.rules import RuleError, load_rule_set

GOOD = """
name: tiny
bands: {low: 0, medium: 2, high: 4}
rules:
  - id: poor_attendance
    reason: "attendance this term was {attendance_rate_term:.0%}"
    when: {attendance_rate_term: {"<": 0.9}}
    points: 2
  - id: in_care
    reason: "is looked after"
    when: {looked_after: true}
    points: 3
    always_flag: true
"""

BROKEN = {
    "yaml syntax": (GOOD.replace("points: 3\n", "points: [3\n"), None, "not valid YAML at line"),
    "unknown feature": (
        GOOD.replace("looked_after: true", "looked_afterr: true"),
        "in_care",
        "unknown feature 'looked_afterr'",
    ),
    "unknown operator": (GOOD.replace('"<": 0.9', '"=<": 0.9'), "poor_attendance", "bad operator '=<'"),
    "operator unfit for the feature": (
        GOOD.replace("looked_after: true", 'looked_after: {">": 0}'),
        "in_care",
        "bad operator '>' for looked_after",
    ),
    "duplicate id": (
        GOOD.replace("id: in_care", "id: poor_attendance"),
        "poor_attendance",
        "duplicate rule id",
    ),
    "missing points": (GOOD.replace("    points: 3\n", ""), "in_care", "missing points"),
    "bad band thresholds": (GOOD.replace("high: 4", "high: 1"), None, "bad band thresholds"),
    "unknown feature in reason": (
        GOOD.replace("{attendance_rate_term:.0%}", "{attendance:.0%}"),
        "poor_attendance",
        "{attendance}",
    ),
    "wrong kind of value": (
        GOOD.replace("looked_after: true", "looked_after: 1"),
        "in_care",
        "true or false",
    ),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_a_broken_file_is_refused_with_file_rule_and_reason(case, rule_file, catalogue):
    text, rule_id, reason = BROKEN[case]
    path = rule_file(text, name="broken.yaml")
    with pytest.raises(RuleError) as caught:
        load_rule_set(path, catalogue=catalogue)
    message = str(caught.value)
    assert str(path) in message
    assert reason in message
    assert caught.value.rule_id == rule_id
    if rule_id:
        assert f"rule {rule_id!r}" in message


def test_version_is_the_hash_of_the_file_content(rule_file, catalogue):
    path = rule_file(GOOD)
    rule_set = load_rule_set(path, catalogue=catalogue)
    assert rule_set.version == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    edited = load_rule_set(rule_file(GOOD + "# a comment\n", name="edited.yaml"), catalogue=catalogue)
    assert edited.version != rule_set.version
    assert edited.rules == rule_set.rules


def test_bands_are_read_in_order(rule_file, catalogue):
    rule_set = load_rule_set(rule_file(GOOD), catalogue=catalogue)
    assert [rule_set.band_for(p) for p in (-1, 0, 1.5, 2, 3.9, 4, 99)] == [
        "low",
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
    ]


def test_the_shipped_rule_set_loads_and_uses_only_catalogue_features(catalogue):
    rule_set = load_rule_set()
    assert rule_set.name == "default"
    assert set(rule_set.features) <= set(catalogue.names)
    assert "eal" not in rule_set.features  # not a RONI risk factor (see the file's comment)
    assert all(rule.examples for rule in rule_set.rules)
    assert all(
        any(e.fires for e in r.examples) and any(not e.fires for e in r.examples) for r in rule_set.rules
    )
