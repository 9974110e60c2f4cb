"""Reads never write: viewing the caseload (rebuilding its cache from the scores included) and a pupil's
record issue no INSERT, UPDATE or DELETE, so on SQLite a view never queues behind an upload's write
transaction. Pupils' opaque refs are made when the pupils are uploaded; audit entries go to the journal."""

from __future__ import annotations

import re
import threading

import sqlalchemy as sa

from riskengine.web import caseload

WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.IGNORECASE)


def test_caseload_and_pupil_views_do_not_write(clients, store):
    written: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        if WRITES.match(statement) and threading.current_thread().name != "audit-writer":
            written.append(statement.split("(")[0][:60])

    caseload._cache.clear()  # the next view rebuilds the caseload from the stored runs
    caseload._views.clear()
    sa.event.listen(store.engine, "before_cursor_execute", note)
    try:
        page = clients["adviser"].get("/caseload")
        api = clients["adviser"].get("/api/v1/caseload", params={"per_page": 500}).json()
        ref = api["pupils"][0]["ref"]
        record = clients["adviser"].get(f"/pupils/{ref}")
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", note)
    assert page.status_code == 200 and record.status_code == 200
    assert api["total"] > 0 and all(row["ref"] for row in api["pupils"])
    assert written == []
