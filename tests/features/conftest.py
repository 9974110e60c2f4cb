"""Small hand-built pupil-terms frames of made-up pupils, for checking each feature by hand."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from riskengine.features import Catalogue, load_catalogue
from riskengine.spec import upload as spec

#: A made-up pupil's ordinary term: full attendance, nothing recorded against them.
BASE_ROW: dict[str, Any] = {
    "school_urn": "100001",
    "ncyear": 9,
    "sessions_possible": 100,
    "sessions_authorised_absence": 0,
    "sessions_unauthorised_absence": 0,
    "suspensions": 0,
    "suspension_sessions": 0,
    "permanent_exclusion": False,
    "sen_provision": "N",
    "looked_after": False,
    "fsm_eligible": False,
}


def pupil_terms(*rows: dict[str, Any]) -> pd.DataFrame:
    """A canonical pupil-terms frame: each row is BASE_ROW overridden by the given values (None = blank).

    Each row needs `upn`, `academic_year` and `term`; UPNs here are placeholders, not real pupils.
    """
    records = [{**BASE_ROW, **row} for row in rows]
    frame = pd.DataFrame.from_records(records, columns=list(spec.COLUMNS))
    return frame.astype(spec.canonical_dtypes())


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()
