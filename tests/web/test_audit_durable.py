"""The audit log loses nothing: every audited read is on disk (the local journal) before its response is
sent, so entries survive the server being stopped (moved in at shutdown) or killed outright (moved in by
the next process to start). Runs a real uvicorn server process."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from riskengine.store import Store
from riskengine.web import audit
from riskengine.web.accounts import add_user
from riskengine.web.tables import audit_log
from tests.web.seeding import seed_store

ROOT = Path(__file__).resolve().parents[2]
EMAIL, PASSWORD = "durable@example.org", "a long enough password"
READS = 15


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('durable') / 'web.db'}"
    store = Store.open(url)
    pupil_terms = seed_store(store, pupils=30, cohorts=4, schools=2)
    add_user(store, EMAIL, PASSWORD, "adviser", sorted(pupil_terms["school_urn"].unique()))
    store.close()
    return url


def serve_and_read(
    url: str, tmp_path: Path, stop: signal.Signals, writing: sa.Connection | None = None
) -> None:
    """Start the service, sign in, view the caseload READS times, then stop it with `stop` at once.
    With `writing`, a write transaction (as an upload's) is held on the database while the pages are read."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "RISKENGINE_DB_URL": url,
        "RISKENGINE_REPORTS_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "riskengine.web.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env=env,
        start_new_session=True,  # its own process group, with the upload workers it starts
    )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    page = client.get("/login")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                    time.sleep(0.2)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            form = {"email": EMAIL, "password": PASSWORD, "csrf_token": token}
            assert client.post("/login", data=form).status_code == 303
            if writing is not None:
                writing.exec_driver_sql("BEGIN IMMEDIATE")
            for _ in range(READS):
                assert client.get("/caseload").status_code == 200
        server.send_signal(stop)  # straight after the last response
        server.wait(timeout=60)
    finally:  # a killed server leaves its upload workers behind: end the whole group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def caseload_views(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        views = connection.execute(
            sa.select(sa.func.count()).select_from(audit_log).where(audit_log.c.action == "view_caseload")
        ).scalar_one()
    engine.dispose()
    return views


@pytest.mark.slow
def test_audit_entries_are_in_the_database_after_the_server_is_stopped(database, tmp_path):
    before = caseload_views(database)
    serve_and_read(database, tmp_path, signal.SIGTERM)
    assert caseload_views(database) == before + READS  # moved in at shutdown, by the server itself


@pytest.mark.slow
def test_audit_entries_survive_the_server_being_killed(database, tmp_path):
    """The database is held by another writer throughout, so the server's log writer can move nothing in:
    the pages are still served (their audit entries wait for no database lock), then the server dies."""
    before = caseload_views(database)
    engine = sa.create_engine(database, isolation_level="AUTOCOMMIT")
    with engine.connect() as writing:
        serve_and_read(database, tmp_path, signal.SIGKILL, writing)  # no shutdown, no atexit
        writing.exec_driver_sql("ROLLBACK")
    engine.dispose()
    assert caseload_views(database) == before  # nothing reached the database
    store = Store.open(database)
    audit.flush(store)  # as the next process to start does: the dead server's journal is moved in
    assert caseload_views(database) == before + READS
    audit.flush(store)  # moving in again adds nothing
    assert caseload_views(database) == before + READS
    store.close()
    journal = Path(f"{store.engine.url.database}.audit-journal")
    assert not list(journal.glob("*.jsonl")), "every journal segment moved in and removed"


def test_entries_recorded_while_the_journal_is_moved_in_are_all_kept(tmp_path):
    """Many requests log while the writer moves the journal in over and over: every entry arrives once."""
    from concurrent.futures import ThreadPoolExecutor

    store = Store.open(f"sqlite:///{tmp_path / 'busy.db'}")

    def log_some(worker: int) -> None:
        for n in range(50):
            audit.record(store, None, "busy", detail=f"{worker}/{n}")
            if n % 10 == 0:
                audit.flush(store)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(log_some, range(8)))
    audit.flush(store)
    with store.engine.connect() as connection:
        details = connection.execute(
            sa.select(audit_log.c.detail).where(audit_log.c.action == "busy")
        ).scalars()
        assert sorted(details) == sorted(f"{w}/{n}" for w in range(8) for n in range(50))
    store.close()
