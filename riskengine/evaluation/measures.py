"""What every figure shown to evaluators is called in words, with a one-line definition.

The words live in `evaluation/measures.yaml`, so a local authority can reword them without touching Python;
the engine's own names stay the keys of report JSON and CSV files. A name the file does not cover is shown
as itself, with its underscores as spaces, and no definition: never dropped.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, field_validator

from riskengine.paths import data_path


class Measures(BaseModel):
    """`evaluation/measures.yaml`: each name maps to (words, one-line definition)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    headline: dict[str, tuple[str, str]]
    impact_tables: dict[str, str]
    impact_columns: dict[str, tuple[str, str]]

    @field_validator("impact_tables")
    @classmethod
    def _balance_names_its_outcome(cls, titles: dict[str, str]) -> dict[str, str]:
        if "{outcome}" not in titles.get("balance", "{outcome}"):
            raise ValueError("impact_tables.balance must contain {outcome}")
        return titles

    def column(self, name: str) -> tuple[str, str]:
        """(words, definition) of an impact table's column."""
        return self.impact_columns.get(name, (name.replace("_", " "), ""))

    def table_title(self, name: str) -> str:
        """An impact table's heading; balance_<outcome> tables share one with the outcome filled in."""
        if name.startswith("balance_") and "balance" in self.impact_tables:
            return self.impact_tables["balance"].format(
                outcome=name.removeprefix("balance_").replace("_", " ")
            )
        return self.impact_tables.get(name, name.replace("_", " ").capitalize())


def load_measures(path: str | Path | None = None) -> Measures:
    """The measures file (`evaluation/measures.yaml` of the project, the checkout or the package), read
    afresh each time so that an edit shows on the next page without a restart."""
    text = Path(path or data_path("evaluation", "measures.yaml")).read_text(encoding="utf-8")
    return Measures.model_validate(yaml.safe_load(text))
