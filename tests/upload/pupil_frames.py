"""Generated pupils for the upload and store tests: valid canonical frames, their files, and a hypothesis
strategy. No real pupil data anywhere."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from riskengine.spec import upload as spec
from riskengine.spec.upn import with_check_letter

LA_NUMBERS = (343, 201, 302, 380, 936)
NEEDS = tuple(spec.SEN_PRIMARY_NEED)
ETHNICITIES = tuple(spec.ETHNICITY_MAJOR_GROUP)


def make_upns(n: int, seed: int = 0, offset: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    la = rng.choice(LA_NUMBERS, n)
    serial = np.arange(offset, offset + n)
    return [with_check_letter(f"{a}{s:09d}") for a, s in zip(la, serial, strict=True)]


def valid_pupils(
    n: int,
    seed: int = 0,
    school_urn: str = "123456",
    academic_year: str = "2024/25",
    term: str = "autumn",
    upns: list[str] | None = None,
) -> pd.DataFrame:
    """A valid canonical pupil-terms frame of `n` pupils, with some blanks (unknowns) in risk factors."""
    rng = np.random.default_rng(seed)
    possible = rng.integers(100, 150, n)
    authorised = rng.integers(0, 20, n)
    unauthorised = np.minimum(rng.integers(0, 30, n), possible - authorised)
    sen = rng.choice(list(spec.SEN_PROVISION), n, p=[0.8, 0.15, 0.05])
    need = np.where(sen == "N", None, rng.choice(NEEDS, n))
    frame = pd.DataFrame(
        {
            "upn": upns if upns is not None else make_upns(n, seed),
            "school_urn": school_urn,
            "academic_year": academic_year,
            "term": term,
            "ncyear": rng.integers(7, 12, n),
            "sessions_possible": possible,
            "sessions_authorised_absence": authorised,
            "sessions_unauthorised_absence": unauthorised,
            "suspensions": rng.integers(0, 3, n),
            "suspension_sessions": rng.integers(0, 6, n),
            "permanent_exclusion": rng.random(n) < 0.01,
            "sen_provision": sen,
            "sen_primary_need": need,
            "looked_after": rng.random(n) < 0.02,
            "child_in_need": rng.random(n) < 0.05,
            "fsm_eligible": rng.random(n) < 0.25,
            "eal": rng.random(n) < 0.15,
            "young_carer": rng.random(n) < 0.03,
            "youth_justice": rng.random(n) < 0.01,
            "alternative_provision": rng.random(n) < 0.02,
            "school_moves": rng.integers(0, 4, n),
            "ks2_reading_scaled": rng.integers(80, 121, n),
            "ks2_maths_scaled": rng.integers(80, 121, n),
            "sex": rng.choice(list(spec.SEX), n),
            "ethnicity": rng.choice(ETHNICITIES, n),
        }
    ).astype(spec.canonical_dtypes())
    # Unknowns: blank risk factors must survive as <NA>, never 0.
    for column in ("child_in_need", "eal", "ks2_reading_scaled", "sessions_unauthorised_absence"):
        frame.loc[rng.random(n) < 0.1, column] = pd.NA
    return frame


@dataclass(frozen=True)
class Spelling:
    """How a school's software spells values: flag tokens, padding round cells, header and code case."""

    yes: str = "Y"
    no: str = "N"
    pad: str = ""
    shout_headers: bool = False
    lower_codes: bool = False


def to_text_frame(frame: pd.DataFrame, spelling: Spelling = Spelling()) -> pd.DataFrame:
    """The frame as a school would write it: flags as tokens, blanks for unknowns."""
    text = frame.astype("string")
    for column in frame.columns.intersection(spec.BOOL_COLUMNS):
        text[column] = frame[column].map({True: spelling.yes, False: spelling.no}).astype("string")
    if spelling.lower_codes:
        for column in frame.columns.intersection(["sen_provision", "sex", "ethnicity"]):
            text[column] = text[column].str.lower()
    text = (spelling.pad + text + spelling.pad).where(text.notna()) if spelling.pad else text
    if spelling.shout_headers:
        text.columns = [f" {c.upper()} " for c in text.columns]
    return text.fillna("")


def to_csv_bytes(
    frame: pd.DataFrame,
    sep: str = ",",
    encoding: str = "utf-8",
    bom: bool = False,
    spelling: Spelling = Spelling(),
) -> bytes:
    buffer = io.StringIO()
    to_text_frame(frame, spelling).to_csv(buffer, index=False, sep=sep, lineterminator="\r\n")
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode(encoding)


def to_xlsx_bytes(frame: pd.DataFrame, spelling: Spelling = Spelling()) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    text = to_text_frame(frame, spelling)
    sheet.append(list(text.columns))
    for row in text.itertuples(index=False):
        sheet.append([int(v) if v.isdigit() else (v or None) for v in row])  # numbers as Excel numbers
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@st.composite
def pupil_frames(draw: st.DrawFn, max_size: int = 30) -> pd.DataFrame:
    """Any valid canonical frame for one school's term (hypothesis drives sizes, codes and blanks)."""
    n = draw(st.integers(1, max_size))
    seed = draw(st.integers(0, 2**32 - 1))
    frame = valid_pupils(n, seed=seed)
    blanks = draw(st.sets(st.sampled_from(spec.OPTIONAL_COLUMNS + spec.COUNT_COLUMNS), max_size=6))
    for column in blanks:
        frame.loc[draw(st.lists(st.integers(0, n - 1), max_size=n)), column] = pd.NA
    frame = frame.assign(sen_primary_need=frame["sen_primary_need"].where(frame["sen_provision"] != "N"))
    return frame


spellings = st.builds(
    Spelling,
    yes=st.sampled_from(["Y", "y", "Yes", "YES", "1", "true", "TRUE"]),
    no=st.sampled_from(["N", "n", "No", "no", "0", "false", "False"]),
    pad=st.sampled_from(["", " ", "\u00a0"]),
    shout_headers=st.booleans(),
    lower_codes=st.booleans(),
)
