"""The SHAP chart's labels: catalogue labels, and a group the model spec explains together."""

from __future__ import annotations

from riskengine.features import load_catalogue
from riskengine.model import load_model_spec
from riskengine.web.charts import contribution_chart, feature_labels


def test_a_group_explained_together_is_labelled_by_its_features_labels():
    catalogue = load_catalogue()
    group, members = next(iter(load_model_spec().explain_together.items()))
    chart = str(contribution_chart({group: 0.4, "eal": -0.1}, feature_labels()))
    joined = " and ".join(catalogue.label(m) for m in members)
    assert f">{joined}</text>" in chart and f">{catalogue.label('eal')}</text>" in chart
    assert f">{group}</text>" not in chart
