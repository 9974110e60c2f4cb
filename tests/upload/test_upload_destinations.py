"""NCCIS destinations load the same way: validated, transactional, duplicates held once, identical file a
no-op."""

from __future__ import annotations

import pandas as pd

from riskengine.store import Store
from riskengine.upload import load_destinations, load_destinations_bytes
from tests.upload.pupil_frames import make_upns

UPNS = make_upns(4, seed=30)


def destinations_csv(rows: list[tuple]) -> bytes:
    frame = pd.DataFrame(rows, columns=["upn", "activity_code", "activity_date", "academic_age"])
    return frame.to_csv(index=False).encode()


def test_valid_file_is_stored_and_read_back(store: Store, tmp_path) -> None:
    rows = [
        (UPNS[0], 210, "2025-10-01", 16),
        (UPNS[1], 619, "2025-12-01", ""),
        (UPNS[1], 619, "2025-12-01", ""),
    ]
    path = tmp_path / "nccis.csv"
    path.write_bytes(destinations_csv(rows))
    result = load_destinations(store, path)
    assert result.status == "stored" and result.counts["stored"] == 2
    assert "row 4, upn: this activity repeats an earlier row" in result.report()
    back = store.read_destinations()
    assert back["activity_code"].tolist() == [210, 619]
    assert back["academic_age"].isna().tolist() == [False, True]
    assert back["activity_date"].tolist() == [pd.Timestamp("2025-10-01"), pd.Timestamp("2025-12-01")]
    assert load_destinations(store, path).status == "unchanged"


def test_invalid_file_stores_nothing_and_says_why(store: Store) -> None:
    rows = [(UPNS[2], 999, "2025-10-01", 16), (UPNS[3], 210, "01/10/2025", 19), ("", 210, "2025-10-01", "")]
    result = load_destinations_bytes(store, destinations_csv(rows), "nccis.csv")
    assert result.status == "rejected"
    report = result.report()
    assert "row 2, activity_code: '999' is not an NCCIS current activity code" in report
    assert "row 3, activity_date: '01/10/2025' should be a date written like 2025-01-31" in report
    assert "row 3, academic_age: '19' should be between 16 and 18" in report
    assert "row 4, upn: is blank" in report
    assert store.read_destinations().empty and store.list_uploads().empty
