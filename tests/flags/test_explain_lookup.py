"""`riskengine explain UPN` finds the pupil's latest scored term, not the newest run (issue 10)."""

import pytest
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.flags import explain_pupil, score_frame
from riskengine.store import Store

CURRENT, BACKTEST = ("2026/27", "autumn"), ("2025/26", "spring")


@pytest.fixture(scope="module")
def store(small_la, tmp_path_factory):
    """The current term scored first, then a back-test of an older term: the newest run is the older term."""
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('explain') / 'db.sqlite'}")
    for year, term in (CURRENT, BACKTEST):
        scores = score_frame(small_la.pupil_terms, year, term)
        store.save_scores(dict(scores.attrs["run"], n_pupils=len(scores)), scores)
    return store


def _runs(store):
    runs = store.list_score_runs().set_index(["academic_year", "term"])["id"]
    return int(runs.loc[CURRENT]), int(runs.loc[BACKTEST])


def test_default_is_the_latest_term_the_pupil_was_scored_in_and_says_which_run(store):
    current, backtest = _runs(store)
    assert backtest > current  # the back-test is the most recently created run
    in_both = sorted(
        set(store.read_scores(run_id=current)["upn"]) & set(store.read_scores(run_id=backtest)["upn"])
    )
    only_current = sorted(
        set(store.read_scores(run_id=current)["upn"]) - set(store.read_scores(run_id=backtest)["upn"])
    )
    for upn in (in_both[0], only_current[0]):
        text = explain_pupil(store, upn)
        assert text.startswith(f"Using run {current} (autumn 2026/27")
        assert "the latest term in which this pupil was scored" in text
        assert f"Pupil {upn}" in text and "autumn 2026/27" in text.splitlines()[1]


def test_pupil_only_in_an_older_term_is_found_there(store):
    current, backtest = _runs(store)
    left = set(store.read_scores(run_id=backtest)["upn"]) - set(store.read_scores(run_id=current)["upn"])
    upn = sorted(left)[0]  # e.g. left school after Year 11
    assert explain_pupil(store, upn).startswith(f"Using run {backtest} (spring 2025/26")


def test_run_year_and_term_still_choose(store):
    current, backtest = _runs(store)
    both = sorted(
        set(store.read_scores(run_id=current)["upn"]) & set(store.read_scores(run_id=backtest)["upn"])
    )
    assert explain_pupil(store, both[0], run_id=backtest).startswith(f"Using run {backtest} ")
    assert "as asked" in explain_pupil(store, both[0], run_id=backtest)
    assert explain_pupil(store, both[0], *BACKTEST).startswith(f"Using run {backtest} ")
    with pytest.raises(LookupError, match="not scored in run 999"):
        explain_pupil(store, both[0], run_id=999)
    with pytest.raises(LookupError, match="not scored in any scoring run"):
        explain_pupil(store, "Z000000000000")


def test_explain_command(store):
    current, backtest = _runs(store)
    upn = sorted(
        set(store.read_scores(run_id=current)["upn"]) & set(store.read_scores(run_id=backtest)["upn"])
    )[0]
    db = store.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    latest = runner.invoke(app, ["explain", upn, "--db", db])
    assert latest.exit_code == 0, latest.output
    assert f"Using run {current} " in latest.output and "Rule points" in latest.output
    chosen = runner.invoke(app, ["explain", upn, "--db", db, "--run", str(backtest)])
    assert chosen.exit_code == 0 and f"Using run {backtest} (spring 2025/26" in chosen.output
    missing = runner.invoke(app, ["explain", "Z000000000000", "--db", db])
    assert missing.exit_code == 1 and "not scored" in missing.output
