"""From the store to a report: `evaluate_store`, `riskengine evaluate`, and logging to MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evaluation_data import generated_inputs
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.evaluation import evaluate_store, log_evaluation
from riskengine.spec import upload as spec
from riskengine.store import Store


def _canonical_terms(scores: pd.DataFrame, attributes: pd.DataFrame) -> pd.DataFrame:
    """Pupil-terms for every scored pupil and term, carrying the generated audit attributes."""
    keys = ["upn", "school_urn", "academic_year", "term", "ncyear"]
    frame = scores[keys].merge(attributes, on=["upn", "academic_year", "term"], how="left")
    frame = frame.assign(
        sessions_possible=150,
        sessions_authorised_absence=5,
        sessions_unauthorised_absence=2,
        suspensions=0,
        suspension_sessions=0,
        permanent_exclusion=False,
    )
    return frame.reindex(columns=list(spec.COLUMNS)).astype(spec.canonical_dtypes())


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    d = generated_inputs(3000, seed=5)
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('store') / 'riskengine.db'}")
    terms = _canonical_terms(d.scores, d.attributes)
    upload = {
        "filename": "generated.csv",
        "sha256": "0" * 64,
        "n_rows": 0,
        "n_warnings": 0,
        "uploaded_by": "test",
    }
    for (school, year, term), rows in terms.groupby(["school_urn", "academic_year", "term"]):
        store.write_pupil_terms(rows, school_urn=school, academic_year=year, term=term, upload=upload)
    store.write_destinations(d.destinations, upload={**upload, "filename": "destinations.csv"})
    for (year, term), rows in d.scores.groupby(["academic_year", "term"]):
        run = {
            "academic_year": year,
            "term": term,
            "rule_set_version": "rules-test",
            "feature_version": "f-test",
            "model_version": "model-test",
            "threshold": {"model": {"top_percent": 15}},
        }
        store.save_scores(run, rows.drop(columns=["rule_set_version", "feature_version", "model_version"]))
    return store


@pytest.mark.slow
def test_evaluate_store_reads_runs_destinations_and_attributes(store: Store, tmp_path: Path) -> None:
    result, html = evaluate_store(store, out_dir=tmp_path, mlflow=False)
    assert html.exists()
    runs = store.list_score_runs()
    assert result.run_info["scoring_runs"] == sorted(runs["id"].tolist())
    assert result.run_info["model_version"] == "model-test"
    assert "top_percent" in result.run_info["threshold"]
    groups = result.tables["audit_groups"]
    assert {"sex", "ethnicity_major_group", "fsm_eligible", "eal"} <= set(groups["attribute"])
    assert result.tables["impact"]["mean_days_neet"].notna().any()


@pytest.mark.slow
def test_cli_evaluates_a_scores_file(store: Store, tmp_path: Path) -> None:
    scores = store.read_scores(academic_year=store.list_score_runs()["academic_year"].max())
    path = tmp_path / "scores.csv"
    scores.drop(columns=["run_id"]).to_csv(path, index=False)
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        ["evaluate", "--scores", str(path), "--db", str(store.engine.url), "--out", str(out), "--no-mlflow"],
    )
    assert result.exit_code == 0, result.output
    assert "Disparities outside the band" in result.output
    payload = json.loads((out / "report.json").read_text())
    assert payload["headline"]["pupils_scored"] == scores["upn"].nunique()


@pytest.mark.slow
def test_log_evaluation_records_metrics_versions_and_report(unbiased, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from riskengine.evaluation import write_report

    write_report(unbiased, tmp_path / "report")
    uri = f"sqlite:///{tmp_path / 'report' / 'mlflow.db'}"  # even with the tracking store in the folder
    run_id = log_evaluation(unbiased, tmp_path / "report", tracking_uri=uri)
    run = MlflowClient(tracking_uri=uri).get_run(run_id)
    assert run.data.metrics["combined_roc_auc"] == pytest.approx(unbiased.headline["combined_roc_auc"])
    assert run.data.params["model_version"] == "model-test"
    assert (
        run.data.params["outcome_definition_fingerprint"]
        == unbiased.run_info["outcome_definition_fingerprint"]
    )
    artifacts = {a.path for a in MlflowClient(tracking_uri=uri).list_artifacts(run_id, "report")}
    assert {"report/report.html", "report/report.json", "report/tables"} <= artifacts
    assert not any(np.isnan(v) for v in run.data.metrics.values())
