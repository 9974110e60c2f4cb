"""Evaluation against actual destinations and the fairness audit (issues 6, 14).

`audit(frame, outcome=..., flag=..., groups=[...])` audits any flags on any DataFrame (notebook first).

`evaluate` (pure: frames in, `EvaluationResult` out) -> `write_report` (self-contained HTML, JSON, CSVs)
-> `log_evaluation` (MLflow). `evaluate_store` does all three from the store; `riskengine evaluate` wraps
it. Settings live in `evaluation/audit.yaml`, the outcome definition in `evaluation/outcome.yaml`.
"""

from riskengine.evaluation.accuracy import accuracy_table, at_capacity, calibration_summary
from riskengine.evaluation.audit_frame import AuditResult, audit
from riskengine.evaluation.disclosure import DisclosureSettings, format_count, protect
from riskengine.evaluation.evaluate import EvaluationResult, evaluate
from riskengine.evaluation.report import report_figures, write_report
from riskengine.evaluation.settings import AuditSettings, load_audit_settings
from riskengine.evaluation.tracking import log_evaluation
from riskengine.evaluation.workflow import evaluate_store, select_runs

__all__ = [
    "AuditResult",
    "AuditSettings",
    "DisclosureSettings",
    "EvaluationResult",
    "accuracy_table",
    "at_capacity",
    "audit",
    "calibration_summary",
    "evaluate",
    "evaluate_store",
    "format_count",
    "load_audit_settings",
    "log_evaluation",
    "protect",
    "report_figures",
    "select_runs",
    "write_report",
]
