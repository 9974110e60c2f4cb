"""How each catalogue feature is computed from a pupil's history, as one vectorised pass over all pupils.

A `History` holds, for one scoring term, every row of the pupils on roll that term up to and including it,
and never a later row: leakage is ruled out here, once, rather than in every feature. Each derivation
returns a series aligned with `History.pupils`. Sums count known values only (`min_count=1`: all blank ->
NA), flags combine with a "max" that skips blanks (any yes -> yes; all known no -> no; all blank -> NA).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from pandas.api.typing import DataFrameGroupBy

from riskengine.spec import upload as spec

SESSIONS = ("sessions_possible", "sessions_authorised_absence", "sessions_unauthorised_absence")
#: How many terms before the scoring term attendance features look at (the same term last year).
ATTENDANCE_LOOKBACK = len(spec.TERMS)


class History:
    """The rows a scoring term may use, with each row's pupil number (`pupil`) and term number (`term`)."""

    def __init__(self, rows: pd.DataFrame, pupils: pd.Index, term: int) -> None:
        self.rows = rows  # in upload order; column "pupil" indexes into `pupils`
        self.pupils = pupils
        self.term = term

    @cached_property
    def year_start_term(self) -> int:
        """The term number of the autumn term of the scoring term's academic year."""
        return self.term - self.term % len(spec.TERMS)

    @cached_property
    def now(self) -> pd.DataFrame:
        """The scoring term's values, one row per pupil (a pupil with two rows that term, e.g. a move
        mid-term, gets the first known code or number and "any yes" for flags)."""
        rows = self.rows[self.rows["term"] == self.term]
        if not rows["pupil"].duplicated().any():
            return rows.set_index("pupil").sort_index()
        flags = [c for c in rows.columns if str(rows[c].dtype) == "boolean"]
        grouped = rows.groupby("pupil", sort=True)
        return grouped.first().assign(**{c: grouped[c].max() for c in flags})

    def current(self, column: str) -> pd.Series:
        return self.now[column].reindex(self._positions)

    def total(self, column: str, since_term: int | None = None) -> pd.Series:
        """Sum of known values over terms from `since_term` (default: all) to the scoring term."""
        if since_term is None:
            return self._by_pupil[column].sum(min_count=1).reindex(self._positions)
        rows = self.rows[self.rows["term"] >= since_term]
        return rows.groupby("pupil")[column].sum(min_count=1).reindex(self._positions)

    def ever(self, column: str) -> pd.Series:
        """A flag over all terms so far: yes if any term says yes, no if all known terms say no."""
        return self._by_pupil[column].max().reindex(self._positions)

    def latest_known(self, column: str) -> pd.Series:
        """The most recent non-blank value up to the scoring term."""
        known = self.rows.loc[self.rows[column].notna().to_numpy(dtype=bool), ["pupil", "term", column]]
        pupil, term = known["pupil"].to_numpy(), known["term"].to_numpy()
        latest = np.full(len(self.pupils), -1, dtype=term.dtype)
        np.maximum.at(latest, pupil, term)
        at_latest = known[term == latest[pupil]]
        return at_latest.groupby("pupil")[column].last().reindex(self._positions)

    def attendance(self, first_term: int, last_term: int | None = None) -> tuple[pd.Series, pd.Series]:
        """(absent, possible) sessions over terms `first_term`..`last_term` (default: just `first_term`),
        counting only terms whose three session counts are known and with sessions possible."""
        last_term = first_term if last_term is None else last_term
        if first_term < self.term - ATTENDANCE_LOOKBACK or last_term > self.term:
            raise ValueError("attendance windows reach back at most a year before the scoring term")
        absent, possible = (
            termly.loc[:, first_term:last_term].sum(axis=1, min_count=1) for termly in self._termly_sessions
        )
        return absent, possible

    def attendance_rate(self, first_term: int, last_term: int | None = None) -> pd.Series:
        absent, possible = self.attendance(first_term, last_term)
        return 1 - absent / possible

    @cached_property
    def _termly_sessions(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(absent, possible) sessions per pupil (rows) and term (columns) over the last year, blank where
        the term's counts are not all known or no sessions were possible."""
        rows = self.rows.loc[
            self.rows["term"].to_numpy() >= self.term - ATTENDANCE_LOOKBACK, ["pupil", "term", *SESSIONS]
        ]
        known = rows[list(SESSIONS)].notna().all(axis=1) & (rows["sessions_possible"] > 0)
        rows = rows[known.to_numpy(dtype=bool)]
        rows = rows.assign(absent=rows["sessions_authorised_absence"] + rows["sessions_unauthorised_absence"])
        sums = rows.groupby(["pupil", "term"])[["absent", "sessions_possible"]].sum()
        terms = range(self.term - ATTENDANCE_LOOKBACK, self.term + 1)
        columns = pd.MultiIndex.from_product([("absent", "sessions_possible"), terms])
        wide = sums.unstack("term").reindex(index=self._positions, columns=columns).astype("Int64")
        return wide["absent"], wide["sessions_possible"]

    @cached_property
    def _by_pupil(self) -> DataFrameGroupBy:
        return self.rows.groupby("pupil")

    @cached_property
    def _positions(self) -> pd.RangeIndex:
        return pd.RangeIndex(len(self.pupils))


@dataclass(frozen=True)
class Derivation:
    """A feature's computation: the upload columns it reads and the dtype it produces."""

    source: tuple[str, ...]
    dtype: str
    compute: Callable[[History], pd.Series]


#: Every feature the engine can compute, by catalogue name.
DERIVATIONS: dict[str, Derivation] = {}


def _derivation(name: str, source: tuple[str, ...], dtype: str) -> Callable:
    def register(compute: Callable[[History], pd.Series]) -> Callable[[History], pd.Series]:
        DERIVATIONS[name] = Derivation(source, dtype, compute)
        return compute

    return register


def _ytd_absent_possible(history: History) -> tuple[pd.Series, pd.Series]:
    return history.attendance(history.year_start_term, history.term)


@_derivation("attendance_rate_term", SESSIONS, "Float64")
def _attendance_rate_term(history: History) -> pd.Series:
    return history.attendance_rate(history.term)


@_derivation("attendance_rate_ytd", SESSIONS, "Float64")
def _attendance_rate_ytd(history: History) -> pd.Series:
    return history.attendance_rate(history.year_start_term, history.term)


@_derivation("persistent_absence", SESSIONS, "boolean")
def _persistent_absence(history: History) -> pd.Series:
    absent, possible = _ytd_absent_possible(history)
    return absent * 10 >= possible  # whole numbers: exactly "absence >= 10%", no rounding


@_derivation("severe_absence", SESSIONS, "boolean")
def _severe_absence(history: History) -> pd.Series:
    absent, possible = _ytd_absent_possible(history)
    return absent * 2 >= possible


@_derivation("attendance_change_prev_term", SESSIONS, "Float64")
def _attendance_change_prev_term(history: History) -> pd.Series:
    return history.attendance_rate(history.term) - history.attendance_rate(history.term - 1)


@_derivation("attendance_change_last_year", SESSIONS, "Float64")
def _attendance_change_last_year(history: History) -> pd.Series:
    return history.attendance_rate(history.term) - history.attendance_rate(history.term - len(spec.TERMS))


@_derivation("attendance_rate_last_year", SESSIONS, "Float64")
def _attendance_rate_last_year(history: History) -> pd.Series:
    return history.attendance_rate(history.term - len(spec.TERMS))


def _register_simple_derivations() -> None:
    """Features that are one column taken as it stands, summed, or-ed or carried forward."""
    dtypes = spec.canonical_dtypes()
    current = ("sen_provision", "sen_primary_need", *spec.BOOL_COLUMNS, "school_moves", "ncyear")
    for column in (c for c in current if c != "permanent_exclusion"):  # exclusion is only used as "ever"
        _derivation(column, (column,), dtypes[column])(lambda h, c=column: h.current(c))
    for column in ("suspensions", "suspension_sessions"):
        _derivation(f"{column}_year", (column,), "Int64")(lambda h, c=column: h.total(c, h.year_start_term))
        _derivation(f"{column}_ever", (column,), "Int64")(lambda h, c=column: h.total(c))
    for column in ("permanent_exclusion", "looked_after"):
        _derivation(f"{column}_ever", (column,), "boolean")(lambda h, c=column: h.ever(c))
    for column in spec.KS2_COLUMNS:  # fixed at the end of primary school: an earlier record stands
        _derivation(column, (column,), "Int64")(lambda h, c=column: h.latest_known(c))


_register_simple_derivations()


def source_columns(names: list[str]) -> list[str]:
    """The upload columns the named features read, in spec order."""
    used = {column for name in names for column in DERIVATIONS[name].source}
    return [c for c in spec.COLUMNS if c in used]


def term_numbers(academic_years: pd.Series, terms: pd.Series) -> np.ndarray:
    """`spec.upload.term_index` for every row at once (via the few distinct years and terms)."""
    year_codes, years = pd.factorize(academic_years)
    term_codes, term_names = pd.factorize(terms)
    bad_years = [y for y in years if not spec.is_valid_academic_year(str(y))]
    bad_terms = [t for t in term_names if t not in spec.TERMS]
    if (year_codes < 0).any() or (term_codes < 0).any() or bad_years or bad_terms:
        raise ValueError(
            f"pupil-terms carry blank or unrecognised academic years {bad_years} or terms {bad_terms}"
        )
    year_numbers = np.array([spec.year_start(y) * len(spec.TERMS) for y in years], dtype=np.int64)
    term_positions = np.array([spec.TERMS.index(t) for t in term_names], dtype=np.int64)
    return year_numbers[year_codes] + term_positions[term_codes]
