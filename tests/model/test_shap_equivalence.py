"""Explanations written out (coefficient x (value - training mean)) equal shap's LinearExplainer."""

import numpy as np
import pandas as pd
import pytest
import shap

from riskengine.model import RiskModel
from tests.model.conftest import KINDS, feature_frame


def test_contributions_and_base_equal_shaps_linear_explainer():
    frame, outcome = feature_frame(600, seed=3)
    model = RiskModel(KINDS, categories={"sen_provision": ["N", "K", "E"]}).fit(frame, outcome)
    explanation = model.explain(frame)
    matrix = model._matrix(frame)
    explainer = shap.LinearExplainer(
        model.logistic_, shap.maskers.Independent(model.background_mean_[None, :])
    )
    by_column = pd.DataFrame(explainer.shap_values(matrix)).T.groupby(model.column_features_).sum().T
    np.testing.assert_allclose(
        explanation.contributions.to_numpy(), by_column[list(explanation.contributions.columns)].to_numpy()
    )
    assert explanation.base_value == pytest.approx(np.ravel(explainer.expected_value)[0])
