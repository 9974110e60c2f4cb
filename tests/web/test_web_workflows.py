"""The adviser's and the school's workflows through the pages: reviews and interventions kept as history,
uploads with a validation report, a downloadable problems CSV and an unchanged store after a bad file."""

from __future__ import annotations

import io
import re

import pandas as pd
import sqlalchemy as sa
from fastapi.testclient import TestClient

from riskengine.store import tables as st
from riskengine.web.tables import reviews
from tests.web.conftest import PASSWORD, csrf_of, finished_job, finished_upload, table_rows


def flagged_ref(client) -> str:
    return re.search(r'href="/pupils/([0-9a-f]+)"', client.get("/caseload").text).group(1)


def counts(store) -> dict[str, int]:
    with store.engine.connect() as connection:
        return {
            t.name: connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (st.pupil_terms, st.uploads, st.pupils, st.schools)
        }


def test_pupil_page_shows_history_reasons_chart_and_versions(clients):
    adviser = clients["adviser"]
    page = adviser.get(f"/pupils/{flagged_ref(adviser)}").text
    assert "Term-by-term history" in page and "Attendance" in page and "Suspensions" in page
    assert "Rules that fired" in page and "<svg" in page and 'class="up"' in page
    assert "Attendance this term" in page, "the chart names features by their catalogue label"
    assert " pp</text>" in page and "percentage points of risk" in page  # adviser units, not log-odds
    assert "Attendance this term: " in page  # the pupil's value beside the feature
    assert "What would change it" in page and "if attendance this term were 96%" in page
    assert "rules-test-1" in page and "model-test-1" in page and "features-test-1" in page
    assert "The model flags every pupil with a risk of 30% or more (risk cut-off 30.0%)." in page
    assert "Rules flag pupils in the high band and pupils for whom an always-flag rule fires." in page


def test_reviews_and_interventions_are_appended_never_overwritten(clients, store):
    adviser = clients["adviser"]
    ref = flagged_ref(adviser)
    token = csrf_of(adviser, f"/pupils/{ref}")
    confirm = adviser.post(
        f"/pupils/{ref}/reviews", data={"decision": "confirm", "csrf_token": token}, follow_redirects=False
    )
    assert confirm.status_code == 303
    no_reason = adviser.post(f"/pupils/{ref}/reviews", data={"decision": "dismiss", "csrf_token": token})
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    adviser.post(
        f"/pupils/{ref}/reviews",
        data={"decision": "dismiss", "reason": "Attendance improved after illness", "csrf_token": token},
    )
    adviser.post(
        f"/pupils/{ref}/interventions",
        data={
            "kind": "Mentoring",
            "started_on": "2027-01-11",
            "ended_on": "2027-03-29",
            "note": "weekly",
            "csrf_token": token,
        },
    )
    backwards = adviser.post(
        f"/pupils/{ref}/interventions",
        data={"kind": "Plan", "started_on": "2027-02-01", "ended_on": "2027-01-01", "csrf_token": token},
    )
    assert backwards.status_code == 422
    page = adviser.get(f"/pupils/{ref}").text
    decisions = [row[1] for row in table_rows(page, "review")]
    assert decisions == ["dismiss", "confirm"], "newest first, the earlier decision kept"
    assert "Attendance improved after illness" in page and "Mentoring" in page and "2027-03-29" in page
    caseload = adviser.get("/caseload").text
    assert re.search(rf'/pupils/{ref}".*?<td[^>]*>dismiss</td>', caseload, re.S)
    api = adviser.get(f"/api/v1/pupils/{ref}").json()
    assert [r["decision"] for r in api["reviews"]] == ["dismiss", "confirm"]
    assert api["interventions"][0]["kind"] == "Mentoring"


def test_school_managers_and_evaluators_cannot_review(clients, store):
    school = clients["school_a"]
    ref = flagged_ref(school)
    before = pd.read_sql(sa.select(reviews), store.engine)
    response = school.post(
        f"/pupils/{ref}/reviews",
        data={"decision": "confirm", "csrf_token": csrf_of(school, f"/pupils/{ref}")},
    )
    assert response.status_code == 403
    assert "Record review" not in school.get(f"/pupils/{ref}").text
    assert len(pd.read_sql(sa.select(reviews), store.engine)) == len(before)


def next_term_file(pupil_terms: pd.DataFrame, urn: str) -> bytes:
    """The school's spring 2026/27 rows relabelled as summer: a valid new term's file."""
    rows = pupil_terms[
        (pupil_terms["school_urn"] == urn)
        & (pupil_terms["term"] == "spring")
        & (pupil_terms["academic_year"] == "2026/27")
    ].assign(term="summer")
    return rows.to_csv(index=False).encode()


def test_upload_through_the_page_is_stored_and_listed(clients, store, pupil_terms, schools):
    school = clients["school_a"]
    token = csrf_of(school, "/school")
    response = finished_upload(
        school,
        school.post(
            "/school/upload",
            data={"academic_year": "2026/27", "term": "summer", "csrf_token": token},
            files={"file": ("our-new-term.csv", next_term_file(pupil_terms, schools[0]), "text/csv")},
            follow_redirects=False,
        ),
    )
    assert response.status_code == 200, response.text
    assert "stored" in response.text
    stored = store.read_pupil_terms(schools=[schools[0]])
    assert (stored["term"] == "summer").sum() > 0
    history = school.get("/school").text
    assert "our-new-term.csv" in history
    assert "our-new-term.csv" not in clients["school_b"].get("/school").text, (
        "another school's history is private"
    )


def test_bad_upload_is_reported_and_leaves_the_store_unchanged(clients, store, pupil_terms, schools):
    school = clients["school_a"]
    frame = pd.read_csv(io.BytesIO(next_term_file(pupil_terms, schools[0])), dtype=str)
    frame.loc[frame.index[:3], "upn"] = "A12345678901X"
    frame.loc[frame.index[3], "sessions_possible"] = "-4"
    bad = frame.assign(term="autumn", academic_year="2027/28").to_csv(index=False).encode()
    before = counts(store)
    token = csrf_of(school, "/school")
    response = finished_upload(
        school,
        school.post(
            "/school/upload",
            data={"academic_year": "2027/28", "term": "autumn", "csrf_token": token},
            files={"file": ("bad.csv", bad, "text/csv")},
            follow_redirects=False,
        ),
    )
    assert "rejected" in response.text and "upn" in response.text
    assert counts(store) == before
    link = re.search(r'href="(/school/uploads/[^"]+/problems\.csv)"', response.text).group(1)
    problems = pd.read_csv(io.StringIO(school.get(link).content.decode("utf-8-sig")))
    assert {"severity", "row", "column", "message"} <= set(problems.columns)
    assert (problems["column"] == "upn").sum() >= 3 and 5 in set(problems["row"])
    assert clients["school_b"].get(link).status_code == 404, "a problems report belongs to its uploader"


def test_a_school_cannot_upload_another_schools_pupils(clients, store, pupil_terms, schools):
    school_b = clients["school_b"]
    before = counts(store)
    token = csrf_of(school_b, "/school")
    response = finished_upload(
        school_b,
        school_b.post(
            "/school/upload",
            data={
                "academic_year": "2026/27",
                "term": "summer",
                "school_urn": schools[0],
                "csrf_token": token,
            },
            files={"file": ("theirs.csv", next_term_file(pupil_terms, schools[0]), "text/csv")},
            follow_redirects=False,
        ),
    )
    assert "rejected" in response.text and counts(store) == before


def test_upload_api_reports_problems_as_json(users, schools, app):
    client = TestClient(app)
    login = client.post("/api/v1/session", json={"email": users["school_a"], "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    accepted = client.post(
        "/api/v1/uploads",
        headers=headers,
        data={"academic_year": "2026/27", "term": "summer"},
        files={"file": ("x.csv", b"upn,school_urn\nA1,1\n", "text/csv")},
    )
    body = finished_job(client, accepted, headers)
    assert body["state"] == "done" and body["status"] == "rejected" and body["errors"]
    history = client.get("/api/v1/uploads", headers=headers).json()
    assert history and {u["school_urn"] for u in history} == {schools[0]}


def test_sqlite_runs_in_wal_mode_so_pages_read_while_an_upload_writes(clients, store):
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
    adviser = clients["adviser"]
    adviser.get("/caseload")  # pupils get their refs when a run is first shown (a write); then only reads
    with store.engine.connect() as writer:  # an upload's write transaction, still open
        transaction = writer.begin()
        writer.execute(sa.delete(st.pupil_terms).where(st.pupil_terms.c.term == "spring"))
        assert adviser.get("/caseload").status_code == 200
        assert adviser.get("/school").status_code == 200
        transaction.rollback()
