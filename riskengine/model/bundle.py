"""The champion bundle: the promoted model saved locally with skops, so scoring never needs MLflow.

`riskengine promote` points the registry alias at a version and then writes that version here: a skops
file (no pickle: loading runs no code and accepts only the types listed at save time), the same model's
fitted numbers as JSON (`riskengine.model.linear`, written only once they reproduce the model exactly) and
a small JSON manifest saying which registered version it is and both files' SHA-256. Scoring reads the
numbers directly, with neither MLflow nor scikit-learn and skops to import (seconds, for a fresh process);
anything else that needs the model object loads the skops file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
LINEAR = "linear.json"


def bundle_dir(tracking_uri: str | None = None, alias: str = "champion") -> Path:
    """Where the bundle of `alias` lives: beside a SQLite tracking file, else under RISKENGINE_HOME."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if uri.startswith("sqlite:///"):
        base = Path(uri.removeprefix("sqlite:///")).parent
    else:
        base = Path(os.environ.get("RISKENGINE_HOME", ".riskengine"))
    return base / "bundles" / alias


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def write_bundle(model: Any, label: str, directory: Path, trusted_types: list[str]) -> Path:
    """Save `model` (a RiskModel) with skops and its manifest; replaces an earlier bundle atomically."""
    import skops.io

    return write_skops_bundle(skops.io.dumps(model), label, directory, trusted_types, model)


def _json_default(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)  # numpy scalars and arrays


def _linear(model: Any) -> tuple[bytes | None, str | None]:
    """The model's numbers as JSON, or None and why not (then scoring loads the skops file)."""
    from riskengine.model.linear import LinearRiskModel

    try:
        numbers = LinearRiskModel.from_model(model).to_dict()
    except (ValueError, AttributeError) as error:
        return None, str(error)
    return json.dumps(numbers, default=_json_default).encode(), None


def write_skops_bundle(
    content: bytes, label: str, directory: Path, trusted_types: list[str], model: Any = None
) -> Path:
    """Save a model already serialised by skops (e.g. the registry's own file), its numbers for scoring
    (from `model`, else from `content` loaded) and its manifest."""
    if model is None:
        import skops.io

        model = skops.io.loads(content, trusted=trusted_types)
    numbers, why_not = _linear(model)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {
        "label": label,
        "file": "model.skops",
        "sha256": _sha256(content),
        "trusted_types": sorted(trusted_types),
        "linear": None if numbers is None else {"file": LINEAR, "sha256": _sha256(numbers)},
        "linear_not_written": why_not,
    }
    files = [("model.skops", content), *([(LINEAR, numbers)] if numbers is not None else [])]
    for name, data in (*files, (MANIFEST, json.dumps(manifest, indent=2).encode())):
        with tempfile.NamedTemporaryFile(dir=directory, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, directory / name)
    if numbers is None:
        (directory / LINEAR).unlink(missing_ok=True)
    return directory


def bundle_exists(directory: Path) -> bool:
    return (directory / MANIFEST).is_file()


def numbers_not_written(directory: Path) -> str | None:
    """Why a bundle holds no numbers for scoring (None when it does): `promote` says so."""
    return json.loads((directory / MANIFEST).read_text()).get("linear_not_written")


def _checked(directory: Path, file: str, sha256: str) -> bytes:
    content = (directory / file).read_bytes()
    if _sha256(content) != sha256:
        raise ValueError(f"the model bundle in {directory} was changed since it was promoted; promote again")
    return content


def read_bundle(directory: Path, numbers: bool = False) -> tuple[Any, str]:
    """(model, label) from a bundle; a clear error if it was changed since `promote` wrote it.

    `numbers=True` (scoring): the model's numbers (`LinearRiskModel`) when the bundle has them, which
    need no scikit-learn; the skops file's SHA-256 is checked all the same."""
    manifest = json.loads((directory / MANIFEST).read_text())
    content = _checked(directory, manifest["file"], manifest["sha256"])
    linear = manifest.get("linear")
    if numbers and linear:
        from riskengine.model.linear import FORMAT, LinearRiskModel

        spec = json.loads(_checked(directory, linear["file"], linear["sha256"]))
        if spec.get("format") == FORMAT:  # else written by another version: the skops file serves
            return LinearRiskModel.from_dict(spec), manifest["label"]
    import skops.io

    model = skops.io.loads(content, trusted=manifest["trusted_types"])
    return model, manifest["label"]
