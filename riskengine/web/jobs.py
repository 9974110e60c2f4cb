"""Uploads validated off the event loop, in a separate process, with their outcome kept in the database.

Validating a termly file is CPU-bound pandas/pandera work (a thread would still hold the GIL), so each web
worker owns a small process pool (started with the app's lifespan, or on first use). A request only checks
who is asking and what they claim, stores a `upload_jobs` row and hands the bytes to the pool; the page
then refreshes itself until the row says done. The job row holds a bounded problem report (the first
`problems.max_listed` problems plus counts by kind), so any web worker can show it or serve its CSV.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import secrets
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa

from riskengine.store import Store
from riskengine.web.limits import load_limits
from riskengine.web.tables import audit_log, upload_jobs

log = logging.getLogger(__name__)
PENDING = ("queued", "running")


@dataclass(frozen=True)
class JobRequest:
    """What one upload asks for, checked in the request before the job is queued."""

    user_id: int
    user_email: str
    school_urn: str
    academic_year: str
    term: str
    filename: str
    mapping: str | None


def create_job(store: Store, request: JobRequest) -> str:
    """A new queued job's id: random, so a status URL cannot be guessed."""
    job_id = secrets.token_hex(16)
    with store.engine.begin() as connection:
        connection.execute(
            sa.insert(upload_jobs).values(
                id=job_id,
                user_id=request.user_id,
                school_urn=request.school_urn,
                academic_year=request.academic_year,
                term=request.term,
                filename=request.filename[:255],
                mapping=request.mapping,
                state="queued",
                created_at=datetime.now(UTC),
            )
        )
    return job_id


def read_job(store: Store, job_id: str) -> dict[str, Any] | None:
    """The job row as a dict, or None. A job left pending past `uploads.stale_after_minutes` (its process
    died) reads as failed, so a page never refreshes forever."""
    with store.engine.connect() as connection:
        row = connection.execute(sa.select(upload_jobs).where(upload_jobs.c.id == job_id)).mappings().first()
    if row is None:
        return None
    job = dict(row)
    created = job["created_at"] if job["created_at"].tzinfo else job["created_at"].replace(tzinfo=UTC)
    stale = timedelta(minutes=load_limits().uploads.stale_after_minutes)
    if job["state"] in PENDING and datetime.now(UTC) - created > stale:
        job.update(state="failed", summary="the check did not finish; please upload the file again")
    return job


def job_problems(job: dict[str, Any]) -> pd.DataFrame:
    """The stored problems (errors then warnings, each with its severity), as a frame."""
    columns = ["severity", "row", "column", "file_column", "message"]
    frame = pd.DataFrame.from_records(job.get("problems") or [], columns=columns)
    return frame.astype({"row": "Int64"})


def problems_csv(job: dict[str, Any]) -> str:
    buffer = io.StringIO()
    job_problems(job).to_csv(buffer, index=False)
    return buffer.getvalue()


# --- in the worker process ------------------------------------------------------------------------------

_stores: dict[str, Store] = {}


def _store(url: str) -> Store:
    """One engine per database per worker process (the parent has already migrated the schema)."""
    if url not in _stores:
        _stores[url] = Store.open(url, migrate=False)
    return _stores[url]


#: Validation is background work: its processes yield the CPU to the web worker's requests.
WORKER_NICENESS = 10


def _worker_start() -> None:
    """Runs once in each new pool process: lower its scheduling priority (POSIX; elsewhere a no-op)."""
    import os

    if hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)


def warm() -> int:
    """Import the upload stack in a fresh worker, so the first real upload does not pay for it."""
    import riskengine.upload  # noqa: F401

    return multiprocessing.current_process().pid or 0


def run_job(url: str, job_id: str, data: bytes, request: JobRequest) -> str:
    """Validate and (if clean) store one file, then record the outcome on the job row and in the audit
    log. Runs in a pool process; returns the final state. Problem text stays in the database only."""
    from riskengine.upload import upload_bytes
    from riskengine.upload.problems import bounded

    store = _store(url)
    with store.engine.begin() as connection:
        connection.execute(sa.update(upload_jobs).where(upload_jobs.c.id == job_id).values(state="running"))
    values: dict[str, Any]
    try:
        result = upload_bytes(
            store,
            data,
            request.filename,
            request.school_urn,
            request.academic_year,
            request.term,
            mapping=request.mapping,
            uploaded_by=request.user_email,
        )
    except ValueError as error:  # the request itself was wrong (checked again here, as the CLI does)
        values = {"state": "done", "status": "rejected", "summary": str(error), "n_errors": 1}
    except Exception:
        log.exception("upload job %s failed", job_id)  # the traceback carries no cell values
        values = {"state": "failed", "summary": "the file could not be checked; please try again"}
    else:
        listed, counts = bounded(result.problems_frame(), load_limits().problems.max_listed)
        values = {
            "state": "done",
            "status": result.status,
            "summary": result.summary(),
            "upload_id": result.upload_id,
            "counts": {k: int(v) for k, v in result.counts.items()},
            "n_errors": len(result.errors),
            "n_warnings": len(result.warnings),
            "problems": _json_records(listed),
            "problem_counts": _json_records(counts),
        }
    now = datetime.now(UTC)
    with store.engine.begin() as connection:
        connection.execute(
            sa.update(upload_jobs).where(upload_jobs.c.id == job_id).values(**values, finished_at=now)
        )
        connection.execute(
            sa.insert(audit_log).values(
                at=now,
                user_id=request.user_id,
                action="upload",
                detail=f"{request.school_urn} {request.academic_year} {request.term}: "
                f"{values.get('status') or values['state']}",
            )
        )
    return values["state"]


def _json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    import json

    return json.loads(frame.to_json(orient="records"))


# --- in the web process ---------------------------------------------------------------------------------


class UploadJobs:
    """The web worker's process pool for uploads (spawned, never forked from a threaded server)."""

    def __init__(self, store: Store, workers: int | None = None) -> None:
        self.store = store
        self.url = store.engine.url.render_as_string(hide_password=False)
        self.workers = workers or load_limits().uploads.workers
        self._pool: ProcessPoolExecutor | None = None
        self._running: set[asyncio.Future] = set()

    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=context, initializer=_worker_start
            )
        return self._pool

    def warm(self) -> None:
        """Start the worker processes now (at app start) rather than on the first upload."""
        for _ in range(self.workers):
            self.pool().submit(warm)

    async def submit(self, job_id: str, data: bytes, request: JobRequest) -> None:
        """Hand the job to the pool and return at once; a crash in the pool marks the job failed."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool(), run_job, self.url, job_id, data, request)
        self._running.add(future)

        def done(fut: asyncio.Future) -> None:
            self._running.discard(fut)
            if fut.cancelled() or fut.exception() is not None:
                log.error("upload job %s did not complete in its worker process", job_id)
                if isinstance(fut.exception(), BrokenProcessPool):  # a worker died (out of memory, say):
                    self._pool = None  # the next upload starts a fresh pool
                with self.store.engine.begin() as connection:
                    connection.execute(
                        sa.update(upload_jobs)
                        .where(upload_jobs.c.id == job_id, upload_jobs.c.state.in_(PENDING))
                        .values(state="failed", summary="the file could not be checked; please try again")
                    )

        future.add_done_callback(done)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=False)
            self._pool = None
