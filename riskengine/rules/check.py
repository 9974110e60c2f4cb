"""Running the example pupils written into a rule file: the rule file's own tests.

Each rule's examples say whether that rule fires for a pupil; the set's examples say which rules fire and
the resulting points, band or flag. All run through the engine of record (durable-rules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from riskengine.features import load_catalogue
from riskengine.rules.engine import evaluate_rules
from riskengine.rules.language import Example, load_rule_set


@dataclass(frozen=True)
class ExampleResult:
    """One example's outcome: where it is written, what it expected and what happened."""

    rule_id: str | None  # None for a whole-set example
    name: str
    passed: bool
    expected: str
    got: str


@dataclass(frozen=True)
class CheckReport:
    path: Path
    version: str
    results: list[ExampleResult] = field(default_factory=list)
    #: What is wrong with the file apart from its examples, e.g. a rule without a title.
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and all(result.passed for result in self.results)

    @property
    def failures(self) -> list[ExampleResult]:
        return [result for result in self.results if not result.passed]

    def lines(self) -> list[str]:
        """One readable line per example, PASS or FAIL, for a terminal."""
        out = []
        for r in self.results:
            where = f"rule {r.rule_id}" if r.rule_id else "rule set"
            label = f" ({r.name})" if r.name else ""
            detail = f"expected {r.expected}" + ("" if r.passed else f", got {r.got}")
            out.append(f"{'PASS' if r.passed else 'FAIL'}  {where}{label}: {detail}")
        return out + [f"FAIL  {problem}" for problem in self.problems]


def pupil_frame(pupils: list[dict[str, Any]], catalogue: Any = None) -> pd.DataFrame:
    """A feature frame with one made-up pupil per dict: the values given, every other feature missing."""
    catalogue = catalogue or load_catalogue()
    rows = [{name: pupil.get(name) for name in catalogue.names} for pupil in pupils]
    frame = pd.DataFrame(rows, columns=catalogue.names).astype(catalogue.dtypes)
    frame.index = pd.Index([f"example-{i}" for i in range(len(pupils))], name="upn", dtype="string")
    return frame


def check_rule_set(path: str | Path | None = None, catalogue: Any = None) -> CheckReport:
    """Run every example pupil in the rule file; raises RuleError if the file itself does not load."""
    catalogue = catalogue or load_catalogue()
    rule_set = load_rule_set(path, catalogue=catalogue)
    cases = [(rule.id, e) for rule in rule_set.rules for e in rule.examples]
    cases += [(None, e) for e in rule_set.examples]
    results = evaluate_rules(rule_set, pupil_frame([e.pupil for _, e in cases], catalogue))
    report = CheckReport(
        path=rule_set.path,
        version=rule_set.version,
        problems=[
            f"rule {rule.id}: no title (flag sentences and headlines name a rule by its title)"
            for rule in rule_set.rules
            if not rule.title
        ],
    )
    for (rule_id, example), (_, result) in zip(cases, results.iterrows(), strict=True):
        report.results.append(_judge(rule_id, example, result))
    return report


def _judge(rule_id: str | None, example: Example, result: pd.Series) -> ExampleResult:
    expected: dict[str, Any] = {}
    got: dict[str, Any] = {}
    if rule_id is not None:
        expected["fires"], got["fires"] = example.fires, rule_id in result["fired"]
    if example.fired is not None:
        expected["fired"], got["fired"] = sorted(example.fired), sorted(result["fired"])
    if example.points is not None:
        expected["points"], got["points"] = float(example.points), float(result["points"])
    if example.band is not None:
        expected["band"], got["band"] = example.band, str(result["band"])
    if example.always_flag is not None:
        expected["always_flag"], got["always_flag"] = example.always_flag, bool(result["always_flag"])
    return ExampleResult(rule_id, example.name, expected == got, _describe(expected), _describe(got))


def _describe(outcome: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in outcome.items())
