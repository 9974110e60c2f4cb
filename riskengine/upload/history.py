"""Warnings that need the school's earlier uploads: pupils missing since last term and implausible jumps.

They never block an upload (pupils do leave; data does get corrected) but the school is asked to check.
"""

from __future__ import annotations

import pandas as pd

from riskengine.spec import upload as spec
from riskengine.store import Store
from riskengine.upload.problems import problems


def previous_term(academic_year: str, term: str) -> tuple[str, str]:
    index = spec.term_index(academic_year, term) - 1
    return spec.academic_year(index // 3), spec.TERMS[index % 3]


def history_warnings(
    store: Store, typed: pd.DataFrame, school_urn: str, academic_year: str, term: str
) -> pd.DataFrame:
    """Warnings comparing this file (indexed by file row) with the school's previous term in the store."""
    prev_year, prev_term = previous_term(academic_year, term)
    columns = ("upn", "ncyear", *spec.KS2_COLUMNS)
    before = store.read_school_term(school_urn, prev_year, prev_term, columns)  # that one term only
    if before.empty:
        return problems()
    label = f"{prev_term} {prev_year}"
    found = []

    leavers = (prev_term == "summer") & before["ncyear"].isin([11, 13, 14])
    missing = before[~before["upn"].isin(typed["upn"]) & ~leavers]
    if len(missing):
        found.append(
            problems(
                [None] * len(missing),
                ["upn"] * len(missing),
                "pupil "
                + missing["upn"]
                + " (Year "
                + missing["ncyear"].astype("string").fillna("?")
                + f") was in the {label} upload but is not in this file"
                + "; if they have left, no action is needed",
            )
        )

    pairs = typed.reset_index().merge(before, on="upn", suffixes=("", "_before")).set_index("row")
    same_year = prev_year == academic_year
    expected = pairs["ncyear_before"] + (0 if same_year else 1)
    jumped = (pairs["ncyear"] != expected).fillna(False)
    if jumped.any():
        rows = pairs[jumped]
        found.append(
            problems(
                rows.index,
                ["ncyear"] * len(rows),
                "Year "
                + rows["ncyear"].astype("string")
                + " now but Year "
                + rows["ncyear_before"].astype("string")
                + f" in {label}; please check",
            )
        )
    for column in spec.KS2_COLUMNS:
        changed = (pairs[column] != pairs[f"{column}_before"]).fillna(False)
        if changed.any():
            rows = pairs[changed]
            found.append(
                problems(
                    rows.index,
                    [column] * len(rows),
                    "changed from "
                    + rows[f"{column}_before"].astype("string")
                    + f" in {label} to "
                    + rows[column].astype("string")
                    + "; KS2 results do not change, please check",
                )
            )
    return pd.concat(found, ignore_index=True) if found else problems()
