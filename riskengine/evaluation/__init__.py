"""Evaluation against actual destinations and the fairness audit (issue 6).

`evaluate` (pure: frames in, `EvaluationResult` out) -> `write_report` (self-contained HTML, JSON, CSVs)
-> `log_evaluation` (MLflow). `evaluate_store` does all three from the store; `riskengine evaluate` wraps
it. Settings live in `evaluation/audit.yaml`, the outcome definition in `evaluation/outcome.yaml`.
"""

from riskengine.evaluation.evaluate import EvaluationResult, evaluate
from riskengine.evaluation.report import report_figures, write_report
from riskengine.evaluation.settings import AuditSettings, load_audit_settings
from riskengine.evaluation.tracking import log_evaluation
from riskengine.evaluation.workflow import evaluate_store, select_runs

__all__ = [
    "AuditSettings",
    "EvaluationResult",
    "evaluate",
    "evaluate_store",
    "load_audit_settings",
    "log_evaluation",
    "report_figures",
    "select_runs",
    "write_report",
]
