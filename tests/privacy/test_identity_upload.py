"""Identity columns in the upload: dates of birth checked against the NC year, the latest value kept per
pupil and school, and shown only to the pupil's school and its advisers."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from riskengine.store import tables as st
from riskengine.upload import read_pupil_file, upload_bytes
from riskengine.web.pupils import refs_of
from tests.privacy.identity_files import identity_for

YEAR, TERM = "2026/27", "spring"


def term_rows(pupil_terms: pd.DataFrame, urn: str) -> pd.DataFrame:
    at = (pupil_terms["school_urn"] == urn) & (pupil_terms["academic_year"] == YEAR)
    rows = pupil_terms[at & (pupil_terms["term"] == TERM)].reset_index(drop=True)
    return pd.concat([rows, identity_for(rows)], axis=1)


def upload(store, rows: pd.DataFrame, urn: str):
    return upload_bytes(store, rows.to_csv(index=False).encode(), "term.csv", urn, YEAR, TERM)


def test_a_date_of_birth_must_fit_the_nc_year(store, pupil_terms, schools):
    rows = term_rows(pupil_terms, schools[0])
    rows.loc[0, "date_of_birth"] = "01/09/1990"
    rows.loc[1, "date_of_birth"] = "31/02/2012"
    rows.loc[2, "date_of_birth"] = "2012-13-01"
    result = upload(store, rows, schools[0])
    assert result.status == "rejected"
    dob = result.errors[result.errors["column"] == "date_of_birth"]
    assert dob["row"].tolist() == [2, 3, 4], "file rows: the header is row 1"
    assert "makes the pupil" in dob["message"].iloc[0] and "Year" in dob["message"].iloc[0]
    assert dob["message"].iloc[1:].str.contains("should be a date").all()
    frame = read_pupil_file(term_rows(pupil_terms, schools[0]).to_csv(index=False).encode())
    assert not {"forename", "surname", "date_of_birth", "tutor_group"} & set(frame.columns)


def test_the_latest_identity_is_kept_and_shown_only_to_the_school_and_its_adviser(
    store, pupil_terms, schools, clients
):
    rows = term_rows(pupil_terms, schools[0])
    assert upload(store, rows, schools[0]).ok
    scored = rows[rows["ncyear"] >= 9].index[0]
    upn = rows.loc[scored, "upn"]
    rows.loc[scored, "forename"] = "Renamedforename"
    rows.loc[scored, "tutor_group"] = None  # blank: keeps the tutor group already held
    rows = rows.assign(upn=rows["upn"])
    assert upload(store, rows.assign(sessions_possible=rows["sessions_possible"]), schools[0]).ok
    with store.engine.connect() as connection:
        held = connection.execute(sa.select(st.pupil_identity).where(st.pupil_identity.c.upn == upn)).one()
    assert held.forename == "Renamedforename" and held.tutor_group is not None
    ref = refs_of(store, [upn]).iloc[0]
    for role in ("school_a", "adviser"):
        page = clients[role].get(f"/pupils/{ref}")
        assert "Renamedforename" in page.text, role
    assert "Renamedforename" not in clients["admin"].get(f"/pupils/{ref}").text
    assert "Renamedforename" not in clients["school_b"].get(f"/pupils/{ref}").text
    found = clients["adviser"].get("/caseload", params={"q": "renamedFORENAME", "all_pupils": "1"})
    assert upn in found.text and found.text.count("/pupils/") == 1
    by_upn = clients["adviser"].get("/api/v1/caseload", params={"q": upn.lower(), "flagged_only": False})
    assert [r["upn"] for r in by_upn.json()["pupils"]] == [upn]


@pytest.mark.parametrize("value", ['=HYPERLINK("http://x")', "+1-2", "@SUM(A1)"])
def test_identity_cells_that_look_like_formulas_are_refused(store, pupil_terms, schools, value):
    rows = term_rows(pupil_terms, schools[0])
    rows.loc[0, "surname"] = value
    result = upload(store, rows, schools[0])
    assert result.status == "rejected" and "surname" in set(result.errors["column"])
