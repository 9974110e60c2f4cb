"""Impact figures and lead time, on small hand-made pupils whose answers can be worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskengine.evaluation.impact import days_neet_after_leaving, impact_table
from riskengine.evaluation.inputs import with_term_order
from riskengine.evaluation.lead_time import NOT_FLAGGED, first_flags, lead_time_tables

COHORT = 2022  # Year 11 in 2022/23: the six months after leaving run from 1 Sep 2023 to 29 Feb 2024


def _destinations(rows: list[tuple[str, int, str]]) -> pd.DataFrame:
    upn, code, date = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "upn": pd.array(upn, dtype="string"),
            "activity_code": pd.array(code, dtype="Int64"),
            "activity_date": pd.to_datetime(list(date)),
        }
    )


def test_days_neet_follow_activity_dates() -> None:
    destinations = _destinations(
        [
            ("A", 619, "2023-08-15"),  # NEET before the period: in force from 1 September...
            ("A", 230, "2023-11-01"),  # ...until further education starts: September and October
            ("B", 230, "2023-09-10"),
            ("B", 640, "2024-01-01"),  # NEET from New Year to the end of February (a leap year)
            ("D", 619, "2024-04-01"),  # only after the period: no figure
            ("E", 530, "2023-12-01"),  # re-engagement provision from December
        ]
    )
    cohort = pd.Series(COHORT, index=pd.Index(["A", "B", "C", "D", "E"], name="upn"))
    days = days_neet_after_leaving(destinations, cohort)
    assert days["A"] == 30 + 31
    assert days["B"] == 31 + 29
    assert np.isnan(days["C"]) and np.isnan(days["D"])
    assert days["E"] == 31 + 31 + 29
    assert days_neet_after_leaving(destinations, cohort, re_engagement_is_eet=True)["E"] == 0


def test_impact_rates_by_school_and_flag_withhold_small_cells() -> None:
    n = 80
    pupils = pd.DataFrame(
        {
            "upn": [f"P{i}" for i in range(n)],
            "school_urn": ["100001"] * 60 + ["100002"] * 20,
            "cohort": COHORT,
            "ever_flagged": np.arange(n) % 2 == 0,
            "outcome": pd.array([True, False, None, False] * 20, dtype="boolean"),
            "any_neet": np.arange(n) % 4 == 0,
            "any_not_known": np.arange(n) % 8 == 0,
            "days_neet": np.where(np.arange(n) % 4 == 0, 60.0, 0.0),
        }
    )
    table = impact_table(pupils, min_group_size=30).set_index(["school_urn", "flag_group"])
    flagged = table.loc[("100001", "flagged")]
    assert flagged["pupils"] == 30
    assert flagged["neet_rate"] == pytest.approx(15 / 30)  # every 4th pupil is even, so flagged
    assert flagged["not_known_rate"] == pytest.approx(8 / 30)
    assert flagged["mean_days_neet"] == pytest.approx(30.0)
    assert table.loc[("100001", "not flagged"), "neet_rate"] == 0
    small = table.loc[("100002", "flagged")]
    assert small["status"] == "too small" and small["pupils"] == 10 and np.isnan(small["neet_rate"])
    everyone = table.loc[("all schools", "all")]
    assert everyone["pupils"] == n and everyone["no_outcome_rate"] == pytest.approx(0.25)


def test_lead_time_counts_terms_left_from_the_first_flag() -> None:
    rows = pd.DataFrame(
        {
            "upn": ["A", "A", "A", "B", "B", "C"],
            "academic_year": ["2020/21", "2021/22", "2022/23", "2021/22", "2022/23", "2022/23"],
            "term": ["autumn", "spring", "autumn", "autumn", "autumn", "summer"],
            "ncyear": [9, 10, 11, 10, 11, 11],
            "flag": [False, True, True, False, True, False],
        }
    )
    rows = with_term_order(rows)
    first = first_flags(rows, {"combined": rows["flag"].to_numpy()}, pd.Index(["A", "B", "C"]))
    by_upn = first.set_index("upn")
    assert by_upn.loc["A", "terms_left"] == 5  # Year 10 spring: five terms of school left
    assert by_upn.loc["B", "terms_left"] == 3  # Year 11 autumn
    assert pd.isna(by_upn.loc["C", "terms_left"])
    by_year, _ = lead_time_tables(first)
    assert by_year["first_flagged"].tolist() == ["Y10", "Y11", NOT_FLAGGED]
    assert by_year["share_of_positives"].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    assert by_year["cumulative_share"].iloc[1] == pytest.approx(2 / 3)
