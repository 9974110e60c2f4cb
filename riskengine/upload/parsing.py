"""The steps every upload shares, whatever it holds: read the bytes, map and validate the cells, and
describe the accepted file for the uploads table. Termly files and destinations differ only in their
validator."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from riskengine.upload.mapping import ColumnMapping, load_mapping
from riskengine.upload.problems import UploadResult, combine, describe, problems
from riskengine.upload.reading import FileProblem, read_table

if TYPE_CHECKING:
    from riskengine.store import Store

#: cells, mapping -> (canonical frame, errors, warnings)
Validator = Callable[[pd.DataFrame, ColumnMapping], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]


class InvalidFile(ValueError):
    """Raised when a file checked without storing has errors; `errors` is the problems frame."""

    def __init__(self, errors: pd.DataFrame) -> None:
        super().__init__(f"the file has {len(errors)} error(s):\n{describe(errors, limit=20)}")
        self.errors = errors


@dataclass
class Parsed:
    typed: pd.DataFrame
    errors: pd.DataFrame
    warnings: pd.DataFrame
    n_rows: int


def parse(data: bytes, filename: str, mapping: ColumnMapping, validate: Validator) -> Parsed:
    """Read and validate a file; a file that cannot be read at all is one whole-file error."""
    try:
        cells, row_problems = read_table(data, filename)
    except FileProblem as problem:
        return Parsed(pd.DataFrame(), problems([None], [None], [str(problem)]), problems(), 0)
    typed, errors, warnings = validate(cells, mapping)
    return Parsed(typed, combine(row_problems, errors), warnings, len(cells) + len(row_problems))


def parse_new_file(
    store: Store, data: bytes, filename: str, mapping: ColumnMapping, kind: str, validate: Validator
) -> tuple[UploadResult, Parsed | None]:
    """A whole-file import (destinations, interventions, assessments) read and validated, unless the same
    bytes under the same mapping are already stored as `kind` (then the result says "unchanged"). `Parsed`
    is None when there is nothing to store: unchanged, or refused with the result's errors."""
    sha256 = hashlib.sha256(data).hexdigest()
    result = UploadResult(status="rejected", filename=filename, sha256=sha256)
    earlier = store.find_upload(kind, sha256, mapping.sha256)
    if earlier is not None:
        result.status, result.upload_id = "unchanged", earlier["id"]
        result.counts = {"rows": earlier["n_rows"], "stored": 0}
        return result, None
    parsed = parse(data, filename, mapping, validate)
    result.errors, result.warnings = parsed.errors, parsed.warnings
    result.counts = {"rows": parsed.n_rows, "errors": len(parsed.errors)}
    return result, None if len(parsed.errors) else parsed


def read_checked(
    source: str | Path | bytes,
    mapping: str | Path | ColumnMapping | None,
    filename: str | None,
    validate: Validator,
    canonical: tuple[str, ...],
) -> pd.DataFrame:
    """Parse, map and validate without storing; raises `InvalidFile` listing every error."""
    if isinstance(source, bytes):
        data, filename = source, filename or "upload.csv"
    else:
        data, filename = Path(source).read_bytes(), filename or Path(source).name
    parsed = parse(data, filename, load_mapping(mapping, canonical), validate)
    if len(parsed.errors):
        raise InvalidFile(parsed.errors)
    return parsed.typed.reset_index(drop=True)


def upload_record(
    filename: str, sha256: str, mapping: ColumnMapping, parsed: Parsed, uploaded_by: str
) -> dict[str, Any]:
    """The uploads-table fields describing an accepted file."""
    return {
        "filename": filename[:255],
        "sha256": sha256,
        "mapping": mapping.name,
        "mapping_sha256": mapping.sha256,
        "n_rows": parsed.n_rows,
        "n_warnings": len(parsed.warnings),
        "uploaded_by": uploaded_by[:255],
    }
