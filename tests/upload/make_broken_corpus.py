"""Writes the corpus of deliberately broken termly files in tests/upload/broken/ and `expected.csv`
(file, the text its error report must contain). Each is a valid generated file for school 123456,
autumn 2024/25, with one thing wrong. Re-run after changing it: python tests/upload/make_broken_corpus.py

The 10 MB junk file is not stored in the repository; the test makes it from a fixed seed.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import openpyxl

from tests.upload.pupil_frames import to_csv_bytes, to_text_frame, valid_pupils

HERE = Path(__file__).resolve().parent / "broken"


def base_frame():
    frame = valid_pupils(6, seed=2024)
    frame.loc[:, "sen_provision"] = "N"
    frame.loc[:, "sen_primary_need"] = None
    return frame


def text() -> str:
    return to_csv_bytes(base_frame()).decode()


def with_cell(row: int, column: str, value: str) -> bytes:
    """The base file with one cell replaced (row is the file's row number: the first pupil is row 2)."""
    frame = to_text_frame(base_frame())
    frame.loc[row - 2, column] = value
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\r\n")
    return buffer.getvalue().encode()


def without_column(column: str) -> bytes:
    frame = to_text_frame(base_frame()).drop(columns=column)
    return frame.to_csv(index=False, lineterminator="\r\n").encode()


def xlsx(rows: list[list]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def corpus() -> dict[str, tuple[bytes, str]]:
    frame = base_frame()
    lines = text().split("\r\n")
    header = lines[0].split(",")
    upn = frame.loc[1, "upn"]
    two_upn_columns = "\r\n".join(line + "," + line.split(",")[0] for line in lines if line) + "\r\n"
    rows = list(csv.reader(io.StringIO(text())))
    return {
        "empty.csv": (b"", "file: the file is empty"),
        "only_blank_lines.csv": (b"\r\n \r\n\r\n", "file: the file is empty"),
        "header_only.csv": ((lines[0] + "\r\n").encode(), "no readable pupil rows below the column names"),
        "blank_first_row.csv": (b"\r\n" + text().encode(), "the first row should hold the column names"),
        "utf16.csv": (text().encode("utf-16"), "not plain text"),
        "not_utf8_or_1252.csv": (
            text().encode().replace(b"\r\n", b",\x81\x8d\r\n", 2),
            "neither UTF-8 nor Windows-1252",
        ),
        "missing_upn_column.csv": (without_column("upn"), "file, upn: this required column is missing"),
        "missing_sessions_column.csv": (
            without_column("sessions_possible"),
            "file, sessions_possible: this required column is missing",
        ),
        "bad_check_letter.csv": (
            with_cell(3, "upn", ("B" if upn[0] != "B" else "C") + upn[1:]),
            "row 3, upn: check letter should be",
        ),
        "bad_la_number.csv": (
            with_cell(4, "upn", "A999000000001"),
            "row 4, upn: '999' is not a local authority",
        ),
        "upn_too_short.csv": (with_cell(2, "upn", upn[:10]), "row 2, upn: must be 13 characters"),
        "blank_upn.csv": (with_cell(5, "upn", ""), "row 5, upn: is blank"),
        "duplicate_upn.csv": (
            with_cell(6, "upn", frame.loc[0, "upn"]),
            "row 6, upn: the same UPN appears more than once, on rows 2, 6",
        ),
        "bad_sen_code.csv": (
            with_cell(3, "sen_provision", "S"),
            "row 3, sen_provision: 'S' is not a SEN provision code",
        ),
        "need_without_sen.csv": (
            with_cell(4, "sen_primary_need", "ASD"),
            "row 4, sen_primary_need: should be blank when sen_provision is N",
        ),
        "bad_need_code.csv": (
            with_cell(4, "sen_provision", "K").replace(b"K,,", b"K,DYSL,", 1),
            "row 4, sen_primary_need: 'DYSL' is not a SEN primary need code",
        ),
        "bad_term.csv": (with_cell(2, "term", "winter"), "row 2, term: 'winter' is not a term"),
        "ncyear_out_of_range.csv": (
            with_cell(3, "ncyear", "6"),
            "row 3, ncyear: '6' should be between 7 and 14",
        ),
        "negative_sessions.csv": (
            with_cell(2, "sessions_possible", "-5"),
            "row 2, sessions_possible: '-5' should be a whole number",
        ),
        "decimal_absence.csv": (
            with_cell(7, "sessions_authorised_absence", "2.5"),
            "row 7, sessions_authorised_absence: '2.5' should be a whole number",
        ),
        "absence_above_possible.csv": (
            with_cell(5, "sessions_possible", "1"),
            "row 5, sessions_possible: absence (",
        ),
        "wrong_school.csv": (
            with_cell(2, "school_urn", "654321"),
            "row 2, school_urn: the file says 654321 but this upload is for 123456",
        ),
        "wrong_year.csv": (
            with_cell(6, "academic_year", "2023/24"),
            "row 6, academic_year: the file says 2023/24 but this upload is for 2024/25",
        ),
        "bad_academic_year.csv": (
            with_cell(3, "academic_year", "2024/26"),
            "row 3, academic_year: '2024/26' should be an academic year",
        ),
        "bad_boolean.csv": (
            with_cell(4, "fsm_eligible", "maybe"),
            "row 4, fsm_eligible: 'maybe' is not a yes/no value",
        ),
        "ks2_out_of_range.csv": (
            with_cell(2, "ks2_maths_scaled", "140"),
            "row 2, ks2_maths_scaled: '140' should be between 80 and 120",
        ),
        "formula.csv": (
            with_cell(3, "ethnicity", '=HYPERLINK("http://x.test","click")'),
            "row 3, ethnicity: '=HYPERLINK",
        ),
        "formula_at.csv": (
            with_cell(6, "looked_after", "@SUM(1+1)"),
            "row 6, looked_after: '@SUM(1+1)' looks like a spreadsheet formula",
        ),
        "truncated_last_row.csv": (
            text().encode()[: len(text().encode()) - 60],
            "row 7: this row has fewer values than there are column names",
        ),
        "open_quote.csv": ((text() + '"' + upn + ",123456\r\n").encode(), "a quote may be left open"),
        "extra_values.csv": (
            text().replace("\r\n", ",surplus\r\n", 2).replace(",surplus", "", 1).encode(),
            "row 2: this row has more values than there are column names",
        ),
        "duplicate_header.csv": (two_upn_columns.encode(), "file, upn: more than one column gives upn"),
        "html_error_page.csv": (
            b"<html><head><title>502 Bad Gateway</title></head><body>error</body></html>\r\n",
            "file, upn: this required column is missing",
        ),
        "old_format.xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504, "old Excel .xls format"),
        "csv_named.xlsx": (text().encode() + b"\r\n", "named .xlsx but is not an Excel workbook"),
        "corrupt.xlsx": (b"PK\x03\x04" + b"\x14\x00" * 200, "not a readable Excel workbook"),
        "not_a_workbook.xlsx": (_zip_without_workbook(), "not a readable Excel workbook"),
        "formula.xlsx": (
            xlsx([header, *[r if i != 2 else [*r[:5], "=A1*2", *r[6:]] for i, r in enumerate(rows[1:], 1)]]),
            "row 3, sessions_possible: '=A1*2' looks like a spreadsheet formula",
        ),
    }


def _zip_without_workbook() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    return buffer.getvalue()


def main() -> None:
    HERE.mkdir(exist_ok=True)
    expected = []
    for name, (data, message) in corpus().items():
        (HERE / name).write_bytes(data)
        expected.append({"file": name, "message": message})
    with (HERE / "expected.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["file", "message"])
        writer.writeheader()
        writer.writerows(expected)
    print(f"wrote {len(expected)} broken files to {HERE}")


if __name__ == "__main__":
    main()
