"""What the school is told: every error at once, located by the file's own row and column, in plain words;
warnings that do not block."""

from __future__ import annotations

import pandas as pd
import pytest

from riskengine.spec.upn import with_check_letter
from riskengine.store import Store
from riskengine.upload import InvalidFile, read_pupil_file, upload_bytes
from tests.upload.pupil_frames import make_upns, to_csv_bytes, to_text_frame, valid_pupils

REQUEST = {"school_urn": "123456", "academic_year": "2024/25", "term": "autumn"}


def csv_with(frame: pd.DataFrame, edits: dict[tuple[int, str], str]) -> bytes:
    """`frame` as CSV with cells replaced; keys are (file row number, column)."""
    text = to_text_frame(frame)
    for (row, column), value in edits.items():
        text.loc[row - 2, column] = value
    return text.to_csv(index=False).encode()


def test_all_errors_are_reported_at_once_with_rows_and_columns() -> None:
    frame = valid_pupils(8, seed=5)
    upn = frame.loc[2, "upn"]
    wrong_letter = ("A" if upn[0] != "A" else "B") + upn[1:]
    data = csv_with(
        frame,
        {
            (4, "upn"): wrong_letter,
            (5, "ncyear"): "twelve",
            (6, "sen_provision"): "Q",
            (7, "sessions_possible"): "3",
            (7, "sessions_authorised_absence"): "2",
            (7, "sessions_unauthorised_absence"): "2",
            (9, "upn"): frame.loc[0, "upn"],
        },
    )
    with pytest.raises(InvalidFile) as caught:
        read_pupil_file(data)
    errors = caught.value.errors
    located = set(zip(errors["row"], errors["column"], strict=True))
    assert {
        (4, "upn"),
        (5, "ncyear"),
        (6, "sen_provision"),
        (7, "sessions_possible"),
        (9, "upn"),
    } == located
    message = dict(zip(zip(errors["row"], errors["column"], strict=True), errors["message"], strict=True))
    assert message[(4, "upn")] == f"check letter should be {upn[0]}"
    assert message[(5, "ncyear")].startswith("'twelve' should be a whole number")
    assert message[(7, "sessions_possible")] == (
        "absence (2 authorised + 2 unauthorised sessions) is more than the 3 possible sessions"
    )
    assert message[(9, "upn")] == "the same UPN appears more than once, on rows 2, 9"


def test_rejected_upload_offers_text_and_csv_of_every_problem(store: Store, tmp_path) -> None:
    frame = valid_pupils(3, seed=6)
    data = csv_with(frame, {(2, "fsm_eligible"): "perhaps", (3, "school_urn"): "999999"})
    result = upload_bytes(store, data, "autumn.csv", **REQUEST)
    assert result.status == "rejected" and store.read_pupil_terms().empty
    assert "row 2, fsm_eligible: 'perhaps' is not a yes/no value" in result.report()
    assert "row 3, school_urn: the file says 999999 but this upload is for 123456" in result.report()
    written = pd.read_csv(tmp_path / "problems.csv") if result.errors_csv(tmp_path / "problems.csv") else None
    assert written is not None
    assert written[["severity", "row", "column"]].values.tolist() == [
        ["error", 2, "fsm_eligible"],
        ["error", 3, "school_urn"],
    ]


def test_warnings_do_not_block_temporary_upns_and_history(store: Store) -> None:
    upns = make_upns(6, seed=7)
    autumn = valid_pupils(6, seed=8, upns=upns)
    autumn.loc[2, "ks2_reading_scaled"] = 100
    assert upload_bytes(store, to_csv_bytes(autumn), "autumn.csv", **REQUEST).status == "stored"

    spring = valid_pupils(5, seed=8, upns=upns[:5], term="spring")
    temporary = with_check_letter("34300000123A")
    spring.loc[0, "upn"] = temporary
    spring.loc[1, "ncyear"] = autumn.loc[1, "ncyear"] + 2
    spring.loc[2, "ks2_reading_scaled"] = 90
    result = upload_bytes(store, to_csv_bytes(spring), "spring.csv", **{**REQUEST, "term": "spring"})
    assert result.status == "stored", result.report()
    report = result.report()
    assert "row 2, upn: '" + temporary + "' is a temporary UPN" in report
    assert f"pupil {upns[5]} (Year {autumn.loc[5, 'ncyear']}) was in the autumn 2024/25 upload" in report
    assert f"pupil {upns[0]} (" in report  # replaced by a temporary UPN, so missing under the old one
    assert "row 3, ncyear: Year" in report
    assert "row 4, ks2_reading_scaled: changed from 100 in autumn 2024/25 to 90" in report
    assert len(store.read_pupil_terms(up_to=("2024/25", "spring"))) == 11


def test_a_mismatched_request_is_refused_before_reading(store: Store) -> None:
    with pytest.raises(ValueError, match="academic year"):
        upload_bytes(store, b"x", "f.csv", "123456", "2024-25", "autumn")
    with pytest.raises(ValueError, match="term"):
        upload_bytes(store, b"x", "f.csv", "123456", "2024/25", "Michaelmas")
