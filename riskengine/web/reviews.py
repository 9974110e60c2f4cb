"""Reviews of flags and interventions: append-only histories, never updated or deleted.

A later review supersedes an earlier one only in the sense that it is newer; both stay on the record.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa

from riskengine.store import Store
from riskengine.store.tables import score_runs
from riskengine.web.accounts import User
from riskengine.web.tables import DECISIONS, interventions, reviews, users

REVIEWER_ROLES = ("adviser", "admin")
CHUNK = 5000


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
    shared_with_school: bool = False,
) -> int:
    """Append an intervention (what, from when, until when, notes) for a pupil; returns its id. The
    pupil's school sees it only when `shared_with_school`."""
    _check_reviewer(user)
    kind = (kind or "").strip()
    if not kind or len(kind) > 100:
        raise ValueError("say what the intervention is (up to 100 characters)")
    if ended_on is not None and ended_on < started_on:
        raise ValueError("an intervention cannot end before it starts")
    if len(note or "") > 5000:
        raise ValueError("notes are limited to 5,000 characters")
    with store.engine.begin() as connection:
        return int(
            connection.execute(
                sa.insert(interventions).values(
                    upn=upn,
                    kind=kind,
                    started_on=started_on,
                    ended_on=ended_on,
                    note=(note or "").strip() or None,
                    recorded_by=user.id,
                    created_at=datetime.now(UTC),
                    shared_with_school=bool(shared_with_school),
                )
            ).inserted_primary_key[0]
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
    """Every intervention recorded for this pupil (only those shared with the school when
    `shared_only`), newest first."""
    query = (
        sa.select(
            interventions.c.id,
            interventions.c.kind,
            interventions.c.started_on,
            interventions.c.ended_on,
            interventions.c.note,
            interventions.c.created_at,
            interventions.c.shared_with_school,
            users.c.email.label("recorded_by"),
        )
        .join(users, users.c.id == interventions.c.recorded_by)
        .where(interventions.c.upn == upn)
        .order_by(interventions.c.id.desc())
    )
    if shared_only:
        query = query.where(interventions.c.shared_with_school.is_(True))
    return pd.read_sql(query, store.engine)


def latest_decisions(store: Store, upns: Sequence[str], shared_only: bool = False) -> pd.Series:
    """UPN -> the decision of its newest review (newest shared one when `shared_only`), for the given
    pupils (absent when never reviewed)."""
    if not upns:
        return pd.Series(dtype="string")
    upns, rows = list(upns), []
    with store.engine.connect() as connection:
        for start in range(0, len(upns), CHUNK):  # a whole caseload ("not reviewed") stays under the
            chunk = upns[start : start + CHUNK]  # database's limit on bound parameters
            newest = sa.select(sa.func.max(reviews.c.id)).where(reviews.c.upn.in_(chunk))
            if shared_only:
                newest = newest.where(reviews.c.shared_with_school.is_(True))
            newest = newest.group_by(reviews.c.upn)
            query = sa.select(reviews.c.upn, reviews.c.decision).where(reviews.c.id.in_(newest))
            rows += connection.execute(query).all()
    return pd.Series(dict(rows), dtype="string")
