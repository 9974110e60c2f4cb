"""The report's metrics agree with scikit-learn's own functions on the same inputs, to 1e-9."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from riskengine.evaluation.accuracy import at_capacity
from riskengine.evaluation.bootstrap import resample_weights, weighted_ranking, weighted_sums
from riskengine.evaluation.inputs import evaluation_table, scorers
from riskengine.evaluation.settings import load_audit_settings
from riskengine.model.calibration import expected_calibration_error

TOL = 1e-9


@pytest.fixture(scope="module")
def labelled(unbiased_inputs):
    """The evaluation table's pupils with an outcome, and their scorers, as `evaluate` builds them."""
    d = unbiased_inputs
    table = evaluation_table(d.scores, d.outcomes, d.attributes, load_audit_settings().score_at)
    table = table[table["outcome"].notna()].reset_index(drop=True)
    return table, table["outcome"].astype(bool).to_numpy(), scorers(table)


@pytest.mark.parametrize("tied", [False, True])
def test_bootstrap_ranking_metrics_equal_sklearn_with_sample_weights(tied: bool) -> None:
    rng = np.random.default_rng(3)
    y = rng.random(3000) < 0.2
    score = rng.random(3000) + 0.4 * y
    score = np.round(score, 1) if tied else score
    for weights in next(resample_weights(len(y), reps=6, seed=1)).astype(float):
        auc, ap = weighted_ranking(y, score)(weights)[0]
        assert auc == pytest.approx(roc_auc_score(y, score, sample_weight=weights), abs=TOL)
        assert ap == pytest.approx(average_precision_score(y, score, sample_weight=weights), abs=TOL)
        sums = weighted_sums(np.column_stack([y, score > 0.7]))(weights)[0]
        assert sums[0] == pytest.approx(weights[y].sum(), abs=TOL)


def test_resampling_is_seeded_and_draws_n_pupils() -> None:
    first = np.concatenate(list(resample_weights(500, reps=30, seed=4, block=7)))
    again = np.concatenate(list(resample_weights(500, reps=30, seed=4, block=7)))
    assert first.shape == (30, 500)
    assert (first == again).all()
    assert (first.sum(axis=1) == 500).all()


def test_accuracy_table_equals_sklearn(unbiased, labelled) -> None:
    _, y, found = labelled
    accuracy = unbiased.tables["accuracy"].set_index("scorer")
    assert set(accuracy.index) == {"rules", "model", "combined"}
    for name, scorer in found.items():
        row = accuracy.loc[name]
        assert row["pupils"] == len(y)
        assert row["roc_auc"] == pytest.approx(roc_auc_score(y, scorer.score), abs=TOL)
        assert row["pr_auc"] == pytest.approx(average_precision_score(y, scorer.score), abs=TOL)
        assert row["precision"] == pytest.approx(precision_score(y, scorer.flag), abs=TOL)
        assert row["recall"] == pytest.approx(recall_score(y, scorer.flag), abs=TOL)
        assert row["f1"] == pytest.approx(f1_score(y, scorer.flag), abs=TOL)
        for metric in ("roc_auc", "pr_auc", "precision", "recall"):
            assert row[f"{metric}_low"] < row[metric] < row[f"{metric}_high"]


def test_rules_model_and_combined_are_the_stored_flags(labelled) -> None:
    table, _, found = labelled
    source = table["flag_source"].fillna("")
    assert (found["rules"].flag == source.isin(["rule", "both"]).to_numpy()).all()
    assert (found["model"].flag == source.isin(["model", "both"]).to_numpy()).all()
    assert (found["combined"].flag == table["flag"].to_numpy(dtype=bool)).all()
    # The combined ranking puts every flagged pupil above every unflagged one.
    assert (
        found["combined"].score[found["combined"].flag].min()
        > found["combined"].score[~found["combined"].flag].max()
    )


def test_calibration_equals_sklearn(unbiased, labelled) -> None:
    _, y, found = labelled
    probability = found["model"].score
    assert unbiased.headline["brier_score"] == pytest.approx(brier_score_loss(y, probability), abs=TOL)
    assert unbiased.headline["ece"] == pytest.approx(expected_calibration_error(y, probability), abs=TOL)
    observed, predicted = calibration_curve(y, probability, n_bins=10, strategy="uniform")
    table = unbiased.tables["calibration"]
    filled = table[table["pupils"] > 0]
    np.testing.assert_allclose(filled["observed_rate"], observed, atol=TOL)
    np.testing.assert_allclose(filled["mean_predicted"], predicted, atol=TOL)
    assert filled["pupils"].sum() == len(y)


def test_capacity_without_ties_equals_sklearn_precision_of_the_top_k(unbiased, labelled) -> None:
    _, y, found = labelled
    probability = found["model"].score
    capacity = unbiased.tables["capacity"].query("scorer == 'model'")
    for row in capacity.itertuples():
        top = np.zeros(len(y), bool)
        top[np.argsort(-probability, kind="stable")[: row.pupils_seen]] = True
        assert row.precision == pytest.approx(precision_score(y, top), abs=TOL)
        assert row.recall == pytest.approx(recall_score(y, top), abs=TOL)


def test_capacity_with_ties_takes_the_expectation_over_tied_pupils() -> None:
    y = np.array([1, 1, 0, 0, 0])
    score = np.array([3.0, 2.0, 2.0, 2.0, 1.0])
    result = at_capacity(y, score, np.array([0.4]))
    # The top pupil plus one of three tied pupils (one of them positive): 1 + 1/3 expected hits of 2 seen.
    assert result["precision"].iloc[0] == pytest.approx((1 + 1 / 3) / 2)
    assert result["recall"].iloc[0] == pytest.approx((1 + 1 / 3) / 2)


def test_group_figures_equal_sklearn_on_each_group(unbiased, labelled) -> None:
    table, y, found = labelled
    flag = found["combined"].flag
    groups = unbiased.tables["audit_groups"].query("attribute == 'sen_provision'").set_index("group")
    for code, rows in pd.Series(np.arange(len(y))).groupby(table["sen_provision"].to_numpy()):
        idx = rows.to_numpy()
        row = groups.loc[code]
        negatives = ~y[idx]
        assert row["pupils"] == len(idx)
        assert row["base_rate"] == pytest.approx(y[idx].mean(), abs=TOL)
        assert row["selection_rate"] == pytest.approx(flag[idx].mean(), abs=TOL)
        assert row["precision"] == pytest.approx(precision_score(y[idx], flag[idx]), abs=TOL)
        assert row["false_negative_rate"] == pytest.approx(1 - recall_score(y[idx], flag[idx]), abs=TOL)
        assert row["false_positive_rate"] == pytest.approx(flag[idx][negatives].mean(), abs=TOL)
        assert row["mean_predicted"] == pytest.approx(found["model"].score[idx].mean(), abs=TOL)
