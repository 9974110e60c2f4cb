"""Interventions and assessments (issue 13): the types and instruments in YAML, append-only events,
imports validated like uploads, and distance travelled (change with reliable change)."""

from riskengine.interventions.catalogue import Instrument, InterventionTypes, load_instruments, load_types
from riskengine.interventions.events import (
    current_interventions,
    read_assessments,
    read_intervention_events,
    record_assessment,
    record_intervention_event,
)
from riskengine.interventions.imports import (
    import_assessments,
    import_assessments_bytes,
    import_interventions,
    import_interventions_bytes,
)

__all__ = [
    "Instrument",
    "InterventionTypes",
    "current_interventions",
    "import_assessments",
    "import_assessments_bytes",
    "import_interventions",
    "import_interventions_bytes",
    "load_instruments",
    "load_types",
    "read_assessments",
    "read_intervention_events",
    "record_assessment",
    "record_intervention_event",
]
