"""The shipped catalogue, its explanation sentences, its version and the checks on an edited one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from riskengine.features import CatalogueError, load_catalogue
from riskengine.paths import data_path

#: The names the rules and models are written against; renaming one breaks them.
FIXED_NAMES = [
    "attendance_rate_term", "attendance_rate_ytd", "persistent_absence", "severe_absence",
    "attendance_change_prev_term", "attendance_change_last_year", "attendance_rate_last_year",
    "suspensions_year", "suspension_sessions_year",
    "suspensions_ever", "suspension_sessions_ever", "permanent_exclusion_ever", "sen_provision",
    "sen_primary_need", "looked_after", "looked_after_ever", "child_in_need", "fsm_eligible", "eal",
    "young_carer", "youth_justice", "alternative_provision", "school_moves", "ks2_reading_scaled",
    "ks2_maths_scaled", "ncyear",
]  # fmt: skip


def test_shipped_catalogue_has_the_agreed_features(catalogue):
    assert catalogue.names == FIXED_NAMES
    assert catalogue.kind("attendance_rate_term") == "rate" and catalogue.kind("looked_after") == "flag"
    assert catalogue.kind("sen_primary_need") == "category" and catalogue.kind("suspensions_ever") == "count"
    assert catalogue.label("attendance_rate_term") == "Attendance this term"


@pytest.mark.parametrize(
    ("name", "value", "sentence"),
    [
        ("attendance_rate_term", 0.82, "attendance this term was 82%, below the 90% persistent-absence line"),
        ("attendance_rate_term", 0.96, "attendance this term was 96%"),
        ("attendance_rate_ytd", pd.NA, "attendance this year is not known"),
        ("attendance_change_prev_term", -0.052, "attendance fell by 5 percentage points since last term"),
        (
            "attendance_change_last_year",
            0.1,
            "attendance rose by 10 percentage points since the same term last year",
        ),
        ("attendance_change_prev_term", 0.0, "attendance is unchanged since last term"),
        ("looked_after", True, "is looked after (in care)"),
        ("looked_after", np.False_, "is not looked after"),
        ("looked_after", None, "whether they are looked after is not known"),
        ("suspensions_year", 0, "has had no suspensions this year"),
        ("suspensions_year", 1, "has had 1 suspension this year"),
        ("suspensions_year", np.int64(4), "has had 4 suspensions this year"),
        ("suspensions_ever", float("nan"), "suspensions in secondary school are not known"),
        ("sen_provision", "E", "SEN provision: Education, Health and Care plan"),
        ("sen_primary_need", "SEMH", "primary special educational need: Social, emotional and mental health"),
        ("sen_primary_need", pd.NA, "no primary special educational need is recorded"),
        ("ks2_maths_scaled", 95, "Key Stage 2 maths scaled score was 95, below the expected standard of 100"),
        ("ks2_reading_scaled", 100.0, "Key Stage 2 reading scaled score was 100"),
        ("ncyear", 10, "is in Year 10"),
    ],
)
def test_describe_fills_in_the_sentence(catalogue, name, value, sentence):
    assert catalogue.describe(name, value) == sentence


def test_every_feature_describes_an_unknown_value(catalogue):
    for name in catalogue.names:
        assert catalogue.describe(name, pd.NA) == catalogue[name].when_missing


def test_version_is_the_hash_of_the_file_and_changes_with_it(tmp_path, catalogue):
    shipped = data_path("features", "catalogue.yaml").read_bytes()
    assert catalogue.version == hashlib.sha256(shipped).hexdigest()[:12]
    copy = tmp_path / "catalogue.yaml"
    copy.write_bytes(shipped)
    assert load_catalogue(copy).version == catalogue.version
    copy.write_bytes(shipped.replace(b"attendance this term was", b"this term's attendance was"))
    assert load_catalogue(copy).version != catalogue.version


def _edited(tmp_path: Path, edit) -> Path:
    """A copy of the shipped catalogue with `edit(raw)` applied to its parsed content."""
    raw = yaml.safe_load(data_path("features", "catalogue.yaml").read_text())
    edit(raw)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _feature(raw: dict, name: str) -> dict:
    return next(f for f in raw["features"] if f["name"] == name)


@pytest.mark.parametrize(
    ("edit", "feature", "reason"),
    [
        (lambda raw: _feature(raw, "looked_after").update(kind="yes-no"), "looked_after", "kind"),
        (lambda raw: _feature(raw, "looked_after").pop("when_true"), "looked_after", "needs when_true"),
        (
            lambda raw: _feature(raw, "looked_after").update(template="x"),
            "looked_after",
            "cannot have template",
        ),
        (lambda raw: _feature(raw, "eal").pop("when_missing"), "eal", "when_missing"),
        (lambda raw: _feature(raw, "ncyear").update(colour="red"), "ncyear", "colour"),
        (
            lambda raw: _feature(raw, "attendance_rate_term").update(template="attendance was {valeu:.0%}"),
            "attendance_rate_term",
            "valeu",
        ),
        (
            lambda raw: _feature(raw, "attendance_rate_term").update(source=["sessions_possibel"]),
            "attendance_rate_term",
            "not in the upload spec",
        ),
        (lambda raw: _feature(raw, "eal").update(source=["fsm_eligible"]), "eal", "source must be ['eal']"),
        (lambda raw: _feature(raw, "sen_provision")["categories"].pop("E"), "sen_provision", "spec's codes"),
        (lambda raw: _feature(raw, "ncyear").update(kind="flag"), "ncyear", "needs when_true"),
        (lambda raw: _feature(raw, "ncyear").update(kind="rate"), "ncyear", "does not fit"),
        (lambda raw: _feature(raw, "ncyear").update(when_below="low"), "ncyear", "need a line"),
        (lambda raw: _feature(raw, "ncyear").update(name="year_group"), "year_group", "no such feature"),
        (lambda raw: raw["features"].append(_feature(raw, "eal")), "eal", "listed twice"),
        (lambda raw: _feature(raw, "eal").pop("reference"), "eal", "reference"),
        (lambda raw: _feature(raw, "eal").update(reference=0.5), "eal", "true or false"),
        (lambda raw: _feature(raw, "eal").update(direction="up"), "eal", "direction"),
        (lambda raw: _feature(raw, "sen_provision").update(reference="Z"), "sen_provision", "not one of"),
        (
            lambda raw: _feature(raw, "sen_provision").update(direction={"N": "raises"}),
            "sen_provision",
            "reference code has no direction",
        ),
        (lambda raw: _feature(raw, "eal").update(actionable=True), "eal", "changes through"),
        (
            lambda raw: _feature(raw, "attendance_rate_term").update(changes_through=["suspensions"]),
            "attendance_rate_term",
            "outside its source",
        ),
        (
            lambda raw: _feature(raw, "suspensions_ever").update(follows={"feature": "eal", "by": "same"}),
            "suspensions_ever",
            "which is not an actionable feature",
        ),
        (
            lambda raw: _feature(raw, "severe_absence").update(
                follows={"feature": "attendance_rate_ytd", "by": "same"}
            ),
            "severe_absence",
            "a flag follows with at_or_below",
        ),
        (
            lambda raw: _feature(raw, "sen_primary_need").update(when_missing_reason="x"),
            "sen_primary_need",
            "never a reason",
        ),
    ],
)
def test_malformed_catalogue_is_rejected_naming_file_feature_and_reason(tmp_path, edit, feature, reason):
    path = _edited(tmp_path, edit)
    with pytest.raises(CatalogueError) as error:
        load_catalogue(path)
    message = str(error.value)
    assert str(path) in message and f"feature {feature!r}" in message and reason in message


@pytest.mark.parametrize("content", ["features: [", "version: x\n", "version: x\nfeatures: []\n", "- a\n"])
def test_catalogue_without_features_is_rejected(tmp_path, content):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(CatalogueError, match=r"bad\.yaml"):
        load_catalogue(path)


def test_a_shorter_catalogue_gives_fewer_columns(tmp_path):
    path = _edited(tmp_path, lambda raw: raw.update(features=raw["features"][:2]))
    assert load_catalogue(path).names == ["attendance_rate_term", "attendance_rate_ytd"]


def test_catalogue_command_checks_a_file(tmp_path, catalogue):
    from typer.testing import CliRunner

    from riskengine.cli import app

    shown = CliRunner().invoke(app, ["catalogue", "--details"])
    assert shown.exit_code == 0 and catalogue.version in shown.output and "blanks:" in shown.output
    bad = _edited(tmp_path, lambda raw: _feature(raw, "eal").pop("when_true"))
    refused = CliRunner().invoke(app, ["catalogue", str(bad)])
    assert refused.exit_code == 1 and "feature 'eal'" in refused.output


def test_every_feature_has_a_reference_and_a_direction(catalogue):
    assert catalogue["attendance_rate_term"].reference == 0.95
    assert catalogue["attendance_rate_term"].direction == "lowers"
    assert (
        catalogue["sen_provision"].reference == "N"
        and catalogue["sen_provision"].code_direction("K") == "raises"
    )
    assert catalogue["sen_primary_need"].reference is None  # none recorded
    assert catalogue["sen_primary_need"].code_direction("SEMH") == "raises"
    assert catalogue["sen_primary_need"].code_direction("ASD") == "either"
    actionable = {n for n, f in catalogue.features.items() if f.actionable}
    assert "attendance_rate_term" in actionable and "suspensions_ever" not in actionable
    # what would change it: the levers, and what moves with each
    assert catalogue.levers == ["attendance_rate_term", "suspensions_year"]
    assert catalogue.followers("suspensions_year") == ["suspensions_ever"]
    assert {"attendance_rate_ytd", "persistent_absence", "severe_absence"} <= set(
        catalogue.followers("attendance_rate_term")
    )
