import numpy as np
import pandas as pd

from riskengine.flags import combine_flags


def rule_results() -> pd.DataFrame:
    """Four pupils' rule results in the contract's shape."""
    return pd.DataFrame(
        {
            "points": [9.0, 12.0, 2.0, 0.0],
            "band": pd.array(["medium", "high", "low", "low"], dtype="string"),
            "always_flag": pd.array([True, False, False, False], dtype="boolean"),
            "fired": [["R3"], ["R1", "R4"], ["R7"], []],
            "reasons": [
                ["looked after and attendance below 85%"],
                ["attendance this term was 80%", "2 suspensions this year"],
                ["eligible for free school meals"],
                [],
            ],
        },
        index=pd.Index(["A", "B", "C", "D"], name="upn", dtype="string"),
    )


def test_rules_only_flags_always_flag_rules_and_the_high_band():
    titles = {"R1": "Attendance 80-85%", "R3": "Looked after", "R4": "Suspended this year"}
    flags = combine_flags(rule_results(), titles=titles)
    assert flags["flag"].tolist() == [True, True, False, False]
    assert flags["flag_source"].tolist()[:2] == ["rule", "rule"]
    assert flags["flag_source"].isna().tolist()[2:] == [True, True]
    assert (
        flags.loc["A", "flag_reason"] == "flagged by rule Looked after: looked after and attendance below 85%"
    )
    assert flags.loc["B", "flag_reason"].startswith(
        "flagged by rules Attendance 80-85%: attendance this term was 80%; Suspended this year:"
    )
    assert "high band, 12 points" in flags.loc["B", "flag_reason"]
    assert flags.loc[["C", "D"], "flag_reason"].isna().all()
    # without titles a rule's reason stands alone: a rule id never reaches a sentence
    untitled = combine_flags(rule_results())
    assert untitled.loc["A", "flag_reason"] == "flagged by rule looked after and attendance below 85%"
    assert not untitled["flag_reason"].str.contains("R[0-9]", regex=True).fillna(False).any()


def test_model_and_rules_combine_with_their_source_and_reasons():
    probability = np.array([0.1, 0.4, 0.34, 0.02])
    model_flag = np.array([False, True, True, False])
    up = [[], ["attendance this term was 80%"], ["is looked after", "attendance this year was 85%"], []]
    flags = combine_flags(rule_results(), probability, model_flag, up)
    assert flags["flag_source"].tolist()[:3] == ["rule", "both", "model"]
    assert flags.loc["C", "flag_reason"] == (
        "flagged by model: 34% risk, top reasons: is looked after; attendance this year was 85%"
    )
    both = flags.loc["B", "flag_reason"]
    assert (
        both.startswith("flagged by rules attendance this term was 80%")
        and "; and flagged by model: 40% risk" in both
    )
    assert not flags.loc["D", "flag"]


def test_the_model_risk_reads_as_python_rounds_the_probability():
    probability = np.array([0.125, 0.135, 0.005, 0.995])  # halves of a percent, where rounding differs
    flags = combine_flags(rule_results(), probability, np.ones(4, bool))
    for p, reason in zip(probability, flags["flag_reason"], strict=True):
        assert f"flagged by model: {p:.0%} risk" in reason
