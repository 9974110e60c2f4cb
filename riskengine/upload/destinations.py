"""Load an NCCIS destinations file the same way as a termly upload: read, map, validate, store atomically.

Rows already held (same upn, activity code and date) are kept once, so overlapping extracts can be loaded
in any order; the identical file twice is a no-op.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from riskengine.spec import destinations as spec
from riskengine.store import Store
from riskengine.store.store import DESTINATIONS_KIND
from riskengine.upload import schema
from riskengine.upload.mapping import ColumnMapping, apply_mapping, load_mapping
from riskengine.upload.parsing import parse_new_file, read_checked, upload_record
from riskengine.upload.problems import UploadResult, combine, problems

#: One activity: a repeat of it (in this file or an earlier one) is stored once.
ACTIVITY_KEY = ("upn", "activity_code", "activity_date")


def to_canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Validated text cells -> the canonical destinations frame (spec columns and dtypes)."""
    return schema.typed_cells(frame, spec.canonical_dtypes())


def validate_destination_cells(
    cells: pd.DataFrame, mapping: ColumnMapping
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(canonical frame, errors, warnings) for a destinations file's text cells."""
    frame, file_columns, errors, warnings = apply_mapping(cells, mapping, spec.COLUMNS, spec.REQUIRED_COLUMNS)
    as_written, frame = frame, frame.copy()
    if "upn" in frame:
        frame["upn"] = schema.normalised_upns(frame["upn"])
    column_errors = schema.run_column_checks(
        frame,
        schema.column_schema(schema.DEST_CHECKS, frame.columns, spec.REQUIRED_COLUMNS),
        file_columns,
        as_written,
    )
    typed = to_canonical(frame)
    repeated = typed.duplicated(subset=list(ACTIVITY_KEY)) & typed["upn"].notna()
    repeats = problems(
        typed.index[repeated],
        ["upn"] * int(repeated.sum()),
        ["this activity repeats an earlier row; it is stored once"] * int(repeated.sum()),
    )
    return typed, combine(errors, column_errors), combine(warnings, repeats)


def read_destinations_file(
    source: str | Path | bytes, mapping: str | Path | ColumnMapping | None = None, filename: str | None = None
) -> pd.DataFrame:
    """Parse, map and validate a destinations file without storing it; raises `InvalidFile`."""
    return read_checked(source, mapping, filename, validate_destination_cells, spec.COLUMNS)


def load_destinations_bytes(
    store: Store,
    data: bytes,
    filename: str,
    mapping: str | Path | ColumnMapping | None = None,
    uploaded_by: str = "cli",
    as_of: dt.date | None = None,
    check: bool = False,
) -> UploadResult:
    """Validate a destinations file and, only if it has no errors, add its rows in one transaction.

    `as_of` is the day the extract was taken (default today), recorded with it: outcome windows that end
    by then count as closed (`riskengine.cohorts`). `check` validates without storing."""
    mapping = load_mapping(mapping, spec.COLUMNS)
    result, parsed = parse_new_file(
        store, data, filename, mapping, DESTINATIONS_KIND, validate_destination_cells
    )
    if parsed is None:
        return result
    as_of = as_of or dt.date.today()
    newest = pd.to_datetime(parsed.typed["activity_date"]).max()
    if pd.notna(newest) and newest.date() > as_of:
        parsed.warnings = combine(
            parsed.warnings,
            problems(
                [None],
                ["activity_date"],
                [
                    f"the newest activity is dated {newest.date()}, after the as-of date {as_of}; "
                    "check --as-of is the day the extract was taken"
                ],
            ),
        )
        result.warnings = parsed.warnings
    if check:
        result.status = "checked"
        result.counts["warnings"] = len(parsed.warnings)
        return result
    unique = parsed.typed.drop_duplicates(subset=list(ACTIVITY_KEY))
    record = upload_record(filename, result.sha256, mapping, parsed, uploaded_by) | {"as_of": as_of}
    stored = store.write_destinations(unique, upload=record)
    result.status, result.upload_id = "stored", stored.upload_id
    result.counts.update(stored=stored.n_stored, already_held=len(unique) - stored.n_stored)
    result.counts["warnings"] = len(parsed.warnings)
    return result


def load_destinations(
    store: Store,
    path: str | Path,
    mapping: str | Path | ColumnMapping | None = None,
    uploaded_by: str = "cli",
    as_of: dt.date | None = None,
) -> UploadResult:
    """`load_destinations_bytes` for a file on disk."""
    path = Path(path)
    return load_destinations_bytes(store, path.read_bytes(), path.name, mapping, uploaded_by, as_of)
