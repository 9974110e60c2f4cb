"""Keeping personal data no longer than needed: retention of names, dates of birth and notes, and erasing
one pupil on request. Both are plain functions; `riskengine retention` and `riskengine forget` call them.

Retention: once the destination window (evaluation/outcome.yaml) after a pupil's Year 11, or after their
last year on any roll if later, ended more than `retention_months_after_window` (upload/access.yaml) ago,
the pupil's identity rows and the text of advisers' notes are purged; the risk data stays for evaluation.
Forgetting erases every row about the pupil in every table keyed by UPN, and the audit log keeps only the
fact that a pupil was erased, by whom and when, never the UPN.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa

import riskengine.web.tables as wt
from riskengine.enrolment import ERASURE, AccessSettings, window_end
from riskengine.outcomes import load_outcome_definition, year11_start
from riskengine.store import Store
from riskengine.store import tables as t


@dataclass(frozen=True)
class Purged:
    """What `retention` did: pupils past retention, identity rows removed, notes blanked."""

    pupils: int
    identity_rows: int
    notes: int


def past_retention(
    store: Store, today: date | None = None, settings: AccessSettings | None = None
) -> list[str]:
    """UPNs whose destination window ended more than the retention period before `today`."""
    today = today or date.today()
    settings = settings or AccessSettings.load()
    pt = t.pupil_terms
    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(pt.c.upn, pt.c.academic_year, pt.c.term, pt.c.ncyear)).all()
    terms = pd.DataFrame.from_records(rows, columns=["upn", "academic_year", "term", "ncyear"])
    if terms.empty:
        return []
    eleven = year11_start(terms)
    last_on_roll = terms.groupby("upn")["academic_year"].max().str.slice(0, 4).astype(int)
    basis = pd.concat([eleven, last_on_roll.reindex(eleven.index)], axis=1).max(axis=1)
    ends = pd.to_datetime(window_end(basis, load_outcome_definition()))
    cutoff = ends + pd.DateOffset(months=settings.retention_months_after_window)
    return sorted(basis.index[(cutoff < pd.Timestamp(today)).to_numpy()])


def retention(store: Store, today: date | None = None, settings: AccessSettings | None = None) -> Purged:
    """Purge names, dates of birth, tutor groups, note text and assessments of pupils past retention, in
    one transaction (`Purged.notes` counts notes blanked and assessments deleted)."""
    upns = past_retention(store, today, settings)
    identity = notes = 0
    with store.engine.begin() as connection:
        for start in range(0, len(upns), 500):
            chunk = upns[start : start + 500]
            identity += connection.execute(
                sa.delete(t.pupil_identity).where(t.pupil_identity.c.upn.in_(chunk))
            ).rowcount
            notes += connection.execute(
                sa.update(wt.reviews)
                .where(wt.reviews.c.upn.in_(chunk), wt.reviews.c.reason.is_not(None))
                .values(reason=None)
            ).rowcount
            notes += connection.execute(
                sa.update(wt.interventions)
                .where(wt.interventions.c.upn.in_(chunk), wt.interventions.c.note.is_not(None))
                .values(note=None)
            ).rowcount
            # pre/post assessments are personal data held for the service's evaluation (issue 13): the same
            # retention as notes (docs/lawful-basis.md)
            notes += connection.execute(
                sa.delete(t.assessments).where(t.assessments.c.upn.in_(chunk))
            ).rowcount
    return Purged(len(upns), identity, notes)


def forget(store: Store, upn: str, by_email: str) -> int:
    """Erase one pupil from every table keyed by UPN (children before parents), recording in the audit log
    that a pupil was erased by `by_email` (an active admin) without the UPN. Returns rows erased."""
    upn = upn.replace(" ", "").upper()
    by_email = by_email.strip().lower()
    keyed = [table for table in reversed(t.metadata.sorted_tables) if "upn" in table.c]
    erased = 0
    with store.engine.begin() as connection:
        admin = connection.execute(
            sa.select(wt.users.c.id).where(
                wt.users.c.email == by_email, wt.users.c.role == "admin", wt.users.c.active.is_(True)
            )
        ).scalar()
        if admin is None:
            raise PermissionError("only an active admin may erase a pupil (--by EMAIL)")
        known = connection.execute(sa.select(t.pupils.c.upn).where(t.pupils.c.upn == upn)).first()
        if known is None:
            raise LookupError("no pupil with that UPN is stored")
        for table in keyed:
            erased += connection.execute(sa.delete(table).where(table.c.upn == upn)).rowcount
        connection.execute(
            sa.insert(wt.audit_log).values(
                at=datetime.now(UTC),
                user_id=admin,
                action=ERASURE,
                detail="a pupil was erased on request",
            )
        )
    return erased
