"""The interpretable risk model: spec, training with temporal validation, MLflow registry, SHAP explanations.

Train with `train_model` (pure) and `log_training` (MLflow), or `train` (from the store, both at once);
`promote` a registered version to the champion alias; scoring loads it with `load_model`.
"""

from riskengine.model.calibration import expected_calibration_error, probability_metrics
from riskengine.model.explain import contribution_records, top_reasons
from riskengine.model.frame import TrainingFrame, build_training_frame
from riskengine.model.pipeline import Explanation, RiskModel
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
