"""Training on little history (one cohort of outcomes) and on data that lacks some columns (issue 10)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.model import TrainingFrame, build_training_frame, fit_model, load_model_spec
from riskengine.model.card import model_card
from riskengine.model.training import CROSS_VALIDATED, TEMPORAL, NotEnoughOutcomes
from riskengine.paths import data_path
from riskengine.store import Store
from riskengine.synth import generate

UPLOAD = {"filename": "synthetic.csv", "sha256": "0" * 64, "mapping": "canonical", "mapping_sha256": None,
          "n_rows": 0, "n_warnings": 0, "uploaded_by": "test"}  # fmt: skip


def _only(frame: TrainingFrame, keep: np.ndarray) -> TrainingFrame:
    return TrainingFrame(
        frame.features[keep],
        frame.outcome[keep],
        frame.cohort[keep],
        frame.audit[keep],
        frame.n_without_outcome,
        frame.n_window_open,
        frame.outcome_definition,
        frame.rule_set_version,
        None if frame.school is None else frame.school[keep],
    )


@pytest.fixture(scope="module")
def one_cohort(training_frame):
    return _only(training_frame, (training_frame.cohort == training_frame.cohort.max()).to_numpy())


def test_one_cohort_is_fitted_and_cross_validated_within_it(one_cohort, catalogue):
    result = fit_model(one_cohort, load_model_spec(), catalogue)
    assert result.validation == CROSS_VALIDATED
    cohort = one_cohort.cohort.iloc[0]
    assert result.train_cohorts == [cohort]
    assert "cross-validated" in result.validation_note and cohort in result.validation_note
    # every pupil is a validation pupil, predicted out of fold: validation differs from in-sample fit
    valid, train = result.metrics["validation"], result.metrics["train"]
    assert valid["n"] == train["n"] == len(one_cohort.outcome)
    assert 0.5 < valid["auc"] < train["auc"]
    assert result.model.metadata_["validation"] == CROSS_VALIDATED
    card = model_card(result)
    assert "cross-validated" in card and "Temporal split" not in card


def test_several_cohorts_keep_temporal_validation(trained, training_frame):
    assert trained.validation == TEMPORAL
    assert trained.validation_cohort == training_frame.cohort.max()
    assert "temporal" in trained.validation_note and "Temporal split" in model_card(trained)


def test_too_few_positive_cases_is_refused_with_the_counts(one_cohort, catalogue):
    positives = int(one_cohort.outcome.sum())
    spec = load_model_spec(min_positives=positives + 1)
    with pytest.raises(NotEnoughOutcomes) as error:
        fit_model(one_cohort, spec, catalogue)
    message = str(error.value)
    assert f"{len(one_cohort.outcome)} pupils" in message and f"only {positives} " in message
    assert f"at least {positives + 1}" in message and "min_positives" in message


def test_no_outcomes_is_refused_with_the_counts(training_frame, catalogue):
    none = _only(training_frame, np.zeros(len(training_frame.outcome), dtype=bool))
    with pytest.raises(NotEnoughOutcomes, match=r"no pupil .* has an outcome") as error:
        fit_model(none, load_model_spec(), catalogue)
    assert f"{training_frame.n_window_open} whose destination window is still open" in str(error.value)


def test_features_never_supplied_are_left_out_with_one_notice_and_no_library_warning(small_la, catalogue):
    absent = [
        "young_carer",
        "alternative_provision",
        "school_moves",
        "ks2_reading_scaled",
        "ks2_maths_scaled",
    ]
    pupil_terms = small_la.pupil_terms.copy()
    for column in absent:
        pupil_terms[column] = pd.Series(pd.NA, index=pupil_terms.index, dtype=pupil_terms[column].dtype)
    spec = load_model_spec()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no scikit-learn (or other) warning may reach the user
        frame = build_training_frame(pupil_terms, small_la.destinations, spec, catalogue)
        result = fit_model(frame, spec, catalogue)
    unobserved = [f for f in spec.features if frame.features[f].isna().all()]
    assert unobserved and set(unobserved) <= set(result.not_available)
    assert not set(unobserved) & set(result.model.feature_kinds)
    notices = [n for n in result.notices if n.startswith("Not available in your data")]
    assert len(notices) == 1 and all(catalogue.label(f) in notices[0] for f in unobserved)
    assert "not available in your data" in model_card(result).lower()
    assert not set(unobserved) & set(result.coefficients["feature"])  # no indicator of an absent column


def test_a_feature_one_school_never_supplied_is_left_out_and_said(small_la, catalogue):
    pupil_terms = small_la.pupil_terms.copy()
    school = pupil_terms["school_urn"].value_counts().index[0]
    at_school = (pupil_terms["school_urn"] == school).to_numpy(bool)
    pupil_terms.loc[at_school, "ks2_reading_scaled"] = pd.NA
    spec = load_model_spec()
    frame = build_training_frame(pupil_terms, small_la.destinations, spec, catalogue)
    result = fit_model(frame, spec, catalogue)
    assert "ks2_reading_scaled" in result.not_available
    assert "ks2_reading_scaled" not in result.model.feature_kinds
    assert "ks2_maths_scaled" in result.model.feature_kinds  # supplied everywhere: kept
    notice = next(n for n in result.notices if "ks2_reading_scaled" in n)
    assert school in notice and "which school a pupil attends" in notice


@pytest.mark.slow
def test_train_command_with_one_cohort_of_outcomes(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKENGINE_HOME", str(tmp_path))
    monkeypatch.delenv("RISKENGINE_DB_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    la = generate(pupils=400, cohorts=7, schools=2, seed=9)  # one intake has left with a closed window
    store = Store.open()
    for (school, year, term), rows in la.pupil_terms.groupby(["school_urn", "academic_year", "term"]):
        store.write_pupil_terms(rows, school_urn=school, academic_year=year, term=term, upload=UPLOAD)
    store.write_destinations(la.destinations, upload=UPLOAD)
    runner = CliRunner()
    trained = runner.invoke(app, ["train"])
    assert trained.exit_code == 0, trained.output
    assert "Validation: cross-validated within" in trained.output
    assert "Registered riskengine-neet version 1" in trained.output
    assert "Warning" not in trained.output

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("riskengine").experiment_id])
    assert run.data.params["validation"] == CROSS_VALIDATED
    assert "cross-validated" in run.data.tags["validation_note"]

    strict = tmp_path / "strict.yaml"
    shipped = data_path("models", "logistic.yaml").read_text()
    assert "min_positives: 20" in shipped
    strict.write_text(shipped.replace("min_positives: 20", "min_positives: 100000"))
    refused = runner.invoke(app, ["train", "--spec", str(strict)])
    assert refused.exit_code == 1
    assert "cannot train" in refused.output and "at least 100000" in refused.output
