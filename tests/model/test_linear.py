"""The champion's numbers (riskengine.model.linear) score exactly as the fitted model, without scikit-learn,
and a bundle written by promote keeps them tied to its skops file."""

import copy
import json

import numpy as np
import pandas as pd
import pytest

from riskengine.model import RiskModel
from riskengine.model.bundle import LINEAR, numbers_not_written, read_bundle, write_bundle
from riskengine.model.linear import LinearRiskModel, unseen_code_notices
from riskengine.model.spec import POINT_TERM, RULE_POINTS, SUPPORTED
from riskengine.model.tracking import _trusted_types
from tests.model.conftest import KINDS, feature_frame

CATEGORIES = {"sen_provision": ["N", "K", "E"]}


def _same(expected, got) -> None:
    """Bit for bit: scores must not depend on which of the two loaded the champion."""
    assert np.array_equal(expected.log_odds, got.log_odds)
    assert np.array_equal(expected.probability, got.probability)
    assert np.array_equal(np.asarray(expected.base_value), np.asarray(got.base_value))
    pd.testing.assert_frame_equal(expected.contributions, got.contributions, check_exact=True)
    assert dict(expected.groups) == dict(got.groups)


def _inputs(features: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The frame scoring explains: features, rule points, and each pupil's year group and term (Years
    8 and 12 too, which no point model is for)."""
    rng = np.random.default_rng(seed)
    n = len(features)
    return features.assign(
        **{
            RULE_POINTS: pd.array(rng.integers(0, 12, n), dtype="Float64"),
            "ncyear": pd.array(rng.choice([8, 9, 10, 11, 12], n), dtype="Int64"),
            POINT_TERM: rng.choice(["autumn", "spring", "summer"], n),
        }
    )


def test_a_trained_models_numbers_explain_every_pupil_exactly_as_it_does(trained, training_frame):
    linear = LinearRiskModel.from_dict(
        json.loads(json.dumps(LinearRiskModel.from_model(trained.model).to_dict()))
    )
    x = training_frame.features
    _same(trained.model.explain(x), linear.explain(x))
    assert linear.metadata_["spec"] == trained.model.metadata_["spec"]  # what scoring reads of it


def test_each_pupil_is_routed_to_their_point_model_with_the_same_notes(trained, training_frame):
    model = copy.deepcopy(trained.model)
    model.point_, model.point_models_ = "9 autumn", {"10 spring": copy.deepcopy(trained.model)}
    model.point_models_["10 spring"].logistic_.coef_ = model.logistic_.coef_ * 0.5  # a different model
    linear = LinearRiskModel.from_model(model)
    x = _inputs(training_frame.features.iloc[:600])
    expected, got = model.explain(x), linear.explain(x)
    _same(expected, got)
    assert (expected.points == got.points).all() and (expected.notes == got.notes).all()
    assert any(note and "Year 12" in note for note in got.notes)


def test_blank_and_reference_codes_and_a_sigmoid_calibrator_reproduce_exactly():
    frame, outcome = feature_frame(3000, seed=1)
    groups = np.repeat([2019, 2020, 2021], 1000)
    model = RiskModel(KINDS, CATEGORIES, calibration="sigmoid").fit(frame, outcome, groups=groups)
    odd = frame.iloc[:40].copy()
    odd.loc[odd.index[10:20], ["sen_provision", "attendance_rate_term", "looked_after"]] = pd.NA
    _same(model.explain(odd), LinearRiskModel.from_model(model).explain(odd))


def test_a_code_the_model_never_saw_is_scored_as_not_known_and_said():
    model = RiskModel(KINDS, CATEGORIES).fit(*feature_frame(2000))
    frame = feature_frame(40, seed=5)[0]
    frame.loc[frame.index[:12], "sen_provision"] = "Q"  # e.g. a code added to the spec after training
    linear = LinearRiskModel.from_model(model)
    unseen = linear.unseen_codes(frame)
    assert list(unseen) == ["sen_provision"] and unseen["sen_provision"].sum() == 12
    as_blank = frame.assign(sen_provision=frame["sen_provision"].mask(unseen["sen_provision"]))
    _same(model.explain(as_blank), linear.explain(frame))
    (notice,) = unseen_code_notices(linear, frame, {"sen_provision": "SEN provision"})
    assert notice.startswith("SEN provision: ") and "(Q)" in notice and "'not known'" in notice


def test_a_model_trained_with_support_scores_the_risk_without_help():
    frame, outcome = feature_frame(2000, seed=2)
    supported = pd.array(np.random.default_rng(2).random(len(frame)) < 0.2, dtype="boolean")
    model = RiskModel({**KINDS, SUPPORTED: "flag"}, CATEGORIES).fit(
        frame.assign(supported=supported), outcome
    )
    linear = LinearRiskModel.from_model(model)
    no_help = frame.assign(supported=pd.array([False] * len(frame), dtype="boolean"))
    _same(model.explain(no_help), linear.explain(frame))  # the scoring frame has no support column


def test_a_calibrator_the_numbers_cannot_hold_leaves_the_bundle_on_skops(tmp_path):
    frame, outcome = feature_frame(3000, seed=1)
    groups = np.repeat([2019, 2020, 2021], 1000)
    model = RiskModel(KINDS, CATEGORIES, calibration="isotonic").fit(frame, outcome, groups=groups)
    directory = write_bundle(model, "test/1", tmp_path / "bundle", _trusted_types(model))
    assert "IsotonicRegression" in numbers_not_written(directory)  # what promote says
    assert not (directory / LINEAR).exists()
    loaded, _ = read_bundle(directory, numbers=True)
    assert isinstance(loaded, RiskModel)  # said in the manifest, and scored through skops: same scores


def test_changed_numbers_are_refused_like_a_changed_model(tmp_path, trained, training_frame):
    directory = write_bundle(trained.model, "test/1", tmp_path / "bundle", _trusted_types(trained.model))
    loaded, label = read_bundle(directory, numbers=True)
    assert isinstance(loaded, LinearRiskModel) and label == "test/1"
    _same(trained.model.explain(training_frame.features), loaded.explain(training_frame.features))
    numbers = json.loads((directory / LINEAR).read_text())
    numbers["intercept"] += 1.0
    (directory / LINEAR).write_text(json.dumps(numbers))
    with pytest.raises(ValueError, match="changed since it was promoted"):
        read_bundle(directory, numbers=True)
