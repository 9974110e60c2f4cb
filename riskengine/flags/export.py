"""Scores as a file an analyst or adviser opens: every scored pupil (or only the flagged), highest risk first.

One row per pupil, in words: school, year group, model risk, rule points and band, the flag and what raised
it, the rules that fired with their reasons, the model's reasons each way and, when the scores carry one,
"what would change it". CSV or XLSX by the file's suffix, through `riskengine.spreadsheet` (neutralised
against formula injection; frozen header and filters in XLSX).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskengine.spreadsheet import write_table

#: Separates whole reasons written into one cell, as in flag reasons.
REASON_SEPARATOR = "; "

#: The score column holding "what would change it" (the explanations' counterfactual: {"text": ...}),
#: exported when the scores carry one.
WHAT_WOULD_CHANGE = ("what_would_change",)

#: Export heading for each score column, in the order written.
HEADINGS = {
    "upn": "UPN",
    "school_urn": "School URN",
    "ncyear": "Year group",
    "academic_year": "Academic year",
    "term": "Term",
    "probability": "Model risk",
    "points": "Rule points",
    "band": "Rule band",
    "flag": "Flagged",
    "flag_source": "Flagged by",
    "flag_reason": "Why flagged",
    "fired": "Rules fired",
    "reasons": "Rule reasons",
    "reasons_up": "Reasons raising risk",
    "reasons_down": "Reasons lowering risk",
}
WHAT_WOULD_CHANGE_HEADING = "What would change it"
FLAGGED_BY = {"rule": "rules", "model": "model", "both": "rules and model"}


def _as_text(values: pd.Series) -> pd.Series:
    """Lists of reasons (or rule ids) as one cell, joined by the reasons' separator; a stored answer
    (a mapping) by its text; blank when none."""

    def join(items: Any) -> Any:
        if isinstance(items, dict):  # a stored answer such as what would change it: {"text": ...}
            items = items.get("text")
        if items is None or (np.ndim(items) == 0 and pd.isna(items)):
            return pd.NA
        if isinstance(items, str):
            return items
        return REASON_SEPARATOR.join(map(str, items))

    return values.map(join).astype("string")  # one call per pupil over a few short lists


def _rule_titles(scores: pd.DataFrame, titles: dict[str, str] | None) -> dict[str, str]:
    """Rule id -> title: as given, else from the run a scored frame carries (`attrs["run"]`)."""
    if titles is not None:
        return titles
    settings = (scores.attrs.get("run") or {}).get("settings") or {}
    return dict(settings.get("rule_titles") or {})


def export_table(
    scores: pd.DataFrame, flagged_only: bool = False, rule_titles: dict[str, str] | None = None
) -> pd.DataFrame:
    """The export's rows and headings: highest model risk first (then rule points); flagged pupils only when
    `flagged_only`. Model risk is a percentage rounded to one decimal; blank for a rules-only run. Fired
    rules are shown by their titles (`rule_titles`, default: the run's) where the rule set gives them."""
    titles = _rule_titles(scores, rule_titles)
    rows = scores[scores["flag"].fillna(False).to_numpy(bool)] if flagged_only else scores
    rows = rows.sort_values(["probability", "points"], ascending=False, na_position="last", kind="stable")
    table = pd.DataFrame(index=rows.index)
    for column, heading in HEADINGS.items():
        if column in rows:
            table[heading] = rows[column]
    table["Model risk"] = (pd.to_numeric(rows["probability"]).astype("Float64") * 100).round(1)
    table["Flagged"] = rows["flag"].map({True: "yes", False: "no"}).astype("string")
    table["Flagged by"] = rows["flag_source"].map(FLAGGED_BY).astype("string")
    if titles and "fired" in rows:  # a few dozen rule ids, each looked up once per pupil's short list
        rows = rows.assign(
            fired=rows["fired"].map(lambda ids: None if ids is None else [titles.get(i, i) for i in ids])
        )
    for column in ("fired", "reasons", "reasons_up", "reasons_down"):
        if column in rows:
            table[HEADINGS[column]] = _as_text(rows[column])
    change = next((c for c in WHAT_WOULD_CHANGE if c in rows), None)
    if change is not None and rows[change].notna().any():
        table[WHAT_WOULD_CHANGE_HEADING] = _as_text(rows[change])
    return table.rename(columns={"Model risk": "Model risk (%)"}).reset_index(drop=True)


def export_scores(
    scores: pd.DataFrame,
    path: str | Path,
    flagged_only: bool = False,
    rule_titles: dict[str, str] | None = None,
) -> Path:
    """Write `export_table(scores, flagged_only, rule_titles)` to `path` (.csv or .xlsx); returns the path."""
    return write_table(export_table(scores, flagged_only, rule_titles), path, sheet="scores")


@dataclass(frozen=True)
class Export:
    """What `export_run` wrote: the file, the run it came from and how many pupils."""

    path: Path
    run_id: int
    academic_year: str
    term: str
    n_pupils: int
    flagged_only: bool


def export_run(
    store: Any,
    path: str | Path,
    run_id: int | None = None,
    academic_year: str | None = None,
    term: str | None = None,
    flagged_only: bool = False,
) -> Export:
    """`riskengine export`: a stored scoring run (by id, else the latest of that year and term) to a file."""
    if run_id is None and (academic_year is None or term is None):
        raise ValueError("give a run id, or both an academic year and a term")
    scores = store.read_scores(run_id=run_id, academic_year=academic_year, term=term)
    if scores.empty:
        which = f"run {run_id}" if run_id is not None else f"{term} {academic_year}"
        raise LookupError(f"no scores found for {which}; run `riskengine score` first")
    run = scores.iloc[0]
    runs = store.list_score_runs()  # one row per scoring run: small
    settings = runs.loc[runs["id"] == run["run_id"], "settings"]
    titles = (settings.iloc[0] or {}).get("rule_titles") if len(settings) else None
    written = export_scores(scores, path, flagged_only, rule_titles=dict(titles or {}))
    n = int(scores["flag"].fillna(False).sum()) if flagged_only else len(scores)
    return Export(written, int(run["run_id"]), str(run["academic_year"]), str(run["term"]), n, flagged_only)
