"""Property: any valid file, in any accepted format, round-trips through upload and read-back exactly; and
the upload lifecycle (store, replace, identical file = no-op) is recorded."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskengine.store import Store
from riskengine.upload import upload_bytes, upload_file
from tests.upload.pupil_frames import (
    Spelling,
    pupil_frames,
    spellings,
    to_csv_bytes,
    to_xlsx_bytes,
    valid_pupils,
)

REQUEST = {"school_urn": "123456", "academic_year": "2024/25", "term": "autumn"}
FORMATS = st.sampled_from(
    [("csv", ",", "utf-8", False), ("csv", ";", "utf-8", True), ("csv", ",", "cp1252", False), ("xlsx",)]
)


def encode(frame: pd.DataFrame, fmt: tuple, spelling: Spelling) -> tuple[bytes, str]:
    if fmt[0] == "xlsx":
        return to_xlsx_bytes(frame, spelling), "autumn.xlsx"
    _, sep, encoding, bom = fmt
    return to_csv_bytes(frame, sep=sep, encoding=encoding, bom=bom, spelling=spelling), "autumn.csv"


@pytest.mark.slow
def test_any_valid_file_round_trips_exactly() -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(f"sqlite:///{Path(folder) / 'rt.db'}")

        @settings(max_examples=30, deadline=None)
        @given(frame=pupil_frames(), fmt=FORMATS, spelling=spellings)
        def round_trip(frame: pd.DataFrame, fmt: tuple, spelling: Spelling) -> None:
            data, filename = encode(frame, fmt, spelling)
            result = upload_bytes(store, data, filename, **REQUEST)
            assert result.status in ("stored", "replaced", "unchanged"), result.report()
            back = store.read_pupil_terms(schools=["123456"])
            pd.testing.assert_frame_equal(back, frame.sort_values("upn").reset_index(drop=True))

        round_trip()
        store.close()


def test_replacing_a_term_is_atomic_and_recorded_and_identical_file_is_a_no_op(
    store: Store, tmp_path
) -> None:
    first, second = valid_pupils(30, seed=20), valid_pupils(12, seed=21)
    path = tmp_path / "autumn.csv"
    path.write_bytes(to_csv_bytes(first))
    stored = upload_file(store, path, **REQUEST, uploaded_by="data.manager@school")
    assert stored.status == "stored" and stored.counts["stored"] == 30

    again = upload_file(store, path, **REQUEST)
    assert again.status == "unchanged" and again.upload_id == stored.upload_id
    assert "already uploaded" in again.summary()

    replaced = upload_bytes(store, to_csv_bytes(second), "autumn-v2.csv", **REQUEST)
    assert replaced.status == "replaced" and replaced.counts["replaced"] == 30
    pd.testing.assert_frame_equal(store.read_pupil_terms(), second.sort_values("upn").reset_index(drop=True))

    uploads = store.list_uploads("123456")
    assert uploads["status"].tolist() == ["stored", "replaced"]
    assert uploads["active"].tolist() == [False, True]
    assert uploads["replaces_upload_id"].iloc[1] == stored.upload_id
    assert uploads["uploaded_by"].iloc[0] == "data.manager@school"
    assert uploads["sha256"].iloc[0] == stored.sha256 and len(stored.sha256) == 64
    assert uploads["n_rows"].tolist() == [30, 12]
