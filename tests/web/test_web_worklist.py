"""Pages to work from: the "not reviewed" filter, the XLSX export (formula-safe), and forms that keep what
was typed when they fail."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from riskengine.web.export import caseload_xlsx
from tests.web.conftest import TestClient, csrf_of, login_csrf


def first_ref(client) -> str:
    rows = client.get("/api/v1/caseload", params={"flagged_only": False, "per_page": 5}).json()["pupils"]
    return rows[0]["ref"]


def test_not_reviewed_filter_leaves_out_reviewed_pupils(clients):
    adviser = clients["adviser"]
    params = {"flagged_only": False, "per_page": 500}
    before = adviser.get("/api/v1/caseload", params={**params, "not_reviewed": True}).json()
    ref = before["pupils"][0]["ref"]
    token = csrf_of(adviser, "/caseload")
    adviser.post(f"/pupils/{ref}/reviews", data={"decision": "confirm", "csrf_token": token})
    after = adviser.get("/api/v1/caseload", params={**params, "not_reviewed": True}).json()
    assert after["total"] == before["total"] - 1 and ref not in {r["ref"] for r in after["pupils"]}
    page = adviser.get("/caseload", params={"all_pupils": "1", "not_reviewed": "1"})
    ticked = re.search(r'<input[^>]*name="not_reviewed"[^>]*>', page.text).group(0)
    assert f"/pupils/{ref}" not in page.text and re.search(r"\bchecked\b", ticked), "the box stays ticked"


def test_caseload_export_is_the_filtered_caseload_as_xlsx(clients):
    adviser = clients["adviser"]
    total = adviser.get("/api/v1/caseload", params={"flagged_only": False}).json()["total"]
    response = adviser.get("/caseload.xlsx", params={"all_pupils": "1"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.max_row == total + 1 and sheet.cell(1, 1).value == "UPN"
    assert clients["evaluator"].get("/caseload.xlsx").status_code == 403


def test_exported_text_that_looks_like_a_formula_is_neutralised():
    row = {"upn": "A123", "forename": '=HYPERLINK("http://evil")', "surname": "@SUM(A1)", "top_reasons": []}
    sheet = load_workbook(io.BytesIO(caseload_xlsx([row], with_identity=True))).active
    values = [cell.value for cell in sheet[2]]
    assert '\'=HYPERLINK("http://evil")' in values and "'@SUM(A1)" in values
    assert all(cell.data_type != "f" for cell in sheet[2])


def test_a_failed_form_keeps_what_was_typed(clients):
    adviser = clients["adviser"]
    ref = first_ref(adviser)
    token = csrf_of(adviser, "/caseload")
    typed = "Mentoring"  # one of the shipped intervention types, so the dates are what fails
    response = adviser.post(
        f"/pupils/{ref}/interventions",
        data={
            "kind": typed,
            "started_on": "2027-02-01",
            "ended_on": "2027-01-01",
            "note": "Keep this note",
            "csrf_token": token,
        },
    )
    assert response.status_code == 422
    assert "There is a problem" in response.text and "cannot end before it starts" in response.text
    assert f'value="{typed}"' in response.text and "Keep this note</textarea>" in response.text
    assert 'value="2027-01-01"' in response.text
    review = adviser.post(
        f"/pupils/{ref}/reviews",
        data={"decision": "dismiss", "reason": "", "shared_with_school": "1", "csrf_token": token},
    )
    assert review.status_code == 422 and "needs a reason" in review.text
    kept = re.findall(r'<input class="govuk-(?:radios|checkboxes)__input"[^>]*>', review.text)
    checked = {re.search(r'name="(\w+)"', tag).group(1) + "=" + re.search(r'value="(\w+)"', tag).group(1)
               for tag in kept if tag.endswith(" checked>")}  # fmt: skip
    assert checked == {"decision=dismiss", "shared_with_school=1"}, "the choices made are kept"


def test_review_decisions_are_found_for_a_caseload_larger_than_one_query(store, clients):
    from riskengine.web.reviews import latest_decisions

    adviser = clients["adviser"]
    row = adviser.get("/api/v1/caseload", params={"flagged_only": False}).json()["pupils"][-1]
    token = csrf_of(adviser, "/caseload")
    adviser.post(f"/pupils/{row['ref']}/reviews", data={"decision": "refer", "csrf_token": token})
    many = [f"X{i:012d}" for i in range(70_000)] + [row["upn"]]  # past any database's bound parameters
    assert latest_decisions(store, many) == {row["upn"]: "refer"}


def field(page: str, field_id: str) -> str:
    """The form field with this id, as the page shows it."""
    return re.search(rf'<(?:input|select)[^>]*id="{field_id}"[^>]*>', page).group(0)


def test_the_other_failed_forms_link_to_the_field_and_keep_what_was_typed(app, clients, schools):
    admin, school = clients["admin"], clients["school_a"]
    sent = {"school_urn": "12345", "academic_year": "2026/27", "term": "summer"}
    page = admin.post(
        "/school/upload",
        data={**sent, "csrf_token": csrf_of(admin, "/school")},
        files={"file": ("t.csv", b"upn\n", "text/csv")},
    )
    assert page.status_code == 422 and 'href="#school_urn">School URN should be 6 digits' in page.text
    assert 'value="12345"' in field(page.text, "school_urn") and 'value="summer" selected' in page.text
    page = school.post(
        "/school/upload",
        data={"academic_year": "2026", "term": "spring", "csrf_token": csrf_of(school, "/school")},
        files={"file": ("t.csv", b"upn\n", "text/csv")},
    )
    assert 'href="#academic_year">Academic year should look like' in page.text
    assert 'value="2026"' in field(page.text, "academic_year")
    page = school.post("/school/upload", data={"academic_year": "2026/27", "csrf_token": csrf_of(school)})
    assert page.status_code == 422 and 'href="#file">Choose a file' in page.text
    page = admin.get("/admin/audit", params={"since": "31/01/2027"}).text
    assert 'href="#since">Enter a real date' in page and "matching these filters" not in page
    fresh = TestClient(app)
    page = fresh.post(
        "/login", data={"email": "typed@example.org", "password": "wrong", "csrf_token": login_csrf(fresh)}
    )
    assert page.status_code == 401 and 'value="typed@example.org"' in field(page.text, "email")
    assert 'type="password"' in field(page.text, "password") and "value=" not in field(page.text, "password")


def test_caseload_rows_show_a_newly_loaded_school_name_at_once(clients, store, schools, tmp_path):
    """The rows' HTML is kept between views; loading a schools list still renames them on the next."""
    from riskengine.enrolment import load_school_list

    adviser = clients["adviser"]
    cell = '<td data-label="School">Riverside Academy<br>'
    assert cell not in adviser.get("/caseload").text
    listed = tmp_path / "schools.csv"
    listed.write_text(f"urn,name\n{schools[0]},Riverside Academy\n")
    load_school_list(store, listed)
    try:
        assert cell in adviser.get("/caseload").text
    finally:
        listed.write_text("urn,name\n")
        load_school_list(store, listed)
    assert cell not in adviser.get("/caseload").text
