import numpy as np
import pandas as pd

from riskengine.model import contribution_records, fit_model, top_reasons
from riskengine.model.explain import GROUP_JOINER


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
    # a blank the catalogue does not word as a reason is not listed; a zero contribution is no reason
    assert catalogue["looked_after"].when_missing_reason is None and up[1] == []
    assert down[1] == [catalogue.describe("attendance_rate_term", 0.99)]


def test_a_blank_record_is_a_reason_only_as_the_catalogue_words_it(catalogue):
    """Issue 11: "Key Stage 2 reading score is not known" reads as a fact an adviser can act on, and a blank
    the catalogue does not word ("not known to youth justice") gives way to the next material reason."""
    features = pd.DataFrame(
        {
            "ks2_reading_scaled": pd.array([pd.NA, 104], dtype="Int64"),
            "youth_justice": pd.array([pd.NA, pd.NA], dtype="boolean"),
            "fsm_eligible": pd.array([True, True], dtype="boolean"),
            "sen_provision": pd.array([pd.NA, "N"], dtype="string"),
            "sen_primary_need": pd.array([pd.NA, "SEMH"], dtype="string"),
        }
    )
    contributions = pd.DataFrame(
        {
            "ks2_reading_scaled": [0.6, -0.1],
            "youth_justice": [0.5, 0.4],
            "fsm_eligible": [0.2, 0.3],
            "sen": [0.3, 0.2],
        }
    )
    groups = {"sen": ("sen_provision", "sen_primary_need")}
    up, _ = top_reasons(contributions, features, catalogue, k=3, groups=groups)
    ks2 = catalogue["ks2_reading_scaled"].when_missing_reason
    assert ks2 and "not known" not in ks2 and up[0][0] == ks2
    assert not any("youth justice" in reason for row in up for reason in row)
    assert up[0][1:] == [catalogue.describe("fsm_eligible", True)]  # a blank SEN record is no reason either
    # a group with a real value (SEMH) still reads as one reason; the blank youth justice one gives way
    sen = f"{catalogue.describe('sen_provision', 'N')} and {catalogue.describe('sen_primary_need', 'SEMH')}"
    assert up[1] == [catalogue.describe("fsm_eligible", True), sen]


def test_contribution_records_are_per_feature_dicts():
    contributions = pd.DataFrame({"a": [0.123456, -1.0], "b": [0.0, 2.5]})
    assert contribution_records(contributions) == [{"a": 0.1235, "b": 0.0}, {"a": -1.0, "b": 2.5}]
    assert np.isclose(sum(contribution_records(contributions)[1].values()), 1.5)


def test_a_group_reads_as_its_features_sentences_joined(catalogue):
    features = pd.DataFrame(
        {
            "sen_provision": pd.array(["K", "N"], dtype="string"),
            "sen_primary_need": pd.array(["SEMH", pd.NA], dtype="string"),
            "eal": pd.array([True, False], dtype="boolean"),
        }
    )
    contributions = pd.DataFrame({"sen": [0.4, -0.2], "eal": [-0.1, 0.3]})
    groups = {"sen": ("sen_provision", "sen_primary_need")}
    up, down = top_reasons(contributions, features, catalogue, k=2, groups=groups)
    assert up[0] == [
        f"{catalogue.describe('sen_provision', 'K')} and {catalogue.describe('sen_primary_need', 'SEMH')}"
    ]
    assert down[1] == [
        f"{catalogue.describe('sen_provision', 'N')} and {catalogue.describe('sen_primary_need', None)}"
    ]
    assert down[0] == [catalogue.describe("eal", True)] and up[1] == [catalogue.describe("eal", False)]


def test_with_the_sen_group_no_pupil_reads_sen_provision_and_need_as_separate_reasons(
    trained, training_frame, catalogue
):
    """The shipped spec explains SEN provision and primary need together; generated pupils only."""
    features = training_frame.features
    explanation = trained.model.explain(features)
    assert explanation.groups == {"sen": ("sen_provision", "sen_primary_need")}
    up, down = top_reasons(explanation.contributions, features, catalogue, 5, explanation.groups)
    provision = {
        catalogue.describe("sen_provision", c) for c in [*catalogue["sen_provision"].categories, None]
    }
    need = {
        catalogue.describe("sen_primary_need", c) for c in [*catalogue["sen_primary_need"].categories, None]
    }
    sen_reasons = 0
    for reasons in (a + b for a, b in zip(up, down, strict=True)):
        about_sen = [r for r in reasons if any(s in r for s in provision | need)]
        assert len(about_sen) <= 1  # one joint reason, never two that could point opposite ways
        assert set(about_sen) <= {f"{p}{GROUP_JOINER}{n}" for p in provision for n in need}
        sen_reasons += len(about_sen)
    assert sen_reasons > 0  # the group does show up as a reason

    # the grouped contribution is the sum of the two separate ones of the same model fitted ungrouped
    separate_spec = trained.spec.model_copy(update={"explain_together": {}, "C": trained.model.C_})
    separate = fit_model(training_frame, separate_spec, catalogue).model.explain(features)
    assert "sen" not in separate.contributions and not separate.groups
    np.testing.assert_allclose(
        explanation.contributions["sen"],
        separate.contributions["sen_provision"] + separate.contributions["sen_primary_need"],
        atol=1e-9,
    )
    total = explanation.base_value + explanation.contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, explanation.log_odds, atol=1e-6)


def test_only_material_reasons_and_never_lowering_for_a_fired_rules_feature(catalogue):
    from riskengine.model.explain import fired_rule_features

    features = pd.DataFrame(
        {
            "fsm_eligible": pd.array([True, True], dtype="boolean"),
            "eal": pd.array([True, True], dtype="boolean"),
            "sen_provision": pd.array(["K", "K"], dtype="string"),
            "sen_primary_need": pd.array([pd.NA, pd.NA], dtype="string"),
        }
    )
    contributions = pd.DataFrame({"fsm_eligible": [0.3, 0.01], "eal": [-0.4, -0.4], "sen": [-0.2, -0.2]})
    points = pd.DataFrame({"fsm_eligible": [3.0, 0.4], "eal": [-2.5, -2.5], "sen": [-1.5, -1.5]})
    groups = {"sen": ("sen_provision", "sen_primary_need")}
    blocked = fired_rule_features(
        [["sen_support"], []], {"sen_support": ["sen_provision"]}, list(contributions.columns), groups
    )
    assert blocked.tolist() == [[False, False, True], [False, False, False]]
    up, down = top_reasons(
        contributions, features, catalogue, 3, groups, risk_points=points, materiality_pp=1.0,
        not_lowering=blocked,
    )  # fmt: skip
    assert up == [[catalogue.describe("fsm_eligible", True)], []]  # 0.4 points is below materiality
    assert down[0] == [catalogue.describe("eal", True)]  # SEN fired a rule: never listed as lowering
    assert len(down[1]) == 2
