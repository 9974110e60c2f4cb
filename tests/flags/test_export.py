"""Exports of scored pupils (issue 10): CSV and XLSX, highest risk first, in words, safe in a spreadsheet."""

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.flags import export_run, export_scores, export_table, score_frame
from riskengine.store import Store
from riskengine.upload import problems as upload_problems

YEAR, TERM = "2026/27", "autumn"
UPLOAD = {"filename": "synthetic.csv", "sha256": "0" * 64, "mapping": "canonical", "mapping_sha256": None,
          "n_rows": 0, "n_warnings": 0, "uploaded_by": "test"}  # fmt: skip


@pytest.fixture(scope="module")
def scored(small_la, trained):
    return score_frame(small_la.pupil_terms, YEAR, TERM, model=trained.model)


def _read(path):
    if path.suffix == ".csv":
        return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    return pd.read_excel(path, dtype=str, keep_default_na=False)


def test_every_scored_pupil_highest_risk_first_with_reasons_in_words(scored):
    table = export_table(scored)
    assert len(table) == len(scored) and set(table["UPN"]) == set(scored["upn"])
    risk = table["Model risk (%)"].to_numpy(float)
    assert (np.diff(risk) <= 0).all()  # highest risk first
    assert risk[0] == pytest.approx(100 * scored["probability"].max(), abs=0.05)
    for heading in ("School URN", "Year group", "Rule points", "Rule band", "Flagged", "Flagged by",
                    "Rules fired", "Rule reasons", "Reasons raising risk"):  # fmt: skip
        assert heading in table.columns
    top = scored.loc[scored["probability"].idxmax()]
    assert table["Reasons raising risk"].iloc[0] == "; ".join(top["reasons_up"])
    assert set(table["Flagged"]) <= {"yes", "no"}
    assert set(table["Flagged by"].dropna()) <= {"rules", "model", "rules and model"}
    # the scores carry "what would change it" ({"text": ...}): exported as its words
    expected = top["what_would_change"]["text"] if top["what_would_change"] else None
    assert table["What would change it"].iloc[0] == expected
    # fired rules by their titles, not ids
    titles = scored.attrs["run"]["settings"]["rule_titles"]
    fired = scored[scored["fired"].map(len) > 0].sort_values("probability", ascending=False).iloc[0]
    row = table[table["UPN"] == fired["upn"]].iloc[0]
    assert row["Rules fired"] == "; ".join(titles.get(i, i) for i in fired["fired"])


def test_flagged_only(scored):
    table = export_table(scored, flagged_only=True)
    assert len(table) == int(scored["flag"].sum()) > 0 and (table["Flagged"] == "yes").all()


def test_what_would_change_it_only_when_the_scores_carry_it(scored):
    change = pd.Series([{"text": "attendance of 95% or more"}] * len(scored), index=scored.index)
    table = export_table(scored.assign(what_would_change=change))
    assert (table["What would change it"] == "attendance of 95% or more").all()
    none = pd.Series([None] * len(scored), index=scored.index, dtype=object)
    assert "What would change it" not in export_table(scored.assign(what_would_change=none)).columns


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_files_round_trip_and_neutralise_formulas(scored, tmp_path, suffix):
    hostile = scored.copy()
    first = hostile["probability"].idxmax()
    hostile.at[first, "flag_reason"] = '=HYPERLINK("http://example.invalid","click")'
    hostile.at[first, "reasons_up"] = ["+44 1234", "@SUM(A1)"]
    path = export_scores(hostile, tmp_path / f"scores{suffix}")
    back = _read(path)
    assert len(back) == len(scored) and list(back.columns) == list(export_table(scored).columns)
    assert back["Why flagged"].iloc[0] == "'" + hostile.at[first, "flag_reason"]
    assert back["Reasons raising risk"].iloc[0] == "'+44 1234; @SUM(A1)"
    cells = back.to_numpy().ravel()
    assert not any(str(c).startswith(("=", "+", "-", "@")) for c in cells)


def test_xlsx_has_a_frozen_header_filters_and_readable_widths(scored, tmp_path):
    path = export_scores(scored, tmp_path / "scores.xlsx", flagged_only=True)
    sheet = openpyxl.load_workbook(path).active
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == sheet.dimensions
    widths = [sheet.column_dimensions[c[0].column_letter].width for c in sheet.iter_cols()]
    assert min(widths) >= 8 and max(widths) <= 60
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)  # no formula at all


def test_problem_reports_share_the_neutralisation():
    result = upload_problems.UploadResult(
        "rejected",
        "file.csv",
        "0" * 64,
        errors=upload_problems.problems([2], ["upn"], ["=1+1 is not a UPN"], ["=cmd"]),
    )
    text = result.errors_csv()
    assert ",'=1+1 is not a UPN" in text and ",'=cmd," in text


def test_export_needs_a_run_or_a_term(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with pytest.raises(ValueError, match="run id"):
        export_run(store, tmp_path / "x.csv")
    with pytest.raises(LookupError, match="no scores"):
        export_run(store, tmp_path / "x.csv", academic_year=YEAR, term=TERM)


def test_score_out_and_export_commands(small_la, tmp_path, monkeypatch):
    monkeypatch.setenv("RISKENGINE_HOME", str(tmp_path))
    monkeypatch.delenv("RISKENGINE_DB_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store = Store.open()
    pt = small_la.pupil_terms
    recent = pt[(pt["academic_year"] >= "2025/26").to_numpy(bool)]
    for (school, year, term), rows in recent.groupby(["school_urn", "academic_year", "term"]):
        store.write_pupil_terms(rows, school_urn=school, academic_year=year, term=term, upload=UPLOAD)
    runner = CliRunner()

    bad = runner.invoke(app, ["score", "--year", YEAR, "--term", TERM, "--model", "none", "--out", "x.pdf"])
    assert bad.exit_code != 0 and store.list_score_runs().empty  # refused before scoring

    out = tmp_path / "flags.xlsx"
    args = ["score", "--year", YEAR, "--term", TERM, "--model", "none", "--out", str(out), "--flagged-only"]
    scored = runner.invoke(app, args)
    assert scored.exit_code == 0, scored.output
    scores = store.read_scores()
    n_flagged = int(scores["flag"].sum())
    assert f"Wrote {n_flagged} flagged pupils" in scored.output
    assert len(_read(out)) == n_flagged

    run_id = int(scores["run_id"].iloc[0])
    every = runner.invoke(app, ["export", str(tmp_path / "all.csv"), "--run", str(run_id)])
    assert every.exit_code == 0, every.output
    assert f"Wrote {len(scores)} scored pupils of run {run_id} ({TERM} {YEAR})" in every.output
    table = _read(tmp_path / "all.csv")
    assert len(table) == len(scores)
    points = table["Rule points"].astype(float).to_numpy()
    assert (np.diff(points) <= 0).all()  # rules only: highest points first
    assert "What would change it" not in table.columns

    by_term = runner.invoke(app, ["export", str(tmp_path / "f.csv"), "--year", YEAR, "--term", TERM,
                                  "--flagged-only"])  # fmt: skip
    assert by_term.exit_code == 0 and len(_read(tmp_path / "f.csv")) == n_flagged
    missing = runner.invoke(app, ["export", str(tmp_path / "g.csv"), "--run", "999"])
    assert missing.exit_code == 1 and "no scores found for run 999" in missing.output
