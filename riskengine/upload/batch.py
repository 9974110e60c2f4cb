"""Load many files at once: `load_paths` for termly pupil files, `load_destination_paths` for NCCIS extracts.

Paths may be files or folders (read recursively), in any mix; one file may hold many schools and terms
(a local authority's combined extract). Each file is split by school, academic year and term; each part is
validated and stored in its own transaction, and parts are stored in term order, because each is compared
with the school's previous term. Where a file has school, year and term columns they decide; the options
are for files without them, and an option that disagrees with the file's own column refuses that file.
A refused file stops nothing else unless `stop_on_error`; `check` validates everything and stores nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from riskengine.spec import destinations as dest_spec
from riskengine.spec import upload as spec
from riskengine.store import Store
from riskengine.store.store import PUPIL_TERMS_KIND
from riskengine.upload.destinations import load_destinations_bytes
from riskengine.upload.mapping import ColumnMapping, load_mapping
from riskengine.upload.parsing import Parsed
from riskengine.upload.problems import UploadResult, combine, problems
from riskengine.upload.pupil_terms import (
    CANONICAL,
    audit_columns,
    check_upload_request,
    store_parsed,
    validate_pupil_cells,
)
from riskengine.upload.reading import FileProblem, read_table

SUFFIXES = (".csv", ".xlsx", ".xlsm")
KEYS = ("school_urn", "academic_year", "term")
SUMMARY_COLUMNS = ("file", "school", "term", "rows", "status", "warnings", "errors")
REFUSED, SKIPPED = "rejected", "skipped"  # "rejected" is shown as "refused"


def find_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every file named, and every CSV or Excel file under each folder named (sorted), once each."""
    found: dict[Path, None] = {}
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.casefold() in SUFFIXES)
            found.update(dict.fromkeys(f for f in files if not f.name.startswith(("~$", "."))))
        elif path.exists():
            found[path] = None
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return list(found)


@dataclass
class BatchResult:
    """What a batch load did: one `UploadResult` per part (or per file refused whole), in order stored.

    `summary` is the tidy table the CLI prints: file, school, term, rows, status, warnings, errors.
    """

    results: list[UploadResult] = field(default_factory=list)
    parts: list[dict[str, str]] = field(default_factory=list)  # file, school, term of each result

    def add(self, result: UploadResult, file: str, school: str = "", term: str = "") -> None:
        self.results.append(result)
        self.parts.append({"file": file, "school": school, "term": term})

    @property
    def ok(self) -> bool:
        return all(r.status != REFUSED for r in self.results)

    @property
    def summary(self) -> pd.DataFrame:
        rows = [
            {
                **part,
                "rows": int(r.counts.get("rows", 0)),
                "status": "refused" if r.status == REFUSED else r.status,
                "warnings": len(r.warnings),
                "errors": len(r.errors),
            }
            for part, r in zip(self.parts, self.results, strict=True)
        ]
        return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))

    def problems_frame(self) -> pd.DataFrame:
        """Every error and warning, with the file, school and term it belongs to (the --errors-csv)."""
        frames = [
            r.problems_frame().assign(**part)
            for part, r in zip(self.parts, self.results, strict=True)
            if len(r.errors) or len(r.warnings)
        ]
        columns = ["file", "school", "term", "severity", "row", "column", "file_column", "message"]
        return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _refused(filename: str, sha256: str, errors: pd.DataFrame, n_rows: int = 0) -> UploadResult:
    result = UploadResult(status=REFUSED, filename=filename, sha256=sha256, errors=errors)
    result.counts = {"rows": n_rows, "errors": len(errors)}
    return result


def _key_columns(cells: pd.DataFrame, mapping: ColumnMapping) -> dict[str, str]:
    """canonical key column -> the file's header for it, as the mapping reads headers."""
    lookup = {c.casefold(): c for c in spec.COLUMNS} | {k.casefold(): v for k, v in mapping.columns.items()}
    found: dict[str, str] = {}
    for header in cells.columns:
        target = lookup.get(str(header).casefold())
        if target in KEYS and target not in found:
            found[target] = header
    return found


def split_parts(
    cells: pd.DataFrame, mapping: ColumnMapping, given: dict[str, str | None]
) -> tuple[dict[tuple[str, str, str], pd.Index], pd.DataFrame]:
    """(school, year, term) -> the file rows of that part, or errors that refuse the whole file.

    A key given as an option makes the whole file that one school, year or term (rows whose own column
    disagrees are then refused by the row checks); otherwise the file's own column splits it.
    """
    headers = _key_columns(cells, mapping)
    keys, errors = {}, []
    for column in KEYS:
        option = given.get(column)
        if column in headers:
            values = cells[headers[column]].astype("string").str.strip()
            table = {k.casefold(): v for k, v in mapping.values.get(column, {}).items()}
            if table:
                values = values.str.casefold().map(table).astype("string").fillna(values)
            keys[column] = values.str.casefold() if column == "term" else values
        if option is not None:
            if column in headers:  # invalid values are left to the row checks, which say why row by row
                said = sorted({v for v in keys[column].dropna().unique() if _VALID[column](v)} - {option})
                if said:
                    errors.append(
                        (None, column, f"the file's {column} column says {', '.join(said[:4])}, but the "
                         f"--{_OPTION[column]} option says {option}; leave the option out to load every "
                         f"{_OPTION[column]} in the file")
                    )  # fmt: skip
            keys[column] = pd.Series(option, index=cells.index, dtype="string")
        elif column not in headers:
            errors.append(
                (None, column, f"the file has no {column} column; give it with --{_OPTION[column]}")
            )
    if errors:
        return {}, problems(*zip(*errors, strict=True))
    frame = pd.DataFrame(keys)
    valid = pd.Series(True, index=frame.index)
    for column in KEYS:
        codes, uniques = pd.factorize(frame[column])
        ok = np.array([_VALID[column](v) for v in uniques] + [False], dtype=bool)
        valid &= ok[codes]  # code -1 (blank) picks the final False
    if not valid.all():
        bad = frame.index[~valid.to_numpy()]
        messages = ["this row's school URN, academic year or term is blank or not valid, so the file cannot "
                    "be split by school and term"] * len(bad)  # fmt: skip
        return {}, problems(bad, [None] * len(bad), messages)
    groups = frame.groupby(list(KEYS), sort=True).groups
    return {tuple(k): v for k, v in groups.items()}, problems()


_OPTION = {"school_urn": "school", "academic_year": "year", "term": "term"}
_VALID = {
    "school_urn": lambda v: len(v) == 6 and v.isdigit(),
    "academic_year": spec.is_valid_academic_year,
    "term": lambda v: v in spec.TERMS,
}


def _part_sha256(file_sha256: str, part: pd.DataFrame, whole: bool) -> str:
    """The file's own SHA-256 when the part is the whole file (as a single upload records), else a hash
    of the part's rows, so re-loading an unchanged part of a combined file is recognised."""
    if whole:
        return file_sha256
    rows = pd.util.hash_pandas_object(part, index=True).to_numpy().tobytes()
    return hashlib.sha256("|".join(part.columns).encode() + rows).hexdigest()


def load_paths(
    store: Store,
    paths: Sequence[str | Path],
    *,
    school_urn: str | None = None,
    academic_year: str | None = None,
    term: str | None = None,
    mapping: str | Path | ColumnMapping | None = None,
    check: bool = False,
    stop_on_error: bool = False,
    uploaded_by: str = "cli",
    progress: bool = False,
) -> BatchResult:
    """Load termly pupil files and folders (see the module docstring); returns what happened to each part.

    `progress` shows tqdm bars on stderr (reading files, then storing parts). With `check`, each part is
    compared with the previous term as already stored (the batch's own earlier parts are not stored).
    """
    given = {"school_urn": school_urn, "academic_year": academic_year, "term": term}
    if any(v is not None for v in given.values()):
        check_upload_request(school_urn or "000000", academic_year or "2000/01", term or spec.TERMS[0])
    mapping = load_mapping(mapping, CANONICAL)
    batch = BatchResult()
    # 1. read every file once, split it into parts, keep only what storing needs
    pending = []  # (term_index, school, order, file, part key, cells, sha256, whole)
    for order, path in enumerate(tqdm(find_files(paths), desc="reading", unit="file", disable=not progress)):
        data = path.read_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        try:
            cells, row_problems = read_table(data, path.name)
        except FileProblem as problem:
            batch.add(_refused(path.name, sha256, problems([None], [None], [str(problem)])), path.name)
            continue
        if _looks_like_destinations(cells):
            skipped = UploadResult(status=SKIPPED, filename=path.name, sha256=sha256)
            skipped.warnings = problems(
                [None], [None], ["this is a destinations file; load it with `riskengine destinations`"]
            )
            batch.add(skipped, path.name)
            continue
        parts, errors = split_parts(cells, mapping, given)
        errors = combine(row_problems, errors)
        if len(errors):
            batch.add(_refused(path.name, sha256, errors, len(cells) + len(row_problems)), path.name)
            if stop_on_error:
                return batch
            continue
        absent = {c: given[c] for c in KEYS if c not in _key_columns(cells, mapping)}
        for key, rows in parts.items():
            part = cells.loc[rows].assign(**absent) if absent else cells.loc[rows]
            pending.append(
                (
                    spec.term_index(key[1], key[2]),
                    key[0],
                    order,
                    path.name,
                    key,
                    part,
                    sha256,
                    len(parts) == 1,
                )
            )
    # 2. store the parts in term order, each in its own transaction
    pending.sort(key=lambda p: p[:3])
    bar = tqdm(total=sum(len(p[5]) for p in pending), desc="loading", unit="row", disable=not progress)
    with bar:
        for _, _, _, filename, (urn, year, term_), part, sha256, whole in pending:
            request = {"school_urn": urn, "academic_year": year, "term": term_}
            result = _load_part(
                store, part, filename, _part_sha256(sha256, part, whole), mapping, request, uploaded_by, check
            )
            batch.add(result, filename, urn, f"{term_} {year}")
            bar.update(len(part))
            if stop_on_error and result.status == REFUSED:
                break
    return batch


def _load_part(
    store: Store,
    part: pd.DataFrame,
    filename: str,
    sha256: str,
    mapping: ColumnMapping,
    request: dict[str, str],
    uploaded_by: str,
    check: bool,
) -> UploadResult:
    """Validate one school's term and store it (one transaction); identical content already held: no-op."""
    result = UploadResult(status=REFUSED, filename=filename, sha256=sha256)
    current = store.active_upload(PUPIL_TERMS_KIND, *request.values())
    if current is not None and current["sha256"] == sha256 and current["mapping_sha256"] == mapping.sha256:
        result.status, result.upload_id = "unchanged", current["id"]
        result.counts = {"rows": current["n_rows"], "stored": 0}
        return result
    audit = audit_columns()
    typed, errors, warnings = validate_pupil_cells(audit.take(part), mapping, request)
    parsed = Parsed(typed, errors, warnings, len(part))
    return store_parsed(store, parsed, result, mapping, request, uploaded_by, check=check, audit=audit)


def _looks_like_destinations(cells: pd.DataFrame) -> bool:
    headers = {str(h).casefold() for h in cells.columns}
    return {"activity_code", "activity_date"} <= headers and "ncyear" not in headers


def load_destination_paths(
    store: Store,
    paths: Sequence[str | Path],
    *,
    as_of: dt.date | str | None = None,
    mapping: str | Path | ColumnMapping | None = None,
    check: bool = False,
    stop_on_error: bool = False,
    uploaded_by: str = "cli",
    progress: bool = False,
) -> BatchResult:
    """Load NCCIS destinations files and folders, each in one transaction, recording the extracts' as-of
    date (default today), which decides whose outcome windows have closed (`riskengine.cohorts`)."""
    as_of = dt.date.today() if as_of is None else pd.Timestamp(as_of).date()
    mapping = load_mapping(mapping, dest_spec.COLUMNS)
    batch = BatchResult()
    for path in tqdm(find_files(paths), desc="loading", unit="file", disable=not progress):
        result = load_destinations_bytes(
            store, path.read_bytes(), path.name, mapping, uploaded_by, as_of=as_of, check=check
        )
        batch.add(result, path.name)
        if stop_on_error and result.status == REFUSED:
            break
    return batch
