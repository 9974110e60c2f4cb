"""The audit log: every read of pupils (a record, a caseload page, the API), every export, upload, problem
download and sign-in (success or failure, unknown emails included), by whom and when.

Nothing is lost when the service is stopped or killed: `record` appends the entry to a local journal file
and fsyncs it before it returns, so an entry is on disk before the response that it records is sent.
Concurrent requests share one fsync (group commit), and a request never touches the database for the log,
so on SQLite it never waits behind an upload's transaction or holds up a read. A background thread moves
the journal into the database in batches (every FLUSH_SECONDS, or sooner when BATCH_SIZE are waiting),
each batch in its own short transaction, then deletes it. Journals left by a process that was killed are
moved in by the next process to write (at the app's start-up, and on every batch after): each entry
carries a unique key, so one the dead process had already written is not written twice. `flush` moves
what is waiting now (the audit page, tests, app shutdown and interpreter exit call it).

The journal folder is RISKENGINE_AUDIT_JOURNAL/<database key> when that is set, else beside a SQLite
database file (`<file>.audit-journal`), else under the riskengine home folder. Each process writes its own
numbered segments there (`<process token>-<n>.jsonl`) and holds `<process token>.lock` (flock) while it
lives, which is how another process tells a live journal from one to move in.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import logging
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from riskengine.store import Store
from riskengine.web.accounts import User
from riskengine.web.tables import audit_log, users

log = logging.getLogger(__name__)
FLUSH_SECONDS = 0.5
BATCH_SIZE = 200
JOURNAL_ENV = "RISKENGINE_AUDIT_JOURNAL"


def journal_folder(engine: sa.Engine) -> Path:
    """Where this database's audit journal lives on this machine (see the module's docstring)."""
    url = engine.url
    key = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    if base := os.environ.get(JOURNAL_ENV):
        return Path(base) / key
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):  # dies with the process: nothing to move in later
            return Path(tempfile.mkdtemp(prefix="riskengine-audit-"))
        return Path(f"{url.database}.audit-journal")
    from riskengine.project import riskengine_home

    return riskengine_home() / "audit-journal" / key


class _Journal:
    """This process's append-only journal: one open segment at a time, every append fsynced."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.token = secrets.token_hex(8)
        self.lock_fd = os.open(folder / f"{self.token}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.fd: int | None = None
        self.number = self.sealed = self.in_segment = self.written = self.synced = 0
        self.append_lock = threading.Lock()  # held for the write only
        self.sync_lock = threading.Lock()  # one fsync at a time; those waiting may find theirs done

    def append(self, line: bytes) -> int:
        """Write one entry and return once it is on disk; returns how many the open segment holds."""
        with self.append_lock:
            if self.fd is None:
                self.number += 1
                path = self.folder / f"{self.token}-{self.number:09d}.jsonl"
                self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                _fsync_folder(self.folder)  # the new file's name is durable too
            os.write(self.fd, line)
            self.written += 1
            self.in_segment += 1
            mine, held = self.written, self.in_segment
        with self.sync_lock:
            if self.synced < mine:
                with self.append_lock:
                    fd, upto = self.fd, self.written
                os.fdatasync(fd)
                self.synced = upto
        return held

    def seal(self) -> None:
        """Close the open segment (a later append opens the next), so the writer can move it in."""
        with self.sync_lock, self.append_lock:
            if self.fd is not None:
                os.fdatasync(self.fd)
                os.close(self.fd)
                self.synced, self.fd, self.in_segment = self.written, None, 0
            self.sealed = self.number

    def ready(self) -> tuple[list[Path], dict[Path, int]]:
        """Sealed segments to move into the database, oldest first: this process's, and those of any
        process that is gone (its lock could be taken: returned with its fd, to remove once moved in)."""
        gone = {}
        for lock in self.folder.glob("*.lock"):
            if lock.stem == self.token:
                continue
            try:
                fd = os.open(lock, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                gone[lock] = fd
            except BlockingIOError:  # a live process
                os.close(fd)
        tokens = {lock.stem for lock in gone}

        def wanted(path: Path) -> bool:  # never this process's open segment, nor one opened since sealing
            token, number = path.stem.split("-")
            return token in tokens or (token == self.token and int(number) <= self.sealed)

        return sorted(p for p in self.folder.glob("*.jsonl") if wanted(p)), gone

    def close(self) -> None:
        """At exit, once everything is moved in: the lock and (when empty) the folder go."""
        self.seal()
        (self.folder / f"{self.token}.lock").unlink(missing_ok=True)
        os.close(self.lock_fd)
        if not any(self.folder.iterdir()):
            self.folder.rmdir()


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_segment(path: Path) -> list[dict]:
    """A segment's entries; a line cut short (the machine lost power mid-write) is skipped and counted."""
    entries, torn = [], 0
    for line in path.read_bytes().splitlines():
        try:
            entry = json.loads(line)
            entry["at"] = datetime.fromisoformat(entry["at"])
        except (ValueError, KeyError, TypeError):
            torn += 1
            continue
        entries.append(entry)
    if torn:
        log.error("audit log: %d unreadable journal lines in %s skipped", torn, path.name)
    return entries


class _Writer:
    """One journal and one writing thread per database engine in this process."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.journal = _Journal(journal_folder(engine))
        self.write_lock = threading.Lock()
        self.thread_lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, entry: dict) -> None:
        line = json.dumps({**entry, "at": entry["at"].isoformat()}).encode() + b"\n"
        if self.journal.append(line) >= BATCH_SIZE:
            self.wake.set()
        with self.thread_lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self.thread.start()

    def flush(self) -> None:
        """Move every sealed segment into the database, one transaction each, deleting each once in."""
        with self.write_lock:  # one at a time, so entries keep their order
            self.journal.seal()
            segments, gone = self.journal.ready()
            try:
                for path in segments:
                    try:
                        entries = _read_segment(path)
                    except FileNotFoundError:  # moved in meanwhile by another process
                        continue
                    if entries:
                        with self.engine.begin() as connection:
                            connection.execute(_insert_new(connection), entries)
                    path.unlink()
                for lock in gone:  # a gone process's journal is all in
                    lock.unlink(missing_ok=True)
            finally:
                for fd in gone.values():
                    os.close(fd)

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
                    log.exception("audit log: moving the journal into the database failed; retrying")
                failures = min(failures + 1, 8)


def _insert_new(connection: sa.Connection) -> sa.Insert:
    """INSERT ... ON CONFLICT DO NOTHING: an entry already moved in (same key) is not written twice."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(audit_log).on_conflict_do_nothing()


_writers: dict[int, _Writer] = {}
_writers_lock = threading.Lock()
os.register_at_fork(after_in_child=_writers.clear)  # a forked child writes its own journal


def _writer(store: Store) -> _Writer:
    with _writers_lock:
        writer = _writers.get(id(store.engine))
        if writer is None or writer.engine is not store.engine:
            writer = _writers[id(store.engine)] = _Writer(store.engine)
        return writer


def record(
    store: Store, user: User | None, action: str, pupil_ref: str | None = None, detail: str = ""
) -> None:
    """Journal one entry, on disk before this returns (no user: a failed sign-in for an unknown email).
    Pupils appear by opaque ref only, never by UPN. If the journal cannot be written this raises, and the
    request fails: a read that cannot be logged is not served."""
    _writer(store).add(
        {
            "at": datetime.now(UTC),
            "user_id": None if user is None else user.id,
            "action": action,
            "pupil_ref": pupil_ref,
            "detail": detail or None,
            "entry_key": secrets.token_hex(16),
        }
    )


def flush(store: Store) -> None:
    """Move every journalled entry for this store (and any a killed process left) into the database now."""
    _writer(store).flush()


@atexit.register
def _flush_all() -> None:
    for writer in list(_writers.values()):
        try:
            writer.flush()
            writer.journal.close()
        except Exception:
            log.exception("audit log: could not move the last entries in at exit (they stay journalled)")


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
