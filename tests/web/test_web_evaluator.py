"""Evaluator pages: measures in words, whole numbers, fairness by attribute with details on demand, a way
back from the full report, and no count of fewer than 10 pupils on any page an evaluator can open."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "evaluation"))

from disclosure_check import html_tables, small_counts_shown

from riskengine.evaluation import write_report
from riskengine.evaluation.external import evaluate_external
from riskengine.evaluation.settings import load_audit_settings

PAGES = ("/evaluator", "/evaluator/fairness", "/evaluator/full", "/evaluator/report")
#: Count columns as the pages head them (in words).
PAGE_COUNTS = {"pupils", "flagged", "by_rule", "by_model", "by_both", "positives", "true_positives"}
PAGE_COUNTS |= {"false_positives", "pupils_scored", "no_outcome_count"}


@pytest.fixture(scope="module")
def report(app) -> Path:
    """A real report with small groups in it, newest in the reports folder."""
    rng = np.random.default_rng(3)
    n = 1500
    upn = [f"T{i:012d}" for i in range(n)]
    risk = rng.normal(-1.5, 1, n)
    p = 1 / (1 + np.exp(-(risk + rng.normal(0, 0.5, n))))
    frame = pd.DataFrame(
        {
            "upn": upn,
            "score": p,
            "flag": p >= np.quantile(p, 0.85),
            "outcome": rng.random(n) < 1 / (1 + np.exp(-risk)),
        }
    )
    attributes = pd.DataFrame(
        {
            "upn": upn,
            "sex": rng.choice(["F", "M", "U"], n, p=[0.497, 0.497, 0.006]),
            "young_carer": rng.choice([0, 1], n, p=[0.97, 0.03]),
        }
    )
    settings = load_audit_settings()
    settings = settings.__class__(
        **{
            **settings.__dict__,
            "references": {"sex": "M", "young_carer": "0"},
            "intersections": (("sex", "young_carer"),),
            "risk_factors": (),
            "titles": {"young_carer": "Young carer"},
            "bootstrap_reps": 40,
        }
    )
    result = evaluate_external({"engine": frame}, attributes=attributes, settings=settings)
    assert result.tables["audit_groups"]["pupils"].between(1, 9).any()  # there is something to protect
    return write_report(result, app.state.reports_dir / "zz-latest")


def test_overview_names_every_measure_in_words_with_whole_numbers(clients, report) -> None:
    page = clients["evaluator"].get("/evaluator").text
    assert "Ranking accuracy (ROC AUC)" in page and "Chance that a pupil who became NEET" in page
    assert "1,500" in page and "1500.0" not in page and "1,500.000" not in page
    assert 'href="/evaluator/full"' in page


def test_fairness_is_summarised_by_attribute_with_details_on_demand(clients, report) -> None:
    page = clients["evaluator"].get("/evaluator/fairness").text
    summaries = re.findall(r"<details\b.*?<summary[^>]*>(.*?)</summary>", page, re.S)
    assert len(summaries) >= 3 and "<script" not in page.lower()  # the measures, then one per attribute
    assert any("Young carer" in s and "outside the band" in s for s in summaries)
    assert "Young carer" in page and "Base rate by group" in page
    summary = page[page.index("By attribute") : page.index("</table>", page.index("By attribute"))]
    assert "sex" in summary.lower()


def test_the_full_report_has_a_way_back(clients, report) -> None:
    page = clients["evaluator"].get("/evaluator/full").text
    assert 'href="/evaluator"' in page and 'src="/evaluator/report"' in page


def test_no_page_an_evaluator_opens_shows_a_small_count(clients, report) -> None:
    for path in PAGES:
        response = clients["evaluator"].get(path)
        assert response.status_code == 200, path
        for frame in html_tables(response.text):
            counts = [c for c in frame.columns if c in PAGE_COUNTS]
            numbers = frame[counts].map(lambda c: _number(c))
            assert small_counts_shown(numbers, counts, 10) == [], path
            if {"measure", "value"} <= set(frame.columns):  # the headline: its pupil counts
                rows = frame[frame["measure"].str.startswith("Pupils")]
                assert small_counts_shown(rows.assign(value=rows["value"].map(_number)), ["value"], 10) == []


def _number(cell):
    try:
        return float(str(cell).replace(",", ""))
    except ValueError:
        return cell


def test_the_evaluation_api_shows_no_small_count(clients, report) -> None:
    payload = clients["evaluator"].get("/api/v1/evaluation").json()
    flags = pd.DataFrame(payload["flags_by_band"])
    counts = ["pupils", "flagged", "by_rule", "by_model", "by_both"]
    assert small_counts_shown(flags[counts].map(_number), counts, 10) == []
    runs = pd.DataFrame(payload["versions"])
    assert small_counts_shown(runs[["n_pupils"]].map(_number), ["n_pupils"], 10) == []
