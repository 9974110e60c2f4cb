"""The durable-rules engine, run in a child process: a crash in its C core becomes an error, not an abort.

durable-rules' C module (`durable_rules_engine`) frees and reuses memory by state: calling it on a state
that was deleted while matches were pending crashes the process (a segmentation fault or `free(): invalid
pointer`). This script is the only code that calls the C module. It keeps one safe order per batch of
facts: assert the batch in a new state, drain every pending match (or abandon the pending action on an
error), and only then delete the state; no state is touched after it is deleted. Running it as a separate
process (by path, so it imports nothing but the standard library and the C module) means that even a crash
we did not foresee ends this process only, and the caller reports it as a `RuleEngineError`.

Protocol: one JSON request on stdin, one JSON answer on stdout.
- request: {"definition": <durable ruleset JSON>, "facts": [{"id": k, "row": k, ...}, ...], "batch": n}
- answer: {"fired": {"<rule>": [row, ...], ...}} or {"error": "...", "rule": "<rule or null>"}
The facts carry feature values only (never a UPN), so nothing here can leak a pupil's identity.

`fault` in the request is for tests only: "delete_state_while_pending" issues the call order that used to
abort the scoring process (delete a state with matches pending, then complete the action), and
"unknown_rule" makes draining meet a match it cannot place, as a Python error while draining would.
"""

from __future__ import annotations

import json
import sys

try:
    import durable_rules_engine as engine
except ImportError:  # say so in the answer: there is no fallback to another evaluator
    json.dump(
        {"error": "durable-rules is not installed (pip install durable-rules==2.0.28; see README)"},
        sys.stdout,
    )
    sys.exit(0)

_ROW = "row"


class _Failure(Exception):
    def __init__(self, message: str, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule


def _drain(handle: int, state: int, fired: dict[str, list[int]], fault: str | None) -> None:
    """Take every pending match of one state; on any error abandon the pending action before returning."""
    started = engine.start_action_for_state(handle, state)
    matches = started[1] if started else None
    while matches:
        try:
            decoded = json.loads(matches)  # {"<rule>": [{"m": fact}, ...]}: one rule per match
            (rule, facts), *_ = decoded.items()
            if fault == "unknown_rule" or rule not in fired:
                raise _Failure(f"durable-rules reported a match for a rule it was not given: {rule}", rule)
            fired[rule].extend(int(fact["m"][_ROW]) for fact in facts)
        except _Failure:
            engine.abandon_action(handle, state)
            raise
        except Exception as error:  # a malformed match: say which rule it came from if we can
            engine.abandon_action(handle, state)
            raise _Failure(f"could not read a match from durable-rules ({type(error).__name__})") from None
        if fault == "delete_state_while_pending":
            engine.delete_state(handle, fired["__sid__"][0])  # the old, crashing order
        matches = engine.complete_and_start_action(handle, state)


def run(request: dict) -> dict:
    """Evaluate the facts against the ruleset; rows fired per rule."""
    definition = request["definition"]
    fault = request.get("fault")
    try:
        handle = engine.create_ruleset(request.get("name", "riskengine"), json.dumps(definition))
    except engine.error as error:
        return {"error": f"durable-rules refused the rule set: {error}", "rule": _refused_rule(definition)}
    fired: dict[str, list[int]] = {rule: [] for rule in definition}
    facts, size = request["facts"], int(request.get("batch", 2000))
    try:
        for number, start in enumerate(range(0, len(facts), size)):
            sid = f"b{number}"
            batch = facts[start : start + size]
            for fact in batch:
                fact["sid"] = sid
            code, state = engine.assert_facts(handle, json.dumps(batch))
            if code != 0:  # 1: a fact matched nothing (impossible: the catch-all), 2: a repeated fact
                engine.delete_state(handle, sid)
                return {"error": f"durable-rules could not take a batch of {len(batch)} facts (code {code})"}
            if fault:
                fired["__sid__"] = [sid]  # type: ignore[list-item]
            try:
                _drain(handle, state, fired, fault)
            finally:
                engine.delete_state(handle, sid)  # after draining or abandoning: nothing is pending
    except _Failure as failure:
        return {"error": str(failure), "rule": failure.rule}
    except engine.error as error:  # carries an error code only, never pupil data
        return {"error": f"durable-rules failed: {error}"}
    finally:
        fired.pop("__sid__", None)
    engine.delete_ruleset(handle)
    return {"fired": fired}


def _refused_rule(definition: dict) -> str | None:
    """The first rule durable-rules refuses on its own, to name it in the error."""
    for number, (rule, pattern) in enumerate(definition.items()):
        try:
            engine.delete_ruleset(engine.create_ruleset(f"probe{number}", json.dumps({rule: pattern})))
        except engine.error:
            return rule
    return None


def main() -> None:
    answer = run(json.load(sys.stdin))
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
