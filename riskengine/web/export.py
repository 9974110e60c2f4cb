"""The caseload as an XLSX workbook an adviser can sort and annotate offline.

Every text cell goes through the shared `riskengine.spreadsheet` neutralisation, so a value that starts like a
formula (a name such as "=HYPERLINK(...)" typed into a school's MIS) is shown as text, never run.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from openpyxl import Workbook

from riskengine.spreadsheet import neutralise_cell as neutralise

#: (header, row field) in the workbook's order; identity columns only for schools and advisers.
COLUMNS = (
    ("UPN", "upn"),
    ("School", "school_name"),
    ("School URN", "school_urn"),
    ("Scored term", "term_label"),
    ("Year", "ncyear"),
    ("Risk (%)", "risk_pct"),
    ("Rule points", "points"),
    ("Band", "band"),
    ("Flagged", "flag_text"),
    ("Top reasons", "reasons_text"),
    ("Change since the school's previous scored term", "change_text"),
    ("Dual registration", "dual_text"),
    ("Latest review", "review"),
)
IDENTITY_COLUMNS = (
    ("Forename", "forename"),
    ("Surname", "surname"),
    ("Date of birth", "date_of_birth"),
    ("Tutor group", "tutor_group"),
)


def _cells(row: dict) -> dict:
    risk = row.get("risk")
    return {
        **row,
        "term_label": f"{row.get('term')} {row.get('academic_year')}",
        "risk_pct": None if risk is None else round(float(risk) * 100),
        "flag_text": "yes" if row.get("flag") else "no",
        "reasons_text": "; ".join(row.get("top_reasons") or []),
        "dual_text": "yes" if row.get("dual") else "",
    }


def caseload_xlsx(rows: Sequence[dict], with_identity: bool) -> bytes:
    """The workbook's bytes: one header row, one row per pupil, text neutralised against formulas."""
    columns = COLUMNS[:1] + (IDENTITY_COLUMNS if with_identity else ()) + COLUMNS[1:]
    book = Workbook()
    sheet = book.active
    sheet.title = "Caseload"
    sheet.append([header for header, _ in columns])
    for row in rows:
        cells = _cells(row)
        sheet.append([neutralise(cells.get(field)) for _, field in columns])
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
