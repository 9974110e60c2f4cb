from pathlib import Path

import pytest

from riskengine.model import ModelSpecError, load_model_spec
from riskengine.paths import data_path


def test_shipped_spec_loads_with_a_file_hash_version():
    spec = load_model_spec()
    assert spec.year_group == 9 and spec.term == "autumn"
    assert spec.registered_model_name == "riskengine-neet"
    assert spec.version.startswith("logistic@") and len(spec.version.split("@")[1]) == 12
    assert not {"sex", "ethnicity"} & set(spec.features)


def test_any_edit_gives_a_new_version(tmp_path: Path):
    text = data_path("models", "logistic.yaml").read_text()
    edited = tmp_path / "edited.yaml"
    edited.write_text(text + "\n# a comment\n")
    assert load_model_spec(edited).version != load_model_spec().version
    assert load_model_spec(C=0.5).version != load_model_spec().version


def test_C_is_auto_by_default_or_a_positive_number():
    assert load_model_spec().C == "auto"
    assert load_model_spec(C=0.1).C == 0.1
    for bad in (0, "strong"):
        with pytest.raises(ModelSpecError, match="C"):
            load_model_spec(C=bad)


def test_audit_attributes_are_refused_as_inputs(tmp_path: Path):
    text = data_path("models", "logistic.yaml").read_text().replace("  - eal\n", "  - eal\n  - ethnicity\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ModelSpecError, match="fairness-audit"):
        load_model_spec(bad)


def test_threshold_needs_exactly_one_kind():
    with pytest.raises(ModelSpecError, match="exactly one"):
        load_model_spec(flag_threshold={"top_n": 10, "probability": 0.2})
    assert load_model_spec(flag_threshold={"top_n": 50}).flag_threshold.kind == "top_n"


def test_explain_together_groups_are_checked_at_load():
    assert load_model_spec().explain_together == {"sen": ("sen_provision", "sen_primary_need")}
    assert load_model_spec(explain_together={}).explain_together == {}
    bad_groups = {
        "not among the spec's features": {"sen": ["sen_provision", "no_such_feature"]},
        "already in group sen": {"sen": ["sen_provision", "sen_primary_need"], "x": ["eal", "sen_provision"]},
        "at least two": {"sen": ["sen_provision"]},
        "name is a feature's": {"eal": ["sen_provision", "sen_primary_need"]},
    }
    for message, groups in bad_groups.items():
        with pytest.raises(ModelSpecError, match=message):
            load_model_spec(explain_together=groups)
