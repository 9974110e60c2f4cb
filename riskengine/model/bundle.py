"""The champion bundle: the promoted model saved locally with skops, so scoring never needs MLflow.

`riskengine promote` points the registry alias at a version and then writes that version here: a skops
file (no pickle: loading runs no code and accepts only the types listed at save time) and a small JSON
manifest saying which registered version it is and the file's SHA-256. Scoring reads the bundle directly,
which costs a fraction of a second where importing and querying MLflow took seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


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

    return write_skops_bundle(skops.io.dumps(model), label, directory, trusted_types)


def write_skops_bundle(content: bytes, label: str, directory: Path, trusted_types: list[str]) -> Path:
    """Save a model already serialised by skops (e.g. the registry's own file) and its manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {
        "label": label,
        "file": "model.skops",
        "sha256": _sha256(content),
        "trusted_types": sorted(trusted_types),
    }
    for name, data in (("model.skops", content), (MANIFEST, json.dumps(manifest, indent=2).encode())):
        with tempfile.NamedTemporaryFile(dir=directory, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, directory / name)
    return directory


def bundle_exists(directory: Path) -> bool:
    return (directory / MANIFEST).is_file()


def read_bundle(directory: Path) -> tuple[Any, str]:
    """(model, label) from a bundle; a clear error if it was changed since `promote` wrote it."""
    import skops.io

    manifest = json.loads((directory / MANIFEST).read_text())
    content = (directory / manifest["file"]).read_bytes()
    if _sha256(content) != manifest["sha256"]:
        raise ValueError(f"the model bundle in {directory} was changed since it was promoted; promote again")
    model = skops.io.loads(content, trusted=manifest["trusted_types"])
    return model, manifest["label"]
