"""The optional identity columns (forename, surname, date_of_birth, tutor_group): checked with the rest of
the file, then kept apart from the pupil-terms so they never reach features, models or evaluations.

A date of birth must fit the pupil's National Curriculum year within a year (age on 31 August before the
academic year = NC year + 5). The store keeps the latest value per pupil and school: a later upload may add
or change a value; a blank cell leaves the one already held.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from riskengine.spec import upload as spec
from riskengine.store import tables as t
from riskengine.upload.problems import combine, problems

MAX_LENGTH = {"forename": 100, "surname": 100, "tutor_group": 40}
_DATE_SHAPE = r"\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4}"


def dates_of_birth(cells: pd.Series) -> pd.Series:
    """YYYY-MM-DD or DD/MM/YYYY text -> datetime64 (NaT where blank or not a real date)."""
    shaped = cells.where(cells.str.fullmatch(_DATE_SHAPE).fillna(False))
    parsed = [pd.to_datetime(shaped, format=f, errors="coerce") for f in spec.DATE_OF_BIRTH_FORMATS]
    return parsed[0].fillna(parsed[1])


def identity_problems(cells: pd.DataFrame, typed: pd.DataFrame, file_columns: dict[str, str]) -> pd.DataFrame:
    """Row errors in the identity columns present in `cells` (text, indexed by file row); `typed` gives
    each row's NC year and academic year."""
    found = []
    for column, limit in MAX_LENGTH.items():
        if column in cells:
            long = cells[column].str.len().gt(limit).fillna(False)
            rows = cells.index[long.to_numpy()]
            found.append(
                problems(rows, [column] * len(rows), [f"is longer than {limit} characters"] * len(rows))
            )
    if "date_of_birth" in cells:
        text = cells["date_of_birth"]
        born = dates_of_birth(text)
        unreadable = text.notna() & born.isna()
        rows = cells.index[unreadable.to_numpy()]
        found.append(
            problems(
                rows,
                ["date_of_birth"] * len(rows),
                "'" + text[unreadable] + "' should be a date written like 2011-05-31 or 31/05/2011",
            )
        )
        start = typed["academic_year"].str.slice(0, 4).astype("Int64")
        after_august = (born.dt.month > 8).astype("Int64")
        age = start - born.dt.year.astype("Int64") - after_august
        expected = typed["ncyear"] + 5
        wrong = ((age - expected).abs() > spec.DOB_TOLERANCE_YEARS).fillna(False)
        rows = cells.index[wrong.to_numpy()]
        found.append(
            problems(
                rows,
                ["date_of_birth"] * len(rows),
                "'"
                + text[wrong]
                + "' makes the pupil "
                + age[wrong].astype("string")
                + " on 31 August before this academic year, but Year "
                + typed.loc[wrong, "ncyear"].astype("string")
                + " pupils are "
                + expected[wrong].astype("string")
                + "; please check the date or the ncyear",
            )
        )
    frame = combine(*found)
    frame["file_column"] = frame["column"].map(file_columns).astype("string")
    return frame


def identity_frame(cells: pd.DataFrame, upns: pd.Series) -> pd.DataFrame:
    """upn plus every identity column (NA where the file lacks it), typed for the store."""
    out = pd.DataFrame({"upn": upns}, index=cells.index)
    for column in spec.IDENTITY_COLUMNS:
        values = cells[column] if column in cells else pd.Series(pd.NA, index=cells.index, dtype="string")
        out[column] = dates_of_birth(values).dt.date if column == "date_of_birth" else values
    return out


def identity_recorder(identity: pd.DataFrame, school_urn: str) -> Callable[[sa.Connection, int], None]:
    """Writes the latest identity of each pupil at this school inside the upload's transaction: values
    given replace those held; blank cells keep them."""
    given = identity[identity[list(spec.IDENTITY_COLUMNS)].notna().any(axis=1)]

    def record(connection: sa.Connection, upload_id: int) -> None:
        if given.empty:
            return
        if connection.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        table = t.pupil_identity
        now = datetime.now(UTC)
        columns = ["upn", *spec.IDENTITY_COLUMNS]
        arrays = [given[c].astype(object).where(given[c].notna(), None).tolist() for c in columns]
        rows = [
            dict(
                zip(columns, values, strict=True), school_urn=school_urn, upload_id=upload_id, updated_at=now
            )
            for values in zip(*arrays, strict=True)
        ]
        statement = insert(table)
        keep = {c: sa.func.coalesce(statement.excluded[c], table.c[c]) for c in spec.IDENTITY_COLUMNS}
        statement = statement.on_conflict_do_update(
            index_elements=["upn", "school_urn"],
            set_={
                **keep,
                "upload_id": statement.excluded.upload_id,
                "updated_at": statement.excluded.updated_at,
            },
        )
        connection.execute(statement, rows)

    return record
