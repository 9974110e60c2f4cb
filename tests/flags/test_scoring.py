"""Scoring runs on generated pupils: who is scored, what is stored, and that it all adds up."""

import json
import math

import joblib
import numpy as np
import pandas as pd
import pytest

from riskengine.features import compute_features
from riskengine.flags import explain_pupil, score_frame, score_term
from riskengine.model import RiskModel, load_model_spec
from riskengine.model.explain import GROUP_JOINER
from riskengine.spec import upload as spec
from riskengine.store import Store
from riskengine.synth import generate

YEAR, TERM = "2026/27", "autumn"
SCORE_COLUMNS = [
    "upn", "school_urn", "academic_year", "term", "ncyear", "points", "band", "always_flag", "fired",
    "reasons", "probability", "flag", "flag_source", "flag_reason", "reasons_up", "reasons_down",
    "contributions",
]  # fmt: skip


@pytest.fixture(scope="module")
def scored(small_la, trained):
    return score_frame(small_la.pupil_terms, YEAR, TERM, model=trained.model)


def test_only_year_9_and_above_on_roll_that_term_are_scored(small_la, scored):
    pt = small_la.pupil_terms
    on_roll = pt[(pt["academic_year"] == YEAR) & (pt["term"] == TERM) & (pt["ncyear"] >= 9)]
    assert set(scored["upn"]) == set(on_roll["upn"])
    assert scored["upn"].is_unique and (scored["ncyear"] >= spec.SCORED_FROM_NCYEAR).all()
    assert set(SCORE_COLUMNS) <= set(scored.columns)


def test_explanation_records_read_write_and_copy_as_plain_dicts(scored, tmp_path):
    """A run keeps its explanations as matrices; each pupil's record is still their dict wherever read."""
    row = scored.iloc[0]
    assert dict(row["details"]) == {**row["details"]} and set(row["details"]) >= {"risk_points", "values"}
    written = json.loads(scored.iloc[:3].to_json(orient="records"))
    assert [r["contributions"] for r in written] == scored["contributions"].iloc[:3].tolist()
    assert [r["details"] for r in written] == scored["details"].iloc[:3].tolist()
    joblib.dump(scored.iloc[:3], tmp_path / "scores.joblib")
    copied = joblib.load(tmp_path / "scores.joblib")
    assert all(type(record) is dict for record in copied["details"])
    assert copied["details"].tolist() == scored["details"].iloc[:3].tolist()


def test_stored_contributions_add_up_to_the_probability(scored):
    base = scored.attrs["run"]["settings"]["explanation_base_log_odds"]
    total = base + np.array([sum(c.values()) for c in scored["contributions"]])
    p = scored["probability"].to_numpy(float)
    # contributions are stored to 4 decimals, so the sum agrees to rounding
    np.testing.assert_allclose(total, np.log(p / (1 - p)), atol=1e-3 * len(scored["contributions"].iloc[0]))


def test_model_flags_the_capacity_and_records_it(scored):
    threshold = scored.attrs["run"]["threshold"]["model"]
    assert threshold["kind"] == "top_percent" and threshold["value"] == 10
    expected = math.ceil(len(scored) * 0.10)
    by_model = scored["flag_source"].isin(["model", "both"]).to_numpy(bool)
    assert by_model.sum() == expected == threshold["n_model_flagged"]
    cutoff = threshold["probability_cutoff"]
    assert (scored.loc[by_model, "probability"] >= cutoff).all()
    model_only = scored[scored["flag_source"] == "model"]
    assert model_only["flag_reason"].str.startswith("flagged by model: ").all()


def test_rule_flags_stand_on_their_own(scored):
    by_rule = scored["always_flag"].fillna(False).to_numpy(bool) | (scored["band"] == "high").to_numpy(bool)
    assert (scored.loc[by_rule, "flag"]).all()
    assert set(scored.loc[by_rule, "flag_source"]) <= {"rule", "both"}
    assert (scored["flag"] == scored["flag_source"].notna()).all()


def test_reasons_are_catalogue_sentences(small_la, scored, catalogue):
    row = scored.iloc[int(np.argmax(scored["probability"].to_numpy(float)))]
    assert 1 <= len(row["reasons_up"]) <= load_model_spec().reasons_per_side
    contributions = pd.Series(row["contributions"])
    spec = load_model_spec()
    grouped = {member for members in spec.explain_together.values() for member in members}
    assert set(contributions.index) == set(spec.features) - grouped | set(spec.explain_together)
    top = contributions.idxmax()  # the strongest reason up is that feature's (or group's) catalogue sentence
    features = compute_features(small_la.pupil_terms, YEAR, TERM, catalogue)
    sentences = [
        catalogue.reason(f, features.loc[row["upn"], f]) for f in spec.explain_together.get(top, [top])
    ]
    assert row["reasons_up"][0] == GROUP_JOINER.join(sentences)


def test_rules_only_run_has_no_model_side(small_la):
    scores = score_frame(small_la.pupil_terms, YEAR, TERM)
    assert scores["probability"].isna().all()
    assert set(scores["flag_source"].dropna()) <= {"rule"}
    run = scores.attrs["run"]
    assert run["model_version"] is None and run["settings"]["rules_only"]


def test_threshold_override_is_used(small_la, trained):
    scores = score_frame(small_la.pupil_terms, YEAR, TERM, model=trained.model, threshold={"top_n": 7})
    assert scores["flag_source"].isin(["model", "both"]).sum() == 7


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A small generated authority loaded term by term into a fresh SQLite store."""
    la = generate(pupils=120, cohorts=6, schools=2, seed=5)
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('store') / 'riskengine.db'}")
    upload = {"filename": "synthetic.csv", "sha256": "0" * 64, "mapping": "canonical", "mapping_sha256": None,
              "n_rows": 0, "n_warnings": 0, "uploaded_by": "test"}  # fmt: skip
    keys = ["school_urn", "academic_year", "term"]
    for (school, year, term), rows in la.pupil_terms.groupby(keys, sort=False):  # one upload per school-term
        store.write_pupil_terms(rows, school_urn=school, academic_year=year, term=term, upload=upload)
    return store


@pytest.mark.slow
def test_score_term_saves_a_run_and_explain_reads_it(store, tmp_path, trained):
    no_registry = f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}"
    run_id, scores = score_term(store, YEAR, TERM, tracking_uri=no_registry)  # no champion: rules only
    assert scores["probability"].isna().all()
    runs = store.list_score_runs()
    assert runs["id"].tolist() == [run_id] and runs["model_version"].isna().all()

    path = tmp_path / "model.joblib"
    joblib.dump(trained.model, path)
    run_id, scores = score_term(store, YEAR, TERM, model=str(path), capacity={"top_n": 5})
    stored = store.read_scores(run_id)
    assert len(stored) == len(scores) and stored["probability"].notna().all()
    run = store.list_score_runs().set_index("id").loc[run_id]
    assert run["model_version"].startswith("file:model.joblib@")
    assert run["threshold"]["model"]["n_model_flagged"] == 5

    fresh = scores.set_index("upn").loc[stored["upn"]]  # the store wrote each pupil's records in full
    for column in ("contributions", "details"):
        assert stored[column].tolist() == fresh[column].tolist()
        assert all(type(record) is dict for record in stored[column])
    upn = scores.loc[scores["flag"].to_numpy(bool), "upn"].iloc[0]
    text = explain_pupil(store, upn, YEAR, TERM)
    assert upn in text and "Model risk:" in text and "Reasons raising risk:" in text
    assert run["model_version"] in text and "Flag: YES" in text
    assert "Effect on model risk (percentage points" in text and " pp" in text
    assert "What would change it: " in text
    fired = stored.set_index("upn").loc[upn, "fired"]
    assert not any(f"{rule}:" in text for rule in fired)  # rules are named by their titles, never ids
    with pytest.raises(LookupError):
        explain_pupil(store, "Z000000000000", YEAR, TERM)


def test_a_model_missing_a_feature_column_fails_clearly(small_la, trained):
    broken = RiskModel({**trained.model.feature_kinds, "not_a_feature": "rate"})
    broken.fit(
        pd.DataFrame({**{c: [0.0, 1.0] for c in trained.model.feature_kinds}, "not_a_feature": [0.0, 1.0]}),
        [False, True],
    )
    with pytest.raises(ValueError, match="lacks the model's features"):
        score_frame(small_la.pupil_terms, YEAR, TERM, model=broken)
