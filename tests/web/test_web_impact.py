"""Advisers record interventions (typed, with status changes as new events) and assessments on the pupil
page; evaluators read the latest impact report's figures on /evaluator/impact, and nobody else can."""

from __future__ import annotations

import json
import re

import pandas as pd
import sqlalchemy as sa

from riskengine.impact.assess import ImpactResult
from riskengine.impact.estimate import Estimate
from riskengine.impact.report import write_impact_report
from riskengine.web.tables import interventions
from tests.web.conftest import csrf_of, table_rows


def _ref(client) -> str:
    return re.search(r'href="/pupils/([0-9a-f]+)"', client.get("/caseload").text).group(1)


def test_adviser_records_typed_interventions_status_changes_and_assessments(clients, store):
    adviser = clients["adviser"]
    ref = _ref(adviser)
    token = csrf_of(adviser, f"/pupils/{ref}")
    unknown = adviser.post(
        f"/pupils/{ref}/interventions",
        data={"kind": "astrology", "started_on": "2027-01-11", "csrf_token": token},
    )
    assert unknown.status_code == 422 and "Mentoring" in unknown.text
    adviser.post(
        f"/pupils/{ref}/interventions",
        data={"kind": "family work", "started_on": "2027-01-11", "status": "active", "csrf_token": token},
    )
    page = adviser.get(f"/pupils/{ref}").text
    intervention_id = re.search(r'name="intervention_id" value="([^"]+)"', page).group(1)
    adviser.post(
        f"/pupils/{ref}/interventions",
        data={"kind": "Family work", "started_on": "2027-01-11", "status": "completed",
              "ended_on": "2027-04-01", "qualification": "entry_level", "intervention_id": intervention_id,
              "csrf_token": token},
    )  # fmt: skip
    with store.engine.connect() as connection:
        events = pd.read_sql(
            sa.select(interventions).where(interventions.c.intervention_id == intervention_id), connection
        )
    assert events["status"].tolist() == ["active", "completed"], "the change is a new event, the first kept"
    page = adviser.get(f"/pupils/{ref}").text
    assert [row[:2] for row in table_rows(page, "intervention")] == [["Family work", "completed"]]
    scores = {"control": "3", "commitment": "4", "challenge": "5", "confidence": "2"}
    for stage, day, bump in (("pre", "2027-01-11", 0), ("post", "2027-04-01", 2)):
        response = adviser.post(
            f"/pupils/{ref}/assessments",
            data={"instrument": "resilience_4c", "date": day, "stage": stage, "csrf_token": token,
                  **{k: str(int(v) + bump) for k, v in scores.items()}},
            follow_redirects=False,
        )  # fmt: skip
        assert response.status_code == 303
    out_of_range = adviser.post(
        f"/pupils/{ref}/assessments",
        data={"instrument": "resilience_4c", "date": "2027-04-02", "stage": "post", "csrf_token": token,
              **scores, "control": "11"},
    )  # fmt: skip
    assert out_of_range.status_code == 422 and "There is a problem" in out_of_range.text
    field = r'<input class="govuk-input[^"]*" id="assessment-resilience_4c-challenge"[^>]*>'
    kept = re.search(field, out_of_range.text)
    assert kept and 'value="5"' in kept.group(0), "the failed form keeps what was typed"
    page = adviser.get(f"/pupils/{ref}").text
    assert len(table_rows(page, "assessment")) == 2
    assert table_rows(page, "change")[0][:3] == ["control", "3.0", "5.0"]
    assert "not available" in page and "no reliable-change test" in page


def test_impact_page_shows_the_latest_report_to_evaluators_only(app, clients):
    estimate = Estimate(
        method="doubly robust weighting", outcome="outcome", estimand="the effect on the supported (ATT)",
        assumption="no unmeasured confounding", estimate=-0.04, ci_low=-0.09, ci_high=0.01, naive=0.05,
        naive_label="supported minus unsupported", n_supported=7, n_compared=340,
        details={"interval": "normal bootstrap (refitted replicates)"},
    )  # fmt: skip
    measures = pd.DataFrame(
        {
            "group": ["supported", "not supported"],
            "pupils": [7, 340],
            "with_outcome": [7, 300],
            "neet": [3, 20],
        }
    )
    result = ImpactResult(run_info={"pupils": 347, "supported": 7}, estimates=[estimate])
    result.tables["measures"] = measures
    write_impact_report(result, app.state.reports_dir / "impact-2027")
    document = json.loads((app.state.reports_dir / "impact-2027" / "impact.json").read_text())
    assert document["estimates"][0]["n_supported"] == "fewer than 10"
    page = clients["evaluator"].get("/evaluator/impact")
    assert page.status_code == 200
    assert "the effect on the supported (ATT)" in page.text and "-0.040 (-0.090 to +0.010)" in page.text
    assert "Interval: normal bootstrap (refitted replicates)" in page.text
    assert ">With a destination</th>" in page.text and "with_outcome" not in page.text, "columns in words"
    assert "Pupils whose destination after Year 11 is recorded." in page.text, "each with its definition"
    assert "fewer than 10" in page.text and ">7<" not in page.text and ">3<" not in page.text
    assert clients["adviser"].get("/evaluator/impact", follow_redirects=False).status_code in (403, 404)
