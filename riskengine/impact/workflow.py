"""`impact_store`: the impact assessment from the store (or a scores file), written and logged.

The store-backed convenience around `impact_frame` + `assess_impact` + `write_impact_report` +
`log_impact` that `riskengine impact` wraps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from riskengine.evaluation.inputs import member_of
from riskengine.impact.assess import ImpactResult, assess_impact
from riskengine.impact.frame import impact_frame
from riskengine.impact.report import log_impact, write_impact_report
from riskengine.interventions import (
    current_interventions,
    load_instruments,
    read_assessments,
    read_intervention_events,
)
from riskengine.outcomes import derive_outcomes, load_outcome_definition, year11_start


def impact_store(
    store: Any,
    *,
    scores: pd.DataFrame | None = None,
    ncyear: int = 9,
    term: str = "autumn",
    out_dir: str | Path = "impact-report",
    n_boot: int = 200,
    at_risk_share: float = 0.15,
    mlflow: bool = True,
    tracking_uri: str | None = None,
) -> tuple[ImpactResult, Path]:
    """Assess the service's impact from stored scoring runs at Year `ncyear` `term` (every run's rows
    there, each pupil's latest), or from a `scores` frame, against stored destinations, interventions
    and assessments. Writes the report into `out_dir`; logs it to MLflow unless `mlflow=False`."""
    if scores is None:
        runs = store.list_score_runs()
        if runs.empty:
            raise ValueError("no scoring runs are stored; score the terms first or pass a scores file")
        frames = []
        for run in runs.itertuples():
            rows = store.read_scores(run_id=int(run.id))
            frames.append(rows.assign(threshold=[run.threshold] * len(rows)))
        scores = pd.concat(frames, ignore_index=True)
    pupil_terms = store.read_pupil_terms(upns=sorted(scores["upn"].astype(str).unique()))
    year11 = year11_start(pupil_terms) if len(pupil_terms) else pd.Series(dtype=int)
    destinations = store.read_destinations()
    destinations = destinations[member_of(destinations["upn"], year11.index)]
    outcomes = derive_outcomes(destinations, year11, load_outcome_definition())
    current = current_interventions(read_intervention_events(store))
    frame = impact_frame(scores, pupil_terms, outcomes, current, ncyear=ncyear, term=term)
    result = assess_impact(
        frame,
        interventions=current,
        assessments=read_assessments(store),
        instruments=load_instruments(),
        pupil_terms=pupil_terms,
        destinations=destinations,
        at_risk_share=at_risk_share,
        n_boot=n_boot,
        run_info={"scoring_point": f"Year {ncyear} {term}"},
    )
    path = write_impact_report(result, out_dir)
    if mlflow:
        result.run_info["mlflow_run_id"] = log_impact(result, out_dir, tracking_uri)
    return result, path
