"""Optional columns a whole file lacks, said once each, in words: which features will be unknown.

A file without, say, the young carer column is valid (the column is optional), but every pupil's young
carer feature is then blank, and a model trained on it learns nothing from it. The upload says so once per
absent column, naming the catalogue features that read it (their `source`), never once per row.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from riskengine.features import Catalogue, load_catalogue
from riskengine.spec import upload as spec
from riskengine.upload.problems import problems


def features_reading(catalogue: Catalogue) -> dict[str, list[str]]:
    """Upload column -> labels of the catalogue features computed from it."""
    reading: dict[str, list[str]] = {}
    for name in catalogue.names:
        for column in catalogue[name].source:
            reading.setdefault(column, []).append(catalogue.label(name))
    return reading


def absent_column_warnings(present: Iterable[str], catalogue: Catalogue | None = None) -> pd.DataFrame:
    """One whole-file warning for each optional spec column not in the file (after mapping)."""
    present = set(present)
    absent = [c for c in spec.OPTIONAL_COLUMNS if c not in present]
    if not absent:
        return problems()
    reading = features_reading(catalogue or load_catalogue())
    messages = []
    for column in absent:  # at most the dozen optional columns
        if column in spec.AUDIT_COLUMNS:
            effect = "it is used only to audit fairness, where these pupils will show as not recorded"
        elif reading.get(column):
            effect = f"these features will be unknown for every pupil: {', '.join(reading[column])}"
        else:
            effect = "no feature reads it"
        messages.append(f"this optional column is not in the file; {effect}")
    return problems([None] * len(absent), absent, messages)
