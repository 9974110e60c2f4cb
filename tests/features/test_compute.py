"""Each feature's value for small made-up histories, worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from riskengine.features import compute_features, compute_features_at_year_group
from riskengine.features.compute import scored_features
from riskengine.features.derivations import SESSIONS, source_columns
from riskengine.spec import upload as spec
from tests.features.conftest import pupil_terms

NA = pd.NA


def features_of(frame: pd.DataFrame, academic_year: str = "2024/25", term: str = "spring") -> pd.Series:
    """The features of the one pupil "P" at the scoring term."""
    return compute_features(frame, academic_year, term).loc["P"]


def same(value: object, expected: object) -> bool:
    """Equal, treating <NA> as equal only to <NA>."""
    if value is NA or expected is NA:
        return value is expected
    return bool(value == expected)


def history(*terms: tuple[str, str, dict]) -> pd.DataFrame:
    return pupil_terms(*({"upn": "P", "academic_year": y, "term": t, **values} for y, t, values in terms))


def test_frame_shape_follows_the_catalogue(catalogue):
    frame = pupil_terms(
        {"upn": "P", "academic_year": "2024/25", "term": "spring"},
        {"upn": "Q", "academic_year": "2024/25", "term": "spring"},
        {"upn": "R", "academic_year": "2024/25", "term": "autumn"},  # not on roll in the scoring term
    )
    features = compute_features(frame, "2024/25", "spring", catalogue)
    assert list(features.columns) == catalogue.names
    assert features.index.name == "upn" and sorted(features.index) == ["P", "Q"]
    assert {c: str(t) for c, t in features.dtypes.items()} == catalogue.dtypes


def test_attendance_rates_and_changes():
    features = features_of(
        history(
            ("2023/24", "spring", {"sessions_possible": 100, "sessions_authorised_absence": 2}),
            ("2023/24", "summer", {"sessions_possible": 100, "sessions_unauthorised_absence": 40}),
            ("2024/25", "autumn", {"sessions_possible": 120, "sessions_authorised_absence": 6}),
            (
                "2024/25",
                "spring",
                {
                    "sessions_possible": 80,
                    "sessions_authorised_absence": 8,
                    "sessions_unauthorised_absence": 8,
                },
            ),
            ("2024/25", "summer", {"sessions_possible": 100, "sessions_authorised_absence": 100}),  # later
        )
    )
    assert features["attendance_rate_term"] == pytest.approx(0.80)
    assert features["attendance_rate_ytd"] == pytest.approx(1 - 22 / 200)
    assert features["attendance_change_prev_term"] == pytest.approx(0.80 - 0.95)
    assert features["attendance_change_last_year"] == pytest.approx(0.80 - 0.98)
    assert same(features["persistent_absence"], True)  # 22 of 200 sessions missed: 11%
    assert same(features["severe_absence"], False)


@pytest.mark.parametrize(
    ("absent", "persistent", "severe"), [(9, False, False), (10, True, False), (50, True, True)]
)
def test_absence_lines_are_inclusive(absent, persistent, severe):
    features = features_of(history(("2024/25", "spring", {"sessions_authorised_absence": absent})))
    assert (features["persistent_absence"], features["severe_absence"]) == (persistent, severe)


def test_changes_cross_the_academic_year_and_need_the_comparison_term():
    autumn = history(
        ("2023/24", "autumn", {"sessions_authorised_absence": 10}),
        ("2023/24", "summer", {"sessions_authorised_absence": 20}),
        ("2024/25", "autumn", {"sessions_authorised_absence": 5}),
    )
    features = features_of(autumn, term="autumn")
    assert features["attendance_change_prev_term"] == pytest.approx(0.95 - 0.80)
    assert features["attendance_change_last_year"] == pytest.approx(0.95 - 0.90)
    assert features["attendance_rate_ytd"] == pytest.approx(0.95)  # last year's terms are not this year
    gap = history(("2023/24", "summer", {}), ("2024/25", "spring", {}))  # no autumn row, no spring last year
    features = features_of(gap)
    assert same(features["attendance_change_prev_term"], NA)
    assert same(features["attendance_change_last_year"], NA)


def test_blank_sessions_stay_unknown():
    features = features_of(
        history(
            ("2024/25", "autumn", {"sessions_authorised_absence": 20}),
            ("2024/25", "spring", {"sessions_unauthorised_absence": None}),
        )
    )
    assert same(features["attendance_rate_term"], NA)
    assert same(features["attendance_change_prev_term"], NA)
    assert features["attendance_rate_ytd"] == pytest.approx(0.80)  # the known term only
    nothing_known = features_of(history(("2024/25", "spring", {"sessions_possible": None})))
    for name in ("attendance_rate_ytd", "persistent_absence", "severe_absence"):
        assert nothing_known[name] is NA
    no_sessions = features_of(history(("2024/25", "spring", {"sessions_possible": 0})))
    assert no_sessions["attendance_rate_term"] is NA


def test_suspensions_sum_known_terms_and_all_blank_stays_unknown():
    features = features_of(
        history(
            ("2023/24", "summer", {"suspensions": 2, "suspension_sessions": 6}),
            ("2024/25", "autumn", {"suspensions": 1, "suspension_sessions": None}),
            ("2024/25", "spring", {"suspensions": None, "suspension_sessions": None}),
            ("2024/25", "summer", {"suspensions": 5, "suspension_sessions": 10}),  # later
        )
    )
    assert (features["suspensions_year"], features["suspensions_ever"]) == (1, 3)
    assert same(features["suspension_sessions_year"], NA)
    assert features["suspension_sessions_ever"] == 6


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([False, True, False], True),
        ([False, None, False], False),
        ([None, None, None], NA),
        ([None, True, None], True),
    ],
)
def test_ever_flags_are_yes_if_any_known_term_says_yes(values, expected):
    earlier = zip(("2023/24", "2024/25", "2024/25"), ("summer", "autumn", "spring"), values, strict=True)
    frame = history(
        *((y, t, {"permanent_exclusion": v, "looked_after": v}) for y, t, v in earlier),
        ("2024/25", "summer", {"permanent_exclusion": True, "looked_after": True}),  # later: must not count
    )
    features = features_of(frame)
    assert same(features["permanent_exclusion_ever"], expected)
    assert same(features["looked_after_ever"], expected)


def test_current_term_values_and_blanks():
    frame = history(
        (
            "2024/25",
            "autumn",
            {
                "looked_after": True,
                "eal": True,
                "sen_provision": "E",
                "sen_primary_need": "ASD",
                "school_moves": 1,
                "fsm_eligible": True,
            },
        ),
        (
            "2024/25",
            "spring",
            {
                "looked_after": None,
                "eal": None,
                "sen_provision": "K",
                "sen_primary_need": "SEMH",
                "school_moves": 2,
                "child_in_need": True,
                "young_carer": False,
                "youth_justice": True,
                "alternative_provision": False,
                "ncyear": 10,
            },
        ),
    )
    features = features_of(frame)
    assert same(features["looked_after"], NA) and same(features["looked_after_ever"], True)
    assert same(features["eal"], NA)
    assert same(features["fsm_eligible"], False)
    assert (features["sen_provision"], features["sen_primary_need"]) == ("K", "SEMH")
    assert features["school_moves"] == 2
    assert same(features["child_in_need"], True) and same(features["youth_justice"], True)
    assert same(features["young_carer"], False) and same(features["alternative_provision"], False)
    assert features["ncyear"] == 10


def test_ks2_scores_carry_forward_but_not_back():
    frame = history(
        ("2023/24", "autumn", {"ks2_reading_scaled": 98}),
        ("2024/25", "spring", {"ks2_reading_scaled": None}),
        ("2024/25", "summer", {"ks2_maths_scaled": 104}),  # later: must not be used
    )
    features = features_of(frame)
    assert features["ks2_reading_scaled"] == 98
    assert same(features["ks2_maths_scaled"], NA)


def test_missing_optional_column_counts_as_blank_and_required_one_is_an_error():
    frame = history(("2024/25", "spring", {}))
    assert features_of(frame.drop(columns=["young_carer"]))["young_carer"] is NA
    with pytest.raises(ValueError, match="sessions_possible"):
        compute_features(frame.drop(columns=["sessions_possible"]), "2024/25", "spring")


@pytest.mark.parametrize(
    ("year", "term"), [("2024/26", "spring"), ("2024/25", "Spring"), ("24/25", "autumn")]
)
def test_bad_scoring_term_is_rejected(year, term):
    with pytest.raises(ValueError, match=r"academic year|term"):
        compute_features(history(("2024/25", "spring", {})), year, term)


def test_two_rows_in_the_scoring_term_are_combined():
    frame = history(
        (
            "2024/25",
            "spring",
            {
                "sessions_possible": 50,
                "sessions_authorised_absence": 10,
                "looked_after": False,
                "suspensions": 1,
            },
        ),
        (
            "2024/25",
            "spring",
            {"school_urn": "100002", "sessions_possible": 50, "looked_after": True, "suspensions": 1},
        ),
    )
    features = features_of(frame)
    assert features["attendance_rate_term"] == pytest.approx(0.90)
    assert same(features["looked_after"], True)
    assert features["suspensions_year"] == 2


def test_no_pupils_in_the_scoring_term_gives_an_empty_typed_frame(catalogue):
    features = compute_features(history(("2024/25", "autumn", {})), "2024/25", "summer")
    assert features.empty and list(features.columns) == catalogue.names
    assert {c: str(t) for c, t in features.dtypes.items()} == catalogue.dtypes


def test_year_group_features_take_each_cohort_at_its_own_year(catalogue):
    frame = pupil_terms(
        {
            "upn": "OLD",
            "academic_year": "2022/23",
            "term": "autumn",
            "ncyear": 9,
            "sessions_authorised_absence": 30,
        },
        {"upn": "OLD", "academic_year": "2023/24", "term": "autumn", "ncyear": 10},
        {
            "upn": "NEW",
            "academic_year": "2023/24",
            "term": "autumn",
            "ncyear": 9,
            "sessions_authorised_absence": 5,
        },
        {"upn": "REP", "academic_year": "2022/23", "term": "autumn", "ncyear": 9},
        {"upn": "REP", "academic_year": "2023/24", "term": "autumn", "ncyear": 9},  # repeated Year 9
        {"upn": "Y8", "academic_year": "2023/24", "term": "autumn", "ncyear": 8},
    )
    features = compute_features_at_year_group(frame, 9, "autumn", catalogue)
    assert list(features.columns) == ["academic_year", *catalogue.names]
    assert features["academic_year"].to_dict() == {"OLD": "2022/23", "NEW": "2023/24", "REP": "2022/23"}
    assert features.loc["OLD", "attendance_rate_term"] == pytest.approx(0.70)
    assert features.loc["NEW", "attendance_rate_term"] == pytest.approx(0.95)
    assert (features["ncyear"] == 9).all()
    assert compute_features_at_year_group(frame, 11, "autumn", catalogue).empty


def test_scoring_features_in_one_pass_are_compute_features_of_the_pupils_history(catalogue):
    """`scored_features` (scoring's one pass) gives the pupils' rows up to the scoring term in the columns
    features read, and `compute_features` in the order of the pupils asked for, on a generated local
    authority."""
    synth = pytest.importorskip("riskengine.synth")
    frame = synth.generate(pupils=40, cohorts=4, schools=2, seed=5, as_of=("2026/27", "summer")).pupil_terms
    when = pd.Series(map(spec.term_index, frame["academic_year"], frame["term"]), index=frame.index)
    read = {"upn", "academic_year", "term", *source_columns(catalogue.names), *SESSIONS}
    for year, term in (("2025/26", "autumn"), ("2025/26", "summer"), ("2026/27", "spring")):
        on_roll = frame[(frame["academic_year"] == year) & (frame["term"] == term) & (frame["ncyear"] >= 9)]
        upns = on_roll["upn"].drop_duplicates().iloc[::-1].reset_index(drop=True)  # not in upload order
        history, features = scored_features(frame, upns, year, term, catalogue, also=SESSIONS)
        theirs = (frame["upn"].isin(upns) & (when <= spec.term_index(year, term))).to_numpy(bool)
        expected = frame.loc[theirs, [c for c in frame.columns if c in read]]
        pd.testing.assert_frame_equal(history, expected)
        pd.testing.assert_frame_equal(
            features, compute_features(frame, year, term, catalogue).reindex(pd.Index(upns))
        )
        assert len(features) == len(upns) > 0


def test_scoring_a_pupil_without_a_upn_is_refused(catalogue):
    frame = pupil_terms({"upn": None, "academic_year": "2024/25", "term": "spring"})
    with pytest.raises(ValueError, match="blank UPN"):
        scored_features(frame, frame["upn"], "2024/25", "spring", catalogue)
