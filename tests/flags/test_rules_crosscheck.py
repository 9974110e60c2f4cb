"""A scoring run checks durable-rules against the vectorised evaluator before anything is stored."""

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.flags import score_term
from riskengine.rules import RuleDisagreement
from riskengine.rules import engine as rules_engine
from riskengine.store import Store
from riskengine.store import tables as t
from riskengine.synth import generate

YEAR, TERM = "2026/27", "autumn"
UPLOAD = {"filename": "synthetic.csv", "sha256": "0" * 64, "mapping": "canonical", "mapping_sha256": None,
          "n_rows": 0, "n_warnings": 0, "uploaded_by": "test"}  # fmt: skip


@pytest.fixture(scope="module")
def store_url(tmp_path_factory):
    la = generate(pupils=150, cohorts=6, schools=2, seed=5)
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'riskengine.db'}"
    store = Store.open(url)
    for (school, year, term), rows in la.pupil_terms.groupby(["school_urn", "academic_year", "term"]):
        store.write_pupil_terms(rows, school_urn=school, academic_year=year, term=term, upload=UPLOAD)
    return url


@pytest.fixture
def durable_loses_a_rule(monkeypatch):
    """durable-rules drops every firing of one rule that fires for someone, as seen in the field."""
    real = rules_engine.fired_matrix_durable
    lost = {}

    def dropping(rule_set, features, **kwargs):
        fired = real(rule_set, features, **kwargs)
        column = int(fired.sum(axis=0).argmax())
        lost["rule"] = rule_set.rule_ids[column]
        fired[:, column] = False
        return fired

    monkeypatch.setattr(rules_engine, "fired_matrix_durable", dropping)
    return lost


def _stored(url: str) -> tuple[int, int]:
    with Store.open(url).engine.connect() as connection:
        count = lambda table: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()  # noqa: E731
        return count(t.score_runs), count(t.scores)


def test_a_planted_disagreement_stops_the_run_and_stores_nothing(store_url, durable_loses_a_rule, tmp_path):
    store = Store.open(store_url)
    before = _stored(store_url)
    pupil_terms = store.read_pupil_terms(up_to=(YEAR, TERM))
    no_registry = f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}"
    with pytest.raises(RuleDisagreement) as caught:
        score_term(store, YEAR, TERM, tracking_uri=no_registry)
    message = str(caught.value)
    assert caught.value.rule_id == durable_loses_a_rule["rule"]
    assert f"rule {durable_loses_a_rule['rule']}:" in message and "a pupil at school " in message
    assert "reference " in message and "nothing was stored" in message
    assert not any(upn in message for upn in pupil_terms["upn"].unique())  # never a UPN
    assert _stored(store_url) == before


def test_the_command_reports_the_disagreement_in_one_line(store_url, durable_loses_a_rule, tmp_path):
    before = _stored(store_url)
    result = CliRunner().invoke(
        app,
        ["score", "--year", YEAR, "--term", TERM, "--model", "none", "--db", store_url],
        env={"RISKENGINE_HOME": str(tmp_path)},
    )
    assert result.exit_code == 1
    assert f"Error: rule {durable_loses_a_rule['rule']}: durable-rules and the vectorised" in result.output
    assert _stored(store_url) == before


def test_without_a_disagreement_the_run_is_stored_and_says_it_was_checked(store_url, tmp_path):
    before = _stored(store_url)
    run_id, scores = score_term(Store.open(store_url), YEAR, TERM, model="none")
    assert _stored(store_url) == (before[0] + 1, before[1] + len(scores))
    assert Store.open(store_url).list_score_runs()["id"].iloc[-1] == run_id
    assert scores.attrs["run"]["settings"]["rules_cross_checked"] is True
