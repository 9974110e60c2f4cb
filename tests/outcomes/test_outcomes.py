"""The outcome definition turns NCCIS activity records into positive / negative / no outcome."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from riskengine.outcomes import OutcomeDefinition, derive_outcomes, load_outcome_definition, year11_start

# Generated pupils: Year 11 in 2024/25, so the default window is 2025-09-01 .. 2026-03-31.
YEAR11 = pd.Series(2024, index=pd.Index([f"P{i}" for i in range(8)], name="upn"))


def records(*rows: tuple[str, int, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["upn", "activity_code", "activity_date"])


@pytest.fixture
def destinations() -> pd.DataFrame:
    return records(
        ("P0", 230, "2025-10-01"),  # further education: EET
        ("P1", 230, "2025-10-01"),
        ("P1", 619, "2026-01-15"),  # later NEET inside the window: positive
        ("P2", 810, "2025-11-01"),  # Not Known only
        ("P3", 720, "2025-11-01"),  # Other
        ("P4", 619, "2026-04-02"),  # NEET, but after the window: no outcome
        ("P5", 110, "2025-06-01"),  # below leaving age, ignored: no outcome
        ("P6", 530, "2025-12-01"),  # re-engagement
        # P7 has no record at all
    )


def test_default_definition_is_neet_not_known_or_other(destinations: pd.DataFrame) -> None:
    result = derive_outcomes(destinations, YEAR11, load_outcome_definition())
    assert result["outcome"].tolist() == [False, True, True, True, pd.NA, pd.NA, True, pd.NA]
    assert result.loc["P2", "any_not_known"] and not result.loc["P2", "any_neet"]


def test_not_known_as_missing_and_re_engagement_as_eet(destinations: pd.DataFrame) -> None:
    definition = dataclasses.replace(
        load_outcome_definition(), not_known_as="missing", re_engagement_is_eet=True
    )
    result = derive_outcomes(destinations, YEAR11, definition)
    assert result["outcome"].tolist() == [False, True, pd.NA, True, pd.NA, pd.NA, False, pd.NA]


def test_a_later_window_moves_by_whole_years(destinations: pd.DataFrame) -> None:
    definition = dataclasses.replace(load_outcome_definition(), window_year_offset=1)
    result = derive_outcomes(destinations, YEAR11, definition)
    assert result["outcome"].isna().all()


def test_bad_definition_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown categories"):
        OutcomeDefinition(name="x", positive_categories=("nope",))
    with pytest.raises(ValueError, match="not_known_as"):
        OutcomeDefinition(name="x", not_known_as="maybe")


def test_fingerprint_changes_with_the_definition() -> None:
    default = load_outcome_definition()
    assert default.fingerprint != dataclasses.replace(default, window_year_offset=1).fingerprint


def test_year11_start_from_latest_term() -> None:
    terms = pd.DataFrame(
        {
            "upn": ["A", "A", "B"],
            "academic_year": ["2023/24", "2024/25", "2025/26"],
            "term": ["summer", "autumn", "spring"],
            "ncyear": [9, 10, 7],
        }
    )
    assert year11_start(terms).to_dict() == {"A": 2025, "B": 2029}
