"""`riskengine synth --service` -> store -> imports -> `riskengine impact`: the report a user gets, with its
counts under disclosure control, and the synth's records importable exactly as a service's would be."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.evaluation.measures import load_measures
from riskengine.store import Store


def _seed_store(db: str, folder) -> None:
    """Store the generated terms and destinations through the store's own API (the upload path is tested
    elsewhere; validating a hundred files here would only slow the test)."""
    from riskengine.synth import generate
    from riskengine.synth.service import ServiceSpec

    la = generate(pupils=250, cohorts=10, schools=2, seed=4, service=ServiceSpec())
    store = Store.open(db)
    upload = {"filename": "t.csv", "sha256": "0" * 64, "n_rows": 0, "n_warnings": 0, "uploaded_by": "test"}
    for (urn, year, term), rows in la.pupil_terms.groupby(["school_urn", "academic_year", "term"]):
        store.write_pupil_terms(rows, school_urn=urn, academic_year=year, term=term, upload=upload)
    store.write_destinations(la.destinations, upload=upload)


@pytest.mark.slow
def test_impact_report_from_a_generated_service(tmp_path) -> None:
    runner = CliRunner()
    out = tmp_path / "synth"
    result = runner.invoke(app, ["synth", str(out), "--pupils", "250", "--cohorts", "10", "--schools", "2",
                                 "--seed", "4", "--service"])  # fmt: skip
    assert result.exit_code == 0, result.output
    truth = json.loads((out / "service_truth.json").read_text())
    assert truth["estimands"]["att_outcome"] < 0 < truth["estimands"]["att_attendance"]
    assert truth["estimands"]["att_days_neet"] <= 0  # days NEET, from both potential destination records
    db = f"sqlite:///{tmp_path / 'store.db'}"
    _seed_store(db, out)
    for kind in ("interventions", "assessments"):
        result = runner.invoke(app, [kind, "import", str(out / f"{kind}.csv"), "--db", db])
        assert result.exit_code == 0, result.output
    report = tmp_path / "report"
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = runner.invoke(app, ["impact", "--scores", str(out / "service_scores.csv"), "--boot", "30",
                                 "--tracking-uri", tracking, "--out", str(report), "--db", db])  # fmt: skip
    assert result.exit_code == 0, result.output
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking)
    runs = client.search_runs([client.get_experiment_by_name("riskengine-impact").experiment_id])
    metrics = runs[0].data.metrics
    assert "inverse_probability_weighting_outcome_estimate" in metrics
    assert "before_and_after_the_service_risk_adjusted_outcome_ci_low" in metrics
    assert "inverse_probability_weighting_days_neet_estimate" in metrics
    assert "inverse-probability weighting, outcome:" in result.output and "naive" in result.output
    html = (report / "impact.html").read_text()
    assert "Estimand:" in html and "Assumption:" in html and "there is no comparison group" in html
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")
    document = json.loads((report / "impact.json").read_text())
    days = next(e for e in document["estimates"] if e["outcome"] == "days_neet")
    assert "log scale" in days["details"]["interval"] and "on the log scale, combined (MOVER)" in html
    attendance = next(e for e in document["estimates"] if e["outcome"] == "attendance")
    assert "sandwich standard error" in attendance["details"]["interval"]
    assert "sandwich standard error" in html
    methods = {e["method"] for e in document["estimates"]}
    assert "before and after the service, risk-adjusted" in methods
    for estimate in document["estimates"]:
        assert (
            estimate["ci_low"] <= estimate["estimate"] <= estimate["ci_high"]
            or "discontinuity" in estimate["method"]
        )  # the robust interval is centred on the bias-corrected estimate
    wording = load_measures()
    shown = {column for rows in document["tables"].values() for row in rows for column in row}
    assert shown - set(wording.impact_columns) == set(), "every column is named in evaluation/measures.yaml"
    assert "<th>Mean days NEET</th>" in html and "mean_days_neet" not in html, "columns named in words"
    balance = {name for name in document["tables"] if name.startswith("balance_")}
    assert balance == {"balance_outcome", "balance_attendance", "balance_days_neet"}, "every weighting's"
    measures = pd.read_csv(report / "tables" / "measures.csv")
    counts = measures[["pupils", "with_outcome", "neet", "not_known"]].astype(str)
    small = counts.apply(lambda c: c.str.fullmatch(r"[1-9]")).to_numpy()
    assert not small.any()  # small counts are never shown as numbers
    distance = pd.read_csv(report / "tables" / "distance_travelled.csv")
    assert set(distance["scale"]) == {"control", "commitment", "challenge", "confidence", "total"}
