"""Identity upserts and enrolment conflicts on PostgreSQL (the documented deployment), in one upload's
transaction."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from riskengine.enrolment import list_conflicts
from riskengine.store import tables as st
from riskengine.upload import upload_bytes
from tests.privacy.identity_files import identity_for
from tests.store.stores import _pg_store
from tests.web.seeding import seed_store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def pg_store():
    yield from _pg_store()


def test_identity_and_conflicts_on_postgresql(pg_store):
    pupil_terms = seed_store(pg_store, pupils=30, cohorts=4, schools=2)
    first, second = sorted(pupil_terms["school_urn"].unique())[:2]
    at = (pupil_terms["academic_year"] == "2026/27") & (pupil_terms["term"] == "spring")
    rows = pupil_terms[at & (pupil_terms["school_urn"] == second)].reset_index(drop=True)
    rows = rows.join(identity_for(rows))
    theirs = pupil_terms[at & (pupil_terms["school_urn"] == first)].iloc[[0]].assign(school_urn=second)
    data = pd.concat([rows, theirs], ignore_index=True).to_csv(index=False).encode()
    result = upload_bytes(pg_store, data, "t.csv", second, "2026/27", "spring")
    assert result.ok and result.warnings["message"].str.contains("another school").sum() == 1
    assert list_conflicts(pg_store)["upn"].tolist() == [theirs["upn"].iloc[0]]
    renamed = rows.assign(forename="Newname", tutor_group=None).to_csv(index=False).encode()
    assert upload_bytes(pg_store, renamed, "t2.csv", second, "2026/27", "spring").ok
    with pg_store.engine.connect() as connection:
        held = connection.execute(
            sa.select(st.pupil_identity.c.forename, st.pupil_identity.c.tutor_group)
        ).all()
    assert len(held) == len(rows) and {f for f, _ in held} == {"Newname"} and all(t for _, t in held)
