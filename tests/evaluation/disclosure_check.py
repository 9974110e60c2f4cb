"""An independent reader's check of a published table: what could an attacker work out from it?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd


def shown_number(cell: Any) -> float | None:
    """A cell as the reader sees it: a number, or None when hidden or blank."""
    if cell is None or isinstance(cell, str) or pd.isna(cell):
        return None
    return float(cell)


def small_counts_shown(frame: pd.DataFrame, counts: Sequence[str], threshold: int) -> list[tuple[str, Any]]:
    """Every count cell a reader can see that lies from 1 to threshold - 1."""
    found = []
    for column in counts:
        for cell in frame[column]:
            value = shown_number(cell)
            if value is not None and 0 < value < threshold:
                found.append((column, cell))
    return found


def recoverable(
    original: pd.DataFrame, published: pd.DataFrame, margins: Sequence[Mapping[str, Any]], threshold: int
) -> list[str]:
    """Hidden (or small unpublished) cells a reader could work out as the only unknown of a named sum."""
    problems = []
    for margin in margins:
        if "total" in margin:
            parts = list(margin["parts"])
            for i in range(len(published)):
                row, true = published.iloc[i], original.iloc[i]
                cells = [margin["total"], *parts]
                unknown = [c for c in cells if shown_number(row[c]) is None and pd.notna(true[c])]
                remainder = true[margin["total"]] - sum(true[p] for p in parts)
                complete = all(original[margin["total"]].sub(original[parts].sum(axis=1)).fillna(0).eq(0))
                if not complete:
                    unknown.append("remainder")
                small_remainder = pd.notna(remainder) and 0 < remainder < threshold
                if len(unknown) == 1 and (unknown[0] != "remainder" or small_remainder):
                    problems.append(f"row {i}: {unknown[0]} = {margin['total']} - others")
        else:
            column, by = margin["column"], list(margin.get("by") or [])
            keys = (
                published[by].astype(str).agg("/".join, axis=1) if by else pd.Series("all", published.index)
            )
            for key, index in published.groupby(keys, sort=False).groups.items():
                if len(index) < 2:  # the group's total is the cell itself: nothing new to subtract
                    continue
                hidden = [i for i in index if shown_number(published.loc[i, column]) is None]
                hidden = [i for i in hidden if pd.notna(original.loc[i, column])]
                if len(hidden) == 1:
                    problems.append(f"group {key}: {column} of row {hidden[0]} = total - others")
    return problems


# --- scanning everything a report writes ---------------------------------------------------------------

#: The label columns that identify a row of each published table (to line it up with the raw one).
TABLE_KEYS = {
    "audit_groups": ["scorer", "attribute", "group"],
    "impact": ["school_urn", "cohort", "flag_group"],
    "accuracy": ["scorer"],
    "capacity": ["scorer", "capacity"],
    "precision_curve": ["scorer", "capacity"],
    "calibration": ["bin_low"],
    "accuracy_by_term": ["ncyear", "term"],
    "lead_time": ["scorer", "first_flagged"],
    "lead_time_by_term": ["scorer", "first_flagged_term"],
}


class _Tables(__import__("html.parser").parser.HTMLParser):
    """Every <table> of a page as a list of rows of cell texts (stdlib only)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(text: str) -> list[pd.DataFrame]:
    """The page's tables with a header row, as frames of text."""
    parser = _Tables()
    parser.feed(text)
    frames = []
    for rows in parser.tables:
        if len(rows) > 1 and all(len(r) == len(rows[0]) for r in rows[1:]):
            header = [h.replace(" ", "_").lower() for h in rows[0]]
            frames.append(pd.DataFrame(rows[1:], columns=header))
    return frames


def _as_number(cell: Any) -> Any:
    if isinstance(cell, str):
        try:
            return float(cell.replace(",", ""))
        except ValueError:
            return cell
    return cell


def scan_frame(frame: pd.DataFrame, where: str, threshold: int) -> list[str]:
    from riskengine.evaluation.publish import is_count

    counts = [c for c in frame.columns if is_count(str(c))]
    numbers = frame[counts].map(_as_number) if counts else frame[counts]
    return [f"{where}: {column} = {cell}" for column, cell in small_counts_shown(numbers, counts, threshold)]


def scan_report(folder: Any, threshold: int) -> list[str]:
    """Every count of 1 to threshold - 1 shown in any CSV, JSON or HTML file under `folder`."""
    import json
    from pathlib import Path

    from riskengine.evaluation.publish import HEADLINE_COUNTS

    problems: list[str] = []
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix == ".csv":
            problems += scan_frame(pd.read_csv(path, dtype=str), path.name, threshold)
        elif path.suffix == ".json":
            payload = json.loads(path.read_text())
            for name, records in payload.get("tables", {}).items():
                problems += scan_frame(pd.DataFrame.from_records(records), f"{path.name}:{name}", threshold)
            headline = {k: payload.get("headline", {}).get(k) for k in HEADLINE_COUNTS}
            problems += [
                f"{path.name}: headline {k} = {v}" for k, v in headline.items() if _small(v, threshold)
            ]
        elif path.suffix == ".html":
            for i, frame in enumerate(html_tables(path.read_text())):
                problems += scan_frame(frame, f"{path.name} table {i}", threshold)
    return problems


def _small(value: Any, threshold: int) -> bool:
    value = _as_number(value)
    return isinstance(value, float | int) and 0 < value < threshold


def recoverable_in_report(raw_tables: dict[str, pd.DataFrame], folder: Any, threshold: int) -> list[str]:
    """Hidden cells of the written CSVs that a named sum of their table would give away."""
    from pathlib import Path

    from riskengine.evaluation.publish import SPECS

    problems: list[str] = []
    for name, keys in TABLE_KEYS.items():
        path = Path(folder) / "tables" / f"{name}.csv"
        if name not in raw_tables or not path.exists():
            continue
        published = pd.read_csv(path, dtype=str)
        raw = raw_tables[name].copy()
        raw[keys] = raw[keys].astype(str)
        published = published.map(_as_number).assign(**{k: published[k] for k in keys})
        aligned = raw[keys + [c for c in raw.columns if c not in keys]].merge(
            published, on=keys, suffixes=("", "_published")
        )
        counts = [c for c in SPECS[name]["counts"] if c in raw.columns]
        original = aligned[keys + counts].reset_index(drop=True)
        shown = aligned[keys + [f"{c}_published" for c in counts]].reset_index(drop=True)
        shown.columns = keys + counts
        margins = [
            m
            for m in SPECS[name]["margins"]
            if all(c in counts for c in [m.get("total"), m.get("column"), *(m.get("parts") or [])] if c)
        ]
        problems += [f"{name}: {p}" for p in recoverable(original, shown, margins, threshold)]
    return problems
