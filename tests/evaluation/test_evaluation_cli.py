"""`riskengine evaluate` as a user runs it: default options on demo-like stores, other tools' files, and
nothing in any file it writes that shows a small count or lets one be worked out by subtraction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from disclosure_check import recoverable_in_report, scan_report
from evaluation_data import generated_inputs
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.cohorts import cohort_name
from riskengine.evaluation import evaluate_store
from riskengine.evaluation.disclosure import DisclosureSettings
from riskengine.spec import upload as spec
from riskengine.store import Store

THRESHOLD = DisclosureSettings.load().threshold
UPLOAD = {
    "filename": "generated.csv",
    "sha256": "0" * 64,
    "n_rows": 0,
    "n_warnings": 0,
    "uploaded_by": "test",
}


def _store(path: Path, pupils: int, seed: int, without_outcomes: int | None) -> Store:
    """Runs for every term of Years 10 and 11 of two cohorts; `without_outcomes`: a cohort (start year of
    Year 11) whose destinations are not in yet."""
    d = generated_inputs(pupils, seed=seed)
    scores = pd.concat([d.scores.assign(term=term) for term in spec.TERMS], ignore_index=True)
    attributes = pd.concat([d.attributes.assign(term=term) for term in spec.TERMS], ignore_index=True)
    keys = ["upn", "school_urn", "academic_year", "term", "ncyear"]
    terms = (
        scores[keys]
        .merge(attributes, on=["upn", "academic_year", "term"], how="left")
        .assign(
            sessions_possible=150,
            sessions_authorised_absence=5,
            sessions_unauthorised_absence=2,
            suspensions=0,
            suspension_sessions=0,
            permanent_exclusion=False,
        )
        .reindex(columns=list(spec.COLUMNS))
        .astype(spec.canonical_dtypes())
    )
    store = Store.open(f"sqlite:///{path}")
    for (school, year, term), rows in terms.groupby(["school_urn", "academic_year", "term"]):
        store.write_pupil_terms(rows, school_urn=school, academic_year=year, term=term, upload=UPLOAD)
    destinations = d.destinations
    if without_outcomes is not None:
        cohort_of = scores.drop_duplicates("upn").set_index("upn")
        start = cohort_of["academic_year"].str.slice(0, 4).astype(int) + 11 - cohort_of["ncyear"].astype(int)
        gone = start[start == without_outcomes].index
        destinations = destinations[~destinations["upn"].isin(gone)]
    store.write_destinations(destinations, upload={**UPLOAD, "filename": "destinations.csv"})
    for (year, term), rows in scores.groupby(["academic_year", "term"]):
        run = {
            "academic_year": year,
            "term": term,
            "rule_set_version": "r",
            "feature_version": "f",
            "model_version": "m",
            "threshold": {"model": {"top_percent": 15}},
        }
        store.save_scores(run, rows.drop(columns=["rule_set_version", "feature_version", "model_version"]))
    return store


def _evaluate(db: str, out: Path, *extra: str) -> str:
    result = CliRunner().invoke(app, ["evaluate", "--db", db, "--out", str(out), "--no-mlflow", *extra])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
@pytest.mark.parametrize("without_outcomes", [None, 2023])
def test_defaults_on_many_terms_and_cohorts_with_and_without_outcomes(
    tmp_path: Path, without_outcomes
) -> None:
    store = _store(tmp_path / "riskengine.db", 2500, seed=21, without_outcomes=without_outcomes)
    output = _evaluate(str(store.engine.url), tmp_path / "report")
    assert "pupils have an outcome" in output
    payload = json.loads((tmp_path / "report" / "report.json").read_text())
    info = payload["run_info"]
    assert len(info["scoring_terms"]) == 9  # three terms of three academic years, latest run of each
    impact = pd.DataFrame(payload["tables"]["impact"])
    html = (tmp_path / "report" / "report.html").read_text()
    if without_outcomes is None:
        assert info["cohorts_without_outcomes"] == []
        assert (impact["status"] != "no destinations yet").all()
    else:
        assert info["cohorts_without_outcomes"] == [cohort_name(without_outcomes)]
        assert info["cohorts_with_outcomes"] == [cohort_name(without_outcomes - 1)]
        waiting = impact[impact["cohort"] == cohort_name(without_outcomes)]
        assert len(waiting)
        assert (waiting["status"] == "no destinations yet").all()
        assert waiting[["neet_rate", "not_known_rate"]].isna().all().all()
        assert f"no destinations yet for: {cohort_name(without_outcomes)}" in html
    assert scan_report(tmp_path / "report", THRESHOLD) == []


@pytest.mark.slow
def test_nothing_written_shows_a_small_count_or_lets_one_be_derived(tmp_path: Path) -> None:
    # Few pupils, so plenty of groups and cells fall under the threshold.
    store = _store(tmp_path / "riskengine.db", 700, seed=22, without_outcomes=None)
    result, _ = evaluate_store(store, out_dir=tmp_path / "report", mlflow=False)
    raw_small = result.tables["audit_groups"]["pupils"].between(1, THRESHOLD - 1)
    assert raw_small.any()  # the test means something: there were small cells to protect
    assert scan_report(tmp_path / "report", THRESHOLD) == []
    assert recoverable_in_report(result.tables, tmp_path / "report", THRESHOLD) == []


@pytest.mark.slow
def test_a_two_column_csv_of_another_tools_flags_gives_a_full_report(tmp_path: Path) -> None:
    store = _store(tmp_path / "riskengine.db", 2500, seed=23, without_outcomes=None)
    scores = store.read_scores(academic_year="2023/24", term="autumn")
    roni = pd.DataFrame({"UPN": scores["upn"], "RONI": np.where(scores["points"] >= 6, "Y", "N")})
    roni.to_csv(tmp_path / "roni.csv", index=False)
    output = _evaluate(
        str(store.engine.url),
        tmp_path / "report",
        "--scores",
        str(tmp_path / "roni.csv"),
        "--upn-column",
        "UPN",
        "--flag-column",
        "RONI",
    )
    assert "ROC AUC roni" in output
    payload = json.loads((tmp_path / "report" / "report.json").read_text())
    assert {"counts", "accuracy", "audit_groups", "disparities"} <= set(payload["tables"])
    accuracy = pd.DataFrame(payload["tables"]["accuracy"])
    assert accuracy["precision"].notna().all() and accuracy["ranked_by"].eq("flag only").all()
    assert {"sex", "fsm_eligible"} <= set(pd.DataFrame(payload["tables"]["audit_groups"])["attribute"])
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Lead time" not in html and "Rule-set version" not in html  # pupil-term parts absent
    assert scan_report(tmp_path / "report", THRESHOLD) == []


def test_scorers_compared_on_the_same_pupils_without_a_store(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 3000
    risk = rng.normal(-1.5, 1, n)
    y = rng.random(n) < 1 / (1 + np.exp(-risk))
    upn = [f"T{i:012d}" for i in range(n)]
    good = pd.DataFrame(
        {"upn": upn, "p": 1 / (1 + np.exp(-(risk + rng.normal(0, 0.3, n)))), "neet": y.astype(int)}
    )
    weak = pd.DataFrame({"upn": upn[::-1], "score": (risk + rng.normal(0, 2, n))[::-1]})
    good.to_csv(tmp_path / "engine.csv", index=False)
    weak.to_csv(tmp_path / "other.csv", index=False)
    _evaluate(
        f"sqlite:///{tmp_path / 'empty.db'}",
        tmp_path / "report",
        "--scores",
        str(tmp_path / "engine.csv"),
        "--scores",
        str(tmp_path / "other.csv"),
        "--columns",
        str(_yaml(tmp_path)),
    )
    comparison = pd.read_csv(tmp_path / "report" / "tables" / "comparison.csv")
    row = comparison.iloc[0]
    assert (row["scorer"], row["compared_with"]) == ("engine", "other")
    assert row["difference_low"] > 0  # the better scorer is found better, with a paired interval
    assert row["difference_low"] < row["difference"] < row["difference_high"]


def _yaml(folder: Path) -> Path:
    path = folder / "columns.yaml"
    path.write_text("files:\n  engine.csv: {score: p, outcome: neet}\n  other.csv: {score: score}\n")
    return path


@pytest.mark.slow
def test_defaults_right_after_the_demo(tmp_path: Path, monkeypatch) -> None:
    """The README's next step after `riskengine demo`: once crashed with "unhashable type: 'Series'"."""
    monkeypatch.chdir(tmp_path)
    made = CliRunner().invoke(app, ["demo", "riskengine-demo"])
    assert made.exit_code == 0, made.output
    output = _evaluate("sqlite:///riskengine-demo/riskengine.db", tmp_path / "report")
    assert "Disparities outside the band" in output
    payload = json.loads((tmp_path / "report" / "report.json").read_text())
    assert len(payload["run_info"]["scoring_terms"]) >= 10
    assert scan_report(tmp_path / "report", THRESHOLD) == []
    assert scan_report(tmp_path / "riskengine-demo" / "evaluation", THRESHOLD) == []
