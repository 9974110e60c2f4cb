"""The interpretable risk model: spec, training with temporal validation, MLflow registry, SHAP explanations.

Train with `train_model` (pure) and `log_training` (MLflow), or `train` (from the store, both at once);
`promote` a registered version to the champion alias (which also writes the local champion bundle that
scoring reads without MLflow); scoring loads it with `load_model`.

Names are imported from their modules on first use (PEP 562), so `import riskengine.model` (or one light
submodule such as `riskengine.model.spec`) loads no scikit-learn, shap, mlflow or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "expected_calibration_error": "calibration",
    "probability_metrics": "calibration",
    "contribution_records": "records",
    "top_reasons": "explain",
    "TrainingFrame": "frame",
    "build_training_frame": "frame",
    "Explanation": "linear",
    "RiskModel": "pipeline",
    "FlagThreshold": "spec",
    "ModelSpec": "spec",
    "ModelSpecError": "spec",
    "load_model_spec": "spec",
    "CHAMPION": "tracking",
    "LoadedModel": "tracking",
    "LoggedModel": "tracking",
    "champion_exists": "tracking",
    "default_tracking_uri": "tracking",
    "list_model_versions": "tracking",
    "load_model": "tracking",
    "log_training": "tracking",
    "promote": "tracking",
    "TrainingResult": "training",
    "fit_model": "training",
    "train_model": "training",
    "train": "workflow",
}

__all__ = [
    "CHAMPION",
    "Explanation",
    "FlagThreshold",
    "LoadedModel",
    "LoggedModel",
    "ModelSpec",
    "ModelSpecError",
    "RiskModel",
    "TrainingFrame",
    "TrainingResult",
    "build_training_frame",
    "champion_exists",
    "contribution_records",
    "default_tracking_uri",
    "expected_calibration_error",
    "fit_model",
    "list_model_versions",
    "load_model",
    "load_model_spec",
    "log_training",
    "probability_metrics",
    "promote",
    "top_reasons",
    "train",
    "train_model",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from riskengine.model.calibration import expected_calibration_error, probability_metrics
    from riskengine.model.explain import top_reasons
    from riskengine.model.frame import TrainingFrame, build_training_frame
    from riskengine.model.linear import Explanation
    from riskengine.model.pipeline import RiskModel
    from riskengine.model.records import contribution_records
    from riskengine.model.spec import FlagThreshold, ModelSpec, ModelSpecError, load_model_spec
    from riskengine.model.tracking import (
        CHAMPION,
        LoadedModel,
        LoggedModel,
        champion_exists,
        default_tracking_uri,
        list_model_versions,
        load_model,
        log_training,
        promote,
    )
    from riskengine.model.training import TrainingResult, fit_model, train_model
    from riskengine.model.workflow import train
