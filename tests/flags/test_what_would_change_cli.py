"""Issue 11 through the commands an analyst runs (generated pupils only): `riskengine score` says how it
scored category codes its model was not trained with, and `explain` and the export show "what would change
it" for suspensions this year beside attendance."""

from __future__ import annotations

import warnings

import joblib
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.store import Store

YEAR, TERM = "2026/27", "autumn"
UPLOAD = {"filename": "synthetic.csv", "sha256": "0" * 64, "mapping": "canonical", "mapping_sha256": None,
          "n_rows": 0, "n_warnings": 0, "uploaded_by": "test"}  # fmt: skip
UNSEEN = 12  # pupils given a SEN primary need code the model was not trained with


@pytest.fixture(scope="module")
def scored(small_la, trained, tmp_path_factory):
    """The scored pupils' histories in a fresh store, a dozen of them with an unseen code; then `score`."""
    home = tmp_path_factory.mktemp("home")
    url = f"sqlite:///{home / 'riskengine.db'}"
    terms = small_la.pupil_terms
    now = ((terms["academic_year"] == YEAR) & (terms["term"] == TERM) & (terms["ncyear"] >= 9)).to_numpy(bool)
    scoped = terms[terms["upn"].isin(terms.loc[now, "upn"]).to_numpy(bool)].copy()
    at = scoped.index[((scoped["academic_year"] == YEAR) & (scoped["term"] == TERM)).to_numpy(bool)]
    # as after the spec adds a code the model never saw (written past validation, which knows it)
    changed = scoped.loc[at].drop_duplicates("upn").index[:UNSEEN]
    scoped.loc[changed, "sen_primary_need"] = "XNEW"
    store = Store.open(url)
    for (school, year, term), rows in scoped.groupby(["school_urn", "academic_year", "term"], sort=False):
        store.write_pupil_terms(rows, school_urn=school, academic_year=year, term=term, upload=UPLOAD)
    model = home / "model.joblib"
    joblib.dump(trained.model, model)
    out = home / "flags.csv"
    args = ["score", "--year", YEAR, "--term", TERM, "--model", str(model), "--top-n", "5"]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = CliRunner().invoke(app, [*args, "--db", url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return url, result.output, [str(w.message) for w in seen], pd.read_csv(out, dtype=str), Store.open(url)


def test_score_names_the_unseen_code_and_how_many_pupils_never_who(scored):
    _, output, seen, _, store = scored
    notes = [line for line in output.splitlines() if line.startswith("Note: SEN primary need:")]
    assert notes == [
        f"Note: SEN primary need: {UNSEEN} pupils had a code the model was not trained with (XNEW); the "
        "model scored them as 'not known' for it (the rules read the code as it is)"
    ]
    assert not [message for message in seen if "unknown categories" in message]  # no scikit-learn warning
    upns = store.read_scores()["upn"]
    assert not any(upn in output for upn in upns)


def test_explain_and_the_export_say_what_would_change_it_for_suspensions(scored):
    url, _, _, table, store = scored
    scores = store.read_scores()
    answers = scores["what_would_change"].dropna()
    both = [
        i
        for i, a in answers.items()
        if {c["feature"] for c in a["changes"]} == {"attendance_rate_term", "suspensions_year"}
    ]
    assert both, "a pupil for whom either change is enough"
    row = scores.loc[both[0]]
    change = next(c for c in row["what_would_change"]["changes"] if c["feature"] == "suspensions_year")
    assert change["to"] < change["from"] and change["points_to"] < row["points"]
    explained = CliRunner().invoke(app, ["explain", row["upn"], "--db", url])
    assert explained.exit_code == 0, explained.output
    said = next(line for line in explained.output.splitlines() if line.startswith("What would change it: "))
    ever_from, ever_to = change["moves"]["suspensions_ever"]
    assert said.startswith("What would change it: if attendance this term were ")
    assert (
        f"; or if suspensions this year were {change['to']:g} rather than {change['from']:g} (and so "
        f"suspensions ever {ever_to:g} rather than {ever_from:g})"
    ) in said
    exported = table.set_index("UPN").loc[row["upn"], "What would change it"]
    assert exported == row["what_would_change"]["text"] == said.removeprefix("What would change it: ")
    stuck = [a for a in answers if not a["enough"]]
    assert stuck and all(a["text"].startswith("no single change is enough") for a in stuck)
