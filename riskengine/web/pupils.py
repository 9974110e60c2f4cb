"""Opaque pupil references and the scope check every pupil read goes through.

URLs carry a random `ref`, never a UPN. `resolve_pupil` turns a ref back into a UPN only if the user may
see that pupil; otherwise it raises PupilNotFound, the same answer as for a ref that does not exist, so
guessing refs reveals nothing about other schools' pupils.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from riskengine.enrolment import schools_seeing
from riskengine.store import Store
from riskengine.web.accounts import User
from riskengine.web.tables import pupil_refs


class PupilNotFound(LookupError):
    """No pupil with this reference in the user's scope."""


def _insert_new(connection: sa.Connection, rows: list[dict[str, str]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: two workers creating the same pupil's ref keep the first one."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    connection.execute(insert(pupil_refs).on_conflict_do_nothing(), rows)


def ensure_refs(store: Store, upns: Iterable[str]) -> pd.Series:
    """UPN -> ref for every given UPN, creating random refs for those that have none."""
    wanted = pd.Index(pd.unique(pd.Series(list(upns), dtype="string").dropna()))
    with store.engine.begin() as connection:
        known = dict(connection.execute(sa.select(pupil_refs.c.upn, pupil_refs.c.ref)).all())
        missing = wanted.difference(pd.Index(list(known), dtype="string"))
        if len(missing):
            _insert_new(connection, [{"upn": upn, "ref": secrets.token_hex(12)} for upn in missing])
            known = dict(connection.execute(sa.select(pupil_refs.c.upn, pupil_refs.c.ref)).all())
    return pd.Series(known, dtype="string").reindex(wanted)


def resolve_pupil(store: Store, user: User, ref: str) -> str:
    """The UPN behind `ref` if `user` may see that pupil: a school in their scope sees the pupil now
    (riskengine.enrolment: on its roll in its latest term, or its Year 11 leaver within the destination
    window, and not held back by an open enrolment conflict). Admins see every pupil."""
    if not user.sees_pupils or not ref.isalnum() or len(ref) > 32:
        raise PupilNotFound(ref)
    with store.engine.connect() as connection:
        upn = connection.execute(sa.select(pupil_refs.c.upn).where(pupil_refs.c.ref == ref)).scalar()
        if upn is None:
            raise PupilNotFound(ref)
    if user.schools is None or schools_seeing(store, upn, user.schools):
        return upn
    raise PupilNotFound(ref)
