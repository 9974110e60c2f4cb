"""Identity columns (spec "Identity") never reach a model, a rule, an evaluation, MLflow, an evaluator's
page or a log line: a whole run on files carrying names and dates of birth is grepped for them."""

from __future__ import annotations

import logging
import re
import warnings

import pytest

from riskengine.cohorts import cohort_year11_start
from riskengine.evaluation import evaluate_store
from riskengine.flags import score_term
from riskengine.model import promote, train
from riskengine.model.tracking import quiet_mlflow
from riskengine.spec.upload import academic_year
from riskengine.store import Store
from riskengine.synth import generate, write_destinations, write_uploads
from riskengine.upload import load_destinations, upload_file
from riskengine.web import audit, create_app
from riskengine.web.accounts import add_user
from tests.privacy.identity_files import add_identity, markers

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


def leaks(text: str) -> list[str]:
    return [m for m in markers() if m in text]


def test_a_run_with_identity_columns_leaks_them_nowhere(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    la = generate(pupils=250, cohorts=9, schools=2, seed=5)
    files = write_uploads(la, tmp_path / "uploads")
    add_identity(files)
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    outputs = []
    for path in files:
        urn, year, term = path.stem.split("_")
        result = upload_file(store, path, urn, year.replace("-", "/"), term)
        assert result.ok, result.report()
        outputs.append(result.report())
    assert load_destinations(store, write_destinations(la, tmp_path / "destinations.csv")).ok
    with store.engine.connect() as connection:
        held = connection.exec_driver_sql("select count(*) from pupil_identity").scalar()
    assert held == la.pupil_terms["upn"].nunique() or held > 0, "the identity is stored, apart"
    assert not set(store.read_pupil_terms().columns) & {"forename", "surname", "date_of_birth"}

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with quiet_mlflow():
        trained, logged = train(store, tracking_uri=tracking)
        promote(logged.version, tracking_uri=tracking)
        _run, current = score_term(store, *la.as_of, tracking_uri=tracking)
        # the held-out cohort's Year 11 summer: outcomes known, so the evaluation has something to judge
        eleven = academic_year(cohort_year11_start(trained.validation_cohort))
        _run, scores = score_term(store, eleven, "summer", tracking_uri=tracking)
    _, report = evaluate_store(store, scores=scores, out_dir=tmp_path / "evaluation", tracking_uri=tracking)
    for frame in (current, scores):
        assert not leaks(" ".join(map(str, frame.columns))) and not leaks(frame.to_csv())

    add_user(store, "eval@example.org", PASSWORD, "evaluator")
    client = TestClient(create_app(store, reports_dir=tmp_path / "evaluation"), base_url="https://testserver")
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"email": "eval@example.org", "password": PASSWORD, "csrf_token": token})
    for path in ("/evaluator", "/evaluator/fairness", "/evaluator/report", "/api/v1/evaluation"):
        response = client.get(path)
        assert response.status_code in (200, 404, 409), path
        assert not leaks(response.text), path

    audit.flush(store)  # the audit journal's segments are moved into the store and removed
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "uploads" not in p.parts]
    # the store (with its WAL and shared-memory files) holds them, in pupil_identity only
    written = [p for p in written if p.name not in ("store.db", "store.db-wal", "store.db-shm")]
    assert any("mlartifacts" in p.parts for p in written) and (tmp_path / "mlflow.db") in written
    for path in written:
        assert not leaks(path.read_bytes().decode("latin-1")), path
    assert not leaks(caplog.text) and not any(leaks(text) for text in outputs)
    assert trained.metrics and report.exists()
