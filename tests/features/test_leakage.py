"""Features for a scoring term never depend on later terms: adding or changing them changes nothing."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskengine.features import compute_features
from riskengine.features.derivations import term_numbers
from riskengine.spec import upload as spec
from tests.features.conftest import pupil_terms

SCORING_YEAR, SCORING_TERM = "2024/25", "spring"
SCORING = spec.term_index(SCORING_YEAR, SCORING_TERM)


def _blank_or(values: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), values)


def _term(number: int) -> dict[str, str]:
    return {"academic_year": spec.academic_year(number // 3), "term": spec.TERMS[number % 3]}


UPNS = ("P1", "P2", "P3")
values = st.fixed_dictionaries(
    {
        "ncyear": st.integers(7, 11),
        "sessions_possible": _blank_or(st.integers(0, 130)),
        "sessions_authorised_absence": _blank_or(st.integers(0, 60)),
        "sessions_unauthorised_absence": _blank_or(st.integers(0, 60)),
        "suspensions": _blank_or(st.integers(0, 3)),
        "suspension_sessions": _blank_or(st.integers(0, 10)),
        **{flag: _blank_or(st.booleans()) for flag in spec.BOOL_COLUMNS},
        "sen_provision": _blank_or(st.sampled_from(list(spec.SEN_PROVISION))),
        "sen_primary_need": _blank_or(st.sampled_from(list(spec.SEN_PRIMARY_NEED))),
        "school_moves": _blank_or(st.integers(0, 4)),
        "ks2_reading_scaled": _blank_or(st.integers(80, 120)),
        "ks2_maths_scaled": _blank_or(st.integers(80, 120)),
    }
)


def rows(first_term: int, last_term: int) -> st.SearchStrategy:
    return st.builds(
        lambda upn, term, values: {"upn": upn, **_term(term), **values},
        upn=st.sampled_from(UPNS),
        term=st.integers(first_term, last_term),
        values=values,
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    now=st.lists(rows(SCORING, SCORING), min_size=1, max_size=4),
    before=st.lists(rows(SCORING - 6, SCORING - 1), max_size=12),
    later=st.lists(rows(SCORING + 1, SCORING + 4), min_size=1, max_size=12),
    data=st.data(),
)
def test_later_terms_change_nothing(catalogue, now, before, later, data):
    earlier = before + now
    # Later rows go anywhere among the earlier ones, whose own order is kept (it breaks ties in a term).
    picks = data.draw(st.permutations([0] * len(earlier) + [1] * len(later)))
    queues = [iter(earlier), iter(later)]
    everything = [next(queues[pick]) for pick in picks]

    expected = compute_features(pupil_terms(*earlier), SCORING_YEAR, SCORING_TERM, catalogue)
    actual = compute_features(pupil_terms(*everything), SCORING_YEAR, SCORING_TERM, catalogue)
    pd.testing.assert_frame_equal(actual.sort_index(), expected.sort_index())


def test_generated_local_authority_features_ignore_later_terms(catalogue):
    synth = pytest.importorskip("riskengine.synth")
    pupil_terms = synth.generate(
        pupils=40, cohorts=4, schools=2, seed=3, as_of=("2026/27", "summer")
    ).pupil_terms
    terms = term_numbers(pupil_terms["academic_year"], pupil_terms["term"])
    for academic_year, term in (("2024/25", "summer"), ("2025/26", "autumn"), ("2026/27", "spring")):
        up_to = pupil_terms[terms <= spec.term_index(academic_year, term)]
        full = compute_features(pupil_terms, academic_year, term, catalogue)
        pd.testing.assert_frame_equal(full, compute_features(up_to, academic_year, term, catalogue))
        assert len(full) and full["attendance_rate_ytd"].between(0, 1).all()
