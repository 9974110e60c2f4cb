"""Upload one school's termly pupil file: read, map, validate against the spec, then store atomically.

`upload_file` (a path) and `upload_bytes` (what a web form receives) behave identically; nothing is
written unless the whole file is valid, and re-sending the identical file is a recorded no-op.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from riskengine import enrolment
from riskengine.spec import upload as spec
from riskengine.store import Store
from riskengine.store.store import PUPIL_TERMS_KIND
from riskengine.upload import schema
from riskengine.upload.absent import absent_column_warnings
from riskengine.upload.history import history_warnings
from riskengine.upload.identity import identity_frame, identity_problems, identity_recorder
from riskengine.upload.mapping import ColumnMapping, apply_mapping, load_mapping
from riskengine.upload.parsing import Parsed, parse, read_checked, upload_record
from riskengine.upload.problems import UploadResult, combine

if TYPE_CHECKING:
    from riskengine.evaluation.attributes import AuditColumns

#: The columns a file may carry: the canonical ones and the identity ones (stored apart).
CANONICAL = (*spec.COLUMNS, *spec.IDENTITY_COLUMNS)
_UPPER = ("sen_provision", "sen_primary_need", "sex", "ethnicity")
_LOWER = ("term", *spec.BOOL_COLUMNS)


def check_upload_request(school_urn: str, academic_year: str, term: str) -> None:
    """The upload's own school, year and term must be valid before any file is looked at."""
    if not (len(school_urn) == 6 and school_urn.isdigit()):
        raise ValueError(f"school URN should be 6 digits, not {school_urn!r}")
    if not spec.is_valid_academic_year(academic_year):
        raise ValueError(f"academic year should look like 2024/25, not {academic_year!r}")
    if term not in spec.TERMS:
        raise ValueError(f"term should be one of {', '.join(spec.TERMS)}, not {term!r}")


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Case-fold codes so 'k' means K and 'Autumn' means autumn; values are already trimmed text."""
    frame = frame.copy()
    if "upn" in frame:
        frame["upn"] = schema.normalised_upns(frame["upn"])
    for column in frame.columns.intersection(_UPPER):
        frame[column] = frame[column].str.upper()
    for column in frame.columns.intersection(_LOWER):
        frame[column] = frame[column].str.casefold()
    return frame


def to_canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Normalised text cells -> the canonical pupil-terms frame (spec columns and dtypes; cells that
    failed validation become NA). Columns the file lacks are NA (unknown)."""
    return schema.typed_cells(frame, spec.canonical_dtypes())


def validate_pupil_cells(
    cells: pd.DataFrame, mapping: ColumnMapping, upload_values: dict[str, str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(canonical frame, errors, warnings) for a file's text cells. `upload_values` (school_urn,
    academic_year, term) are what the upload claims; rows that disagree are errors."""
    upload_values = upload_values or {}
    frame, file_columns, map_errors, map_warnings = apply_mapping(
        cells, mapping, CANONICAL, spec.REQUIRED_COLUMNS, upload_values
    )
    identity_cells = frame[[c for c in frame.columns if c in spec.IDENTITY_COLUMNS]]
    frame = frame.drop(columns=identity_cells.columns)
    as_written, frame = frame, normalise(frame)
    column_errors = schema.run_column_checks(
        frame,
        schema.column_schema(schema.PUPIL_CHECKS, frame.columns, spec.KEY_COLUMNS),
        file_columns,
        as_written,
    )
    typed = to_canonical(frame)
    present = typed[list(frame.columns)]
    row_errors = schema.run_row_checks(present, schema.pupil_row_checks(upload_values), file_columns)
    warnings = schema.run_column_checks(
        present,
        schema.column_schema(schema.pupil_warning_checks(), present.columns, refuse_formulas=False),
        file_columns,
    )
    if not identity_cells.columns.empty:  # checked here, split off again before anything is stored
        identity_errors = combine(
            schema.run_column_checks(
                identity_cells, schema.column_schema({}, identity_cells.columns), file_columns
            ),
            identity_problems(identity_cells, typed, file_columns),
        )
        row_errors = combine(row_errors, identity_errors)
        typed = typed.join(identity_frame(identity_cells, typed["upn"]).drop(columns="upn"))
    absent = absent_column_warnings(frame.columns)
    return typed, combine(map_errors, column_errors, row_errors), combine(map_warnings, absent, warnings)


def read_pupil_file(
    source: str | Path | bytes, mapping: str | Path | ColumnMapping | None = None, filename: str | None = None
) -> pd.DataFrame:
    """Parse, map and validate a termly file without storing it (e.g. in a notebook): the canonical
    pupil-terms frame (never the identity columns), or `InvalidFile` listing every error."""
    return read_checked(source, mapping, filename, validate_pupil_cells, CANONICAL)[list(spec.COLUMNS)]


def upload_bytes(
    store: Store,
    data: bytes,
    filename: str,
    school_urn: str,
    academic_year: str,
    term: str,
    mapping: str | Path | ColumnMapping | None = None,
    uploaded_by: str = "cli",
) -> UploadResult:
    """Validate a termly file and, only if it has no errors, store it as the school's term in one
    transaction (replacing an earlier upload of that term). Identical bytes already stored: no-op."""
    check_upload_request(school_urn, academic_year, term)
    mapping = load_mapping(mapping, CANONICAL)
    sha256 = hashlib.sha256(data).hexdigest()
    result = UploadResult(status="rejected", filename=filename, sha256=sha256)
    current = store.active_upload(PUPIL_TERMS_KIND, school_urn, academic_year, term)
    if current is not None and current["sha256"] == sha256 and current["mapping_sha256"] == mapping.sha256:
        result.status, result.upload_id = "unchanged", current["id"]
        result.counts = {"rows": current["n_rows"], "stored": 0}
        return result
    request = {"school_urn": school_urn, "academic_year": academic_year, "term": term}
    audit = audit_columns()
    parsed = parse(
        data, filename, mapping, lambda cells, m: validate_pupil_cells(audit.take(cells), m, request)
    )
    return store_parsed(store, parsed, result, mapping, request, uploaded_by, audit=audit)


def audit_columns() -> AuditColumns:
    """What takes the declared audit-only columns out of a file's cells: stored, never features."""
    from riskengine.evaluation.attributes import AuditColumns, declared_extra_attributes

    return AuditColumns(declared_extra_attributes())


def store_parsed(
    store: Store,
    parsed: Parsed,
    result: UploadResult,
    mapping: ColumnMapping,
    request: dict[str, str],
    uploaded_by: str,
    check: bool = False,
    audit: AuditColumns | None = None,
) -> UploadResult:
    """Store one validated term of one school with its identity rows, enrolment conflicts and declared audit
    attributes, all in one transaction (or, with `check`, only add the history and enrolment warnings)."""
    result.errors = parsed.errors
    result.counts = {"rows": parsed.n_rows, "errors": len(parsed.errors)}
    if len(parsed.errors):
        return result
    school_urn, academic_year, term = request["school_urn"], request["academic_year"], request["term"]
    identity = parsed.typed.reindex(columns=["upn", *spec.IDENTITY_COLUMNS])
    parsed.typed = parsed.typed[list(spec.COLUMNS)]
    conflicts = enrolment.find_conflicts(store, parsed.typed, school_urn, academic_year, term)
    parsed.warnings = combine(
        parsed.warnings,
        history_warnings(store, parsed.typed, school_urn, academic_year, term),
        enrolment.conflict_warnings(conflicts),
    )
    result.warnings = parsed.warnings
    result.counts["warnings"] = len(result.warnings)
    if check:
        result.status = "checked"
        return result
    write_conflicts = enrolment.conflict_recorder(conflicts, school_urn, academic_year, term)
    write_identity = identity_recorder(identity, school_urn)

    def also(connection, upload_id: int) -> None:
        write_identity(connection, upload_id)
        write_conflicts(connection, upload_id)

    stored = store.write_pupil_terms(
        parsed.typed,
        school_urn=school_urn,
        academic_year=academic_year,
        term=term,
        upload=upload_record(result.filename, result.sha256, mapping, parsed, uploaded_by),
        also=also,
        audit_attributes=audit.rows if audit is not None else None,
    )
    result.status = "replaced" if stored.replaced_upload_id is not None else "stored"
    result.upload_id = stored.upload_id
    result.counts.update(stored=stored.n_stored, replaced=stored.n_replaced)
    if audit is not None:
        result.counts["audit_attributes"] = len(audit.stored_names)
    return result


def upload_file(
    store: Store,
    path: str | Path,
    school_urn: str,
    academic_year: str,
    term: str,
    mapping: str | Path | ColumnMapping | None = None,
    uploaded_by: str = "cli",
) -> UploadResult:
    """`upload_bytes` for a file on disk."""
    path = Path(path)
    return upload_bytes(
        store, path.read_bytes(), path.name, school_urn, academic_year, term, mapping, uploaded_by
    )
