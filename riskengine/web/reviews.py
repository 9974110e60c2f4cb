"""Reviews of flags and interventions: append-only histories, never updated or deleted.

A later review supersedes an earlier one only in the sense that it is newer; both stay on the record.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa

from riskengine.interventions import current_interventions, load_types, read_intervention_events
from riskengine.interventions.events import record_intervention_event
from riskengine.store import Store
from riskengine.store.tables import score_runs
from riskengine.web.accounts import User
from riskengine.web.tables import DECISIONS, reviews, users

REVIEWER_ROLES = ("adviser", "admin")


def _check_reviewer(user: User) -> None:
    if user.role not in REVIEWER_ROLES:
        raise PermissionError("only advisers and admins record reviews and interventions")


def record_review(
    store: Store,
    user: User,
    upn: str,
    decision: str,
    reason: str = "",
    run_id: int | None = None,
    shared_with_school: bool = False,
) -> int:
    """Append a review (confirm, dismiss with a reason, or refer) of a pupil's flag; returns its id.

    `upn` must come from `resolve_pupil`, which has already checked the user's scope. `run_id` must name
    a stored scoring run. The pupil's school sees the review only when `shared_with_school`.
    """
    _check_reviewer(user)
    reason = (reason or "").strip()
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}")
    if decision == "dismiss" and not reason:
        raise ValueError("a dismissal needs a reason")
    if len(reason) > 2000:
        raise ValueError("the reason is limited to 2,000 characters")
    with store.engine.begin() as connection:
        if run_id is not None:
            known = connection.execute(sa.select(score_runs.c.id).where(score_runs.c.id == run_id)).first()
            if known is None:
                raise ValueError(f"there is no scoring run {run_id}")
        return int(
            connection.execute(
                sa.insert(reviews).values(
                    upn=upn,
                    run_id=run_id,
                    decision=decision,
                    reason=reason or None,
                    reviewer_id=user.id,
                    created_at=datetime.now(UTC),
                    shared_with_school=bool(shared_with_school),
                )
            ).inserted_primary_key[0]
        )


def record_intervention(
    store: Store,
    user: User,
    upn: str,
    kind: str,
    started_on: date,
    ended_on: date | None = None,
    note: str = "",
    *,
    status: str | None = None,
    adviser: str | None = None,
    qualification: str | None = None,
    prompted_by_run: int | None = None,
    intervention_id: str | None = None,
    shared_with_school: bool = False,
) -> int:
    """Append an intervention event for a pupil; returns its row id. `kind` is a type of
    interventions/types.yaml (its id or label); the status defaults to completed when an end date is
    given, else active. Passing `intervention_id` records a change to that intervention (a new event).
    The pupil's school sees it only when `shared_with_school` (the latest event decides)."""
    _check_reviewer(user)
    types = load_types()
    return record_intervention_event(
        store,
        upn,
        type=types.id_of(kind),
        start_date=started_on,
        end_date=ended_on,
        status=status or ("completed" if ended_on else "active"),
        adviser=adviser or user.email,
        qualification=qualification or None,
        prompted_by_run=prompted_by_run,
        notes=note,
        intervention_id=intervention_id or None,
        recorded_by=user.id,
        types=types,
        shared_with_school=shared_with_school,
    )


def review_history(store: Store, upn: str, shared_only: bool = False) -> pd.DataFrame:
    """Every review of this pupil (only those shared with the school when `shared_only`), newest first,
    with the reviewer's email."""
    query = (
        sa.select(
            reviews.c.id,
            reviews.c.created_at,
            reviews.c.decision,
            reviews.c.reason,
            reviews.c.run_id,
            reviews.c.shared_with_school,
            users.c.email.label("reviewer"),
        )
        .join(users, users.c.id == reviews.c.reviewer_id)
        .where(reviews.c.upn == upn)
        .order_by(reviews.c.id.desc())
    )
    if shared_only:
        query = query.where(reviews.c.shared_with_school.is_(True))
    return pd.read_sql(query, store.engine)


def intervention_history(store: Store, upn: str, shared_only: bool = False) -> pd.DataFrame:
    """Every intervention of this pupil in its current state (derived from its events), newest first:
    `kind` is the type's label; `n_events` how many events it has had. With `shared_only`, only those
    whose latest event shares them with the school."""
    events = read_intervention_events(store, [upn])
    columns = [
        "id",
        "intervention_id",
        "kind",
        "status",
        "started_on",
        "ended_on",
        "adviser",
        "qualification",
    ]
    columns += ["note", "shared_with_school", "n_events", "created_at", "recorded_by"]
    if events.empty:
        return pd.DataFrame(columns=columns)
    emails = pd.read_sql(sa.select(users.c.id, users.c.email), store.engine).set_index("id")["email"]
    current = current_interventions(events)
    if shared_only:
        current = current[current["shared_with_school"].fillna(False).astype(bool)]
        if current.empty:
            return pd.DataFrame(columns=columns)
    labels = load_types().labels
    latest = events.groupby(events["intervention_id"].fillna("w" + events["id"].astype(str)))["id"].max()
    frame = pd.DataFrame(
        {
            "id": current["intervention_id"].map(latest).to_numpy(),
            "intervention_id": current["intervention_id"],
            "kind": current["type"].map(labels).fillna(current["type"]),
            "status": current["status"],
            "started_on": current["start_date"].dt.date,
            "ended_on": current["end_date"].dt.date.where(current["end_date"].notna(), None),
            "adviser": current["adviser"],
            "qualification": current["qualification"],
            "note": current["notes"],
            "shared_with_school": current["shared_with_school"].fillna(False).astype(bool),
            "n_events": current["n_events"],
            "created_at": current["last_changed"],
            "recorded_by": current["recorded_by"].map(emails).fillna("import"),
        }
    )
    return frame.sort_values("id", ascending=False)[columns].reset_index(drop=True)


def version_columns() -> tuple[sa.ScalarSelect, ...]:
    """What the decisions cache depends on, as scalar subqueries (riskengine.web.versions reads them with
    the other caches' versions): reviews are only added, or deleted when a pupil is erased, so the newest
    id and the count tell; the count also catches a review committed after one with a higher id."""
    return (
        sa.select(sa.func.max(reviews.c.id)).scalar_subquery(),
        sa.select(sa.func.count(reviews.c.id)).scalar_subquery(),
    )


_decisions: dict[tuple, tuple[tuple, dict[str, str], dict[str, str]]] = {}
_decisions_lock = threading.Lock()


def latest_decisions(
    store: Store, upns: Iterable[str], shared_only: bool = False, version: tuple | None = None
) -> dict[str, str]:
    """UPN -> the decision of its newest review (newest shared one when `shared_only`), for the given
    pupils (absent when never reviewed).

    Every pupil's latest decisions are kept in the process and brought up to date only when a review is
    added or a pupil erased (`version`: version_columns() as read for the request; read here when None),
    so a caseload page asks the database nothing for them."""
    if version is None:
        with store.reading() as connection:
            version = tuple(connection.execute(sa.select(*version_columns())).one())
    latest, shared = _decisions_at(store, tuple(version))
    found = shared if shared_only else latest
    return {upn: found[upn] for upn in upns if upn in found}


def _decisions_at(store: Store, version: tuple) -> tuple[dict[str, str], dict[str, str]]:
    key = (str(store.engine.url), id(store.engine))
    with _decisions_lock:  # one update at a time; it is one short query
        held = _decisions.get(key)
        if held is not None and held[0] == version:
            return held[1], held[2]
        newest, count = version
        query = sa.select(reviews.c.upn, reviews.c.decision, reviews.c.shared_with_school)
        query = query.where(reviews.c.id <= (newest or 0)).order_by(reviews.c.id)
        since = held[0][0] if held is not None else None
        with store.reading() as connection:
            rows = connection.execute(query.where(reviews.c.id > since)).all() if since else []
            if since and held[0][1] + len(rows) == count:  # only added since: apply those
                latest, shared = dict(held[1]), dict(held[2])
            else:  # the first read, or reviews erased or committed out of order: read them all
                latest, shared = {}, {}
                rows = connection.execute(query).all()
        for upn, decision, is_shared in rows:  # oldest first, so the newest wins
            latest[upn] = decision
            if is_shared:
                shared[upn] = decision
        _decisions.clear()  # one store per service: keep only its latest
        _decisions[key] = (version, latest, shared)
        return latest, shared
