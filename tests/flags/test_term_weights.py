"""How far attendance this year moves with attendance this term ("and so attendance this year 91% rather than
88%"): this term's share of the year's known possible sessions, per pupil."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine.flags.counterfactual import term_weights


def _rows(*rows: tuple[str, str, str, float | None]) -> pd.DataFrame:
    upn, year, term, possible = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "upn": pd.array(upn, dtype="string[pyarrow]"),
            "academic_year": pd.array(year, dtype="string"),
            "term": pd.array(term, dtype="string"),
            "sessions_possible": pd.array(possible, dtype="Float64"),
            "sessions_authorised_absence": pd.array([4.0] * len(rows), dtype="Float64"),
            "sessions_unauthorised_absence": pd.array([2.0] * len(rows), dtype="Float64"),
        }
    )


def test_share_of_the_years_known_sessions_that_fall_in_the_term() -> None:
    rows = _rows(
        ("A", "2025/26", "autumn", 140.0),
        ("A", "2025/26", "spring", 120.0),
        ("A", "2025/26", "summer", 130.0),  # after the scoring term: not counted
        ("A", "2024/25", "spring", 500.0),  # another year: not counted
        ("B", "2025/26", "autumn", None),  # sessions not known: not counted
        ("B", "2025/26", "spring", 100.0),
        ("C", "2025/26", "autumn", 150.0),  # no row in the scoring term: not known
        ("D", "2025/26", "spring", 90.0),  # not asked for
    )
    upns = pd.Index(["A", "B", "C", "E"], name="upn")
    share = term_weights(rows, upns, "2025/26", "spring")
    assert share.index.equals(upns)
    assert np.allclose(share.loc[["A", "B"]].to_numpy(), [120 / 260, 1.0])
    assert share.loc[["C", "E"]].isna().all()
