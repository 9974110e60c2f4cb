"""Tables written for people to open in a spreadsheet: CSV or XLSX, safe against formula injection.

One place for every file riskengine hands out (problem reports, score exports): a cell that begins with
`=`, `+`, `-` or `@` (or a tab or carriage return) would run as a formula in Excel or LibreOffice, so text
cells that do are prefixed with an apostrophe, which spreadsheets show as plain text (OWASP's advice for
CSV injection). Numbers stay numbers.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: What a spreadsheet reads as the start of a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: XLSX column widths, in characters: wide enough to read, never a whole paragraph.
MIN_WIDTH, MAX_WIDTH = 8, 60
FORMATS = (".csv", ".xlsx")


def neutralise_cell(value: object) -> object:
    """One cell made safe: text starting like a formula gets a leading apostrophe; others pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot run as formulas: those starting with FORMULA_START get a leading "'"."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        text = values.astype("string")
        risky = text.str.startswith(FORMULA_START).fillna(False).to_numpy(bool)
        if risky.any():
            out[column] = values.astype(object).where(~risky, "'" + text.astype(object))
    out.columns = [("'" + str(c)) if str(c).startswith(FORMULA_START) else c for c in out.columns]
    return out


def csv_text(frame: pd.DataFrame) -> str:
    """The frame as CSV text, neutralised."""
    return neutralise(frame).to_csv(index=False)


def write_table(frame: pd.DataFrame, path: str | Path, sheet: str = "data") -> Path:
    """Write a neutralised table as CSV (UTF-8 with BOM, so Excel opens it cleanly) or XLSX (frozen header,
    filters on every column, readable widths), chosen by the file's suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path.name}: write a .csv or .xlsx file")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        path.write_text(csv_text(frame), encoding="utf-8-sig")
        return path
    _write_xlsx(neutralise(frame), path, sheet)
    return path


def _write_xlsx(frame: pd.DataFrame, path: Path, sheet: str) -> None:
    from openpyxl.utils import get_column_letter

    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name=sheet, index=False)
        worksheet = writer.sheets[sheet]
        worksheet.freeze_panes = "A2"
        if len(frame.columns):
            worksheet.auto_filter.ref = worksheet.dimensions
        for i, column in enumerate(frame.columns, start=1):
            longest = frame[column].astype("string").str.len().max() if len(frame) else 0
            width = max(len(str(column)), 0 if pd.isna(longest) else int(longest)) + 2
            worksheet.column_dimensions[get_column_letter(i)].width = min(max(width, MIN_WIDTH), MAX_WIDTH)
