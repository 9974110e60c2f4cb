"""Intervention and assessment imports: validated like uploads, row-level errors, nothing stored on error,
append-only events whose current state is derived."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.interventions import (
    current_interventions,
    import_assessments_bytes,
    import_interventions_bytes,
    read_assessments,
    read_intervention_events,
)
from riskengine.store import Store
from riskengine.store import tables as st
from riskengine.upload import upload_bytes
from riskengine.web.tables import interventions
from tests.upload.pupil_frames import make_upns, to_csv_bytes, valid_pupils

UPNS = make_upns(3, seed=41)


def _with_pupils(store: Store) -> None:
    frame = valid_pupils(3, seed=41, upns=UPNS)
    assert upload_bytes(store, to_csv_bytes(frame), "t.csv", "123456", "2024/25", "autumn").ok


def _csv(rows: list[dict]) -> bytes:
    return pd.DataFrame(rows).to_csv(index=False).encode()


def _count(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_interventions_import_appends_events_and_derives_current_state(store: Store) -> None:
    _with_pupils(store)
    rows = [
        {"UPN": UPNS[0], "intervention_id": "A1", "Type": "mentoring", "start_date": "2025-01-06",
         "status": "active", "adviser": "a.adviser@example.org", "qualification": ""},
        {"UPN": UPNS[1], "intervention_id": "", "Type": "Work_Experience", "start_date": "13/01/2025",
         "status": "planned", "adviser": "", "qualification": ""},
        {"UPN": UPNS[0], "intervention_id": "A1", "Type": "mentoring", "start_date": "2025-01-06",
         "end_date": "2025-03-28", "status": "completed", "adviser": "", "qualification": "entry_level"},
    ]  # fmt: skip
    result = import_interventions_bytes(store, _csv(rows), "interventions.csv")
    assert result.status == "stored", result.report()
    events = read_intervention_events(store)
    assert len(events) == 3 and events["upload_id"].notna().all()
    current = current_interventions(events).set_index("intervention_id")
    assert len(current) == 2
    a1 = current.loc["A1"]
    assert a1["status"] == "completed" and a1["end_date"] == pd.Timestamp("2025-03-28")
    assert a1["adviser"] == "a.adviser@example.org"  # kept from the earlier event
    assert a1["qualification"] == "entry_level" and a1["n_events"] == 2
    other = current[current["upn"] == UPNS[1]].iloc[0]
    assert other["type"] == "work_experience" and other["start_date"] == pd.Timestamp("2025-01-13")
    assert import_interventions_bytes(store, _csv(rows), "interventions.csv").status == "unchanged"
    stolen = [{**rows[0], "UPN": UPNS[2], "status": "withdrawn"}]
    refused = import_interventions_bytes(store, _csv(stolen), "later.csv")
    assert (
        "row 2, intervention_id: this intervention_id is already recorded for another pupil"
        in refused.report()
    )


def test_broken_interventions_file_stores_nothing(store: Store) -> None:
    _with_pupils(store)
    unknown = make_upns(1, seed=99, offset=500)[0]
    rows = [
        {"upn": UPNS[0], "type": "mentoring", "start_date": "2025-01-06", "end_date": "2025-01-01",
         "status": "active", "prompted_by_run": "7"},
        {"upn": unknown, "type": "astrology", "start_date": "2025-02-30", "end_date": "",
         "status": "done", "prompted_by_run": ""},
        {"upn": UPNS[1], "type": "mentoring", "start_date": "2025-01-06", "end_date": "",
         "status": "active", "prompted_by_run": ""},
    ]  # fmt: skip
    before = _count(store, st.uploads)
    result = import_interventions_bytes(store, _csv(rows), "interventions.csv")
    assert result.status == "rejected"
    report = result.report()
    assert "row 2, end_date: the end date is before the start date 2025-01-06" in report
    assert "row 2, prompted_by_run: there is no scoring run 7" in report
    assert "row 3, type: 'astrology' is not one of the intervention types" in report
    assert "row 3, start_date: '2025-02-30' should be a date" in report
    assert "row 3, status: 'done' is not a status" in report
    assert "row 3, upn: no pupil with this UPN has been uploaded" in report
    assert "row 4" not in report
    assert _count(store, interventions) == 0 and _count(store, st.uploads) == before


def test_assessments_import_checks_each_instrument_range(store: Store) -> None:
    _with_pupils(store)
    good = [
        {"upn": UPNS[0], "instrument": "resilience_4c", "date": "2025-01-06", "stage": "pre",
         "control": 3, "commitment": 4, "challenge": 5, "confidence": 2},
        {"upn": UPNS[0], "instrument": "resilience_4c", "date": "2025-04-01", "stage": "post",
         "control": 5, "commitment": 6, "challenge": 5, "confidence": 4},
    ]  # fmt: skip
    bad = [*good, {**good[1], "control": 11, "confidence": ""}]
    rejected = import_assessments_bytes(store, _csv(bad), "assessments.csv")
    assert rejected.status == "rejected"
    assert "row 4, control: resilience_4c needs a control score from 1 to 10, not 11" in rejected.report()
    assert "row 4, confidence: resilience_4c needs a confidence score from 1 to 10, not blank" in (
        rejected.report()
    )
    assert _count(store, st.assessments) == 0
    assert import_assessments_bytes(store, _csv(good), "assessments.csv").status == "stored"
    back = read_assessments(store)
    assert len(back) == 8 and set(back["stage"]) == {"pre", "post"}
    assert back.loc[(back["stage"] == "post") & (back["subscale"] == "control"), "score"].item() == 5


def test_cli_import_exits_1_and_stores_nothing_on_error(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    store = Store.open(db)
    _with_pupils(store)
    path = tmp_path / "assessments.csv"
    path.write_bytes(_csv([{"upn": UPNS[0], "instrument": "nope", "date": "2025-01-06", "stage": "pre"}]))
    result = CliRunner().invoke(app, ["assessments", "import", str(path), "--db", db])
    assert result.exit_code == 1 and "'nope' is not an instrument defined in the project" in result.output
    assert _count(store, st.assessments) == 0
    path = tmp_path / "interventions.csv"
    path.write_bytes(_csv([{"upn": UPNS[2], "type": "family_work", "start_date": "2025-01-06",
                            "status": "active"}]))  # fmt: skip
    result = CliRunner().invoke(app, ["interventions", "import", str(path), "--db", db])
    assert result.exit_code == 0, result.output
    assert _count(store, interventions) == 1
