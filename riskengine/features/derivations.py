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

from riskengine.spec import upload as spec

SESSIONS = ("sessions_possible", "sessions_authorised_absence", "sessions_unauthorised_absence")
#: How many terms before the scoring term attendance features look at (the same term last year).
ATTENDANCE_LOOKBACK = len(spec.TERMS)


class History:
    """The rows a scoring term may use, with each row's pupil number (`pupil`, into `pupils`) and term number
    (`terms`), given as arrays beside the rows so a caller that already knows them need not copy them in.

    Per-pupil results are array passes (`bincount`, `minimum.at`/`maximum.at`) over the rows, with no
    pandas groupby and no sort: scoring a million pupil-terms spends its time in them.
    """

    def __init__(
        self, rows: pd.DataFrame, pupils: pd.Index, term: int, pupil: np.ndarray, terms: np.ndarray
    ) -> None:
        self.rows = rows  # in upload order
        self.pupils = pupils
        self.term = term
        self._pupil = np.asarray(pupil, dtype=np.int64)
        self._term = np.asarray(terms, dtype=np.int64)

    @cached_property
    def year_start_term(self) -> int:
        """The term number of the autumn term of the scoring term's academic year."""
        return self.term - self.term % len(spec.TERMS)

    def current(self, column: str) -> pd.Series:
        """The scoring term's value (a pupil with two rows that term, e.g. a move mid-term, gets the first
        known code or number and "any yes" for flags)."""
        values, now = self.rows[column], self._now
        if str(values.dtype) == "boolean":
            return self._any(values, now)
        rows = now[values.notna().to_numpy(bool)[now]]
        first = np.full(len(self.pupils), len(self.rows))  # past the last row: none known
        np.minimum.at(first, self._pupil[rows], rows)
        return self._pick(values, np.where(first < len(self.rows), first, -1))

    def total(self, column: str, since_term: int | None = None) -> pd.Series:
        """Sum of known values over terms from `since_term` (default: all) to the scoring term."""
        values = self.rows[column]
        use = values.notna().to_numpy(bool)
        if since_term is not None:
            use = use & (self._term >= since_term)
        n, pupil = len(self.pupils), self._pupil[use]
        sums = np.bincount(pupil, weights=values.to_numpy(float, na_value=0.0)[use], minlength=n)
        return pd.Series(pd.arrays.IntegerArray(sums.astype(np.int64), np.bincount(pupil, minlength=n) == 0))

    def ever(self, column: str) -> pd.Series:
        """A flag over all terms so far: yes if any term says yes, no if all known terms say no."""
        return self._any(self.rows[column])

    def latest_known(self, column: str) -> pd.Series:
        """The most recent non-blank value up to the scoring term (the last uploaded, within that term)."""
        values = self.rows[column]
        known = values.notna().to_numpy(bool)
        latest = np.full(len(self.pupils), -1)
        np.maximum.at(latest, self._pupil[known], self._term_then_row[known])
        return self._pick(values, np.where(latest >= 0, latest % max(len(self.rows), 1), -1))

    def attendance(self, first_term: int, last_term: int | None = None) -> tuple[pd.Series, pd.Series]:
        """(absent, possible) sessions over terms `first_term`..`last_term` (default: just `first_term`),
        counting only terms whose three session counts are known and with sessions possible."""
        last_term = first_term if last_term is None else last_term
        if first_term < self.term - ATTENDANCE_LOOKBACK or last_term > self.term:
            raise ValueError("attendance windows reach back at most a year before the scoring term")
        absent, possible, seen = self._termly_sessions
        start = self.term - ATTENDANCE_LOOKBACK
        window = slice(first_term - start, last_term - start + 1)
        blank = ~seen[:, window].any(axis=1)
        return (
            pd.Series(pd.arrays.IntegerArray(absent[:, window].sum(axis=1), blank)),
            pd.Series(pd.arrays.IntegerArray(possible[:, window].sum(axis=1), blank)),
        )

    def attendance_rate(self, first_term: int, last_term: int | None = None) -> pd.Series:
        absent, possible = self.attendance(first_term, last_term)
        return 1 - absent / possible

    @cached_property
    def _now(self) -> np.ndarray:
        """Positions of the scoring term's rows."""
        return np.flatnonzero(self._term == self.term)

    @cached_property
    def _term_then_row(self) -> np.ndarray:
        """A number per row that orders rows by term, then upload order: the larger, the more recent."""
        first = self._term.min(initial=self.term)
        return (self._term - first) * len(self.rows) + np.arange(len(self.rows))

    @cached_property
    def _termly_sessions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(absent, possible, seen): sessions per pupil (rows) and term (columns) over the last year, and
        whether the term counts (its three session counts all known, sessions possible)."""
        first = self.term - ATTENDANCE_LOOKBACK
        recent = np.flatnonzero(self._term >= first)  # the last year's rows, a fraction of the history
        counts = [self.rows[c].array.take(recent).to_numpy(float, na_value=np.nan) for c in SESSIONS]
        possible, authorised, unauthorised = counts
        with np.errstate(invalid="ignore"):
            use = ~np.isnan(possible + authorised + unauthorised) & (possible > 0)
        n, width = len(self.pupils), ATTENDANCE_LOOKBACK + 1
        rows = recent[use]
        cell = self._pupil[rows] * width + (self._term[rows] - first)
        absent = np.bincount(cell, weights=(authorised + unauthorised)[use], minlength=n * width)
        sessions = np.bincount(cell, weights=possible[use], minlength=n * width)
        seen = np.bincount(cell, minlength=n * width) > 0
        return (
            absent.astype(np.int64).reshape(n, width),
            sessions.astype(np.int64).reshape(n, width),
            seen.reshape(n, width),
        )

    def _pick(self, values: pd.Series, rows: np.ndarray) -> pd.Series:
        """Per pupil, the value at the pupil's row in `rows` (-1: blank)."""
        return pd.Series(values.array.take(rows, allow_fill=True))

    def _any(self, values: pd.Series, rows: np.ndarray | None = None) -> pd.Series:
        """A flag over the rows at positions `rows` (default: all): yes if any says yes, no if all known
        say no, blank if none known."""
        n, pupil = len(self.pupils), self._pupil
        known, yes = values.notna().to_numpy(bool), values.to_numpy(bool, na_value=False)
        if rows is not None:
            known, yes, pupil = known[rows], yes[rows], pupil[rows]
        said_yes = np.bincount(pupil[known & yes], minlength=n) > 0
        return pd.Series(pd.arrays.BooleanArray(said_yes, np.bincount(pupil[known], minlength=n) == 0))


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
