"""The issue-5 commands end to end in a fresh home: train -> promote -> score -> explain."""

import os

import pandas as pd
import pytest
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.flags import score_term
from riskengine.model import RiskModel, load_model
from riskengine.store import Store
from riskengine.synth import generate
from tests.model.test_light_imports import cli_imports

UPLOAD = {"filename": "synthetic.csv", "sha256": "0" * 64, "mapping": "canonical", "mapping_sha256": None,
          "n_rows": 0, "n_warnings": 0, "uploaded_by": "test"}  # fmt: skip


@pytest.mark.slow
def test_train_promote_score_explain(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKENGINE_HOME", str(tmp_path))
    monkeypatch.delenv("RISKENGINE_DB_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    la = generate(pupils=250, cohorts=10, schools=2, seed=9)
    store = Store.open()
    for (school, year, term), rows in la.pupil_terms.groupby(["school_urn", "academic_year", "term"]):
        store.write_pupil_terms(rows, school_urn=school, academic_year=year, term=term, upload=UPLOAD)
    store.write_destinations(la.destinations, upload={**UPLOAD, "mapping": "canonical"})
    runner = CliRunner()

    rules_only = runner.invoke(app, ["score", "--year", "2026/27", "--term", "autumn"])
    assert rules_only.exit_code == 0, rules_only.output
    assert "none (rules only)" in rules_only.output

    trained = runner.invoke(app, ["train"])
    assert trained.exit_code == 0, trained.output
    assert "Registered riskengine-neet version 1" in trained.output and "ECE" in trained.output
    assert "INFO" not in trained.output and "Successfully registered" not in trained.output

    promoted = runner.invoke(app, ["promote", "1"])
    assert promoted.exit_code == 0 and "@champion" in promoted.output
    unknown = runner.invoke(app, ["promote", "99"])
    assert unknown.exit_code == 1 and "Error:" in unknown.output

    # a fresh process, as an adviser runs it: the champion's numbers, no heavy library; the same scores
    fresh = cli_imports(["score", "--year", "2026/27", "--term", "autumn"], dict(os.environ))
    assert fresh["exit"] == 0 and "riskengine-neet/1 (@champion)" in fresh["output"]
    assert fresh["loaded"] == [], f"score imported {fresh['loaded']}"
    champion = load_model()  # the skops model itself
    assert isinstance(champion.model, RiskModel)
    through_skops, _ = score_term(Store.open(), "2026/27", "autumn", model=champion)
    columns = ["upn", "probability", "flag", "flag_reason", "reasons_up", "contributions", "details"]
    pd.testing.assert_frame_equal(
        Store.open().read_scores(run_id=fresh["run"])[columns],
        Store.open().read_scores(run_id=through_skops)[columns],
        check_exact=True,
    )

    scored = runner.invoke(app, ["score", "--year", "2026/27", "--term", "autumn", "--top-n", "20"])
    assert scored.exit_code == 0, scored.output
    assert "riskengine-neet/1 (@champion)" in scored.output and "the 20 pupils" in scored.output
    scores = Store.open().read_scores()
    upn = scores.loc[scores["flag_source"].isin(["model", "both"]).to_numpy(bool), "upn"].iloc[0]
    assert upn not in scored.output  # run summaries never name pupils

    explained = runner.invoke(app, ["explain", upn])
    assert explained.exit_code == 0, explained.output
    assert "Model risk:" in explained.output and "flagged by model" in explained.output
    missing = runner.invoke(app, ["explain", "Z000000000000"])
    assert missing.exit_code == 1
