"""Declarative Risk-of-NEET rule sets (rules/*.yaml), evaluated through durable-rules.

`load_rule_set` reads and checks a rule file; `evaluate_rules` scores a feature frame through durable-rules
(the engine of record); `evaluate_rules_vectorised` is an independent pandas implementation, and
`evaluate_rules_checked` (what scoring runs) uses durable-rules and stops on any disagreement with it;
`check_rule_set` runs the example pupils written into a rule file.
"""

from riskengine.rules.check import CheckReport, ExampleResult, check_rule_set
from riskengine.rules.crosscheck import RuleDisagreement, evaluate_rules_checked
from riskengine.rules.engine import RuleEngineError, evaluate_rules
from riskengine.rules.language import Example, Rule, RuleError, RuleSet, load_rule_set
from riskengine.rules.results import RESULT_COLUMNS
from riskengine.rules.vectorised import evaluate_rules_vectorised

__all__ = [
    "RESULT_COLUMNS",
    "CheckReport",
    "Example",
    "ExampleResult",
    "Rule",
    "RuleDisagreement",
    "RuleEngineError",
    "RuleError",
    "RuleSet",
    "check_rule_set",
    "evaluate_rules",
    "evaluate_rules_checked",
    "evaluate_rules_vectorised",
    "load_rule_set",
]
