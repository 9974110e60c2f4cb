"""Problems found in an upload, as a tidy frame, and the result handed back to the uploading school.

Row numbers are the file's own: the header is row 1 and the first pupil is row 2, exactly what a data
manager sees in Excel. Problem text may show the school's own values (it goes back only to that school)
and must never be logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from riskengine.spreadsheet import FORMULA_START as FORMULA_STARTS  # noqa: F401 (re-exported)
from riskengine.spreadsheet import csv_text
from riskengine.spreadsheet import neutralise_cell as neutralise  # noqa: F401 (re-exported)

PROBLEM_COLUMNS = ("row", "column", "file_column", "message")
PROBLEM_DTYPES = {"row": "Int64", "column": "string", "file_column": "string", "message": "string"}


def problems(
    rows: Iterable[int | None] = (),
    columns: Iterable[str | None] = (),
    messages: Iterable[str] = (),
    file_columns: Iterable[str | None] | None = None,
) -> pd.DataFrame:
    """A problems frame; `rows` may hold None for a problem with the whole file or a whole column."""
    rows, columns, messages = list(rows), list(columns), list(messages)
    if not (rows or columns or messages or file_columns):
        return _NONE.copy()  # the usual answer, built once: every check of every file asks for it
    file_columns = [None] * len(rows) if file_columns is None else list(file_columns)
    frame = pd.DataFrame({"row": rows, "column": columns, "file_column": file_columns, "message": messages})
    return frame.astype(PROBLEM_DTYPES)


_NONE = pd.DataFrame({c: pd.Series(dtype=d) for c, d in PROBLEM_DTYPES.items()})


def combine(*frames: pd.DataFrame) -> pd.DataFrame:
    """All problems, one per row and column (the first found wins), whole-file ones first, then by row."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return problems()
    frame = pd.concat(frames, ignore_index=True)
    keyed = frame.assign(_key=frame["row"].astype("string").fillna("") + "|" + frame["column"].fillna(""))
    first = ~keyed["_key"].duplicated() | frame["row"].isna()
    frame = frame[first]
    order = frame["row"].fillna(0).astype("int64")
    return frame.iloc[order.argsort(kind="stable")].reset_index(drop=True).astype(PROBLEM_DTYPES)


def describe(frame: pd.DataFrame, limit: int | None = 50) -> str:
    """Problems as lines of text: "row 14, upn: check letter should be K"."""
    where = ("row " + frame["row"].astype("string")).fillna("file")
    column = frame["column"].fillna("")
    mapped = frame["file_column"].notna() & (frame["file_column"].str.casefold() != column.str.casefold())
    column = column.where(~mapped, column + " ('" + frame["file_column"] + "')")
    lines = (where + (", " + column).where(column != "", "") + ": " + frame["message"]).tolist()
    if limit is not None and len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more (see the downloadable CSV)"]
    return "\n".join(lines)


def bounded(frame: pd.DataFrame, limit: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the first `limit` problems in file order, counts by kind): what a stored report keeps, so its
    size never depends on the file's. A kind is the severity (when present) and the column."""
    keys = [c for c in ("severity", "column") if c in frame.columns]
    counts = (
        frame[keys].fillna("(whole file)").value_counts(sort=False).rename("count").reset_index()
        if len(frame)
        else pd.DataFrame(columns=[*keys, "count"])
    )
    return frame.head(limit).reset_index(drop=True), counts


@dataclass
class UploadResult:
    """What happened to one uploaded file.

    status: "stored" (new term), "replaced" (the school's earlier upload of this term was replaced),
    "unchanged" (this exact file was already stored; nothing done), "rejected" (nothing stored),
    "checked" (valid, but only checked: nothing stored) or "skipped" (not this kind of file).
    """

    status: str
    filename: str
    sha256: str
    errors: pd.DataFrame = field(default_factory=problems)
    warnings: pd.DataFrame = field(default_factory=problems)
    counts: dict[str, int] = field(default_factory=dict)
    upload_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status != "rejected"

    def summary(self) -> str:
        """One sentence for the school."""
        n_err, n_warn = len(self.errors), len(self.warnings)
        rows = self.counts.get("rows", 0)
        if self.status == "rejected":
            fix = "Fix them and upload again."
            return f"{self.filename}: rejected with {n_err} error(s); nothing was stored. {fix}"
        if self.status == "checked":
            checked = f"{rows} row(s) are valid, with {n_warn} warning(s)"
            return f"{self.filename}: {checked}; nothing was stored (checked only)."
        if self.status == "skipped":
            why = self.warnings["message"].iloc[0] if n_warn else "not this kind of file"
            return f"{self.filename}: skipped, {why}."
        if self.status == "unchanged":
            earlier = f"upload {self.upload_id}"
            return f"{self.filename}: this exact file was already uploaded ({earlier}); nothing changed."
        verb = "replaced the earlier upload of this term with" if self.status == "replaced" else "stored"
        return f"{self.filename}: {verb} {rows} row(s) as upload {self.upload_id}, with {n_warn} warning(s)."

    def report(self, limit: int | None = 50) -> str:
        """The summary, then every error and warning in plain words."""
        parts = [self.summary()]
        if len(self.errors):
            parts += ["", "Errors (must be fixed):", describe(self.errors, limit)]
        if len(self.warnings):
            parts += ["", "Warnings (stored anyway; please check):", describe(self.warnings, limit)]
        return "\n".join(parts)

    def problems_frame(self) -> pd.DataFrame:
        """Errors then warnings, with a `severity` column: the downloadable CSV's content."""
        return pd.concat(
            [self.errors.assign(severity="error"), self.warnings.assign(severity="warning")],
            ignore_index=True,
        )[["severity", *PROBLEM_COLUMNS]]

    def errors_csv(self, path: str | Path | None = None) -> str:
        """The problems as CSV text (UTF-8 with BOM, so Excel opens it cleanly); also written to `path`.

        Cells echo the school's own values, so they are neutralised against formula injection.
        """
        text = csv_text(self.problems_frame())
        if path is not None:
            Path(path).write_text(text, encoding="utf-8-sig")
        return text
