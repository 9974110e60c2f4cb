"""`riskengine.evaluation.audit` on any frame: fairlearn's figures, any attribute names, nothing silent."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import precision_score

from riskengine.evaluation import audit
from riskengine.evaluation.fairness import NOT_JUDGED
from riskengine.evaluation.settings import load_audit_settings

TOL = 1e-9
SETTINGS = replace(load_audit_settings(), bootstrap_reps=40)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Shaped like a public student-outcomes table: arbitrary names, 0/1, boolean and text codes."""
    rng = np.random.default_rng(7)
    n = 4000
    gender = rng.choice(["M", "F"], size=n, p=[0.4, 0.6])
    debtor = rng.choice([0, 1], size=n, p=[0.85, 0.15])
    scholarship = rng.random(n) < 0.25
    age = pd.Series(rng.choice(["17-20", "21-25", "26+", None], size=n, p=[0.6, 0.2, 0.15, 0.05]))
    p = 1 / (1 + np.exp(-(-1.2 + 1.1 * debtor - 0.8 * scholarship + rng.normal(0, 1, n))))
    y = (rng.random(n) < p).astype(int)
    return pd.DataFrame(
        {
            "Target": y,
            "p": p,
            "flagged": p >= np.quantile(p, 0.7),
            "Gender": gender,
            "Debtor": debtor,
            "Scholarship holder": scholarship,
            "Age band": age,
        }
    )


def _metric_frame(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    features = frame[column].astype(object).where(frame[column].notna(), "Not recorded").map(str)
    return MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "false_positive_rate": false_positive_rate,
            "false_negative_rate": false_negative_rate,
            "true_positive_rate": true_positive_rate,
            "precision": lambda a, b: precision_score(a, b, zero_division=np.nan),
        },
        y_true=frame["Target"].to_numpy(),
        y_pred=frame["flagged"].to_numpy(),
        sensitive_features=features.rename(column),
    ).by_group


def test_group_rates_and_ratios_match_fairlearn(frame: pd.DataFrame) -> None:
    groups = ["Gender", "Debtor", "Scholarship holder", "Age band"]
    result = audit(
        frame,
        outcome="Target",
        score="p",
        flag="flagged",
        groups=groups,
        reference={"Gender": "F", "Debtor": False, "Scholarship holder": "false"},
        settings=SETTINGS,
    )
    metrics = [
        "selection_rate",
        "false_positive_rate",
        "false_negative_rate",
        "true_positive_rate",
        "precision",
    ]
    checked = 0
    for column in groups:
        expected = _metric_frame(frame, column)
        ours = result.by_group[result.by_group["attribute"] == column].set_index("group")
        assert set(ours.index) == set(expected.index)
        for group, row in expected.iterrows():
            for metric in metrics:
                assert ours.loc[group, metric] == pytest.approx(row[metric], abs=TOL), (column, group, metric)
                checked += 1
        ratios = result.disparities[result.disparities["attribute"] == column]
        reference = ours.index[ours["status"] == "reference"][0]
        for r in ratios.itertuples():
            want = expected.loc[r.group, r.metric] / expected.loc[reference, r.metric]
            assert r.ratio == pytest.approx(want, abs=TOL)
            checked += 1
    assert checked > 60
    # 0/1, boolean and text codes all meet their reference: False = 0 = "false".
    references = result.by_group[result.by_group["status"] == "reference"].set_index("attribute")["group"]
    assert references.to_dict() == {
        "Gender": "F",
        "Debtor": "0",
        "Scholarship holder": "False",
        "Age band": "17-20",
    }
    assert "Not recorded" in set(result.by_group.query("attribute == 'Age band'")["group"])
    assert result.overall["pupils"].iloc[0] == len(frame)


def test_intersections_are_declared_not_hard_coded(frame: pd.DataFrame) -> None:
    result = audit(
        frame,
        outcome="Target",
        flag="flagged",
        groups=["Gender", "Debtor"],
        reference={"Gender": "F", "Debtor": 0},
        intersections=[("Gender", "Debtor")],
        settings=SETTINGS,
    )
    combined = result.by_group[result.by_group["attribute"] == "Gender & Debtor"]
    assert set(combined["group"]) == {"F / 0", "F / 1", "M / 0", "M / 1"}
    assert combined.loc[combined["status"] == "reference", "group"].tolist() == ["F / 0"]
    assert combined["pupils"].sum() == len(frame)


def test_an_unmatched_reference_is_an_error_or_a_visible_row(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="'Female' matches no group of Gender"):
        audit(frame, outcome="Target", flag="flagged", groups=["Gender"], reference={"Gender": "Female"})
    lenient = audit(
        frame,
        outcome="Target",
        flag="flagged",
        groups=["Gender"],
        reference={"Gender": "Female"},
        settings=SETTINGS,
        strict=False,
    )
    rows = lenient.disparities
    assert len(rows) > 0 and (rows["status"] == NOT_JUDGED).all()
    assert rows["reason"].str.contains("matches no group").all()


def test_a_too_small_reference_is_a_visible_not_judged_row(frame: pd.DataFrame) -> None:
    few = frame.assign(Rare=np.where(np.arange(len(frame)) < 12, "rare", "common"))
    result = audit(
        few, outcome="Target", flag="flagged", groups=["Rare"], reference={"Rare": "rare"}, settings=SETTINGS
    )
    assert (result.disparities["status"] == NOT_JUDGED).all()
    assert result.disparities["reason"].str.contains("fewer than 30").all()


def test_missing_columns_are_named(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="Gendr"):
        audit(frame, outcome="Target", flag="flagged", groups=["Gendr"])
    with pytest.raises(ValueError, match="give flag"):
        audit(frame, outcome="Target", groups=["Gender"])


def test_the_audit_bootstrap_runs_in_float64(frame: pd.DataFrame) -> None:
    """The resampled sums the audit's intervals come from equal float64 sums on the same weights."""
    from riskengine.evaluation.bootstrap import resample_weights
    from riskengine.evaluation.fairness import _bootstrap_group_sums

    codes, _ = pd.factorize(frame["Gender"], sort=True)
    y = frame["Target"].to_numpy(bool)
    flag = frame["flagged"].to_numpy(bool)
    p = frame["p"].to_numpy(np.float64)
    weights = np.concatenate(
        list(resample_weights(len(frame), SETTINGS.bootstrap_reps, SETTINGS.bootstrap_seed))
    )
    assert weights.dtype == np.float64
    sums = _bootstrap_group_sums({"g": codes}, y, p, {"f": flag}, SETTINGS)[("g", "f")]
    one_hot = np.eye(codes.max() + 1)[codes]
    for key, column in {
        "n": one_hot,
        "prob": one_hot * p[:, None],
        "hit": one_hot * (y & flag)[:, None],
    }.items():
        assert sums[key].dtype == np.float64
        np.testing.assert_allclose(sums[key], weights @ column, rtol=1e-13, atol=1e-9)
