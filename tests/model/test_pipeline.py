import numpy as np
import pandas as pd
import pytest

from riskengine.model import RiskModel
from tests.model.conftest import KINDS, feature_frame

CATEGORIES = {"sen_provision": ["N", "K", "E"]}


@pytest.fixture(scope="module")
def fitted():
    frame, outcome = feature_frame(2000)
    return RiskModel(KINDS, CATEGORIES).fit(frame, outcome), frame


def test_explanations_add_up_to_the_models_log_odds(fitted):
    model, frame = fitted
    explanation = model.explain(frame)
    total = explanation.base_value + explanation.contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, model.decision_function(frame), atol=1e-6)
    np.testing.assert_allclose(explanation.probability, model.predict_proba(frame)[:, 1], atol=1e-12)


def test_contributions_are_per_catalogue_feature(fitted):
    model, frame = fitted
    contributions = model.explain(frame).contributions
    assert list(contributions.columns) == list(KINDS)
    assert contributions.index.equals(frame.index)
    # the one-hot group and missing indicator columns all sum into their feature
    assert set(model.column_features_) == set(KINDS)
    # reference coding: the reference code (N, the first listed) has no column; K, E and (missing) do
    assert (model.column_features_ == "sen_provision").sum() == 3


def test_scoring_builds_the_model_columns_exactly_as_the_fitted_transformers_do(fitted):
    """Scoring computes the model columns from the transformers' fitted numbers (a million pupils in seconds):
    bit for bit the transformers' own output, blanks, missing indicators and one-hot codes included."""
    model, frame = fitted
    expected = model.pipeline_.named_steps["columns"].transform(frame[list(model.feature_names_in_)])
    assert np.array_equal(model._matrix(frame), expected)
    rows = np.arange(0, len(frame), 7)
    assert np.array_equal(model._matrix(frame, rows), expected[rows])


def test_a_flags_contribution_is_its_coefficient_and_no_is_no_reason(fitted):
    model, frame = fitted
    plain = frame.iloc[:5].copy()
    plain["looked_after"] = pd.array([False] * 5, dtype="boolean")
    with_flag = plain.assign(looked_after=pd.array([True] * 5, dtype="boolean"))
    delta = (
        model.explain(with_flag).contributions["looked_after"]
        - model.explain(plain).contributions["looked_after"]
    )
    coef = model.coefficients().set_index("column").loc["looked_after", "coefficient"]
    np.testing.assert_allclose(delta.to_numpy(), coef)  # a flag's effect is exactly its coefficient
    np.testing.assert_allclose(model.explain(plain).contributions["looked_after"], 0.0)  # "no" = reference
    assert coef > 0  # being looked after raises risk in the generating model


def test_blanks_and_unseen_codes_are_scored_not_refused(fitted):
    model, frame = fitted
    odd = frame.iloc[:3].copy()
    odd["sen_provision"] = pd.array(["Z", pd.NA, "E"], dtype="string")
    odd["attendance_rate_term"] = pd.array([pd.NA, pd.NA, 0.5], dtype="Float64")
    p = model.predict_proba(odd)[:, 1]
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()


def test_missing_feature_column_is_a_clear_error(fitted):
    model, frame = fitted
    with pytest.raises(ValueError, match="lacks the model's features"):
        model.predict_proba(frame.drop(columns="looked_after"))


def test_calibrated_model_keeps_explanations_on_the_logistic_part():
    frame, outcome = feature_frame(3000, seed=1)
    groups = np.repeat([2019, 2020, 2021], 1000)
    model = RiskModel(KINDS, CATEGORIES, calibration="isotonic").fit(frame, outcome, groups=groups)
    explanation = model.explain(frame)
    total = explanation.base_value + explanation.contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, model.decision_function(frame), atol=1e-6)
    assert model.calibrator_ is not None
    with pytest.raises(ValueError, match="groups"):
        RiskModel(KINDS, CATEGORIES, calibration="sigmoid").fit(frame, outcome)


def test_coefficient_table_maps_every_column_to_a_feature(fitted):
    model, _ = fitted
    table = model.coefficients()
    assert table.loc[0, "column"] == "(intercept)"
    assert set(table["feature"].iloc[1:]) == set(KINDS)
    np.testing.assert_allclose(table["odds_ratio"], np.exp(table["coefficient"]))


def test_features_explained_together_sum_into_one_column_that_still_adds_up(fitted):
    model, frame = fitted
    _, outcome = feature_frame(2000)  # the same generated outcome the fixture's model was fitted on
    together = {"care_and_sen": ["sen_provision", "looked_after"]}
    grouped = RiskModel(KINDS, CATEGORIES, explain_together=together).fit(frame, outcome)
    explanation = grouped.explain(frame)
    separate = model.explain(frame).contributions
    assert list(explanation.contributions.columns) == [
        "attendance_rate_term",
        "care_and_sen",
        "suspensions_year",
    ]
    assert explanation.groups == {"care_and_sen": ("sen_provision", "looked_after")}
    np.testing.assert_allclose(
        explanation.contributions["care_and_sen"], separate["sen_provision"] + separate["looked_after"]
    )
    total = explanation.base_value + explanation.contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, grouped.decision_function(frame), atol=1e-6)
    np.testing.assert_allclose(explanation.probability, model.predict_proba(frame)[:, 1], atol=1e-12)


def test_a_bad_explain_together_group_is_refused_at_fit():
    frame, outcome = feature_frame(200)
    with pytest.raises(ValueError, match="not among"):
        RiskModel(KINDS, CATEGORIES, explain_together={"g": ["looked_after", "eal"]}).fit(frame, outcome)


REFERENCES = {
    "attendance_rate_term": 0.95,
    "looked_after": False,
    "sen_provision": "N",
    "suspensions_year": 0,
}
DIRECTIONS = {"attendance_rate_term": "lowers", "looked_after": "raises", "sen_provision": "raises"}


def test_contributions_equal_shap_with_the_reference_pupil_as_the_only_background_row():
    shap = pytest.importorskip("shap")
    frame, outcome = feature_frame(2000, seed=3)
    model = RiskModel(KINDS, CATEGORIES, references=REFERENCES, directions=DIRECTIONS).fit(frame, outcome)
    matrix = model.pipeline_.named_steps["columns"].transform(frame)
    reference = model.pipeline_.named_steps["columns"].transform(model._reference_frame())
    explainer = shap.LinearExplainer(model.logistic_, shap.maskers.Independent(reference))
    np.testing.assert_allclose(model.column_contributions(matrix), explainer.shap_values(matrix), atol=1e-10)
    explanation = model.explain(frame)
    assert explanation.base_value == pytest.approx(float(np.ravel(explainer.expected_value)[0]))
    total = explanation.base_value + explanation.contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, model.decision_function(frame), atol=1e-9)
    # a pupil at 95% attendance, not looked after, no SEN, no suspensions has no contribution at all
    at_reference = model._reference_frame().set_index(pd.Index(["R"]))
    np.testing.assert_allclose(model.explain(at_reference).contributions.to_numpy(), 0.0, atol=1e-12)


def test_coefficients_keep_the_declared_directions_and_the_card_can_show_both_fits():
    frame, outcome = feature_frame(2000, seed=4)
    # declare the opposite of the truth for attendance: the bound holds it at zero
    wrong = DIRECTIONS | {"attendance_rate_term": "raises"}
    model = RiskModel(KINDS, CATEGORIES, references=REFERENCES, directions=wrong).fit(frame, outcome)
    table = model.coefficients().set_index("column")
    assert table.loc["attendance_rate_term", "coefficient"] == pytest.approx(0.0, abs=1e-8)
    assert table.loc["attendance_rate_term", "unconstrained"] < 0  # what the data wanted
    assert table.loc["attendance_rate_term", "bound"] == ">= 0"
    for code in ("sen_provision_K", "sen_provision_E", "looked_after"):
        assert table.loc[code, "coefficient"] >= 0


def test_a_prior_keeps_a_rare_strong_factor_from_shrinking_to_nothing():
    frame, outcome = feature_frame(2000, seed=5)
    strong = dict(C=0.001, references=REFERENCES, directions=DIRECTIONS)
    plain = RiskModel(KINDS, CATEGORIES, **strong).fit(frame, outcome)
    held = RiskModel(KINDS, CATEGORIES, priors={"looked_after": 1.2}, **strong).fit(frame, outcome)
    coef = {m: m.coefficients().set_index("column").loc["looked_after", "coefficient"] for m in (plain, held)}
    assert coef[plain] < 0.3 < 0.9 < coef[held]
    with pytest.raises(ValueError, match="prior"):
        RiskModel(KINDS, CATEGORIES, priors={"attendance_rate_term": 1.0}).fit(frame, outcome)


def test_each_pupil_is_explained_by_their_points_model_and_later_years_are_told_so():
    frame, outcome = feature_frame(1200, seed=6)
    year9 = RiskModel(KINDS, CATEGORIES, references=REFERENCES, directions=DIRECTIONS).fit(frame, outcome)
    year11 = RiskModel(KINDS, CATEGORIES, references=REFERENCES, directions=DIRECTIONS, C=0.01)
    year11.fit(frame, ~outcome)
    year9.point_, year9.point_models_ = "9 autumn", {"11 summer": year11}
    pupils = frame.iloc[:4].assign(
        ncyear=pd.array([9, 10, 11, 12], dtype="Int64"), scoring_term=["autumn", "spring", "summer", "autumn"]
    )
    explanation = year9.explain(pupils)
    assert explanation.points.tolist() == ["9 autumn", "9 autumn", "11 summer", "11 summer"]
    assert explanation.notes[0] is None and explanation.notes[2] is None
    assert explanation.notes[1] == "no model for Year 10 spring: scored by the Year 9 autumn model"
    assert explanation.notes[3] == "no model for Year 12 autumn: scored by the Year 11 summer model"
    own = np.r_[year9.predict_proba(frame.iloc[:2])[:, 1], year11.predict_proba(frame.iloc[2:4])[:, 1]]
    np.testing.assert_allclose(explanation.probability, own)
    total = explanation.base_value + explanation.contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, explanation.log_odds, atol=1e-9)
    assert np.array_equal(year9.log_odds(pupils), explanation.log_odds)  # "what would change it" reads these


def test_candidate_rows_reuse_converted_inputs_and_score_as_if_converted_afresh():
    frame, outcome = feature_frame(600, seed=8)
    model = RiskModel(KINDS, CATEGORIES, references=REFERENCES, directions=DIRECTIONS).fit(frame, outcome)
    rows = np.array([5, 0, 5, 17, 3])  # candidates: pupils repeated, with attendance moved
    moved = frame.iloc[rows].assign(attendance_rate_term=pd.array([0.99, 0.5, 0.97, 1.0, 0.8], "Float64"))
    reused = model.inputs(moved[["attendance_rate_term"]], model.inputs(frame), rows)
    assert np.array_equal(model.log_odds(moved, reused), model.log_odds(moved))
    assert np.array_equal(model.explain(moved, reused).probability, model.explain(moved).probability)
