"""Each role sees nothing outside its scope: schools and advisers only their schools' pupils (guessed refs
give 404), evaluators only aggregates and never a UPN, and pupil views land in the audit log."""

from __future__ import annotations

import re

import pandas as pd
import sqlalchemy as sa
from fastapi.testclient import TestClient

from riskengine.web import audit, pupils
from riskengine.web.tables import audit_log

UPN_SHAPE = re.compile(r"[A-HJ-NP-RT-Z][0-9]{11}[0-9A-Z]")


def refs_of(store, pupil_terms: pd.DataFrame, urn: str) -> list[str]:
    """Refs of pupils who were only ever at school `urn` (pupils who moved belong to both schools)."""
    at_school = (pupil_terms["school_urn"] == urn).groupby(pupil_terms["upn"]).all()
    upns = at_school[at_school].index.tolist()
    return pupils.refs_of(store, upns).tolist()


def test_caseload_lists_only_flagged_pupils_of_the_users_schools(clients, pupil_terms, schools):
    page = clients["adviser"].get("/caseload?all_pupils=1")
    assert page.status_code == 200
    shown = set(UPN_SHAPE.findall(page.text))
    own = set(pupil_terms.loc[pupil_terms["school_urn"] == schools[0], "upn"])
    assert shown and shown <= own
    flagged = clients["adviser"].get("/caseload").text
    assert "not flagged" not in flagged and set(UPN_SHAPE.findall(flagged)) <= shown


def test_caseload_filters_and_sorts(clients, schools):
    api = clients["admin"]
    rows = api.get("/api/v1/caseload", params={"flagged_only": False, "per_page": 500}).json()["pupils"]
    assert {r["school_urn"] for r in rows} == set(schools)
    high = api.get("/api/v1/caseload", params={"flagged_only": False, "band": "high", "per_page": 500}).json()
    assert high["total"] > 0 and {r["band"] for r in high["pupils"]} == {"high"}
    by_school = api.get("/api/v1/caseload", params={"flagged_only": False, "school": schools[1]}).json()
    assert {r["school_urn"] for r in by_school["pupils"]} == {schools[1]}
    year = api.get("/api/v1/caseload", params={"flagged_only": False, "ncyear": 10, "per_page": 500}).json()
    assert year["total"] > 0 and {r["ncyear"] for r in year["pupils"]} == {10}
    risks = [r["risk"] for r in rows]
    assert risks == sorted(risks, reverse=True)
    ascending = api.get(
        "/api/v1/caseload",
        params={"flagged_only": False, "sort": "risk", "descending": False, "per_page": 500},
    ).json()["pupils"]
    assert [r["risk"] for r in ascending] == sorted(risks)
    assert any(r["change"] is not None for r in rows), "the previous term's run gives a change"


def test_a_school_cannot_open_another_schools_pupils_by_guessing(clients, store, pupil_terms, schools):
    other = refs_of(store, pupil_terms, schools[0])
    own = refs_of(store, pupil_terms, schools[1])
    school_b = clients["school_b"]
    assert school_b.get(f"/pupils/{own[0]}").status_code == 200
    for ref in other[:25]:
        page = school_b.get(f"/pupils/{ref}")
        api = school_b.get(f"/api/v1/pupils/{ref}")
        assert page.status_code == api.status_code == 404
        assert not UPN_SHAPE.search(page.text) and not UPN_SHAPE.search(api.text)
    assert school_b.get("/pupils/000000000000000000000000").status_code == 404
    typed_upn = pupil_terms["upn"].iloc[0]
    assert school_b.get(f"/pupils/{typed_upn}").status_code == 404
    audit.flush(store)
    with store.engine.connect() as connection:
        refused = connection.execute(
            sa.select(audit_log.c.pupil_ref, audit_log.c.detail).where(audit_log.c.action == "pupil_refused")
        ).all()
    assert {ref for ref, _ in refused} >= set(other[:25]), "guessing is visible in the audit log"
    assert not any(typed_upn in str(row) for row in refused), "nor does a UPN typed into a URL reach it"
    assert school_b.get("/pupils/..%2F..%2Fetc").status_code == 404
    upns_b = set(pupil_terms.loc[pupil_terms["school_urn"] == schools[1], "upn"])
    assert set(UPN_SHAPE.findall(school_b.get("/caseload?all_pupils=1").text)) <= upns_b
    assert school_b.get(f"/caseload?school={schools[0]}&all_pupils=1").text.count("/pupils/") == 0


def test_a_school_cannot_write_about_another_schools_pupil(clients, store, pupil_terms, schools):
    ref = refs_of(store, pupil_terms, schools[1])[0]
    adviser = clients["adviser"]  # assigned to the first school only
    token = re.search(r'name="csrf_token" value="([^"]+)"', adviser.get("/caseload").text).group(1)
    response = adviser.post(f"/pupils/{ref}/reviews", data={"decision": "confirm", "csrf_token": token})
    assert response.status_code == 404


def test_evaluator_sees_aggregates_and_never_a_upn(clients, app, store, pupil_terms, schools):
    evaluator = clients["evaluator"]
    ref = refs_of(store, pupil_terms, schools[0])[0]
    for path in ("/caseload", f"/pupils/{ref}", "/admin/audit", "/api/v1/caseload", f"/api/v1/pupils/{ref}"):
        response = evaluator.get(path)
        assert response.status_code in (403, 404), path
        assert not UPN_SHAPE.search(response.text)
    for path in ("/evaluator", "/api/v1/evaluation", "/openapi.json"):
        response = evaluator.get(path)
        assert response.status_code == 200, path
        assert not UPN_SHAPE.search(response.text), path
    assert "rules-test-1" in evaluator.get("/evaluator").text


def test_evaluator_sees_the_report_and_fairness_tables_but_never_a_pupil(clients, app, pupil_terms):
    folder = app.state.reports_dir / "run1"
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text("<html><body><h1>AUC 0.81</h1></body></html>")
    (folder / "report.json").write_text('{"headline": {"rules_roc_auc": 0.81}}')
    groups = pd.DataFrame({"attribute": ["sex", "sex"], "group": ["F", "M"], "n": [120, 131]})
    groups.to_csv(folder / "tables" / "audit_groups.csv", index=False)
    evaluator = clients["evaluator"]
    assert "AUC 0.81" in evaluator.get("/evaluator/report").text
    assert "0.810" in evaluator.get("/evaluator").text
    fairness = evaluator.get("/evaluator/fairness")
    assert fairness.status_code == 200 and "131" in fairness.text
    upn = pupil_terms["upn"].iloc[0]
    (folder / "report.html").write_text(f"<html><body>{upn}</body></html>")
    groups.assign(group=upn).to_csv(folder / "tables" / "audit_groups.csv", index=False)
    for path in ("/evaluator/report", "/evaluator/fairness"):
        refused = evaluator.get(path)
        assert refused.status_code == 409 and not UPN_SHAPE.search(refused.text), path


def test_every_pupil_view_is_audited_and_admins_read_it(clients, store, pupil_terms, schools):
    ref = refs_of(store, pupil_terms, schools[0])[1]
    audit.flush(store)
    with store.engine.connect() as connection:
        before = connection.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one()
    clients["adviser"].get(f"/pupils/{ref}")
    clients["school_a"].get(f"/api/v1/pupils/{ref}")
    audit.flush(store)
    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(audit_log).order_by(audit_log.c.id)).all()[before:]
    assert [(r.action, r.pupil_ref) for r in rows] == [("view_pupil", ref)] * 2
    assert all(not UPN_SHAPE.search(str(r.detail or "")) for r in rows)
    log = clients["admin"].get("/admin/audit")
    assert log.status_code == 200 and ref in log.text and "adviser@example.org" in log.text
    assert clients["adviser"].get("/admin/audit").status_code == 403
    assert clients["admin"].get("/api/v1/audit", params={"pupil_ref": ref}).json()[0]["pupil_ref"] == ref


def test_anonymous_visitors_are_sent_to_sign_in(app):
    client = TestClient(app)
    assert client.get("/caseload", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/api/v1/caseload").status_code == 401
