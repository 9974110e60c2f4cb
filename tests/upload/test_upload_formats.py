"""Every file shape a school's software writes reads to the same canonical frame."""

from __future__ import annotations

import pandas as pd
import pytest

from riskengine.upload import read_pupil_file
from tests.upload.pupil_frames import to_csv_bytes, to_xlsx_bytes, valid_pupils

FRAME = valid_pupils(25, seed=3)


@pytest.mark.parametrize(
    ("sep", "encoding", "bom"),
    [
        (",", "utf-8", False),
        (",", "utf-8", True),
        (";", "utf-8", True),
        (";", "cp1252", False),
        ("\t", "utf-8", False),
    ],
)
def test_csv_variants_read_identically(sep: str, encoding: str, bom: bool) -> None:
    data = to_csv_bytes(FRAME, sep=sep, encoding=encoding, bom=bom)
    pd.testing.assert_frame_equal(read_pupil_file(data, filename="autumn.csv"), FRAME)


def test_xlsx_reads_identically() -> None:
    pd.testing.assert_frame_equal(read_pupil_file(to_xlsx_bytes(FRAME), filename="autumn.xlsx"), FRAME)


def test_windows_1252_text_in_an_extra_column_is_decoded_and_ignored() -> None:
    text = to_csv_bytes(FRAME).decode()
    lines = text.split("\r\n")
    lines = [lines[0] + ",Forename"] + [line + ",Zoë" for line in lines[1:] if line]
    data = ("\r\n".join(lines) + "\r\n").encode("cp1252")
    assert b"\xeb" in data  # ë in Windows-1252, invalid as UTF-8
    pd.testing.assert_frame_equal(read_pupil_file(data), FRAME)


def test_headers_match_case_insensitively_and_codes_and_spaces_are_normalised() -> None:
    text = to_csv_bytes(FRAME).decode()
    header, rest = text.split("\r\n", 1)
    shouted = " , ".join(h.upper() for h in header.split(",")) + "\r\n" + rest.replace(",autumn,", ",Autumn,")
    shouted = shouted.replace(",Y,", ",yes,").replace(",N,", ",No,")
    pd.testing.assert_frame_equal(read_pupil_file(shouted.encode()), FRAME)


def test_blank_means_unknown_never_zero() -> None:
    frame = FRAME.copy()
    frame.loc[0, ["sessions_authorised_absence", "fsm_eligible", "ks2_maths_scaled"]] = pd.NA
    back = read_pupil_file(to_csv_bytes(frame))
    assert back.loc[0, ["sessions_authorised_absence", "fsm_eligible", "ks2_maths_scaled"]].isna().all()


def test_optional_columns_may_be_absent() -> None:
    required_only = FRAME.drop(columns=["child_in_need", "eal", "ks2_reading_scaled", "sex", "ethnicity"])
    back = read_pupil_file(to_csv_bytes(required_only))
    assert list(back.columns) == list(FRAME.columns)
    assert back["ethnicity"].isna().all() and back["eal"].isna().all()
