"""What the web service's in-process caches depend on, read in one round trip per request.

The enrolment, the caseload's runs, the school names and the review decisions are each cached until what
they were built from changes. Asking each of them apart cost a round trip apiece on every caseload request
(and, under load, a wait for the GIL after each); one SELECT of their scalar subqueries asks them all.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from riskengine.enrolment import ERASURES_AT, names_version_columns
from riskengine.enrolment import version_columns as enrolment_columns
from riskengine.store import Store
from riskengine.store import tables as st
from riskengine.web.reviews import version_columns as reviews_columns


def runs_version_columns() -> tuple[sa.ScalarSelect, ...]:
    """What the caseload's runs depend on, as scalar subqueries: runs are only ever added."""
    runs = st.score_runs
    return (
        sa.select(sa.func.count(runs.c.id)).scalar_subquery(),
        sa.select(sa.func.max(runs.c.id)).scalar_subquery(),
    )


@dataclass(frozen=True)
class Versions:
    """Each cache's version as read for one request (pass each to its cache's `version` argument)."""

    enrolment: tuple
    runs: tuple
    names: tuple
    reviews: tuple

    @property
    def erasures(self) -> object:
        """The newest erasure's audit entry (part of the enrolment's version)."""
        return self.enrolment[ERASURES_AT]


_PARTS = {
    "enrolment": enrolment_columns,
    "runs": runs_version_columns,
    "names": names_version_columns,
    "reviews": reviews_columns,
}
_statement: tuple[sa.Select, dict[str, slice]] | None = None


def read_versions(store: Store) -> Versions:
    """Every cache's version, in one statement (built once and reused: building it costs more than
    running it)."""
    global _statement
    if _statement is None:
        columns, slices = [], {}
        for name, part in _PARTS.items():
            made = part()
            slices[name] = slice(len(columns), len(columns) + len(made))
            columns += made
        _statement = (sa.select(*columns), slices)
    query, slices = _statement
    with store.reading() as connection:
        row = tuple(connection.execute(query).one())
    return Versions(**{name: row[at] for name, at in slices.items()})
