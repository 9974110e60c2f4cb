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
                if len(unknown) == 1 and (unknown[0] != "remainder" or 0 < remainder < threshold):
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
