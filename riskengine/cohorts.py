"""Cohorts: the one name every output gives a cohort, and which cohorts' outcome windows have closed.

A cohort is the pupils who left Year 11 in the same summer. Training, evaluation and reports all ask
`outcome_windows` which cohorts count, so they never disagree: a cohort counts when the destinations
extract's as-of date (the day it was taken, recorded with `riskengine destinations --as-of`) is on or after
the end of its outcome window. A cohort left out is always named, with why, how many pupils and what to do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskengine.outcomes import OutcomeDefinition, in_window_records, load_outcome_definition, window_end

#: A closed cohort with fewer than this share of its pupils holding a destination record is warned about.
MIN_COVERAGE = 0.8

OPEN, NO_RECORDS, FEW_RECORDS, CLOSED = "window open", "no records", "few records", "closed"
INCLUDED = (CLOSED, FEW_RECORDS)


def cohort_name(year11_start: int) -> str:
    """The name of the cohort whose Year 11 started in `year11_start`: "left Year 11 in summer 2023"."""
    return f"left Year 11 in summer {int(year11_start) + 1}"


def cohort_year11_start(name: str) -> int:
    """The start year of Year 11 of a cohort named by `cohort_name` (its inverse)."""
    prefix = cohort_name(0).removesuffix("1")
    if not (name.startswith(prefix) and name[len(prefix) :].isdigit()):
        raise ValueError(f"not a cohort name: {name!r}")
    return int(name[len(prefix) :]) - 1


def cohort_names(year11: pd.Series) -> pd.Series:
    """`cohort_name` of a whole column of Year 11 start years (one call per distinct year)."""
    codes, uniques = pd.factorize(year11.astype(int))
    names = np.array([cohort_name(y) for y in uniques], dtype=object)
    return pd.Series(names[codes] if len(uniques) else [], index=year11.index, dtype="string")


def _day(value: dt.date) -> str:
    return f"{value.day} {value:%B %Y}"


@dataclass(frozen=True)
class CohortWindows:
    """Per cohort: `table` (year11_start, cohort, pupils, with_record, coverage, window_end, status)."""

    table: pd.DataFrame
    as_of: dt.date

    def included_starts(self) -> list[int]:
        return [int(y) for y in self.table.loc[self.table["status"].isin(INCLUDED), "year11_start"]]

    def included(self, year11: pd.Series) -> pd.Series:
        """True for each pupil (of `year11`, upn -> start year) whose cohort counts."""
        return year11.astype(int).isin(self.included_starts())

    def notices(self) -> list[str]:
        """One sentence per cohort left out or warned about: which, why, how many pupils, what to do."""
        as_of = _day(self.as_of)
        lines = []
        for row in self.table.itertuples():  # one row per cohort, a handful
            pupils = f"{row.pupils:,} pupil{'s' if row.pupils != 1 else ''}"
            end = _day(row.window_end)
            if row.status == OPEN:
                lines.append(
                    f"Left out {row.cohort} ({pupils}): its outcome window runs to {end}, after the "
                    f"destinations' as-of date {as_of}. Load a later extract with "
                    "`riskengine destinations FILE --as-of DATE` once the window has closed."
                )
            elif row.status == NO_RECORDS:
                lines.append(
                    f"Left out {row.cohort} ({pupils}): its outcome window closed on {end} but none of its "
                    "pupils has a destination record in it. Load the NCCIS extract covering it with "
                    "`riskengine destinations FILE --as-of DATE`."
                )
            elif row.status == FEW_RECORDS:
                lines.append(
                    f"Warning: only {row.coverage:.0%} of {row.cohort}'s {pupils} have a destination record "
                    f"in its outcome window (to {end}); pupils without one have no outcome and are left "
                    "out. Check the NCCIS extract is complete."
                )
        return lines


def outcome_windows(
    year11: pd.Series,
    destinations: pd.DataFrame,
    as_of: dt.date | str | None = None,
    definition: OutcomeDefinition | None = None,
    min_coverage: float = MIN_COVERAGE,
) -> CohortWindows:
    """Which cohorts of the pupils in `year11` (upn -> start year of Year 11) have closed outcome windows.

    `as_of` is the destinations extract's as-of date (default: today). A cohort whose window has ended
    counts, warned about below `min_coverage` of its pupils with a record in the window; one with no
    record at all is left out, as is one whose window is still open.
    """
    definition = definition or load_outcome_definition()
    as_of = dt.date.today() if as_of is None else pd.Timestamp(as_of).date()
    recorded = in_window_records(destinations, year11, definition)["upn"].unique()
    starts = year11.astype(int)
    has_record = pd.Series(pd.Index(recorded).get_indexer(year11.index.astype(str)) >= 0, index=year11.index)
    table = (
        pd.DataFrame({"year11_start": starts.to_numpy(), "with_record": has_record.to_numpy()})
        .groupby("year11_start", sort=True)
        .agg(pupils=("with_record", "size"), with_record=("with_record", "sum"))
        .reset_index()
    )
    table["cohort"] = [cohort_name(y) for y in table["year11_start"]]
    table["coverage"] = table["with_record"] / table["pupils"]
    table["window_end"] = [window_end(int(y), definition) for y in table["year11_start"]]
    over = np.array([as_of >= end for end in table["window_end"]], dtype=bool)
    table["status"] = np.select(
        [~over, table["with_record"] == 0, table["coverage"] < min_coverage],
        [OPEN, NO_RECORDS, FEW_RECORDS],
        CLOSED,
    )
    columns = ["year11_start", "cohort", "pupils", "with_record", "coverage", "window_end", "status"]
    return CohortWindows(table[columns], as_of)
