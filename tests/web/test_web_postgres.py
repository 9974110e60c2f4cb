"""The web service on PostgreSQL (the documented deployment): migration 0002, sign-in, caseload, a pupil
page with its audit entry, and a review, in a throwaway schema."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from riskengine.web import audit, create_app
from riskengine.web.accounts import add_user
from riskengine.web.pupils import refs_of
from riskengine.web.tables import audit_log, reviews
from tests.store.stores import _pg_store
from tests.web.conftest import csrf_of, finished_upload, sign_in
from tests.web.seeding import seed_store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def pg_store():
    yield from _pg_store()


def test_adviser_workflow_on_postgresql(pg_store, tmp_path):
    pupil_terms = seed_store(pg_store, pupils=30, cohorts=4, schools=2)
    urn = sorted(pupil_terms["school_urn"].unique())[0]
    add_user(pg_store, "adviser@example.org", "correct horse battery", "adviser", [urn])
    client = sign_in(create_app(pg_store, reports_dir=tmp_path), "adviser@example.org")
    caseload = client.get("/caseload?all_pupils=1")
    ref = re.search(r'href="/pupils/([0-9a-f]+)"', caseload.text).group(1)
    assert client.get(f"/pupils/{ref}").status_code == 200
    token = csrf_of(client, f"/pupils/{ref}")
    assert (
        client.post(
            f"/pupils/{ref}/reviews", data={"decision": "refer", "csrf_token": token}, follow_redirects=False
        ).status_code
        == 303
    )
    audit.flush(pg_store)
    with pg_store.engine.connect() as connection:
        assert connection.execute(sa.select(reviews.c.decision)).scalars().all() == ["refer"]
        logged = connection.execute(
            sa.select(audit_log.c.action, audit_log.c.pupil_ref)
            .where(audit_log.c.pupil_ref.is_not(None))
            .order_by(audit_log.c.id)
        )
        assert [tuple(row) for row in logged] == [("view_pupil", ref), ("view_pupil", ref), ("review", ref)]
    again = refs_of(pg_store, pupil_terms["upn"])  # every stored pupil has its ref, made at upload
    assert again.notna().all() and ref in set(again)


def test_an_upload_is_checked_in_a_worker_process_on_postgresql(pg_store, tmp_path):
    """The worker process opens the same database (the URL carries the test's schema) and the job row
    it writes is what the status page shows."""
    pupil_terms = seed_store(pg_store, pupils=30, cohorts=4, schools=2)
    urn = sorted(pupil_terms["school_urn"].unique())[0]
    add_user(pg_store, "dm@school.example.org", "correct horse battery", "school", [urn])
    client = sign_in(create_app(pg_store, reports_dir=tmp_path), "dm@school.example.org")
    rows = pupil_terms[(pupil_terms["school_urn"] == urn) & (pupil_terms["term"] == "spring")]
    rows = rows[rows["academic_year"] == "2026/27"].assign(term="summer")
    response = client.post(
        "/school/upload",
        data={"academic_year": "2026/27", "term": "summer", "csrf_token": csrf_of(client, "/school")},
        files={"file": ("summer.csv", rows.to_csv(index=False).encode(), "text/csv")},
        follow_redirects=False,
    )
    page = finished_upload(client, response)
    assert "stored" in page.text
    stored = pg_store.read_pupil_terms(schools=[urn])
    assert ((stored["term"] == "summer") & (stored["academic_year"] == "2026/27")).sum() == len(rows)
