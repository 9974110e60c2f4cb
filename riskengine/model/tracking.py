"""MLflow tracking and registry, local by default: a SQLite file and an artifact folder, no server.

A training run logs parameters, the data fingerprint (counts and hashes, never rows or UPNs), validation
metrics, the coefficient table, plots, the model card, the sklearn model with a signature and a joblib copy,
and registers the model. Nothing is used for scoring until someone promotes a version to an alias.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskengine.model.bundle import bundle_dir, bundle_exists, read_bundle, write_bundle, write_skops_bundle
from riskengine.model.spec import load_model_spec
from riskengine.paths import content_version
from riskengine.project import riskengine_home
from riskengine.project import tracking_uri as project_tracking_uri

if TYPE_CHECKING:  # scikit-learn and fairlearn load only when a model is trained or loaded
    from riskengine.model.pipeline import RiskModel
    from riskengine.model.training import TrainingResult

EXPERIMENT = "riskengine"
CHAMPION = "champion"


def default_tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else `sqlite:///<RISKENGINE_HOME>/mlflow.db`, else the project's, else
    ./.riskengine (`riskengine.project.tracking_uri`)."""
    return project_tracking_uri()


def _artifact_root(tracking_uri: str) -> str:
    """Artifacts in a folder next to a SQLite tracking file (or under the home for other stores)."""
    base = (
        Path(tracking_uri.removeprefix("sqlite:///")).parent
        if tracking_uri.startswith("sqlite:///")
        else None
    )
    return (base or riskengine_home()).joinpath("mlartifacts").resolve().as_uri()


@contextlib.contextmanager
def quiet_mlflow() -> Iterator[None]:
    """Silence MLflow's and Alembic's info logging, its stderr notes, warnings and progress bars.

    Failures still surface: MLflow raises them as exceptions.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    loggers = [logging.getLogger(n) for n in ("mlflow", "alembic", "urllib3")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _registered_name(model_name: str | None) -> str:
    """The name to look up in the registry: the one given, else the shipped spec's."""
    return model_name or load_model_spec().registered_model_name


def _client(tracking_uri: str | None) -> Any:
    import mlflow
    from mlflow import MlflowClient

    uri = tracking_uri or default_tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiment_id(client: Any, tracking_uri: str) -> str:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(EXPERIMENT, artifact_location=_artifact_root(tracking_uri))


def _signature_example(model: RiskModel) -> pd.DataFrame:
    """A made-up two-row frame of the model's inputs (no real pupil) to infer the signature from."""
    values = {"rate": [0.95, 0.8], "count": [0.0, 2.0], "number": [100.0, 9.0], "flag": [False, True]}
    columns = {}
    for name, kind in model.feature_kinds.items():
        if kind == "category":
            codes = list((model.categories or {}).get(name, [])) or ["X"]
            columns[name] = [codes[0], codes[-1]]
        else:
            columns[name] = values[kind]
    return pd.DataFrame(columns)


def _requirements() -> list[str]:
    """The model's runtime requirements, stated (MLflow's inference would re-import everything: slow)."""
    from importlib.metadata import version

    packages = ("riskengine", "scikit-learn", "numpy", "pandas", "shap", "skops")
    return [f"{package}=={version(package)}" for package in packages]


def _trusted_types(model: RiskModel) -> list[str]:
    """The types skops must be told to trust to load the model: only riskengine's own and numpy dtypes."""
    import skops.io

    found = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    return [t for t in found if t.startswith("riskengine.") or t == "numpy.dtype"]


@dataclass(frozen=True)
class LoggedModel:
    run_id: str
    model_name: str
    version: str | None  # registry version, None when not registered


def log_training(
    result: TrainingResult, tracking_uri: str | None = None, register: bool = True
) -> LoggedModel:
    """Log a training run to MLflow and (by default) register its model under the spec's name."""
    import joblib
    import matplotlib.pyplot as plt
    import mlflow
    from mlflow.models import infer_signature

    from riskengine.model.card import calibration_figure, model_card, roc_figure

    uri = tracking_uri or default_tracking_uri()
    with quiet_mlflow():
        client = _client(uri)
        experiment_id = _experiment_id(client, uri)
        spec, model = result.spec, result.model
        example = _signature_example(model)
        signature = infer_signature(example, model.predict_proba(example)[:, 1])
        name = spec.registered_model_name
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=f"{spec.name}, validated on {result.validation_cohort}"
        ) as run:
            mlflow.log_params(
                {
                    "spec_version": spec.version,
                    "year_group": spec.year_group,
                    "term": spec.term,
                    "features": ",".join(spec.features),
                    "include_rule_points": spec.include_rule_points,
                    "support": spec.support,
                    "penalty": spec.penalty,
                    "C": spec.C,
                    "C_chosen": model.C_,
                    "class_weight": spec.class_weight,
                    "calibration": spec.calibration,
                    "train_cohorts": ",".join(result.train_cohorts),
                    "validation_cohort": result.validation_cohort,
                    "validation": result.validation,
                    "not_available": ",".join(result.not_available),
                    "catalogue_version": model.metadata_["catalogue_version"],
                    "rule_set_version": model.metadata_["rule_set_version"],
                    "outcome_definition": result.fingerprint["outcome_definition"],
                }
            )
            mlflow.log_metrics(
                {
                    f"{part}_{key}": value
                    for part, values in result.metrics.items()
                    for key, value in values.items()
                    if np.isfinite(value)
                }
            )
            from riskengine.evaluation.publish import protect_training_outputs

            coefficients, fairness, fingerprint = protect_training_outputs(
                result.coefficients, result.fairness, result.fingerprint, result.train_cohorts
            )
            mlflow.log_dict(fingerprint, "fingerprint.json")
            mlflow.set_tag("validation_note", result.validation_note)
            if result.notices:
                mlflow.log_text("\n".join(result.notices), "notices.txt")
            if model.C_search_ is not None:
                mlflow.log_dict(model.C_search_, "C_search.json")
            mlflow.log_text(coefficients.to_csv(index=False), "coefficients.csv")
            mlflow.log_text(fairness.to_csv(index=False), "fairness.csv")
            published = dataclasses.replace(
                result, coefficients=coefficients, fairness=fairness, fingerprint=fingerprint
            )
            mlflow.log_text(model_card(published), "model_card.md")
            y, p = result.validation_outcome, result.validation_probability
            for file, figure in (
                ("calibration.png", calibration_figure(y, p)),
                ("roc.png", roc_figure(y, p)),
            ):
                mlflow.log_figure(figure, f"plots/{file}")
                plt.close(figure)
            with tempfile.TemporaryDirectory() as folder:
                portable = Path(folder) / "model.joblib"
                joblib.dump(model, portable)
                mlflow.log_artifact(str(portable), "portable")
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=signature,
                pyfunc_predict_fn="predict_proba",
                skops_trusted_types=_trusted_types(model),
                pip_requirements=_requirements(),
                registered_model_name=name if register else None,
            )
            version = getattr(info, "registered_model_version", None)
            if version is not None:
                client.set_model_version_tag(name, str(version), "spec_version", spec.version)
    return LoggedModel(
        run_id=run.info.run_id, model_name=name, version=None if version is None else str(version)
    )


def _registered_skops(client: Any, registered: Any) -> tuple[bytes, list[str]] | None:
    """The registered version's skops file and trusted types, read from its MLmodel; None if the version
    was not logged in skops format (then the model is loaded and saved again)."""
    import mlflow.artifacts
    import yaml

    source = str(getattr(registered, "source", "") or "")
    model_id = getattr(registered, "model_id", None) or (
        source.removeprefix("models:/") if source.startswith("models:/m-") else None
    )
    if model_id:
        location = client.get_logged_model(model_id).artifact_location
    elif source and not source.startswith("models:/"):
        location = source
    else:
        return None
    with tempfile.TemporaryDirectory() as folder:
        mlmodel = mlflow.artifacts.download_artifacts(artifact_uri=f"{location}/MLmodel", dst_path=folder)
        flavor = (yaml.safe_load(Path(mlmodel).read_text()).get("flavors") or {}).get("sklearn") or {}
        if flavor.get("serialization_format") != "skops":
            return None
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{location}/{flavor['pickled_model']}", dst_path=folder
        )
        return Path(path).read_bytes(), list(flavor.get("skops_trusted_types") or [])


def promote(
    version: str | int, alias: str = CHAMPION, model_name: str | None = None, tracking_uri: str | None = None
) -> Path:
    """Point `alias` (default champion) at a registered version: the explicit step before scoring uses it.

    Also writes the version as the alias's local bundle (`riskengine.model.bundle`), which scoring reads
    without MLflow. Returns the bundle's folder.
    """
    import mlflow

    name = _registered_name(model_name)
    with quiet_mlflow():
        client = _client(tracking_uri)
        registered = client.get_model_version(name, str(version))  # a clear error for an unknown version
        where = bundle_dir(tracking_uri or default_tracking_uri(), alias)
        label = f"{name}/{version} (@{alias})"
        logged = _registered_skops(client, registered)
        if logged is not None:  # copy the registry's skops file: no model load, no re-serialising
            directory = write_skops_bundle(logged[0], label, where, logged[1])
        else:
            model = mlflow.sklearn.load_model(f"models:/{name}/{version}")
            directory = write_bundle(model, label, where, _trusted_types(model))
        client.set_registered_model_alias(name, alias, str(version))
    return directory


def list_model_versions(model_name: str | None = None, tracking_uri: str | None = None) -> pd.DataFrame:
    """Registered versions with their aliases and validation AUC/ECE, newest first."""
    name = _registered_name(model_name)
    with quiet_mlflow():
        client = _client(tracking_uri)
        aliases = pd.Series(client.get_registered_model(name).aliases, dtype=object)
        rows = []
        for mv in client.search_model_versions(f"name = '{name}'"):  # a handful of versions
            metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
            rows.append(
                {
                    "version": int(mv.version),
                    "aliases": ",".join(aliases.index[aliases.astype(str) == str(mv.version)]),
                    "spec_version": mv.tags.get("spec_version", ""),
                    "validation_auc": metrics.get("validation_auc"),
                    "validation_ece": metrics.get("validation_ece"),
                    "run_id": mv.run_id,
                }
            )
    return pd.DataFrame(rows).sort_values("version", ascending=False) if rows else pd.DataFrame()


@dataclass(frozen=True)
class LoadedModel:
    model: RiskModel  # or, read for scoring from a bundle, its numbers (riskengine.model.linear)
    version: str  # what a score run records: registry name/version or file name and hash


def _registry_reference(reference: str, model_name: str) -> str:
    if reference.startswith("models:/"):
        return reference
    if reference.isdigit():
        return f"models:/{model_name}/{reference}"
    return f"models:/{model_name}@{reference}"


def load_model(
    reference: str | Path | RiskModel = CHAMPION,
    model_name: str | None = None,
    tracking_uri: str | None = None,
    for_scoring: bool = False,
) -> LoadedModel:
    """A model from a joblib path, a `models:/` URI, a registry version number or an alias (champion).

    An alias that `promote` wrote a local bundle for is read from the bundle, without MLflow; with
    `for_scoring`, as the model's numbers (`riskengine.model.linear`), without scikit-learn either.
    """
    if not isinstance(reference, str | Path):  # a fitted model in memory
        return LoadedModel(
            reference, f"in-memory ({getattr(reference, 'metadata_', {}).get('spec_version')})"
        )
    path = Path(reference)
    if path.suffix == ".joblib" or path.is_file():
        import joblib

        from riskengine.model.pipeline import RiskModel

        content = path.read_bytes()
        model = joblib.load(path)
        if not isinstance(model, RiskModel):
            raise TypeError(f"{path.name} does not hold a riskengine RiskModel")
        return LoadedModel(model, f"file:{path.name[:40]}@{content_version(content)}")
    if not str(reference).isdigit() and "/" not in str(reference):
        directory = bundle_dir(tracking_uri or default_tracking_uri(), str(reference))
        if model_name is None and bundle_exists(directory):
            model, label = read_bundle(directory, numbers=for_scoring)
            return LoadedModel(model, label)
    import mlflow

    name = _registered_name(model_name)
    uri = _registry_reference(str(reference), name)
    with quiet_mlflow():
        client = _client(tracking_uri)
        if "@" in uri:
            registered, alias = uri.removeprefix("models:/").split("@", 1)
            version = client.get_model_version_by_alias(registered, alias).version
            label = f"{registered}/{version} (@{alias})"
        else:
            label = uri.removeprefix("models:/")
        model = mlflow.sklearn.load_model(uri)
    return LoadedModel(model, label)


def champion_exists(model_name: str | None = None, tracking_uri: str | None = None) -> bool:
    """True when the registry has a version under the champion alias (no registry file: False, none made)."""
    if model_name is None and bundle_exists(bundle_dir(tracking_uri or default_tracking_uri(), CHAMPION)):
        return True
    uri = tracking_uri or default_tracking_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return False
    from mlflow.exceptions import MlflowException

    name = _registered_name(model_name)
    with quiet_mlflow():
        try:
            _client(uri).get_model_version_by_alias(name, CHAMPION)
        except MlflowException:
            return False
    return True
