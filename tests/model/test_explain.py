import numpy as np
import pandas as pd

from riskengine.model import contribution_records, top_reasons


def test_top_reasons_pick_the_largest_each_way_in_catalogue_words(catalogue):
    features = pd.DataFrame(
        {
            "attendance_rate_term": pd.array([0.72, 0.99], dtype="Float64"),
            "looked_after": pd.array([True, pd.NA], dtype="boolean"),
            "eal": pd.array([True, False], dtype="boolean"),
        }
    )
    contributions = pd.DataFrame(
        {"attendance_rate_term": [0.9, -0.3], "looked_after": [0.5, 0.2], "eal": [-0.2, 0.0]}
    )
    up, down = top_reasons(contributions, features, catalogue, k=2)
    assert up[0] == [
        catalogue.describe("attendance_rate_term", 0.72),
        catalogue.describe("looked_after", True),
    ]
    assert down[0] == [catalogue.describe("eal", True)]
    # a blank reads as the catalogue's "not known" sentence; a zero contribution is no reason
    assert up[1] == [catalogue.describe("looked_after", None)]
    assert down[1] == [catalogue.describe("attendance_rate_term", 0.99)]


def test_contribution_records_are_per_feature_dicts():
    contributions = pd.DataFrame({"a": [0.123456, -1.0], "b": [0.0, 2.5]})
    assert contribution_records(contributions) == [{"a": 0.1235, "b": 0.0}, {"a": -1.0, "b": 2.5}]
    assert np.isclose(sum(contribution_records(contributions)[1].values()), 1.5)
