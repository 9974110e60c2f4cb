"""MLflow tracking and registry in a temporary local store: log, register, promote, load."""

from pathlib import Path

import numpy as np
import pytest

from riskengine.model import champion_exists, list_model_versions, load_model, log_training, promote


@pytest.fixture(scope="module")
def registry(tmp_path_factory, trained):
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    logged = log_training(trained, tracking_uri=uri)
    return uri, folder, logged


@pytest.mark.slow
def test_training_run_is_logged_registered_and_only_used_once_promoted(registry, trained, training_frame):
    uri, _, logged = registry
    assert logged.version == "1" and logged.model_name == "riskengine-neet"
    assert not champion_exists(tracking_uri=uri)  # registered is not promoted
    promote(logged.version, tracking_uri=uri)
    assert champion_exists(tracking_uri=uri)
    loaded = load_model(tracking_uri=uri)
    assert loaded.version == "riskengine-neet/1 (@champion)"
    x = training_frame.features.iloc[:50]
    np.testing.assert_allclose(loaded.model.predict_proba(x), trained.model.predict_proba(x))
    versions = list_model_versions(tracking_uri=uri)
    assert versions.iloc[0]["aliases"] == "champion"
    assert versions.iloc[0]["validation_auc"] == pytest.approx(trained.metrics["validation"]["auc"])


@pytest.mark.slow
def test_artifacts_hold_card_coefficients_plots_and_a_portable_copy_without_pupils(
    registry, small_la, trained
):
    _, folder, logged = registry
    artifacts = next(p for p in (folder / "mlartifacts").rglob(logged.run_id) if p.is_dir())
    names = {p.name for p in artifacts.rglob("*") if p.is_file()}
    assert {
        "model_card.md",
        "coefficients.csv",
        "fingerprint.json",
        "calibration.png",
        "roc.png",
        "model.joblib",
    } <= names
    card = next(artifacts.rglob("model_card.md")).read_text()
    assert "Intended use" in card and "Fairness summary" in card and "Limits" in card
    assert f"C={trained.model.C_:g} (chosen from" in card  # the shipped spec says C: auto
    assert "C_search.json" in names
    texts = " ".join(
        p.read_text(errors="ignore") for p in artifacts.rglob("*") if p.suffix in {".md", ".csv", ".json"}
    )
    assert not any(upn in texts for upn in small_la.truth.index[::50])
    portable = next(artifacts.rglob("model.joblib"))
    loaded = load_model(portable)
    assert loaded.version.startswith("file:model.joblib@")
    assert np.array_equal(
        loaded.model.coefficients()["coefficient"], trained.model.coefficients()["coefficient"]
    )


def test_no_registry_file_means_no_champion_and_none_is_created(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'absent' / 'mlflow.db'}"
    assert not champion_exists(tracking_uri=uri)
    assert not (tmp_path / "absent").exists()


@pytest.mark.slow
def test_promote_writes_a_local_bundle_that_loads_without_mlflow(registry, trained, training_frame):
    import json
    import os
    import subprocess
    import sys

    uri, folder, logged = registry
    directory = promote(logged.version, tracking_uri=uri)
    assert directory == folder / "bundles" / "champion" and (directory / "model.skops").is_file()
    x = training_frame.features.iloc[:20]
    x.to_pickle(folder / "x.pkl")
    code = (
        "import sys, pandas as pd; from riskengine.model import load_model; "
        f"m = load_model(tracking_uri={uri!r}); "
        f"print(m.version, 'mlflow' in sys.modules); "
        f"print(m.model.predict_proba(pd.read_pickle({str(folder / 'x.pkl')!r}))[:, 1].tolist())"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    ).stdout.splitlines()
    assert out[0] == "riskengine-neet/1 (@champion) False"  # read from the bundle, MLflow never loaded
    np.testing.assert_allclose(json.loads(out[1]), trained.model.predict_proba(x)[:, 1])

    (directory / "model.skops").write_bytes((directory / "model.skops").read_bytes() + b"x")
    with pytest.raises(ValueError, match="changed since it was promoted"):
        load_model(tracking_uri=uri)
