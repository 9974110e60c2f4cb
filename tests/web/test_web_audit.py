"""The audit log is complete (caseload pages, API reads, uploads and problem downloads, not only pupil
records) and the admin can page through it and filter it by user, action and date, with no `nan` links."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from riskengine.web import audit
from riskengine.web.tables import audit_log
from tests.web.conftest import csrf_of, finished_upload


def actions_since(store, before: int) -> list[tuple[str, str | None]]:
    audit.flush(store)
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(audit_log.c.action, audit_log.c.detail)
            .where(audit_log.c.id > before)
            .order_by(audit_log.c.id)
        ).all()
    return [tuple(r) for r in rows]


def last_id(store) -> int:
    audit.flush(store)
    with store.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.coalesce(sa.func.max(audit_log.c.id), 0))).scalar_one()


def test_caseload_api_upload_and_problem_download_are_all_logged(clients, store):
    before = last_id(store)
    adviser, school = clients["adviser"], clients["school_a"]
    adviser.get("/caseload")
    adviser.get("/api/v1/caseload", params={"per_page": 500})
    bad = b"upn,ncyear\nNOT-A-UPN,9\n"
    page = finished_upload(
        school,
        school.post(
            "/school/upload",
            data={"academic_year": "2026/27", "term": "autumn", "csrf_token": csrf_of(school, "/school")},
            files={"file": ("bad.csv", bad, "text/csv")},
            follow_redirects=False,
        ),
    )
    link = re.search(r'href="(/school/uploads/[^"]+/problems\.csv)"', page.text).group(1)
    assert school.get(link).status_code == 200
    logged = actions_since(store, before)
    actions = [action for action, _ in logged]
    assert actions.count("view_caseload") == 2 and "upload" in actions and "download_problems" in actions
    assert any(action == "view_caseload" and detail.startswith("api") for action, detail in logged)
    assert not any("NOT-A-UPN" in (detail or "") for _, detail in logged), "no cell values in the log"


def test_the_audit_page_pages_and_filters(clients, store, users):
    admin = clients["admin"]
    old = datetime.now(UTC) - timedelta(days=40)
    with store.engine.begin() as connection:  # plenty of history, some of it old, some with no user
        connection.execute(
            sa.insert(audit_log),
            [
                {"at": old, "user_id": None, "action": "sign_in_failed", "detail": f"old {n}"}
                for n in range(250)
            ],
        )
    page = admin.get("/admin/audit")
    assert "nan" not in page.text and 'href="/pupils/None"' not in page.text
    assert "page 1 of" in page.text and 'rel="next"' in page.text
    second = admin.get("/admin/audit?page=2")
    assert second.status_code == 200 and 'rel="prev"' in second.text
    today = datetime.now(UTC).date().isoformat()
    recent = admin.get(f"/admin/audit?since={today}&action=sign_in_failed").text
    assert "old 1" not in recent
    dated = admin.get(f"/admin/audit?until={(old.date()).isoformat()}&action=sign_in_failed").text
    assert "old 1" in dated and "(no such user)" in dated
    mine = admin.get("/admin/audit", params={"user": users["adviser"]}).text
    emails = set(re.findall(r"<td[^>]*>([^<@]+@[^<]+)</td>", mine))
    assert emails == {users["adviser"]}
