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
_built: tuple[tuple[sa.ScalarSelect, ...], dict[str, slice], sa.Select] | None = None


def _statement() -> tuple[tuple[sa.ScalarSelect, ...], dict[str, slice], sa.Select]:
    """Every cache's version column, where each cache's are among them, and the SELECT of them all:
    built once and reused (building them costs more than running them)."""
    global _built
    if _built is None:
        columns: list[sa.ScalarSelect] = []
        slices = {}
        for name, part in _PARTS.items():
            made = part()
            slices[name] = slice(len(columns), len(columns) + len(made))
            columns += made
        _built = (tuple(columns), slices, sa.select(*columns))
    return _built


def version_columns() -> tuple[sa.ScalarSelect, ...]:
    """Every cache's version as scalar subqueries, for a query that reads them along with its own
    (riskengine.web.auth reads them with the session); `versions_from` turns their values into Versions."""
    return _statement()[0]


def versions_from(values: tuple) -> Versions:
    return Versions(**{name: tuple(values[at]) for name, at in _statement()[1].items()})


def read_versions(store: Store) -> Versions:
    """Every cache's version, in one statement."""
    with store.reading() as connection:
        return versions_from(tuple(connection.execute(_statement()[2]).one()))
