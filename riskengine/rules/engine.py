"""The engine of record: a rule set compiled into a durable-rules ruleset, with pupils asserted as facts.

Why facts, not events: durable-rules consumes an event at the first rule it matches, so a pupil who trips
several rules would be credited with one. A fact stays in the working memory and matches every rule whose
pattern it satisfies, so every rule that holds for a pupil fires.

Fewer facts: for each rule, pupils are grouped by the pattern of that rule's own tests
(`riskengine.rules.patterns.rule_patterns`); one representative pupil's fact per distinct pattern goes
through durable-rules (a few dozen a term, each a whole pupil as it stands) and each rule's result is
broadcast to every pupil with the same pattern of that rule. Reasons are filled in from each pupil's own
values.

Safety: durable-rules' C core can crash the whole process when a state is misused, so it runs in a child
process (`durable_worker.py`, which also keeps a safe state lifecycle): a crash there, a refused rule set
or an unreadable match is a `RuleEngineError` naming the rule where one is known. A catch-all rule counts
the facts it sees, which proves that every fact went through the engine. When the branches of an `any` both
hold, durable-rules reports the rule once per branch; the fired matrix counts it once.

Missing values are left out of the fact; every test on a feature also requires the feature to exist
(`$ex`), so a comparison with a missing value is false for every operator, and `is_missing` is `$nex`.
Inside the engine, features go by short aliases (f0, f1, ...), which keeps the facts' JSON short.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskengine.rules.language import Condition, RuleSet, Test
from riskengine.rules.patterns import rule_patterns
from riskengine.rules.results import assemble_results, python_values

_ROW = "row"  # the fact's position in its frame; the marker of a pupil fact
_SEEN = "pupils-seen"  # not a valid rule id, so it cannot collide with one
_CAP = 1000
_BATCH = 2000
_MIN_FACTS_PER_JOB = 20_000
_WORKER = Path(__file__).with_name("durable_worker.py")  # run by path: imports no riskengine
_DURABLE_OPS = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}


class RuleEngineError(RuntimeError):
    """durable-rules failed, or disagreed with the cross-check; `rule_id` names the rule when known.

    The message never carries pupil data (no UPN, no row of values).
    """

    def __init__(self, message: str, rule_id: str | None = None) -> None:
        self.rule_id = rule_id
        super().__init__(f"rule {rule_id}: {message}" if rule_id else message)


def _exists(key: str) -> dict[str, Any]:
    return {"$ex": {key: 1}}


def aliases(rule_set: RuleSet) -> dict[str, str]:
    """Feature name -> the short key its values have in durable-rules facts."""
    return {name: f"f{i}" for i, name in enumerate(rule_set.features)}


def durable_expression(condition: Condition, alias: dict[str, str]) -> dict[str, Any]:
    """The durable-rules JSON pattern for a parsed condition (features named by `alias`)."""
    if not isinstance(condition, Test):
        parts = [durable_expression(part, alias) for part in condition.parts]
        return {"$and" if condition.kind == "all" else "$or": parts}
    feature, op, value = alias[condition.feature], condition.op, condition.value
    if op == "is_missing":
        return {"$nex": {feature: 1}} if value else _exists(feature)
    if op == "in":
        options = [{feature: v} for v in value]
        return {"$and": [_exists(feature), options[0] if len(options) == 1 else {"$or": options}]}
    if op == "not_in":
        return {"$and": [_exists(feature), *({"$neq": {feature: v}} for v in value)]}
    test = {feature: value} if op == "==" else {_DURABLE_OPS[op]: {feature: value}}
    return {"$and": [_exists(feature), test]}


def durable_definition(rule_set: RuleSet) -> dict[str, Any]:
    """The rule set as a durable-rules JSON ruleset: every pattern also requires a pupil fact."""
    is_pupil = _exists(_ROW)
    alias = aliases(rule_set)
    definition = {
        rule.id: {
            "all": [{"m": {"$and": [is_pupil, durable_expression(rule.condition, alias)]}}],
            "cap": _CAP,
        }
        for rule in rule_set.rules
    }
    definition[_SEEN] = {"all": [{"m": is_pupil}], "cap": _CAP}
    return definition


def _facts(rule_set: RuleSet, features: pd.DataFrame) -> list[dict[str, Any]]:
    """One dict per row with its known values only (a missing value is an absent key)."""
    alias = aliases(rule_set)
    names = list(alias.values())
    columns = [python_values(features[name]) for name in alias]
    values = zip(*columns, strict=True) if names else [()] * len(features)
    return [
        {"id": row, _ROW: row, **{n: v for n, v in zip(names, known, strict=True) if v is not None}}
        for row, known in enumerate(values)
    ]


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _start_worker(request: dict[str, Any]) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-I", str(_WORKER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # a crash report may echo facts: never shown
    )
    process.stdin.write(json.dumps(request).encode())  # type: ignore[union-attr]
    process.stdin.close()  # type: ignore[union-attr]
    return process


def _finish_worker(process: subprocess.Popen) -> dict[str, list[int]]:
    answer_bytes = process.stdout.read()  # type: ignore[union-attr]
    code = process.wait()
    if code != 0:
        how = f"crashed ({_signal_name(code)})" if code < 0 else f"ended with exit status {code}"
        raise RuleEngineError(f"the durable-rules engine process {how}; nothing was scored")
    try:
        answer = json.loads(answer_bytes)
    except ValueError:
        raise RuleEngineError("the durable-rules engine process gave no readable answer") from None
    if "error" in answer:
        rule = answer.get("rule")
        raise RuleEngineError(answer["error"], None if rule == _SEEN else rule)
    return answer["fired"]


def run_durable(
    rule_set: RuleSet, facts: list[dict[str, Any]], n_jobs: int = 1, fault: str | None = None
) -> np.ndarray:
    """facts x rules: which rules durable-rules fired for each fact (run in child processes)."""
    definition = durable_definition(rule_set)
    jobs = max(1, min(n_jobs, len(facts) // _MIN_FACTS_PER_JOB))
    bounds = np.linspace(0, len(facts), jobs + 1).astype(int)
    processes = [
        _start_worker(
            {"definition": definition, "facts": facts[a:b], "batch": _BATCH, "name": "riskengine"}
            | ({"fault": fault} if fault else {})
        )
        for a, b in itertools.pairwise(bounds)
    ]
    answers = []
    try:
        for process in processes:
            answers.append(_finish_worker(process))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    matrix = np.zeros((len(facts), len(rule_set.rules)), dtype=bool)
    seen: list[int] = []
    column = {rule.id: j for j, rule in enumerate(rule_set.rules)}
    for fired in answers:
        seen.extend(fired.pop(_SEEN))
        for rule, rows in fired.items():
            if rule not in column:
                raise RuleEngineError("durable-rules reported a rule it was not given", rule)
            matrix[np.asarray(rows, dtype=np.intp), column[rule]] = True
    if sorted(seen) != list(range(len(facts))):
        raise RuleEngineError(f"durable-rules saw {len(seen)} of {len(facts)} facts")
    return matrix


def fired_matrix_durable(
    rule_set: RuleSet, features: pd.DataFrame, broadcast: bool = True, n_jobs: int = 1
) -> np.ndarray:
    """pupils x rules: which rules durable-rules fired for each pupil.

    With `broadcast`, one fact per distinct pattern of each rule's tests (`rule_patterns`) goes through
    the engine and each rule's result is copied to every pupil with its pattern; without, one fact per
    pupil.
    """
    if not broadcast:
        return run_durable(rule_set, _facts(rule_set, features), n_jobs)
    patterns = rule_patterns(rule_set, features)
    return patterns.broadcast(run_durable(rule_set, _facts(rule_set, features.iloc[patterns.rows]), n_jobs))


def check_features(rule_set: RuleSet, features: pd.DataFrame) -> None:
    absent = [name for name in rule_set.features if name not in features.columns]
    if absent:
        raise ValueError(f"the feature frame lacks columns the rules read: {', '.join(absent)}")


def evaluate_rules(
    rule_set: RuleSet, features: pd.DataFrame, n_jobs: int = 1, broadcast: bool = True
) -> pd.DataFrame:
    """Score pupils with the rule set through durable-rules.

    `features`: one row per pupil, indexed by upn, with (at least) the features the rules read, in pandas
    nullable dtypes; `<NA>` means not known. Returns, indexed like `features`: `points` (float), `band`,
    `always_flag` (an always-flag rule fired: the band is then the top band), `fired` (rule ids in
    rule-file order) and `reasons` (their filled-in sentences). `n_jobs` > 1 splits many facts over that
    many engine processes; `broadcast=False` asserts one fact per pupil instead of one per pattern.
    Raises RuleEngineError if the engine fails.
    """
    check_features(rule_set, features)
    jobs = n_jobs if n_jobs > 0 else 2
    fired = fired_matrix_durable(rule_set, features, broadcast=broadcast, n_jobs=jobs)
    return assemble_results(rule_set, features, fired)
