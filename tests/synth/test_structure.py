"""The generated frames keep the data contract and behave like real school and NCCIS data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from stdnum.gb import upn as stdnum_upn

from riskengine.spec import destinations as dest_spec
from riskengine.spec import upload as spec
from riskengine.synth import SyntheticLA, demo_la, generate
from riskengine.synth.destinations import as_of_date


def test_frames_have_the_canonical_columns_and_dtypes(small_la: SyntheticLA) -> None:
    assert tuple(small_la.pupil_terms.columns) == spec.COLUMNS
    assert small_la.pupil_terms.dtypes.astype(str).to_dict() == spec.canonical_dtypes()
    assert tuple(small_la.destinations.columns) == dest_spec.COLUMNS
    assert small_la.destinations.dtypes.astype(str).to_dict() == dest_spec.canonical_dtypes()


def test_upns_pass_the_check_letter_rule_and_identify_one_pupil_each(big_la: SyntheticLA) -> None:
    upns = big_la.truth.index
    assert upns.is_unique and 0.97 * 3000 * 8 < len(upns) <= 3000 * 8  # a few have not arrived yet
    assert all(stdnum_upn.is_valid(u) for u in upns)
    assert set(big_la.pupil_terms["upn"].unique()) <= set(upns)
    assert not big_la.pupil_terms.duplicated(["upn", "academic_year", "term"]).any()


def test_codes_and_values_stay_within_the_spec(big_la: SyntheticLA) -> None:
    terms = big_la.pupil_terms
    assert all(urn.isdigit() and len(urn) == 6 for urn in terms["school_urn"].unique())
    assert all(map(spec.is_valid_academic_year, terms["academic_year"].unique()))
    assert set(terms["term"].unique()) == set(spec.TERMS)
    assert terms["ncyear"].between(7, 11).all()
    assert set(terms["sen_provision"].unique()) == set(spec.SEN_PROVISION)
    assert set(terms["sen_primary_need"].dropna().unique()) <= set(spec.SEN_PRIMARY_NEED)
    assert (terms["sen_primary_need"].isna() == (terms["sen_provision"] == "N")).all()
    assert set(terms["sex"].unique()) <= set(spec.SEX)
    assert set(terms["ethnicity"].unique()) <= set(spec.ETHNICITY_MAJOR_GROUP)
    ks2 = pd.concat([terms[c].dropna() for c in spec.KS2_COLUMNS])
    assert ks2.between(*spec.KS2_RANGE).all()
    required = [c for c in spec.REQUIRED_COLUMNS if c not in spec.KEY_COLUMNS]
    assert not terms[required].isna().any().any()
    assert set(big_la.destinations["activity_code"].unique()) <= set(dest_spec.ACTIVITY_CODES)


def test_absence_never_exceeds_possible_sessions_and_suspensions_are_consistent(big_la: SyntheticLA) -> None:
    terms = big_la.pupil_terms
    absent = terms["sessions_authorised_absence"] + terms["sessions_unauthorised_absence"]
    assert (absent <= terms["sessions_possible"]).all()
    assert (terms["sessions_possible"] > 0).all()
    assert ((terms["suspensions"] > 0) == (terms["suspension_sessions"] > 0)).all()
    # Suspensions are recorded as authorised absence (code E).
    assert (terms["suspension_sessions"] <= terms["sessions_authorised_absence"]).all()


def _next_term(terms: pd.DataFrame, when: str, column: str) -> pd.Series:
    """`column` in the term after each term where flag `when` is set (pupils on roll both terms)."""
    t = spec.term_indices(terms["academic_year"], terms["term"])
    ordered = terms.assign(t=t).sort_values(["upn", "t"])
    following = ordered.groupby("upn")[column].shift(-1)
    consecutive = ordered.groupby("upn")["t"].shift(-1) == ordered["t"] + 1
    return following[ordered[when].astype(bool) & consecutive]


def test_care_status_is_persistent_and_fsm_sticky(big_la: SyntheticLA) -> None:
    terms = big_la.pupil_terms[
        big_la.pupil_terms["upn"].isin(big_la.truth.index[big_la.truth["cohort"] >= 5])
    ]
    assert _next_term(terms, "looked_after", "looked_after").astype(bool).mean() > 0.9
    assert _next_term(terms, "fsm_eligible", "fsm_eligible").astype(bool).mean() > 0.9


def test_risk_factors_cluster_as_in_life(big_la: SyntheticLA) -> None:
    terms = big_la.pupil_terms
    fsm = terms["fsm_eligible"].astype(bool)
    sen = terms["sen_provision"] != "N"
    absence = (terms["sessions_authorised_absence"] + terms["sessions_unauthorised_absence"]) / terms[
        "sessions_possible"
    ]
    assert sen[fsm].mean() > 1.5 * sen[~fsm].mean()
    assert absence[fsm].mean() > 1.4 * absence[~fsm].mean()
    by_year = absence.groupby(terms["ncyear"]).mean()
    assert by_year.is_monotonic_increasing  # absence rises through secondary school
    suspensions = terms["suspensions"].astype(float).groupby(terms["ncyear"]).mean()
    assert suspensions.idxmax() in (9, 10)
    # A permanently excluded pupil moves to the LA's pupil referral unit (alternative provision).
    pru = big_la.schools.loc[big_la.schools["kind"] == "pupil referral unit", "school_urn"].item()
    assert (_next_term(terms, "permanent_exclusion", "school_urn") == pru).all()
    assert _next_term(terms, "permanent_exclusion", "alternative_provision").astype(bool).all()


def test_cohorts_are_followed_from_year_7_to_year_11_or_the_as_of_term(small_la: SyntheticLA) -> None:
    terms = small_la.pupil_terms
    index = terms["academic_year"].map(spec.year_start) * 3 + terms["term"].map(spec.TERMS.index)
    assert index.max() == spec.term_index(*small_la.as_of)
    now = terms[index == index.max()]
    assert sorted(now["ncyear"].unique()) == [7, 8, 9, 10, 11]  # six intakes: the oldest has left
    start = small_la.truth["year11_start"] - 4
    newest = small_la.truth.index[start == spec.year_start(small_la.as_of[0])]
    assert set(terms.loc[terms["upn"].isin(newest), "term"]) == {"autumn"}


def test_only_intakes_whose_window_has_begun_get_destinations(small_la: SyntheticLA) -> None:
    truth = small_la.truth
    with_rows = truth.index.isin(small_la.destinations["upn"].unique())
    assert with_rows.any()
    assert truth.loc[with_rows, "window_started"].all()
    assert small_la.destinations["activity_date"].max() <= as_of_date(small_la.as_of)
    started = truth[truth["window_started"]]
    assert 0.85 < started["has_destination"].mean() < 0.97  # some moved away: no record at all


def test_no_outcome_is_unrelated_to_risk(big_la: SyntheticLA) -> None:
    started = big_la.truth[big_la.truth["window_started"]]
    missing = ~started["has_destination"]
    assert missing.sum() > 200
    ratio = started.loc[missing, "true_probability"].mean() / started.loc[~missing, "true_probability"].mean()
    assert 0.8 < ratio < 1.25


def test_later_as_of_terms_extend_the_same_history() -> None:
    autumn = generate(pupils=60, cohorts=3, schools=2, seed=4, as_of=("2026/27", "autumn"))
    summer = generate(pupils=60, cohorts=3, schools=2, seed=4, as_of=("2026/27", "summer"))
    shared = summer.pupil_terms.iloc[: len(autumn.pupil_terms)].reset_index(drop=True)
    index = summer.pupil_terms["academic_year"].map(spec.year_start) * 3 + summer.pupil_terms["term"].map(
        spec.TERMS.index
    )
    assert (index.iloc[: len(autumn.pupil_terms)] <= spec.term_index("2026/27", "autumn")).all()
    pd.testing.assert_frame_equal(shared, autumn.pupil_terms)


def test_demo_la_is_sized_for_a_quick_demo() -> None:
    la = demo_la(seed=1)
    assert len(la.schools) == 5 and 0.97 * 600 * 8 < la.truth.shape[0] <= 600 * 8
    assert la.truth["has_destination"].sum() > 1000


@pytest.mark.parametrize(
    "kwargs",
    [{"pupils": 0}, {"cohorts": 0}, {"schools": 0}, {"seed": -1}, {"as_of": ("2026/28", "autumn")},
     {"as_of": ("2026/27", "winter")}, {"under_record": {"attribute": "height", "group": "x", "share": 0.1}},
     {"under_record": {"attribute": "sex", "group": "M", "share": 2}}],
)  # fmt: skip
def test_bad_parameters_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate(**{"pupils": 10, "cohorts": 2, "schools": 2, **kwargs})


def test_truth_probability_is_the_logistic_of_the_latent_logit(small_la: SyntheticLA) -> None:
    truth = small_la.truth
    np.testing.assert_allclose(truth["true_probability"], 1 / (1 + np.exp(-truth["latent_logit"])))
