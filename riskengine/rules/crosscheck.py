"""Every scoring run's rules, evaluated twice: durable-rules (the engine of record) and the vectorised masks.

durable-rules is a final, unmaintained release driven through its C module; if it ever dropped or added
firings, nothing else would notice. So each run also computes the fired matrix with the independent
vectorised evaluator, on every pupil (not on the pattern representatives), and any difference stops the run
before anything is stored. The error names the rule and one example pupil by school and an opaque
reference supplied by the caller, never by UPN.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from riskengine.rules import engine
from riskengine.rules.engine import RuleEngineError
from riskengine.rules.language import RuleSet
from riskengine.rules.results import assemble_results
from riskengine.rules.vectorised import fired_matrix_vectorised

#: Describes the pupil at a row of the feature frame for an error message (school and opaque reference).
Describe = Callable[[int], str]


class RuleDisagreement(RuleEngineError):
    """durable-rules and the vectorised evaluator fired a rule for different pupils."""


def _by_position(row: int) -> str:
    return f"the pupil at position {row + 1} of the scored pupils"


def check_agreement(
    rule_set: RuleSet, durable: np.ndarray, vectorised: np.ndarray, describe: Describe = _by_position
) -> None:
    """Raise RuleDisagreement for the first rule whose firings differ between the two fired matrices."""
    differs = durable != vectorised
    if not differs.any():
        return
    rule = int(np.flatnonzero(differs.any(axis=0))[0])
    rows = np.flatnonzero(differs[:, rule])
    example = int(rows[0])
    said = "fired" if durable[example, rule] else "did not fire"
    raise RuleDisagreement(
        f"durable-rules and the vectorised cross-check disagree for {len(rows)} pupil(s), for example "
        f"{describe(example)} (durable-rules {said}); the run was stopped and nothing was stored",
        rule_set.rules[rule].id,
    )


def evaluate_rules_checked(
    rule_set: RuleSet,
    features: pd.DataFrame,
    describe: Describe = _by_position,
    n_jobs: int = 1,
    broadcast: bool = True,
) -> pd.DataFrame:
    """Rule results from durable-rules (as `evaluate_rules`), after checking them against the vectorised
    evaluator; RuleDisagreement (a RuleEngineError) if they differ anywhere."""
    engine.check_features(rule_set, features)
    durable = engine.fired_matrix_durable(rule_set, features, broadcast=broadcast, n_jobs=n_jobs)
    check_agreement(rule_set, durable, fired_matrix_vectorised(rule_set, features), describe)
    return assemble_results(rule_set, features, durable)
