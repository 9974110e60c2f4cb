"""What the pupil page needs to record interventions and assessments, and what the evaluators' impact
page shows: the latest `riskengine impact` report's figures (already under disclosure control)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from riskengine.interventions import load_instruments, load_types, read_assessments, record_assessment
from riskengine.interventions.catalogue import QUALIFICATIONS, STAGES, STATUSES
from riskengine.interventions.change import NO_RELIABILITY, pupil_assessments
from riskengine.store import Store
from riskengine.web.accounts import User
from riskengine.web.evaluator import _refuse_upns
from riskengine.web.reviews import _check_reviewer

IMPACT_JSON = "impact.json"


def intervention_context(store: Store, upn: str) -> dict[str, Any]:
    """Template context for the pupil page's intervention and assessment forms and histories."""
    instruments = load_instruments()
    return {
        "intervention_types": load_types().labels,
        "statuses": STATUSES,
        "qualifications": QUALIFICATIONS,
        "stages": STAGES,
        "instruments": instruments,
        "assessments": pupil_assessments(read_assessments(store, [upn]), instruments),
        "no_reliability": NO_RELIABILITY,
    }


def record_assessment_form(store: Store, user: User, upn: str, form: dict[str, Any]) -> int:
    """Record an assessment from the pupil page's form (instrument, date, stage, one field per subscale)."""
    _check_reviewer(user)
    instruments = load_instruments()
    instrument = instruments.get(str(form.get("instrument", "")))
    if instrument is None:
        raise ValueError("choose an instrument defined in interventions/instruments")
    try:
        day = date.fromisoformat(str(form.get("date", "")))
        scores = {name: float(str(form.get(name, ""))) for name in instrument.subscale_names}
    except ValueError:
        raise ValueError("give the date and a number for every subscale") from None
    return record_assessment(
        store, upn, instrument, day=day, stage=str(form.get("stage", "")), scores=scores, recorded_by=user.id
    )


def latest_impact(reports_dir: Path | None) -> dict[str, Any] | None:
    """The newest impact.json under `reports_dir` (`riskengine impact --out` there), or None; refused if
    it holds a pupil identifier."""
    if reports_dir is None or not Path(reports_dir).is_dir():
        return None
    candidates = sorted(Path(reports_dir).rglob(IMPACT_JSON), key=lambda p: p.stat().st_mtime)
    if not candidates:
        return None
    text = _refuse_upns(candidates[-1].read_text())
    return json.loads(text) | {"path": f"{candidates[-1].parent.name}/{IMPACT_JSON}"}
