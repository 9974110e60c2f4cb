"""Opaque pupil references and the scope check every pupil read goes through.

URLs carry a random `ref`, never a UPN. `resolve_pupil` turns a ref back into a UPN only if the user may
see that pupil; otherwise it raises PupilNotFound, the same answer as for a ref that does not exist, so
guessing refs reveals nothing about other schools' pupils.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from riskengine.enrolment import schools_seeing
from riskengine.store import Store
from riskengine.web.accounts import User
from riskengine.web.tables import pupil_refs


class PupilNotFound(LookupError):
    """No pupil with this reference in the user's scope."""


#: UPNs asked for per query: under every database's limit on bound parameters.
CHUNK = 5000


def refs_of(store: Store, upns: Iterable[str]) -> pd.Series:
    """UPN -> ref for the given UPNs. A read only: every stored pupil got its ref when it was uploaded
    (`Store.write_pupil_terms`; migration 0004 gave older pupils theirs), so views never write. Only the
    UPNs asked for are read (not every stored pupil's: after a large upload that took most of a second)."""
    wanted = pd.Index(pd.unique(pd.Series(list(upns), dtype="string").dropna()))
    known: dict[str, str] = {}
    query = sa.select(pupil_refs.c.upn, pupil_refs.c.ref)
    with store.engine.connect() as connection:
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK].tolist()
            known.update(connection.execute(query.where(pupil_refs.c.upn.in_(chunk))).all())
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
