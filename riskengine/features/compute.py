"""Feature frames: one row per pupil, one column per catalogue feature, as of one scoring term.

Only the scoring term and earlier ones are read, so a score made today and a score recomputed later from a
store that has since gained more terms agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from riskengine.features.catalogue import Catalogue, load_catalogue
from riskengine.features.derivations import DERIVATIONS, History, source_columns, term_numbers
from riskengine.spec import upload as spec

_KEYS = ("upn", "academic_year", "term")


def compute_features(
    pupil_terms: pd.DataFrame, academic_year: str, term: str, catalogue: Catalogue | None = None
) -> pd.DataFrame:
    """Features of every pupil with a row in `term` of `academic_year`, from that term and earlier ones.

    `pupil_terms` is a canonical pupil-terms frame (any number of terms, later ones are ignored). Returns a
    frame indexed by `upn` with the catalogue's features as columns, in catalogue order, typed by kind
    (rate Float64, count and number Int64, flag boolean, category string); blanks stay `<NA>`. A column
    for an optional upload field the frame lacks counts as all blank.
    """
    catalogue = catalogue or load_catalogue()
    return _features(_history(pupil_terms, _scoring_term(academic_year, term), catalogue.names), catalogue)


def scored_features(
    pupil_terms: pd.DataFrame,
    upns: pd.Series,
    academic_year: str,
    term: str,
    catalogue: Catalogue | None = None,
    also: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(history, features) of the pupils `upns` (unique), for scoring: the history is their rows up to the
    scoring term, in only the columns the features (and `also`) read, taken in one positional take; the
    features are indexed by `upns`, as `compute_features(history, ...).reindex(upns)`. One pass: the lookup
    that finds the pupils' rows also numbers them, and their terms are numbered once, where computing the
    features from the history frame factorised its UPNs, years and terms all over again (a sixth of the
    features stage). Errors as `compute_features`'."""
    catalogue = catalogue or load_catalogue()
    scoring_term = _scoring_term(academic_year, term)
    _check_columns(pupil_terms, catalogue.names)
    if upns.hasnans:  # a pupil needs a UPN to have a history
        raise ValueError("pupil-terms carry a blank UPN in the scoring term")
    rows, pupil, terms = _scored_rows(pupil_terms, upns, scoring_term)
    history = pupil_terms.iloc[rows, _history_columns(pupil_terms, catalogue.names, also)]
    used = _with_all_columns(history, catalogue.names)
    return history, _features(History(used, pd.Index(upns), scoring_term, pupil, terms), catalogue)


def compute_features_at_year_group(
    pupil_terms: pd.DataFrame, ncyear: int, term: str, catalogue: Catalogue | None = None
) -> pd.DataFrame:
    """Each pupil's features as of `term` of the year they were in Year `ncyear`, e.g. Year 9 autumn.

    For training on several past cohorts at once: each cohort reaches the year group in a different
    academic year. Returns the `compute_features` frame (indexed by `upn`) with one extra first column,
    `academic_year`, the year the features were taken at. A pupil who repeated the year group is taken at
    the first time.
    """
    catalogue = catalogue or load_catalogue()
    _check_term(term)
    at_year_group = (pupil_terms["ncyear"] == ncyear) & (pupil_terms["term"] == term)
    cohorts = (
        pupil_terms.loc[at_year_group.fillna(False).to_numpy(dtype=bool), ["upn", "academic_year"]]
        .sort_values("academic_year", kind="stable")
        .drop_duplicates("upn")  # a pupil who repeated the year group: the first time
    )
    frames = [
        compute_features(pupil_terms, year, term, catalogue)
        .loc[cohort["upn"].to_numpy()]
        .assign(academic_year=year)
        for year, cohort in cohorts.groupby("academic_year", sort=True)  # a handful of cohorts
    ]
    empty = pd.DataFrame({n: pd.Series(dtype=d) for n, d in catalogue.dtypes.items()}, index=_upn_index([]))
    result = pd.concat(frames) if frames else empty.assign(academic_year="")
    return result.astype({"academic_year": "string"})[["academic_year", *catalogue.names]]


def _scoring_term(academic_year: str, term: str) -> int:
    if not spec.is_valid_academic_year(academic_year):
        raise ValueError(f"academic year {academic_year!r} is not of the form YYYY/YY, e.g. 2024/25")
    _check_term(term)
    return spec.term_index(academic_year, term)


def _check_term(term: str) -> None:
    if term not in spec.TERMS:
        raise ValueError(f"term {term!r} is not one of {', '.join(spec.TERMS)}")


def _check_columns(pupil_terms: pd.DataFrame, names: list[str]) -> None:
    needed = [c for c in (*_KEYS, *source_columns(names)) if c in spec.REQUIRED_COLUMNS]
    missing = [c for c in needed if c not in pupil_terms.columns]
    if missing:
        raise ValueError(f"pupil-terms lack required columns: {', '.join(missing)}")


def _history_columns(pupil_terms: pd.DataFrame, names: list[str], also: Sequence[str]) -> list[int]:
    """Positions of the keys and the columns features `names` (and `also`) read, in frame order."""
    needed = {*_KEYS, *source_columns(names), *also}
    return [i for i, name in enumerate(pupil_terms.columns) if name in needed]


def _pupil_numbers(pupil_terms: pd.DataFrame, upns: pd.Series | pd.Index) -> np.ndarray:
    """Each row's position in `upns` (-1: none of them). One hash lookup in Arrow: pandas' `isin` on Arrow
    strings converts every wanted UPN in Python, a second per term at a million rows. A blank UPN matches
    a blank in `upns`, as `isin` does."""
    import pyarrow as pa  # with the data, not at start-up
    import pyarrow.compute as pc

    wanted = pa.array(upns, type=pa.large_string(), from_pandas=True)  # Arrow strings: no copy
    found = pc.index_in(pa.array(pupil_terms["upn"]), value_set=wanted).fill_null(-1)
    return found.to_numpy(zero_copy_only=False)  # int32, as Arrow gives it


def _scored_rows(
    pupil_terms: pd.DataFrame, upns: pd.Series | pd.Index, scoring_term: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of the rows of the pupils `upns` up to the scoring term, with each one's pupil number
    (position in `upns`) and term number. Terms are numbered over the pupils' rows only: a blank or
    unrecognised year or term in any of them raises as `term_numbers` does."""
    pupil = _pupil_numbers(pupil_terms, upns)
    rows = np.flatnonzero(pupil >= 0)
    when = term_numbers(pupil_terms["academic_year"].array.take(rows), pupil_terms["term"].array.take(rows))
    kept = when <= scoring_term
    return rows[kept], pupil[rows[kept]], when[kept]


def _history(pupil_terms: pd.DataFrame, scoring_term: int, names: list[str]) -> History:
    """The rows of the pupils on roll in the scoring term, up to and including it."""
    _check_columns(pupil_terms, names)
    terms = term_numbers(pupil_terms["academic_year"], pupil_terms["term"])
    upn_codes, upns = pd.factorize(pupil_terms["upn"])
    on_roll = pd.unique(upn_codes[terms == scoring_term])  # in upload order
    position = np.full(len(upns) + 1, -1)  # the extra slot maps a blank UPN (code -1) to "not on roll"
    position[on_roll] = np.arange(len(on_roll))
    pupil = position[upn_codes]
    keep = (terms <= scoring_term) & (pupil >= 0)
    present = [c for c in source_columns(names) if c in pupil_terms.columns]
    rows = _with_all_columns(pupil_terms.loc[keep, present].reset_index(drop=True), names)
    return History(rows, _upn_index(upns.take(on_roll)), scoring_term, pupil[keep], terms[keep])


def _with_all_columns(rows: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """`rows` with an all-blank column for each optional upload field features `names` read that it lacks."""
    dtypes = spec.canonical_dtypes()
    missing = [c for c in source_columns(names) if c not in rows.columns]
    return rows.assign(**{c: pd.Series(pd.NA, index=rows.index, dtype=dtypes[c]) for c in missing})


def _features(history: History, catalogue: Catalogue) -> pd.DataFrame:
    features = {name: DERIVATIONS[name].compute(history) for name in catalogue.names}
    frame = pd.DataFrame(features).astype(catalogue.dtypes)
    frame.index = history.pupils
    return frame


def _upn_index(values: object) -> pd.Index:
    return pd.Index(values, dtype="string", name="upn")
