"""Access follows enrolment: which schools see a pupil, and what happens when a UPN is on two rolls.

A school sees a pupil while the pupil is on its roll in the school's latest uploaded term, and, for its
own Year 11 leavers, until the end of the destination window (evaluation/outcome.yaml). A UPN that a
school uploads while another school holds it in the same term is a conflict: a warning to the uploading
school, an item on the admin's conflict list, and the pupil stays hidden from that school until an admin
resolves it. When either school's type (from the admin's schools list) is one that dual-registers
(upload/access.yaml: pupil referral units, alternative provision) it is a dual registration instead:
both schools see the pupil, marked as such.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
import yaml

from riskengine.outcomes import OutcomeDefinition, load_outcome_definition
from riskengine.paths import data_path
from riskengine.spec import upload as spec
from riskengine.store import Store
from riskengine.store import tables as t
from riskengine.upload.problems import problems
from riskengine.web import tables as wt

CONFLICT = "conflict"
DUAL = "dual_registration"
SCHOOL_LIST_COLUMNS = ("urn", "name", "type")


@dataclass(frozen=True)
class AccessSettings:
    """upload/access.yaml: the school types that dual-register, and how long identity and notes are kept."""

    dual_registration_types: tuple[str, ...] = ("pupil referral unit", "alternative provision")
    retention_months_after_window: int = 12

    @classmethod
    def load(cls, path: str | Path | None = None) -> AccessSettings:
        raw = yaml.safe_load(Path(path or data_path("upload", "access.yaml")).read_text()) or {}
        months = int(raw.get("retention_months_after_window", cls.retention_months_after_window))
        if months < 0:
            raise ValueError("access settings: retention_months_after_window cannot be negative")
        types = tuple(str(x).strip().casefold() for x in raw.get("dual_registration_types") or ())
        return cls(types, months)


# --- the schools list ----------------------------------------------------------------------------------


def load_school_list(store: Store, path: str | Path) -> int:
    """Load (replace) the schools list from a CSV with columns urn, name and optional type; returns the
    number of schools. A bad row rejects the whole file, naming the row."""
    frame = pd.read_csv(path, dtype="string", keep_default_na=False).rename(columns=str.strip)
    frame.columns = [c.casefold() for c in frame.columns]
    missing = [c for c in ("urn", "name") if c not in frame.columns]
    if missing:
        raise ValueError(f"the schools list needs the columns urn and name (missing: {', '.join(missing)})")
    frame = frame.reindex(columns=list(SCHOOL_LIST_COLUMNS), fill_value="").astype("string")
    frame = frame.apply(lambda c: c.str.strip())
    rows = frame.index + 2  # the header is row 1
    bad = ~frame["urn"].str.fullmatch(r"\d{6}").fillna(False)
    problems_ = [f"row {r}: urn should be 6 digits" for r in rows[bad.to_numpy()]]
    problems_ += [f"row {r}: name is blank" for r in rows[(frame["name"].fillna("") == "").to_numpy()]]
    problems_ += [f"row {r}: urn listed twice" for r in rows[frame["urn"].duplicated().to_numpy()]]
    if problems_:
        raise ValueError("; ".join(problems_[:20]))
    now = datetime.now(UTC)
    records = [
        {"urn": u, "name": n[:255], "type": (ty or None) and ty[:80], "loaded_at": now}
        for u, n, ty in frame.fillna("").itertuples(index=False)
    ]
    with store.engine.begin() as connection:
        connection.execute(sa.delete(t.school_list))
        if records:
            connection.execute(sa.insert(t.school_list), records)
    return len(records)


def school_list(store: Store) -> pd.DataFrame:
    """The loaded schools list (urn, name, type); empty when none has been loaded."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(t.school_list.c.urn, t.school_list.c.name, t.school_list.c.type)
        ).all()
    return pd.DataFrame.from_records(rows, columns=list(SCHOOL_LIST_COLUMNS))


_names: dict[tuple, dict[str, str]] = {}


def names_version_columns() -> tuple[sa.ScalarSelect, ...]:
    """What the school names depend on, as scalar subqueries (riskengine.web.versions reads them with
    the other caches' versions)."""
    sl = t.school_list
    return (
        sa.select(sa.func.max(sl.c.loaded_at)).scalar_subquery(),
        sa.select(sa.func.count(sl.c.urn)).scalar_subquery(),
    )


def school_names(store: Store, version: tuple | None = None) -> dict[str, str]:
    """URN -> name for every listed school (pages fall back to the URN for any other); cached until the
    list is loaded again (`version`: names_version_columns() as read for the request; read here when
    None)."""
    if version is None:
        with store.reading() as connection:
            version = tuple(connection.execute(sa.select(*names_version_columns())).one())
    key = (str(store.engine.url), id(store.engine), *version)
    names = _names.get(key)
    if names is None:
        listed = school_list(store)
        names = dict(zip(listed["urn"], listed["name"], strict=True))
        _names.clear()
        _names[key] = names
    return names


def _dual_urns(store: Store, settings: AccessSettings) -> set[str]:
    listed = school_list(store)
    kinds = listed["type"].fillna("").str.casefold()
    return set(listed.loc[kinds.isin(settings.dual_registration_types), "urn"])


# --- conflicts at upload -------------------------------------------------------------------------------


def find_conflicts(
    store: Store,
    typed: pd.DataFrame,
    school_urn: str,
    academic_year: str,
    term: str,
    settings: AccessSettings | None = None,
) -> pd.DataFrame:
    """Rows of this file (by file row) whose UPN another school already holds in this term: upn,
    other_school_urn, kind. A pupil already on the list for these two schools and this term (either way
    round, resolved or not) is not listed again, so a school re-uploading its term keeps its pupils."""
    settings = settings or AccessSettings.load()
    pt, c = t.pupil_terms, t.enrolment_conflicts
    term_index = spec.term_index(academic_year, term)
    with store.engine.connect() as connection:
        held = connection.execute(
            sa.select(pt.c.upn, pt.c.school_urn).where(
                pt.c.term_index == term_index, pt.c.school_urn != school_urn
            )
        ).all()
        listed = connection.execute(
            sa.select(c.c.upn, c.c.school_urn, c.c.other_school_urn).where(
                sa.or_(c.c.school_urn == school_urn, c.c.other_school_urn == school_urn),
                c.c.academic_year == academic_year,
                c.c.term == term,
            )
        ).all()
    held = pd.DataFrame.from_records(held, columns=["upn", "other_school_urn"])
    listed = pd.DataFrame.from_records(listed, columns=["upn", "a", "b"])
    other = listed["b"].where(listed["a"] == school_urn, listed["a"])
    already = pd.DataFrame({"upn": listed["upn"], "other_school_urn": other, "_listed": True})
    rows = typed[["upn"]].reset_index(names="row").astype({"upn": "object"})
    found = rows.merge(held, on="upn").merge(
        already.drop_duplicates(["upn", "other_school_urn"]), on=["upn", "other_school_urn"], how="left"
    )
    found = found[found["_listed"].isna()].drop(columns="_listed")
    dual = _dual_urns(store, settings)
    is_dual = found["other_school_urn"].isin(dual) | (school_urn in dual)
    return found.assign(kind=pd.Series(CONFLICT, index=found.index).where(~is_dual, DUAL)).reset_index(
        drop=True
    )


def conflict_warnings(found: pd.DataFrame) -> pd.DataFrame:
    """The uploading school's warnings: never the other school's name or data."""
    rows = found.drop_duplicates("row")
    dual = rows["kind"] == DUAL
    message = pd.Series(
        "this pupil is already on roll at another school this term; the local authority has been told and "
        "will check, and until then the pupil is not shown in your caseload",
        index=rows.index,
    ).where(
        ~dual,
        "this pupil is also on roll at a pupil referral unit or alternative provision this term; recorded "
        "as a dual registration (both schools see the pupil)",
    )
    return problems(rows["row"], ["upn"] * len(rows), message)


def conflict_recorder(
    found: pd.DataFrame, school_urn: str, academic_year: str, term: str
) -> Callable[[sa.Connection, int], None]:
    """Writes the conflict list entries inside the upload's own transaction, once its id is known."""

    def record(connection: sa.Connection, upload_id: int) -> None:
        if found.empty:
            return
        now = datetime.now(UTC)
        connection.execute(
            sa.insert(t.enrolment_conflicts),
            [
                {
                    "upn": upn,
                    "school_urn": school_urn,
                    "other_school_urn": other,
                    "academic_year": academic_year,
                    "term": term,
                    "kind": kind,
                    "upload_id": upload_id,
                    "detected_at": now,
                }
                for upn, other, kind in found[["upn", "other_school_urn", "kind"]].itertuples(index=False)
            ],
        )

    return record


def list_conflicts(store: Store, include_resolved: bool = False) -> pd.DataFrame:
    """The admin's conflict list, newest first (conflicts and dual registrations)."""
    c = t.enrolment_conflicts
    query = sa.select(c).order_by(c.c.id.desc())
    if not include_resolved:
        query = query.where(c.c.resolved_at.is_(None))
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    return pd.DataFrame.from_records(rows, columns=[col.name for col in c.columns])


def resolve_conflict(store: Store, conflict_id: int, resolved_by: str) -> None:
    """Mark a conflict resolved: the uploading school then sees the pupil like any other on its roll."""
    c = t.enrolment_conflicts
    with store.engine.begin() as connection:
        done = connection.execute(
            sa.update(c)
            .where(c.c.id == conflict_id, c.c.resolved_at.is_(None))
            .values(resolved_at=datetime.now(UTC), resolved_by=resolved_by[:255])
        ).rowcount
    if not done:
        raise LookupError("no such open conflict")


# --- who sees whom ---------------------------------------------------------------------------------------


def window_end(year11_start: pd.Series, definition: OutcomeDefinition) -> pd.Series:
    """The last day of the destination window after a Year 11 starting in `year11_start`."""
    start_md, end_md = definition.window_start, definition.window_end
    year = pd.Series(year11_start, dtype="int64") + 1 + definition.window_year_offset
    year = year + (1 if end_md < start_md else 0)
    month, day = (int(part) for part in end_md.split("-"))
    parts = pd.DataFrame({"year": year, "month": month, "day": day})
    return pd.to_datetime(parts).dt.date


_cache: dict[tuple, pd.DataFrame] = {}
_cache_lock = threading.Lock()
_build_lock = threading.Lock()


#: The audit action `riskengine.privacy.forget` records in the same transaction as each erasure.
ERASURE = "forget_pupil"


#: Where version_columns() has the newest erasure and the newest upload.
ERASURES_AT, UPLOADS_AT = 1, 0


def version_columns() -> tuple[sa.ScalarSelect, ...]:
    """What the enrolment depends on: uploads, erasures, conflicts and their resolution, and the schools
    list, as scalar subqueries to read in one round trip (riskengine.web.versions adds the other caches'
    versions to the same SELECT). Erasures are keyed on their audit entries (indexed), not on a count of
    pupils, which PostgreSQL answers by reading every row: on every request, that is a cost that grows
    with the store."""
    c = t.enrolment_conflicts

    def scalar(query: sa.Select) -> sa.ScalarSelect:
        return query.scalar_subquery()

    return (
        scalar(sa.select(sa.func.max(t.uploads.c.id))),
        scalar(sa.select(sa.func.max(wt.audit_log.c.id)).where(wt.audit_log.c.action == ERASURE)),
        scalar(sa.select(sa.func.count(c.c.id))),
        scalar(sa.select(sa.func.count(c.c.resolved_at))),
        scalar(sa.select(sa.func.max(t.school_list.c.loaded_at))),
    )


def enrolled(store: Store, today: date | None = None, version: tuple | None = None) -> pd.DataFrame:
    """Every (upn, school_urn) pair a school currently sees, with `dual` (a dual registration) and
    `leaver` (seen only as a Year 11 leaver within the destination window). Cached until the next upload,
    conflict change or day (`version`: version_columns() as read for the request; read here when None).

    One request rebuilds it at a time. When only an upload has changed since the cached frame, the other
    requests meanwhile get the frame from before the upload, as they would have a moment earlier (for
    them the upload lands when the rebuild ends), rather than all waiting: with a 100,000-row term, the
    rebuild takes most of a second. An erasure, a conflict or its resolution is waited for, always."""
    today = today or date.today()
    if version is None:
        with store.reading() as connection:
            version = tuple(connection.execute(sa.select(*version_columns())).one())
    key = (str(store.engine.url), id(store.engine), today, tuple(version))
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        before = next(iter(_cache.values()), None)
    if before is not None and _only_uploaded(before.attrs["version"], key):
        if not _build_lock.acquire(blocking=False):
            return before
    else:
        _build_lock.acquire()
    try:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        frame = _enrolled(store, today)
        frame.attrs["version"] = key  # what callers key their own caches on (never the frame's id)
        with _cache_lock:
            _cache.clear()
            _cache[key] = frame
    finally:
        _build_lock.release()
    return frame


def _only_uploaded(cached: tuple, wanted: tuple) -> bool:
    """Whether two enrolment keys differ only by uploads added since (same store, day and all else)."""
    old, new = list(cached[3]), list(wanted[3])
    uploads = (old.pop(UPLOADS_AT), new.pop(UPLOADS_AT))
    return cached[:3] == wanted[:3] and old == new and None not in uploads and uploads[0] < uploads[1]


def _enrolled(store: Store, today: date) -> pd.DataFrame:
    pt, c = t.pupil_terms, t.enrolment_conflicts
    with store.engine.connect() as connection:
        # As plain tuples: pandas probes each SQLAlchemy Row for attributes, and each probe raises and
        # catches an error inside SQLAlchemy, which took over a second for a 100,000-row upload.
        query = sa.select(pt.c.upn, pt.c.school_urn, pt.c.term_index, pt.c.ncyear)
        rows = list(map(tuple, connection.execute(query)))
        open_ = connection.execute(
            sa.select(c.c.upn, c.c.school_urn, c.c.other_school_urn, c.c.kind).where(
                c.c.resolved_at.is_(None)
            )
        ).all()
    terms = pd.DataFrame.from_records(rows, columns=["upn", "school_urn", "term_index", "ncyear"])
    if terms.empty:
        return pd.DataFrame({"upn": [], "school_urn": [], "dual": [], "leaver": []}).astype(
            {"dual": bool, "leaver": bool}
        )
    latest = terms.groupby("school_urn")["term_index"].transform("max")
    on_roll = terms.loc[terms["term_index"] == latest, ["upn", "school_urn"]].assign(leaver=False)
    y11 = terms[terms["ncyear"] == 11].groupby(["upn", "school_urn"], as_index=False)["term_index"].max()
    ends = window_end(y11["term_index"] // 3, load_outcome_definition())
    leavers = y11.loc[(ends >= today).to_numpy(), ["upn", "school_urn"]].assign(leaver=True)
    seen = pd.concat([on_roll, leavers]).drop_duplicates(["upn", "school_urn"], keep="first")
    conflicts = pd.DataFrame.from_records(open_, columns=["upn", "school_urn", "other_school_urn", "kind"])
    hidden = conflicts.loc[conflicts["kind"] == CONFLICT, ["upn", "school_urn"]].assign(_hidden=True)
    seen = seen.merge(hidden.drop_duplicates(), on=["upn", "school_urn"], how="left")
    seen = seen[seen["_hidden"].isna()].drop(columns="_hidden")
    duals = conflicts[conflicts["kind"] == DUAL]
    dual_pairs = pd.concat(
        [
            duals[["upn", "school_urn"]],
            duals[["upn", "other_school_urn"]].rename(columns={"other_school_urn": "school_urn"}),
        ]
    ).drop_duplicates()
    seen = seen.merge(dual_pairs.assign(dual=True), on=["upn", "school_urn"], how="left")
    seen["dual"] = seen["dual"].eq(True)
    return seen.reset_index(drop=True)


def schools_seeing(
    store: Store, upn: str, scope: tuple[str, ...] | None, today: date | None = None
) -> list[str]:
    """The schools in `scope` (None: every school) that currently see this pupil, sorted. For an
    unrestricted scope (admins) every school that ever held the pupil."""
    if scope is None:
        pt = t.pupil_terms
        with store.engine.connect() as connection:
            return sorted(
                connection.execute(sa.select(pt.c.school_urn).where(pt.c.upn == upn).distinct()).scalars()
            )
    seen = enrolled(store, today)
    mine = seen[(seen["upn"] == upn) & seen["school_urn"].isin(scope)]
    return sorted(mine["school_urn"].tolist())


def is_dual(store: Store, upn: str, today: date | None = None) -> bool:
    """Whether the pupil is currently dual registered (shown on their page)."""
    seen = enrolled(store, today)
    return bool(seen.loc[seen["upn"] == upn, "dual"].any())
