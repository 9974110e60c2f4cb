"""The audit log: every read of pupils (a record, a caseload page, the API), every export, upload, problem
download and sign-in (success or failure, unknown emails included), by whom and when.

Entries are queued in memory and written in batches by a background thread (at most every
FLUSH_SECONDS, or sooner when BATCH_SIZE are waiting), each batch in its own short transaction: a request
never waits for the log, and on SQLite a log write never queues behind an upload's transaction while
holding up a read. `flush` writes what is waiting (the audit page and tests call it; the app calls it on
shutdown, and at interpreter exit it runs too).
"""

from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import sqlalchemy as sa

from riskengine.store import Store
from riskengine.web.accounts import User
from riskengine.web.tables import audit_log, users

log = logging.getLogger(__name__)
FLUSH_SECONDS = 0.5
BATCH_SIZE = 200
#: Entries kept waiting while the database refuses writes; past this the oldest are dropped, with a count.
MAX_WAITING = 100_000


class _Writer:
    """One queue and one writing thread per database engine in this process."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.waiting: list[dict] = []
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, entry: dict) -> None:
        with self.lock:
            self.waiting.append(entry)
            if len(self.waiting) > MAX_WAITING:
                dropped = len(self.waiting) - MAX_WAITING
                del self.waiting[:dropped]
                log.error("audit log: %d entries dropped; the database refused writes", dropped)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self.thread.start()
            if len(self.waiting) >= BATCH_SIZE:
                self.wake.set()

    def flush(self) -> None:
        with self.write_lock:  # one batch at a time, so entries keep their order
            with self.lock:
                batch, self.waiting = self.waiting, []
            if not batch:
                return
            try:
                with self.engine.begin() as connection:
                    connection.execute(sa.insert(audit_log), batch)
            except Exception:
                with self.lock:
                    self.waiting[:0] = batch
                raise

    def _run(self) -> None:
        failures = 0
        while True:
            self.wake.wait(FLUSH_SECONDS * min(2**failures, 120))  # back off while the database refuses
            self.wake.clear()
            try:
                self.flush()
                failures = 0
            except Exception:
                if failures == 0:
                    log.exception("audit log: writing a batch failed; keeping it and retrying")
                failures = min(failures + 1, 8)


_writers: dict[int, _Writer] = {}
_writers_lock = threading.Lock()


def _writer(store: Store) -> _Writer:
    with _writers_lock:
        writer = _writers.get(id(store.engine))
        if writer is None or writer.engine is not store.engine:
            writer = _writers[id(store.engine)] = _Writer(store.engine)
        return writer


def record(
    store: Store, user: User | None, action: str, pupil_ref: str | None = None, detail: str = ""
) -> None:
    """Queue one entry (no user: a failed sign-in for an unknown email). Pupils appear by opaque ref
    only, never by UPN."""
    _writer(store).add(
        {
            "at": datetime.now(UTC),
            "user_id": None if user is None else user.id,
            "action": action,
            "pupil_ref": pupil_ref,
            "detail": detail or None,
        }
    )


def flush(store: Store) -> None:
    """Write every queued entry for this store now."""
    _writer(store).flush()


@atexit.register
def _flush_all() -> None:
    for writer in list(_writers.values()):
        try:
            writer.flush()
        except Exception:
            log.exception("audit log: could not write the last entries at exit")


def record_refused(store: Store, user: User, ref: str) -> None:
    """Note a request for a pupil the user may not see (or that does not exist): repeated ones are
    someone guessing. The ref is kept only if it has the shape of one, so nothing typed into a URL (a UPN,
    say) reaches the log."""
    shaped = len(ref) == 24 and all(c in "0123456789abcdef" for c in ref)
    record(store, user, "pupil_refused", ref if shaped else None, "" if shaped else "malformed ref")


@dataclass(frozen=True)
class AuditFilters:
    """What the audit page asks for; all optional. Dates are inclusive, in UTC."""

    email: str | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None
    pupil_ref: str | None = None


def _where(query: sa.Select, filters: AuditFilters) -> sa.Select:
    if filters.email:
        query = query.where(users.c.email == filters.email.strip().lower())
    if filters.action:
        query = query.where(audit_log.c.action == filters.action)
    if filters.since:
        query = query.where(audit_log.c.at >= datetime.combine(filters.since, time(), tzinfo=UTC))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time(), tzinfo=UTC)
        query = query.where(audit_log.c.at < end)
    if filters.pupil_ref:
        query = query.where(audit_log.c.pupil_ref == filters.pupil_ref)
    return query


def read_audit(
    store: Store,
    limit: int = 500,
    pupil_ref: str | None = None,
    *,
    offset: int = 0,
    filters: AuditFilters | None = None,
) -> pd.DataFrame:
    """Matching entries, newest first, with the user's email and role (blank for sign-ins by unknown
    emails). Admins only, enforced by the caller."""
    flush(store)
    filters = filters or AuditFilters(pupil_ref=pupil_ref)
    query = _where(
        sa.select(
            audit_log.c.at,
            users.c.email,
            users.c.role,
            audit_log.c.action,
            audit_log.c.pupil_ref,
            audit_log.c.detail,
        ).select_from(audit_log.outerjoin(users, users.c.id == audit_log.c.user_id)),
        filters,
    )
    query = query.order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame.from_records(
        rows, columns=["at", "email", "role", "action", "pupil_ref", "detail"]
    ).astype(object)
    return frame.where(frame.notna(), None)


def count_audit(store: Store, filters: AuditFilters) -> int:
    """How many entries match (for paging)."""
    query = _where(
        sa.select(sa.func.count()).select_from(audit_log.outerjoin(users, users.c.id == audit_log.c.user_id)),
        filters,
    )
    with store.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def audit_actions(store: Store) -> list[str]:
    """The actions present in the log, for the filter's choices."""
    with store.engine.connect() as connection:
        return list(connection.execute(sa.select(audit_log.c.action).distinct().order_by("action")).scalars())
