"""Audit attributes beyond the pupil-terms contract: declared in `evaluation/audit.yaml`, taken from a
termly upload, stored on their own, and joined back only for the fairness audit (never a model input).

A column a school's file carries is stored only when the settings declare it as an audit attribute
before the upload; an undeclared extra column is reported at upload as ignored, by name, and not stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from riskengine.evaluation.settings import AuditSettings, load_audit_settings
from riskengine.spec import upload as spec

#: Audit attributes derived from contract columns rather than uploaded as their own column.
DERIVED = ("ethnicity_major_group",)


def declared_extra_attributes(settings: AuditSettings | None = None) -> tuple[str, ...]:
    """The declared audit attributes that are not pupil-terms columns: the ones an upload may add."""
    settings = settings or load_audit_settings()
    return tuple(a for a in settings.references if a not in spec.COLUMNS and a not in DERIVED)


@dataclass
class AuditColumns:
    """Takes the declared audit columns out of an upload's text cells (so they are neither validated as
    pupil-terms columns nor reported as ignored) and keeps them, long, for the store."""

    names: tuple[str, ...]
    rows: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["upn", "attribute", "value"]))

    def take(self, cells: pd.DataFrame) -> pd.DataFrame:
        """`cells` without the declared audit columns (matched by header, any case)."""
        wanted = {n.casefold(): n for n in self.names}
        found = {h: wanted[h.strip().casefold()] for h in cells.columns if h.strip().casefold() in wanted}
        upn = next((h for h in cells.columns if h.strip().casefold() == "upn"), None)
        if not found or upn is None:
            return cells
        upns = cells[upn].astype("string").str.replace(" ", "", regex=False).str.upper()
        long = (
            cells[list(found)]
            .rename(columns=found)
            .assign(upn=upns.to_numpy())
            .melt(id_vars="upn", var_name="attribute", value_name="value")
        )
        long["value"] = long["value"].astype("string").str.strip()
        keep = long["value"].notna() & (long["value"] != "") & long["upn"].notna() & (long["upn"] != "")
        self.rows = long[keep].drop_duplicates(["upn", "attribute"], keep="last").reset_index(drop=True)
        return cells.drop(columns=list(found))

    @property
    def stored_names(self) -> list[str]:
        return sorted(self.rows["attribute"].unique()) if len(self.rows) else []


def with_stored_attributes(pupil_terms: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """Pupil-terms with each stored audit attribute as a column (missing: NA, "Not recorded" in the audit)."""
    if stored.empty:
        return pupil_terms
    keys = ["upn", "school_urn", "academic_year", "term"]
    wide = stored.pivot_table(index=keys, columns="attribute", values="value", aggfunc="last").reset_index()
    wide.columns.name = None
    wide = wide.astype({k: "string" for k in keys})
    clash = [c for c in wide.columns if c in pupil_terms.columns and c not in keys]
    return pupil_terms.merge(wide.drop(columns=clash), on=keys, how="left")
