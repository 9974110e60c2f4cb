"""`riskengine train` as a plain function: past cohorts from the store -> train, validate, log, register."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from riskengine.features import load_catalogue
from riskengine.interventions import current_interventions, read_intervention_events
from riskengine.model.frame import build_training_frame
from riskengine.model.spec import load_model_spec
from riskengine.model.support import handle_support, supported_pupils
from riskengine.model.tracking import LoggedModel, log_training
from riskengine.model.training import TrainingResult, fit_model, fit_point_models
from riskengine.outcomes import load_outcome_definition, year11_start


def train(
    store: object,
    spec_path: str | Path | None = None,
    tracking_uri: str | None = None,
    register: bool = True,
    outcome_path: str | Path | None = None,
    progress: Callable[[str], None] = lambda stage: None,
    as_of: dt.date | str | None = None,
    notify: Callable[[str], None] = lambda line: None,
) -> tuple[TrainingResult, LoggedModel]:
    """Train the spec's model on every stored pupil-term and destination, and log (and register) it.

    `store` is a `riskengine.store.Store`. The new version is not used for scoring until promoted.
    Cohorts count when their outcome window ended by `as_of` (default: the as-of date of the newest
    destinations extract loaded, else today); each cohort left out or warned about is passed to `notify`.
    Pupils the service supported are handled as the spec's `support` says (riskengine.model.support);
    the first notice says how, and how many there were.
    """
    model_spec, catalogue = load_model_spec(spec_path), load_catalogue()
    pupil_terms, destinations = store.read_pupil_terms(), store.read_destinations()  # type: ignore[attr-defined]
    progress("read")
    as_of = as_of or store.destinations_as_of()  # type: ignore[attr-defined]
    frame = build_training_frame(
        pupil_terms,
        destinations,
        model_spec,
        catalogue,
        definition=load_outcome_definition(outcome_path),
        as_of=as_of,
    )
    for line in frame.cohort_notices:
        notify(line)
    supported = supported_pupils(
        current_interventions(read_intervention_events(store)),  # type: ignore[arg-type]
        year11_start(pupil_terms),
    )
    frame, support = handle_support(frame, supported, model_spec.support)
    progress("training frame")
    result = fit_model(frame, model_spec, catalogue)
    result.model.metadata_["support"] = support
    result.notices.insert(0, support["note"])
    fit_point_models(
        result,
        pupil_terms,
        destinations,
        catalogue,
        definition=load_outcome_definition(outcome_path),
        supported=supported,
    )
    progress("fitted")
    logged = log_training(result, tracking_uri=tracking_uri, register=register)
    progress("logged")
    return result, logged
