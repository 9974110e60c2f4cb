"""`riskengine train` as a plain function: past cohorts from the store -> train, validate, log, register."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from riskengine.features import load_catalogue
from riskengine.model.frame import build_training_frame
from riskengine.model.spec import load_model_spec
from riskengine.model.tracking import LoggedModel, log_training
from riskengine.model.training import TrainingResult, fit_model, fit_point_models
from riskengine.outcomes import load_outcome_definition


def train(
    store: object,
    spec_path: str | Path | None = None,
    tracking_uri: str | None = None,
    register: bool = True,
    outcome_path: str | Path | None = None,
    progress: Callable[[str], None] = lambda stage: None,
) -> tuple[TrainingResult, LoggedModel]:
    """Train the spec's model on every stored pupil-term and destination, and log (and register) it.

    `store` is a `riskengine.store.Store`. The new version is not used for scoring until promoted.
    """
    model_spec, catalogue = load_model_spec(spec_path), load_catalogue()
    pupil_terms, destinations = store.read_pupil_terms(), store.read_destinations()  # type: ignore[attr-defined]
    progress("read")
    frame = build_training_frame(
        pupil_terms, destinations, model_spec, catalogue, definition=load_outcome_definition(outcome_path)
    )
    progress("training frame")
    result = fit_model(frame, model_spec, catalogue)
    fit_point_models(
        result, pupil_terms, destinations, catalogue, definition=load_outcome_definition(outcome_path)
    )
    progress("fitted")
    logged = log_training(result, tracking_uri=tracking_uri, register=register)
    progress("logged")
    return result, logged
