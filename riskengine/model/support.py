"""Pupils the service supported, in training: support changes outcomes, and those outcomes train the next
model, which would then learn that supported pupils' risk was lower than it was.

The spec's `support` says how they are handled: `adjust` adds a `supported` indicator as a model input
(scoring sets it to "not supported", so a score is the risk without help), `leave_out` drops them, and
`ignore` trains on them like everyone else. On generated data adjusting ranked the risk without help best
(benchmarks/impact_training_choice.py). A pupil counts as supported when an intervention of theirs began
(active, completed or withdrawn) by the end of their Year 11, i.e. before the outcome it could change.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from riskengine.evaluation.disclosure import format_count
from riskengine.impact.frame import STARTED
from riskengine.model.frame import TrainingFrame
from riskengine.model.spec import SUPPORTED


def supported_pupils(interventions: pd.DataFrame, year11_start: pd.Series) -> pd.Index:
    """UPNs with an intervention that began by 31 August after Year 11; `interventions` is
    `current_interventions`' frame, `year11_start` maps upn -> the start year of their Year 11."""
    if interventions is None or interventions.empty:
        return pd.Index([], dtype=object)
    began = interventions[interventions["status"].isin(STARTED)]
    first = pd.to_datetime(began.groupby(began["upn"].astype(str))["start_date"].min())
    end = pd.to_datetime(
        year11_start.reindex(first.index).astype("Int64").astype(str) + "-08-31", errors="coerce"
    )
    end = end + pd.DateOffset(years=1)
    return first.index[(first <= end).to_numpy()]


def handle_support(
    frame: TrainingFrame, supported: pd.Index, choice: str
) -> tuple[TrainingFrame, dict[str, Any]]:
    """The training frame for the spec's `support` choice, and what was done, in words and a count that is
    safe to publish (a small number is "fewer than 10")."""
    among = frame.features.index.isin(supported)
    n = int(among.sum())
    count = format_count(n) or "0"
    summary: dict[str, Any] = {"choice": choice, "supported_pupils": count}
    if n == 0:
        summary["note"] = (
            f"Support ({choice}): no training pupil was supported by the service (no intervention began by "
            "the end of Year 11), so there was nothing to handle."
        )
        return frame, summary
    if choice == "leave_out":
        keep = ~among
        frame = dataclasses.replace(
            frame,
            features=frame.features[keep],
            outcome=frame.outcome[keep],
            cohort=frame.cohort[keep],
            audit=frame.audit[keep],
            school=None if frame.school is None else frame.school[keep],
        )
        summary["note"] = (
            f"Support (leave_out): {count} supported pupils were left out of training, because the help "
            "they had changed their outcome."
        )
    elif choice == "adjust":
        flag = pd.array(among, dtype="boolean")
        frame = dataclasses.replace(frame, features=frame.features.assign(**{SUPPORTED: flag}))
        summary["note"] = (
            f"Support (adjust): {count} supported pupils were trained on with a 'supported' indicator, which "
            "scoring sets to 'not supported', so every score is the risk without help."
        )
    else:
        summary["note"] = (
            f"Support (ignore): {count} supported pupils were trained on like everyone else, with the "
            "outcome they had with help."
        )
    return frame, summary
