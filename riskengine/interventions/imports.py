"""Import a service's intervention and assessment records (shared/spec/interventions.md), validated like
a termly upload: read (CSV in UTF-8 or Windows-1252, or XLSX), map columns, check every cell with pandera,
then whole-row rules; every problem is reported by row, and nothing is stored if any row is wrong.

Problem text may quote the service's own values, so it goes back only to the importer, never to a log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import sqlalchemy as sa

from riskengine.interventions.catalogue import (
    QUALIFICATIONS,
    STAGES,
    STATUSES,
    Instrument,
    InterventionTypes,
    load_instruments,
    load_types,
)
from riskengine.interventions.events import write_assessments, write_interventions
from riskengine.store import Store
from riskengine.store import tables as st
from riskengine.upload import schema
from riskengine.upload.mapping import ColumnMapping, apply_mapping, load_mapping
from riskengine.upload.parsing import parse_new_file, upload_record
from riskengine.upload.problems import UploadResult, combine

INTERVENTIONS_KIND = "interventions"
ASSESSMENTS_KIND = "assessments"
INTERVENTION_COLUMNS = (
    "upn",
    "intervention_id",
    "type",
    "start_date",
    "end_date",
    "status",
    "adviser",
    "prompted_by_run",
    "qualification",
    "notes",
)
INTERVENTION_REQUIRED = ("upn", "type", "start_date", "status")
ASSESSMENT_KEYS = ("upn", "instrument", "date", "stage")
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")
_DATE_PATTERN = r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4}"
_NUMBER = r"[+-]?\d+(?:\.\d+)?"
_LOWER = ("type", "status", "qualification", "instrument", "stage")

#: upns -> a boolean array: which are pupils already in the store.
Known = Callable[[pd.Series], np.ndarray]


def parse_dates(cells: pd.Series) -> pd.Series:
    """ISO `YYYY-MM-DD` or UK `DD/MM/YYYY` text as datetime64 (NaT when blank or not a real date)."""
    parsed = pd.Series(pd.NaT, index=cells.index, dtype="datetime64[ns]")
    for format_ in _DATE_FORMATS:
        parsed = parsed.fillna(pd.to_datetime(cells, format=format_, errors="coerce"))
    return parsed


def _date_checks() -> list[pa.Check]:
    return [
        pa.Check(
            lambda s: s.str.fullmatch(_DATE_PATTERN).fillna(False) & parse_dates(s).notna(),
            error="'{value}' should be a date written like 2025-01-31 (or 31/01/2025)",
        )
    ]


def _text_check(limit: int) -> list[pa.Check]:
    return [pa.Check(lambda s: s.str.len() <= limit, error=f"is longer than {limit:,} characters")]


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    if "upn" in frame:
        frame["upn"] = schema.normalised_upns(frame["upn"])
    for column in frame.columns.intersection(_LOWER):
        frame[column] = frame[column].str.casefold()
    return frame


def _unknown_pupil_check(known: Known) -> schema.RowCheck:
    return schema.RowCheck(
        "pupil_in_store",
        "upn",
        lambda f: pd.Series(known(f["upn"]), index=f.index) | f["upn"].isna(),
        lambda f: pd.Series("no pupil with this UPN has been uploaded by a school yet", index=f.index),
        ("upn",),
    )


def _finish(
    cells: pd.DataFrame,
    mapping: ColumnMapping,
    canonical: Sequence[str],
    required: Sequence[str],
    checks: dict[str, list[pa.Check]],
) -> tuple[pd.DataFrame, dict[str, str], pd.DataFrame, pd.DataFrame]:
    """Map and run the column checks: (normalised frame, file columns, errors, warnings)."""
    mapped, file_columns, errors, warnings = apply_mapping(cells, mapping, canonical, required)
    as_written, mapped = mapped, _normalise(mapped)
    column_errors = schema.run_column_checks(
        mapped, schema.column_schema(checks, mapped.columns, required), file_columns, as_written
    )
    return mapped, file_columns, combine(errors, column_errors), warnings


# --- interventions ---------------------------------------------------------------------------------------


def intervention_validator(
    types: InterventionTypes,
    known: Known,
    known_runs: Callable[[], set[int]],
    owners: Callable[[pd.Series], pd.Series] = lambda ids: pd.Series(pd.NA, index=ids.index, dtype="string"),
) -> Callable[[pd.DataFrame, ColumnMapping], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    """A validator (cells, mapping) -> (typed events, errors, warnings) for interventions.csv."""
    checks: dict[str, list[pa.Check]] = {
        "upn": schema.upn_checks(),
        "intervention_id": _text_check(64),
        "type": schema.one_of(types.ids, f"one of the intervention types ({', '.join(types.ids)})"),
        "start_date": _date_checks(),
        "end_date": _date_checks(),
        "status": schema.one_of(STATUSES, f"a status ({', '.join(STATUSES)})"),
        "adviser": _text_check(255),
        "prompted_by_run": schema.whole_number(0, 10**9, " (a scoring run's id)"),
        "qualification": schema.one_of(QUALIFICATIONS, f"a qualification ({', '.join(QUALIFICATIONS)})"),
        "notes": _text_check(5000),
    }

    def validate(cells: pd.DataFrame, mapping: ColumnMapping):
        frame, file_columns, errors, warnings = _finish(
            cells, mapping, INTERVENTION_COLUMNS, INTERVENTION_REQUIRED, checks
        )
        typed = pd.DataFrame(index=frame.index)
        for column in INTERVENTION_COLUMNS:
            cells_ = frame[column] if column in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
            if column.endswith("_date"):
                typed[column] = parse_dates(cells_)
            elif column == "prompted_by_run":
                typed[column] = schema.whole_numbers(cells_)
            else:
                typed[column] = cells_.astype("string")
        runs = known_runs()
        row_checks = [
            _unknown_pupil_check(known),
            schema.RowCheck(
                "end_after_start",
                "end_date",
                lambda f: ~(f["end_date"] < f["start_date"]).fillna(False),
                lambda f: "the end date is before the start date " + f["start_date"].dt.strftime("%Y-%m-%d"),
                ("start_date", "end_date"),
            ),
            schema.RowCheck(
                "run_exists",
                "prompted_by_run",
                lambda f: f["prompted_by_run"].isna() | f["prompted_by_run"].isin(list(runs)),
                lambda f: "there is no scoring run " + f["prompted_by_run"].astype("string"),
                ("prompted_by_run",),
            ),
            schema.RowCheck(
                "same_pupil_as_stored",
                "intervention_id",
                lambda f: (
                    owners(f["intervention_id"]).isna() | (owners(f["intervention_id"]) == f["upn"])
                ).fillna(True),
                lambda f: pd.Series(
                    "this intervention_id is already recorded for another pupil", index=f.index
                ),
                ("intervention_id", "upn"),
            ),
            schema.RowCheck(
                "one_pupil_per_intervention",
                "intervention_id",
                lambda f: (
                    f.groupby("intervention_id", dropna=False)["upn"].transform("nunique").le(1)
                    | f["intervention_id"].isna()
                ),
                lambda f: pd.Series("rows sharing this intervention_id name different pupils", index=f.index),
                ("intervention_id", "upn"),
            ),
        ]
        errors = combine(errors, schema.run_row_checks(typed, row_checks, file_columns))
        return typed, errors, warnings

    return validate


# --- assessments -----------------------------------------------------------------------------------------


def assessment_validator(
    instruments: dict[str, Instrument], known: Known
) -> Callable[[pd.DataFrame, ColumnMapping], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    """A validator for assessments.csv: keys, then each row's subscales as its instrument defines them."""
    subscales = tuple(dict.fromkeys(s for i in instruments.values() for s in i.subscale_names))
    canonical = (*ASSESSMENT_KEYS, *subscales)
    ids = tuple(instruments)
    checks: dict[str, list[pa.Check]] = {
        "upn": schema.upn_checks(),
        "instrument": schema.one_of(ids, f"an instrument defined in the project ({', '.join(ids)})"),
        "date": _date_checks(),
        "stage": schema.one_of(STAGES, f"a stage ({', '.join(STAGES)})"),
        **{
            s: [pa.Check(lambda c: c.str.fullmatch(_NUMBER).fillna(False), error="'{value}' is not a number")]
            for s in subscales
        },
    }

    def scored(instrument: Instrument, name: str) -> schema.RowCheck:
        def ok(f: pd.DataFrame) -> pd.Series:
            own = f["instrument"] == instrument.id
            value = f[name] if name in f else pd.Series(np.nan, index=f.index)
            inside = value.between(instrument.low, instrument.high).fillna(False)
            return ~own.fillna(False) | inside

        def message(f: pd.DataFrame) -> pd.Series:
            value = f[name].astype("string").fillna("blank") if name in f else "blank"
            limits = f"{instrument.low:g} to {instrument.high:g}"
            return (
                pd.Series(f"{instrument.id} needs a {name} score from {limits}, not ", index=f.index) + value
            )

        return schema.RowCheck(f"scored_{instrument.id}_{name}", name, ok, message, ("instrument",))

    def validate(cells: pd.DataFrame, mapping: ColumnMapping):
        frame, file_columns, errors, warnings = _finish(cells, mapping, canonical, ASSESSMENT_KEYS, checks)
        typed = pd.DataFrame(index=frame.index)
        for column in canonical:
            cells_ = frame[column] if column in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
            if column == "date":
                typed[column] = parse_dates(cells_)
            elif column in subscales:
                numbers = cells_.where(cells_.str.fullmatch(_NUMBER).fillna(False))
                typed[column] = pd.to_numeric(numbers, errors="coerce").astype("Float64")
            else:
                typed[column] = cells_.astype("string")
        used = [i for i in instruments.values() if (typed["instrument"] == i.id).any()]
        row_checks = [_unknown_pupil_check(known)]
        row_checks += [scored(i, name) for i in used for name in i.subscale_names]
        errors = combine(errors, schema.run_row_checks(typed, row_checks, file_columns))
        return typed, errors, warnings

    return validate


# --- storing ---------------------------------------------------------------------------------------------


def _known_pupils(store: Store) -> Known:
    def known(upns: pd.Series) -> np.ndarray:
        wanted = sorted(set(upns.dropna().astype(str)))
        with store.engine.connect() as connection:
            held = {
                row[0]
                for start in range(0, len(wanted), 1000)
                for row in connection.execute(
                    sa.select(st.pupils.c.upn).where(st.pupils.c.upn.in_(wanted[start : start + 1000]))
                )
            }
        return upns.astype("string").isin(held).fillna(False).to_numpy(dtype=bool)

    return known


def _stored_owners(store: Store) -> Callable[[pd.Series], pd.Series]:
    """intervention ids -> the pupil each is already recorded for (NA when new)."""
    from riskengine.web.tables import interventions

    def owners(ids: pd.Series) -> pd.Series:
        wanted = sorted(set(ids.dropna().astype(str)))
        with store.engine.connect() as connection:
            held = dict(
                row
                for start in range(0, len(wanted), 1000)
                for row in connection.execute(
                    sa.select(interventions.c.intervention_id, interventions.c.upn)
                    .where(interventions.c.intervention_id.in_(wanted[start : start + 1000]))
                    .distinct()
                )
            )
        return ids.astype("string").map(held).astype("string")

    return owners


def _known_runs(store: Store) -> Callable[[], set[int]]:
    def runs() -> set[int]:
        with store.engine.connect() as connection:
            return {int(r) for r in connection.execute(sa.select(st.score_runs.c.id)).scalars()}

    return runs


def _import(
    store: Store,
    data: bytes,
    filename: str,
    mapping: str | Path | ColumnMapping | None,
    uploaded_by: str,
    kind: str,
    canonical: Sequence[str],
    validate,
    write: Callable[[pd.DataFrame, dict], int],
) -> UploadResult:
    mapping = load_mapping(mapping, canonical)
    result, parsed = parse_new_file(store, data, filename, mapping, kind, validate)
    if parsed is None:
        return result
    upload = upload_record(filename, result.sha256, mapping, parsed, uploaded_by) | {"kind": kind}
    result.upload_id = write(parsed.typed, upload)
    result.status = "stored"
    result.counts.update(stored=len(parsed.typed), warnings=len(parsed.warnings))
    return result


def import_interventions_bytes(
    store: Store,
    data: bytes,
    filename: str,
    mapping: str | Path | ColumnMapping | None = None,
    uploaded_by: str = "cli",
    types: InterventionTypes | None = None,
) -> UploadResult:
    """Validate an interventions file and, only if every row is right, append its events in one
    transaction (re-importing the identical file is a recorded no-op)."""
    types = types or load_types()
    validate = intervention_validator(types, _known_pupils(store), _known_runs(store), _stored_owners(store))
    return _import(
        store,
        data,
        filename,
        mapping,
        uploaded_by,
        INTERVENTIONS_KIND,
        INTERVENTION_COLUMNS,
        validate,
        lambda frame, upload: write_interventions(store, frame, upload=upload),
    )


def import_assessments_bytes(
    store: Store,
    data: bytes,
    filename: str,
    mapping: str | Path | ColumnMapping | None = None,
    uploaded_by: str = "cli",
    instruments: dict[str, Instrument] | None = None,
) -> UploadResult:
    """Validate an assessments file and, only if every row is right, store it in one transaction."""
    instruments = instruments or load_instruments()
    subscales = tuple(dict.fromkeys(s for i in instruments.values() for s in i.subscale_names))
    return _import(
        store,
        data,
        filename,
        mapping,
        uploaded_by,
        ASSESSMENTS_KIND,
        (*ASSESSMENT_KEYS, *subscales),
        assessment_validator(instruments, _known_pupils(store)),
        lambda frame, upload: write_assessments(store, frame, instruments, upload=upload),
    )


def import_interventions(store: Store, path: str | Path, **options) -> UploadResult:
    """`import_interventions_bytes` for a file on disk."""
    path = Path(path)
    return import_interventions_bytes(store, path.read_bytes(), path.name, **options)


def import_assessments(store: Store, path: str | Path, **options) -> UploadResult:
    """`import_assessments_bytes` for a file on disk."""
    path = Path(path)
    return import_assessments_bytes(store, path.read_bytes(), path.name, **options)
