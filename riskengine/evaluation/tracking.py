"""Logging an evaluation to MLflow: the report files, the versions it judged and its headline numbers.

Only aggregates go to MLflow (the report holds no pupil rows or UPNs), so a tracking server may be
shared more widely than the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from riskengine.evaluation.disclosure import DisclosureSettings
from riskengine.evaluation.evaluate import EvaluationResult
from riskengine.evaluation.report import HTML_NAME, JSON_NAME, TABLES_DIR
from riskengine.model.tracking import default_tracking_uri, quiet_mlflow

EXPERIMENT = "riskengine-evaluation"
PARAMS = (
    "rule_set_version",
    "feature_version",
    "model_version",
    "outcome_definition_fingerprint",
    "outcome_definition_version",
    "audit_settings_fingerprint",
    "audit_settings_version",
    "evaluation_point",
    "bootstrap_reps",
)


def _artifact_location(tracking_uri: str) -> str | None:
    """Artifacts beside a SQLite tracking file (MLflow's default would be the working directory)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return (Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()


def log_evaluation(
    result: EvaluationResult,
    report_dir: str | Path,
    tracking_uri: str | None = None,
    disclosure: DisclosureSettings | None = None,
) -> str:
    """Log the report written to `report_dir` (already under disclosure control), the run's versions
    (params) and its headline metrics as published; returns the MLflow run id."""
    from mlflow import MlflowClient

    uri = tracking_uri or default_tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    info = result.run_info
    with quiet_mlflow():
        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(EXPERIMENT)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else client.create_experiment(EXPERIMENT, artifact_location=_artifact_location(uri))
        )
        window = f"{info['scoring_terms'][0]} to {info['scoring_terms'][-1]}"
        run = client.create_run(experiment_id, run_name=f"evaluation {window}")
        run_id = run.info.run_id
        params: dict[str, Any] = {key: info[key] for key in PARAMS if key in info}
        params["scoring_terms"] = window
        params["cohorts_year11"] = ", ".join(info["cohorts_year11"])
        for key, value in params.items():
            client.log_param(run_id, key, str(value)[:500])
        from riskengine.evaluation.report import published

        for key, value in published(result, disclosure).headline.items():
            if isinstance(value, int | float) and value == value:  # NaN and "fewer than 10" are no metric
                client.log_metric(run_id, key, float(value))
        # The report's own files only: the folder may hold other things (even the tracking store itself).
        folder = Path(report_dir)
        for name in (HTML_NAME, JSON_NAME):
            client.log_artifact(run_id, str(folder / name), "report")
        client.log_artifacts(run_id, str(folder / TABLES_DIR), f"report/{TABLES_DIR}")
        client.set_terminated(run_id)
    return run_id
