"""The audit finds a built-in bias, raises no false alarm on unbiased data, and never hides small groups."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from evaluation_data import DEFINITION, generated_inputs

from riskengine.evaluation import evaluate
from riskengine.evaluation.fairness import OUTSIDE, TOO_SMALL, ratio_status
from riskengine.evaluation.settings import AuditSettings, load_audit_settings


def test_under_recorded_group_is_found_outside_the_band(biased) -> None:
    disparities = biased.tables["disparities"]
    outside = disparities[disparities["status"] == OUTSIDE]
    black = outside[(outside["attribute"] == "ethnicity_major_group") & (outside["group"] == "Black")]
    # Flags are unchanged, but many flagged Black pupils' positive outcomes were recorded as EET.
    assert "precision" in set(black["metric"])
    assert (black["ratio_high"] < 0.8).all()
    # Nothing else in the single attributes is implicated: the finding points at the biased group.
    singles = outside[~outside["attribute"].str.contains("&")]
    assert set(singles["group"]) == {"Black"}
    assert biased.headline["disparities_outside_band"] == len(outside)


def test_under_recording_shows_in_calibration_by_group(biased) -> None:
    groups = biased.tables["audit_groups"].query("attribute == 'ethnicity_major_group'").set_index("group")
    assert (
        groups.loc["Black", "observed_over_predicted_high"]
        < groups.loc["White", "observed_over_predicted_low"]
    )


def test_unbiased_data_has_no_disparity_outside_the_band(unbiased) -> None:
    disparities = unbiased.tables["disparities"]
    assert len(disparities) > 0
    assert (disparities["status"] != OUTSIDE).all()
    assert unbiased.headline["disparities_outside_band"] == 0


def test_every_attribute_and_intersection_is_audited_against_its_reference(unbiased) -> None:
    settings = load_audit_settings()
    groups = unbiased.tables["audit_groups"]
    expected = set(settings.references) | {" & ".join(combo) for combo in settings.intersections}
    absent = set(unbiased.run_info["attributes_not_audited"])
    assert absent == {"disability", "young_carer", "grt_heritage", "idaci_decile"}  # not in the data: said
    assert set(groups["attribute"]) == expected - absent
    references = groups[groups["status"] == "reference"].set_index("attribute")["group"]
    assert references["sex"] == "M" and references["fsm_eligible"] == "False"
    assert references["sex & ethnicity_major_group"] == "M / White"
    # Missing EAL is its own group, not dropped.
    assert "Not recorded" in set(groups.query("attribute == 'eal'")["group"])
    assert groups.groupby("attribute")["pupils_scored"].sum().nunique() == 1


def test_small_groups_are_listed_as_too_small_without_rates() -> None:
    d = generated_inputs(4000, seed=3)  # about 20 Chinese pupils: under the default 30
    settings = replace(load_audit_settings(), bootstrap_reps=50)
    result = evaluate(d.scores, d.outcomes, d.attributes, settings, definition=DEFINITION)
    groups = result.tables["audit_groups"]
    small = groups[groups["pupils"] < settings.min_group_size]
    assert "Chinese" in set(small["group"])
    assert (small["status"] == TOO_SMALL).all()
    assert (small["pupils_scored"] > 0).all()  # counted, never hidden
    rates = ["base_rate", "selection_rate", "precision", "false_negative_rate", "true_positive_rate"]
    assert small[rates].isna().all().all()
    # Counts stay (the one disclosure module hides the small ones in anything published).
    assert (small["positives"] <= small["pupils"]).all()
    ratios = result.tables["disparities"].merge(small[["attribute", "group"]], on=["attribute", "group"])
    assert len(ratios) > 0 and (ratios["status"] == TOO_SMALL).all() and ratios["ratio"].isna().all()
    large = groups[groups["pupils"] >= settings.min_group_size]
    assert large["selection_rate"].notna().all()


@pytest.mark.parametrize(
    ("ratio", "low", "high", "status"),
    [
        (0.6, 0.5, 0.75, "outside band"),
        (1.5, 1.3, 1.8, "outside band"),
        (0.7, 0.5, 0.9, "uncertain"),
        (0.9, 0.7, 1.1, "within band"),
        (np.nan, np.nan, np.nan, "undefined"),
    ],
)
def test_band_criterion_needs_the_whole_interval_outside(ratio, low, high, status) -> None:
    assert ratio_status(ratio, low, high, (0.8, 1.25)) == status


def test_attributes_are_taken_at_the_scoring_term(unbiased_inputs) -> None:
    d = unbiased_inputs
    # A pupil whose FSM eligibility changed: the audit must use the value at the term their score is from.
    attributes = d.attributes.copy()
    latest = d.scores.sort_values("ncyear").drop_duplicates("upn", keep="last")[["upn", "academic_year"]]
    at_scoring = attributes.merge(latest, on=["upn", "academic_year"], how="left", indicator=True)
    attributes["fsm_eligible"] = pd.array((at_scoring["_merge"] == "both").to_numpy(), dtype="boolean")
    result = evaluate(d.scores, d.outcomes, attributes, AuditSettings(bootstrap_reps=20))
    fsm = result.tables["audit_groups"].query("attribute == 'fsm_eligible'")
    assert set(fsm["group"]) == {"True"}
