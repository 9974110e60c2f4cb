"""Turn an uploaded file's bytes into a frame of text cells, whatever the school's software wrote:
CSV in UTF-8 or Windows-1252, with or without BOM, comma, semicolon or tab separated; or XLSX (first sheet).

Nothing is interpreted here: every cell stays text (blank = missing), the index is the file's own row
number (header = row 1), and anything that stops the file being read at all raises `FileProblem` in words
a school data manager understands. Rows of the wrong length are returned as row-level problems.

The file caps of `upload/limits.yaml` (riskengine.web.limits) are enforced before and while reading: an
XLSX is refused from its zip directory and its sheet's declared dimension before a cell is read, and no
more than the capped rows and columns are ever read from either format, whatever the file declares.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime, time
from pathlib import PurePath

import numpy as np
import pandas as pd

from riskengine.upload.problems import problems
from riskengine.web.limits import FileLimits, load_limits

MAX_BYTES = 50 * 1024 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the pre-2007 .xls format


class FileProblem(ValueError):
    """The file as a whole cannot be read; the message is meant for the uploading school."""


def read_table(
    data: bytes, filename: str, limits: FileLimits | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells, problems): cells are text or NA, columns the file's own (trimmed) headers, index the file's
    row numbers; fully blank rows are dropped. Problems are rows of the wrong length. A file over the
    `limits` (default: upload/limits.yaml) raises FileProblem as soon as that is known."""
    limits = limits or load_limits().file
    if len(data) > MAX_BYTES:
        raise FileProblem(
            f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB; a termly file is far smaller"
        )
    if not data.strip():
        raise FileProblem("the file is empty")
    suffix = PurePath(filename).suffix.casefold()
    if data.startswith(_OLE_MAGIC) or suffix == ".xls":
        raise FileProblem("this is the old Excel .xls format; save it as .xlsx or CSV and upload again")
    if data.startswith(_ZIP_MAGIC):
        rows = _xlsx_rows(data, limits)
    elif suffix in (".xlsx", ".xlsm"):
        raise FileProblem("the file is named .xlsx but is not an Excel workbook; save it again from Excel")
    else:
        check_csv(data, limits)
        rows = _csv_rows(_decode(data), limits)
    return _frame(rows)


def check_csv(data: bytes, limits: FileLimits | None = None) -> None:
    """Refuse a CSV over the row cap without parsing it, when that is certain: with no quote character
    in the file, every newline ends a row. (A file with quotes is counted as it is parsed.)"""
    limits = limits or load_limits().file
    if b'"' not in data and data.count(b"\n") > limits.max_rows + 1:
        raise _too_many_rows(limits)


def _too_many_rows(limits: FileLimits) -> FileProblem:
    return FileProblem(
        f"the file has more than {limits.max_rows:,} rows of pupils, the most one upload may hold; "
        "split it, or check it holds one term of one school"
    )


def _too_many_columns(limits: FileLimits, found: int | None = None) -> FileProblem:
    seen = f" ({found:,})" if found else ""
    return FileProblem(
        f"the file has more columns{seen} than the {limits.max_columns} one upload may hold; "
        "check it is the termly extract"
    )


def check_xlsx(data: bytes, limits: FileLimits | None = None) -> None:
    """Refuse a workbook from its zip directory alone (uncompressed size) and its first sheet's declared
    dimension (rows, columns, cells), before any cell is read. Cheap enough to run in a request."""
    limits = limits or load_limits().file
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise FileProblem("the file is not a readable Excel workbook; save it again from Excel") from exc
    if unzipped > limits.xlsx_max_uncompressed_bytes:
        raise FileProblem(
            f"the workbook unzips to {unzipped / 2**20:,.0f} MB, more than the "
            f"{limits.xlsx_max_uncompressed_bytes / 2**20:,.0f} MB allowed; "
            "save only the termly sheet, or save it as CSV"
        )
    workbook = _open_workbook(data)
    try:
        sheet = _first_sheet(workbook)
        _check_declared(sheet.max_row, sheet.max_column, limits)
    finally:
        workbook.close()


def _check_declared(rows: int | None, columns: int | None, limits: FileLimits) -> None:
    """A sheet's declared dimension (openpyxl reads it from the sheet's first XML element)."""
    if columns is not None and columns > limits.max_columns:
        raise _too_many_columns(limits, columns)
    if rows is not None and rows > limits.max_rows + 1:
        raise _too_many_rows(limits)
    if rows is not None and columns is not None and rows * columns > limits.xlsx_max_cells:
        raise FileProblem(
            f"the sheet declares {rows * columns:,} cells, more than the {limits.xlsx_max_cells:,} allowed; "
            "delete the empty rows and columns below and right of the data, or save it as CSV"
        )


def _decode(data: bytes) -> str:
    if b"\x00" in data[:65536]:
        raise FileProblem(
            "the file is not plain text (it may be UTF-16 or a binary file); save it as 'CSV UTF-8' or .xlsx"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise FileProblem(
            "the file is neither UTF-8 nor Windows-1252 text (it may not be a CSV file at all); "
            "save it as 'CSV UTF-8' or .xlsx"
        ) from exc


def _delimiter(text: str) -> str:
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def _csv_rows(text: str, limits: FileLimits) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if len(row) > limits.max_columns:
                raise _too_many_columns(limits, len(row))
            rows.append(row)
            if len(rows) > limits.max_rows + 1:
                raise _too_many_rows(limits)
        return rows
    except csv.Error as exc:
        raise FileProblem(
            f"the file could not be read as CSV near line {reader.line_num} ({exc}); a quote may be "
            "left open or the file cut short"
        ) from exc


def _open_workbook(data: bytes):
    import openpyxl  # imported here: only Excel uploads pay for it

    try:
        return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise FileProblem("the file is not a readable Excel workbook; save it again from Excel") from exc


def _first_sheet(workbook):
    if not workbook.worksheets:
        raise FileProblem("the workbook has no sheets")
    return workbook.worksheets[0]


def _xlsx_rows(data: bytes, limits: FileLimits) -> list[list[str | None]]:
    """The first sheet's rows, after `check_xlsx`. The declared dimension may lie, so it is then ignored
    (openpyxl's documented `reset_dimensions`: rows are as long as their last cell, not padded to the
    declared width) and the rows and columns actually read are capped as they stream in. Blank rows are
    kept only while data follows them, so the index stays the file's own row numbers."""
    check_xlsx(data, limits)
    workbook = _open_workbook(data)
    try:
        sheet = _first_sheet(workbook)
        sheet.reset_dimensions()
        rows: list[list[str | None]] = []
        blank_run = cells = 0
        for row in sheet.iter_rows(values_only=True):
            if len(row) > limits.max_columns and any(v is not None for v in row[limits.max_columns :]):
                raise _too_many_columns(limits)
            if all(v is None for v in row):  # costs no memory, however many: only data rows are kept
                blank_run += 1
                continue
            if len(rows) + blank_run >= limits.max_rows + 1:
                raise _too_many_rows(limits)
            row = row[: limits.max_columns]
            cells += len(row)
            if cells > limits.xlsx_max_cells:
                raise FileProblem(f"the sheet holds more than the {limits.xlsx_max_cells:,} cells allowed")
            rows.extend([[]] * blank_run)
            blank_run = 0
            # A sheet row ends at its last filled cell: trailing blanks are missing values, not a short row.
            width = len(rows[0]) if rows else len(row)
            rows.append(list(map(_cell_text, row)) + [None] * (width - len(row)))
        return rows
    finally:
        workbook.close()


def _cell_text(value: object) -> str | None:
    """An Excel cell as the text a CSV export would carry (14.0 -> "14", dates as ISO)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _frame(rows: list[list]) -> tuple[pd.DataFrame, pd.DataFrame]:
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    if not len(rows) or not any(rows[0]):
        raise FileProblem("the first row should hold the column names, but it is empty")
    header = [("" if h is None else str(h)).strip() for h in rows[0]]
    while header and not header[-1]:  # trailing empty header cells from spreadsheet exports
        header.pop()
    width = len(header)
    longest = max(width, int(lengths.max()))
    if (lengths[1:] != longest).any():  # pad ragged rows so each cell stays in its own column
        rows = [row + [None] * (longest - len(row)) for row in rows]
    body = pd.DataFrame(
        rows[1:], index=pd.RangeIndex(2, len(rows) + 1, name="row"), columns=range(longest), dtype=object
    )
    cells = body.apply(lambda s: s.astype("string").str.strip()).replace("", pd.NA)
    blank = cells.isna().all(axis=1)
    too_short = (lengths[1:] < width) & ~blank.to_numpy()
    too_long = (
        cells.iloc[:, width:].notna().any(axis=1).to_numpy() if body.shape[1] > width else too_short & False
    )
    bad = pd.Series(too_short | too_long, index=cells.index)
    row_numbers = cells.index[bad.to_numpy()]
    messages = np.where(
        too_long[bad.to_numpy()],
        "this row has more values than there are column names (a value may contain an unquoted separator)",
        "this row has fewer values than there are column names (it may be cut short)",
    )
    row_problems = problems(row_numbers, [None] * len(row_numbers), messages)
    cells = cells.loc[~blank & ~bad, cells.columns[:width]]
    cells.columns = header
    return cells, row_problems
