"""`riskengine rules check`: the examples written in a rule file are its tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.paths import data_path
from riskengine.rules import check_rule_set

FAILING = """
name: wrong
bands: {low: 0, high: 2}
rules:
  - id: suspended
    reason: "suspended {suspensions_year} times"
    when: {suspensions_year: {">=": 1}}
    points: 2
    examples:
      - pupil: {suspensions_year: 1}
        fires: true
      - pupil: {suspensions_year: 3}
        fires: false
examples:
  - name: suspended pupil
    pupil: {suspensions_year: 2}
    points: 2
    band: low
"""


def test_every_shipped_rule_set_passes_its_examples():
    shipped = sorted(str(p) for p in Path(data_path("rules", "default.yaml")).parent.glob("*.yaml"))
    result = CliRunner().invoke(app, ["rules", "check", *shipped])
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    assert "examples passed" in result.output


def test_a_failing_example_fails_the_check(rule_file):
    path = rule_file(FAILING)
    report = check_rule_set(path)
    assert not report.passed
    assert [(f.rule_id, f.expected) for f in report.failures] == [
        ("suspended", "fires=False"),
        (None, "points=2.0, band=low"),
    ]
    result = CliRunner().invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 1
    assert "FAIL  rule suspended: expected fires=False, got fires=True" in result.output
    assert "1 of 3 examples passed" in result.output


def test_an_invalid_rule_file_fails_the_check(rule_file):
    path = rule_file(FAILING.replace("suspensions_year: {", "suspensions: {"))
    result = CliRunner().invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 1
    assert "unknown feature 'suspensions'" in result.output


UNTITLED = """
name: untitled
bands: {low: 0, high: 2}
rules:
  - id: suspended
    reason: "suspended {suspensions_year} times"
    when: {suspensions_year: {">=": 1}}
    points: 2
    examples:
      - pupil: {suspensions_year: 1}
        fires: true
"""


def test_a_rule_without_a_title_fails_the_check_and_a_bad_title_is_refused(tmp_path):
    from riskengine.rules import RuleError, load_rule_set

    path = tmp_path / "untitled.yaml"
    path.write_text(UNTITLED)
    result = CliRunner().invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 1 and "rule suspended: no title" in result.output
    titled = tmp_path / "titled.yaml"
    titled.write_text(UNTITLED.replace("  - id: suspended\n", '  - id: suspended\n    title: "Suspended"\n'))
    assert check_rule_set(titled).passed
    assert load_rule_set(titled).titles == {"suspended": "Suspended"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(UNTITLED.replace("  - id: suspended\n", "  - id: suspended\n    title: 3\n"))
    with pytest.raises(RuleError, match="title"):
        load_rule_set(bad)
