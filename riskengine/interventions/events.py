"""Interventions and assessments as append-only records: every change is a new row, never an update.

An intervention is the set of event rows sharing an `intervention_id`; its current state is derived from
them (`current_interventions`): for each field, the latest event that gives it. Frames use the names of
shared/spec/interventions.md (`type`, `start_date`, `end_date`, `notes`, `date`); the table keeps its
original column names (`kind`, `started_on`, `ended_on`, `note`, `assessed_on`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from riskengine.interventions.catalogue import (
    QUALIFICATIONS,
    STAGES,
    STATUSES,
    Instrument,
    InterventionTypes,
    load_types,
)
from riskengine.store import Store
from riskengine.store import tables as st
from riskengine.web.tables import interventions

#: spec name -> table column
_COLUMN = {"type": "kind", "start_date": "started_on", "end_date": "ended_on", "notes": "note"}
EVENT_COLUMNS = (
    "id",
    "intervention_id",
    "upn",
    "type",
    "start_date",
    "end_date",
    "status",
    "adviser",
    "prompted_by_run",
    "qualification",
    "notes",
    "shared_with_school",
    "recorded_by",
    "upload_id",
    "created_at",
)


def new_intervention_id() -> str:
    """An id for an intervention that arrives without the service's own."""
    return uuid.uuid4().hex[:16]


def _insert_upload(connection: sa.Connection, upload: dict[str, Any], n_stored: int) -> int:
    return int(
        connection.execute(
            sa.insert(st.uploads).values(
                **upload, n_stored=n_stored, uploaded_at=datetime.now(UTC), status="stored", active=True
            )
        ).inserted_primary_key[0]
    )


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, float) and value != value:
        return None
    return value


def write_interventions(store: Store, events: pd.DataFrame, *, upload: dict[str, Any]) -> int:
    """Append validated intervention events (spec columns) and their upload record in one transaction;
    rows without an `intervention_id` each start a new intervention. Returns the upload id."""
    now = datetime.now(UTC)
    ids = events["intervention_id"].astype("string")
    ids = ids.where(ids.notna(), pd.Series([new_intervention_id() for _ in range(len(ids))], index=ids.index))
    frame = events.assign(intervention_id=ids)
    with store.engine.begin() as connection:
        upload_id = _insert_upload(connection, upload, len(frame))
        columns = [c for c in EVENT_COLUMNS if c in frame.columns and c not in ("id", "upload_id")]
        values = [frame[c].astype(object).to_numpy() for c in columns]
        rows = [
            {_COLUMN.get(c, c): _plain(v) for c, v in zip(columns, row, strict=True)}
            | {"upload_id": upload_id, "created_at": now}
            for row in zip(*values, strict=True)
        ]
        if rows:
            connection.execute(sa.insert(interventions), rows)
    return upload_id


def write_assessments(
    store: Store, frame: pd.DataFrame, instruments: dict[str, Instrument], *, upload: dict[str, Any]
) -> int:
    """Store validated assessments (each row's own instrument's subscales) in one transaction."""
    now = datetime.now(UTC)
    rows = []
    with store.engine.begin() as connection:
        upload_id = _insert_upload(connection, upload, len(frame))
        for instrument_id, group in frame.groupby("instrument", sort=True):  # a few instruments, not rows
            names = list(instruments[str(instrument_id)].subscale_names)
            scores = group[names].astype(float).to_dict("records")
            for upn, day, stage, score in zip(
                group["upn"], group["date"], group["stage"], scores, strict=True
            ):
                rows.append(
                    {
                        "upn": str(upn),
                        "instrument": str(instrument_id),
                        "assessed_on": _plain(day),
                        "stage": str(stage),
                        "scores": score,
                        "upload_id": upload_id,
                        "created_at": now,
                    }
                )
        if rows:
            connection.execute(sa.insert(st.assessments), rows)
    return upload_id


def record_intervention_event(
    store: Store,
    upn: str,
    *,
    type: str,
    start_date: date,
    status: str,
    recorded_by: int | None,
    intervention_id: str | None = None,
    end_date: date | None = None,
    adviser: str | None = None,
    prompted_by_run: int | None = None,
    qualification: str | None = None,
    notes: str | None = None,
    types: InterventionTypes | None = None,
    shared_with_school: bool = False,
) -> int:
    """Append one event (a new intervention, or a change to `intervention_id`); returns the event's row
    id. Checks the same rules as an import, raising ValueError in words an adviser understands."""
    types = types or load_types()
    if type not in types.labels:
        raise ValueError(f"the intervention type should be one of: {', '.join(types.labels.values())}")
    if status not in STATUSES:
        raise ValueError(f"the status should be one of {', '.join(STATUSES)}")
    if qualification is not None and qualification not in QUALIFICATIONS:
        raise ValueError(f"the qualification should be one of {', '.join(QUALIFICATIONS)}")
    if end_date is not None and end_date < start_date:
        raise ValueError("an intervention cannot end before it starts")
    if notes is not None and len(notes) > 5000:
        raise ValueError("notes are limited to 5,000 characters")
    intervention_id = intervention_id or new_intervention_id()
    with store.engine.begin() as connection:
        if intervention_id is not None:
            owner = connection.execute(
                sa.select(interventions.c.upn).where(interventions.c.intervention_id == intervention_id)
            ).first()
            if owner is not None and owner[0] != upn:
                raise ValueError("that intervention belongs to another pupil")
        return int(
            connection.execute(
                sa.insert(interventions).values(
                    upn=upn,
                    intervention_id=intervention_id,
                    kind=type,
                    started_on=start_date,
                    ended_on=end_date,
                    status=status,
                    adviser=(adviser or "").strip() or None,
                    prompted_by_run=prompted_by_run,
                    qualification=qualification,
                    note=(notes or "").strip() or None,
                    recorded_by=recorded_by,
                    shared_with_school=bool(shared_with_school),
                    created_at=datetime.now(UTC),
                )
            ).inserted_primary_key[0]
        )


def read_intervention_events(store: Store, upns: Sequence[str] | None = None) -> pd.DataFrame:
    """Every intervention event (oldest first), in the spec's names, optionally for some pupils only."""
    i = interventions
    query = sa.select(*(i.c[_COLUMN.get(c, c)].label(c) for c in EVENT_COLUMNS)).order_by(i.c.id)
    if upns is not None:
        query = query.where(i.c.upn.in_(list(upns)))
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame.from_records(rows, columns=list(EVENT_COLUMNS))
    for column in ("start_date", "end_date"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def current_interventions(events: pd.DataFrame) -> pd.DataFrame:
    """One row per intervention: for each field, the value of its latest event that gives one; with
    `first_recorded`, `last_changed` and `n_events`. Old rows without an id count as their own."""
    if events.empty:
        return events.assign(n_events=pd.Series(dtype=int))
    ordered = events.sort_values("id", kind="stable")
    key = ordered["intervention_id"].fillna("w" + ordered["id"].astype(str))
    grouped = ordered.assign(intervention_id=key).groupby("intervention_id", sort=False)
    fields = [c for c in EVENT_COLUMNS if c not in ("id", "intervention_id", "created_at")]
    current = grouped[fields].last()  # last non-null per column
    current["first_recorded"] = grouped["created_at"].min()
    current["last_changed"] = grouped["created_at"].max()
    current["n_events"] = grouped.size()
    return current.reset_index()


def read_assessments(store: Store, upns: Sequence[str] | None = None) -> pd.DataFrame:
    """Every assessment, long format: upn, instrument, date, stage, subscale, score (oldest first)."""
    a = st.assessments
    query = sa.select(a.c.id, a.c.upn, a.c.instrument, a.c.assessed_on, a.c.stage, a.c.scores).order_by(
        a.c.id
    )
    if upns is not None:
        query = query.where(a.c.upn.in_(list(upns)))
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    wide = pd.DataFrame.from_records(rows, columns=["id", "upn", "instrument", "date", "stage", "scores"])
    if wide.empty:
        return pd.DataFrame(columns=["id", "upn", "instrument", "date", "stage", "subscale", "score"])
    scores = pd.DataFrame.from_records(wide["scores"].tolist(), index=wide.index)
    long = (
        wide.drop(columns="scores")
        .join(scores)
        .melt(id_vars=["id", "upn", "instrument", "date", "stage"], var_name="subscale", value_name="score")
    )
    long = long.dropna(subset=["score"]).sort_values(["id", "subscale"], kind="stable")
    return long.assign(date=pd.to_datetime(long["date"])).reset_index(drop=True)


def record_assessment(
    store: Store,
    upn: str,
    instrument: Instrument,
    *,
    day: date,
    stage: str,
    scores: dict[str, float],
    recorded_by: int | None,
) -> int:
    """Append one assessment (from the pupil page); every subscale within the instrument's range."""
    if stage not in STAGES:
        raise ValueError(f"the stage should be one of {', '.join(STAGES)}")
    missing = [s for s in instrument.subscale_names if s not in scores]
    if missing:
        raise ValueError(f"give a score for {', '.join(missing)}")
    for name in instrument.subscale_names:
        if not instrument.low <= float(scores[name]) <= instrument.high:
            raise ValueError(f"{name} should be from {instrument.low:g} to {instrument.high:g}")
    with store.engine.begin() as connection:
        return int(
            connection.execute(
                sa.insert(st.assessments).values(
                    upn=upn,
                    instrument=instrument.id,
                    assessed_on=day,
                    stage=stage,
                    scores={s: float(scores[s]) for s in instrument.subscale_names},
                    recorded_by=recorded_by,
                    created_at=datetime.now(UTC),
                )
            ).inserted_primary_key[0]
        )
