"""The audit log: every view of a pupil's record, and every write about one, by whom and when."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from riskengine.store import Store
from riskengine.web.accounts import User
from riskengine.web.tables import audit_log, users


def record(store: Store, user: User, action: str, pupil_ref: str | None = None, detail: str = "") -> None:
    """Append one entry. Pupils appear by opaque ref only, never by UPN."""
    with store.engine.begin() as connection:
        connection.execute(
            sa.insert(audit_log).values(
                at=datetime.now(UTC),
                user_id=user.id,
                action=action,
                pupil_ref=pupil_ref,
                detail=detail or None,
            )
        )


def record_refused(store: Store, user: User, ref: str) -> None:
    """Note a request for a pupil the user may not see (or that does not exist): repeated ones are
    someone guessing. The ref is kept only if it has the shape of one, so nothing typed into a URL (a UPN,
    say) reaches the log."""
    shaped = len(ref) == 24 and all(c in "0123456789abcdef" for c in ref)
    record(store, user, "pupil_refused", ref if shaped else None, "" if shaped else "malformed ref")


def read_audit(store: Store, limit: int = 500, pupil_ref: str | None = None) -> pd.DataFrame:
    """The newest entries first, with the user's email and role (admins only, enforced by the caller)."""
    query = (
        sa.select(
            audit_log.c.at,
            users.c.email,
            users.c.role,
            audit_log.c.action,
            audit_log.c.pupil_ref,
            audit_log.c.detail,
        )
        .join(users, users.c.id == audit_log.c.user_id)
        .order_by(audit_log.c.id.desc())
        .limit(limit)
    )
    if pupil_ref:
        query = query.where(audit_log.c.pupil_ref == pupil_ref)
    return pd.read_sql(query, store.engine)
