"""The under-recording hook the fairness audit uses: it hides positives for one group only."""

from __future__ import annotations

from riskengine.outcomes import derive_outcomes, year11_start
from riskengine.synth import generate


def _recorded_vs_true(la, group_of):
    years = year11_start(la.pupil_terms)
    complete = years[la.truth.loc[years.index, "window_complete"].to_numpy()]
    outcomes = derive_outcomes(la.destinations, complete)["outcome"].dropna().astype(float)
    groups = group_of.reindex(outcomes.index)
    truth = la.truth.loc[outcomes.index, "true_probability"]
    return outcomes.groupby(groups).mean() / truth.groupby(groups).mean()


def test_under_recording_lowers_one_groups_recorded_rate_only() -> None:
    kwargs = {"pupils": 1500, "cohorts": 7, "schools": 3, "seed": 5}
    fair = generate(**kwargs)
    biased = generate(
        **kwargs, under_record={"attribute": "sex", "group": "M", "share": 0.6, "record_as": "eet"}
    )
    sex = biased.pupil_terms.drop_duplicates("upn").set_index("upn")["sex"]
    assert (fair.truth["true_probability"] == biased.truth["true_probability"]).all()  # same pupils and risk
    assert not fair.truth["under_recorded"].any()
    assert biased.truth["under_recorded"].sum() > 20
    assert set(sex[biased.truth.index[biased.truth["under_recorded"]]]) == {"M"}
    ratio = _recorded_vs_true(biased, sex)
    assert ratio["M"] < 0.6 and 0.75 < ratio["F"] < 1.25


def test_under_recording_as_missing_drops_the_records() -> None:
    bias = {"attribute": "ethnic_group", "group": "White", "share": 1.0, "record_as": "missing"}
    la = generate(pupils=600, cohorts=7, schools=2, seed=2, under_record=bias)
    hidden = la.truth.index[la.truth["under_recorded"]]
    assert len(hidden) > 0
    assert not la.destinations["upn"].isin(hidden).any()
