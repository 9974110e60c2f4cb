import json

import numpy as np
import pytest

from riskengine.model import TrainingFrame, build_training_frame, fit_model, load_model_spec
from riskengine.rules import load_rule_set


def test_validation_is_the_newest_cohort_with_a_closed_window(small_la, training_frame, trained):
    frame = training_frame
    cohorts = sorted(frame.cohort.unique())
    assert trained.validation_cohort == cohorts[-1]
    assert trained.train_cohorts == cohorts[:-1]  # older cohorts only: never a random split
    train, validation = frame.split()
    assert not (train & validation).any() and (train | validation).all()
    # the cohort whose destination window is still open when the data ends is left out, and counted
    latest = small_la.destinations["activity_date"].max()
    assert frame.n_window_open > 0
    year11 = small_la.truth.loc[frame.features.index, "year11_start"]
    assert (year11 + 2).max() <= latest.year


def test_training_rows_are_year_group_features_with_outcomes(training_frame, trained):
    spec, frame = load_model_spec(), training_frame
    assert list(frame.features.columns) == list(spec.features)
    assert frame.outcome.dtype == bool and len(frame.outcome) == len(frame.features)
    assert frame.features.index.is_unique
    assert trained.fingerprint["n_pupils"] == len(frame.features)


def test_fingerprint_holds_counts_and_hashes_never_upns(small_la, trained):
    text = json.dumps(trained.fingerprint)
    upns = small_la.truth.index
    assert not any(upn in text for upn in upns[:: max(1, len(upns) // 500)])
    assert len(trained.fingerprint["features_sha256"]) == 64


def test_metrics_and_coefficients_are_reported(trained, catalogue):
    valid = trained.metrics["validation"]
    assert 0.6 < valid["auc"] <= 1 and 0 <= valid["ece"] < 1
    table = trained.coefficients
    labels = set(table["label"].iloc[1:])
    assert catalogue.label("looked_after") in labels
    # effects are listed largest first (after the intercept)
    magnitudes = table["coefficient"].iloc[1:].abs().to_numpy()
    assert (np.diff(magnitudes) <= 1e-12).all()


def test_fairness_summary_covers_sex_and_ethnic_groups(trained):
    fairness = trained.fairness
    assert set(fairness["attribute"]) == {"sex", "ethnicity"}
    assert fairness.groupby("attribute")["n"].sum().nunique() == 1  # every validation pupil in each audit
    assert {"auc", "flag_rate", "recall"} <= set(fairness.columns)


def test_the_model_remembers_what_it_was_trained_on(trained, catalogue):
    meta = trained.model.metadata_
    assert meta["spec_version"] == load_model_spec().version
    assert meta["catalogue_version"] == catalogue.version
    assert meta["validation_cohort"] == trained.validation_cohort


def test_too_few_cohorts_is_a_clear_error(training_frame):
    frame = training_frame
    newest = frame.cohort == frame.cohort.max()
    one = TrainingFrame(
        frame.features[newest],
        frame.outcome[newest],
        frame.cohort[newest],
        frame.audit[newest],
        0,
        0,
        "x",
        None,
    )
    with pytest.raises(ValueError, match="at least two cohorts"):
        one.split()


def test_rule_points_can_be_a_model_input(small_la, catalogue):
    spec = load_model_spec(include_rule_points=True)
    frame = build_training_frame(small_la.pupil_terms, small_la.destinations, spec, catalogue)
    assert frame.features.columns[-1] == "rule_points"
    assert frame.rule_set_version == load_rule_set().version
    result = fit_model(frame, spec, catalogue)
    assert "rule_points" in set(result.coefficients["feature"])
    assert result.model.metadata_["rule_set_version"] == load_rule_set().version
