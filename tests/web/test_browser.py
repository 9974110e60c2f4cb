"""End to end in headless Chromium (Debian's chromium, driven by Playwright): a school uploads a file and
sees it in its history, a bad file is reported and stores nothing, an adviser reviews a flag and sees the
review in the pupil's history.

`.ci/browser.sh` installs chromium; locally the tests skip with the reason when it is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import uvicorn

from riskengine.store import tables as st
from riskengine.web.accounts import add_user
from tests.web.conftest import PASSWORD, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = (
    os.environ.get("RISKENGINE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
#: Without the background-networking flags chromium's own connections are refused in a sandboxed CI.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: The store behind each served URL (sign_in forgets an admin's last TOTP step, as time passing would).
SERVED: dict = {}


@pytest.fixture(scope="module")
def base_url(app) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port for the duration of the module."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    SERVED[f"http://127.0.0.1:{port}"] = app.state.store
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (run .ci/browser.sh, or set RISKENGINE_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def sign_in(page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=code]", totp_code(email, SERVED[base_url]))
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def term_file(pupil_terms: pd.DataFrame, urn: str, tmp_path, name: str, term: str = "summer") -> str:
    rows = pupil_terms[
        (pupil_terms["school_urn"] == urn)
        & (pupil_terms["term"] == "spring")
        & (pupil_terms["academic_year"] == "2026/27")
    ].assign(term=term)
    path = tmp_path / name
    rows.to_csv(path, index=False)
    return str(path)


def stored_rows(store) -> tuple[int, int]:
    with store.engine.connect() as connection:
        return tuple(
            connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (st.pupil_terms, st.uploads)
        )


def test_school_uploads_a_file_and_sees_it_in_the_history(
    page, base_url, users, pupil_terms, schools, tmp_path
):
    sign_in(page, base_url, users["school_a"])
    assert page.url.endswith("/school")
    page.fill("input[name=academic_year]", "2026/27")
    page.select_option("select[name=term]", "summer")
    page.set_input_files(
        "input[name=file]", term_file(pupil_terms, schools[0], tmp_path, "summer-upload.csv")
    )
    page.click("form[action='/school/upload'] button[type=submit]")
    # The file is checked in a worker process; the status page refreshes itself until it is done.
    page.wait_for_selector("#upload-status:has-text('stored')", timeout=60_000)
    page.goto(f"{base_url}/school")
    assert "summer-upload.csv" in page.inner_text("#history")


def test_bad_upload_through_the_page_stores_nothing(
    page, base_url, users, store, pupil_terms, schools, tmp_path
):
    sign_in(page, base_url, users["school_a"])
    path = term_file(pupil_terms, schools[0], tmp_path, "bad-upload.csv", term="autumn")
    frame = pd.read_csv(path, dtype=str)
    frame.loc[frame.index[0], "upn"] = "NOT-A-UPN"
    frame.to_csv(path, index=False)
    before = stored_rows(store)
    page.fill("input[name=academic_year]", "2026/27")
    page.select_option("select[name=term]", "autumn")
    page.set_input_files("input[name=file]", path)
    page.click("form[action='/school/upload'] button[type=submit]")
    page.wait_for_selector("#upload-status:has-text('rejected')", timeout=60_000)
    assert "upn" in page.get_by_role("table", name="Errors (must be fixed)").inner_text()
    with page.expect_download() as download:
        page.click("text=Download the problems as CSV")
    assert "upn" in Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert stored_rows(store) == before


def test_adviser_reviews_a_flag_and_sees_it_in_the_history(page, base_url, users):
    sign_in(page, base_url, users["adviser"])
    assert page.url.endswith("/caseload")
    page.click("table.caseload tbody tr:first-child a")
    page.check("input[name=decision][value=dismiss]")
    page.fill("textarea[name=reason]", "Known to the pastoral team; attendance now recovering")
    page.click("form[action$='/reviews'] button[type=submit]")
    history = page.inner_text("#reviews table")
    assert "dismiss" in history and "attendance now recovering" in history
    page.fill("input[name=kind]", "Attendance plan")
    page.click("form[action$='/interventions'] button[type=submit]")
    assert "Attendance plan" in page.inner_text("#interventions table")
    page.goto(f"{base_url}/caseload")
    assert "dismiss" in page.inner_text("table.caseload tbody tr:first-child")


# --- issue 12: pages to work from ----------------------------------------------------------------------


def test_adviser_searches_by_upn_and_exports_the_caseload(page, base_url, users, pupil_terms, schools):
    sign_in(page, base_url, users["adviser"])
    page.check("input[name=all_pupils]")
    page.click("form.filters button[type=submit]")
    upn = page.inner_text("table.caseload tbody tr:nth-child(2) td:first-child a").strip()
    page.fill("input[name=q]", upn[-6:].lower())
    page.click("form.filters button[type=submit]")
    rows = page.locator("table.caseload tbody tr")
    assert rows.count() >= 1 and all(upn[-6:] in rows.nth(i).inner_text() for i in range(rows.count()))
    assert page.input_value("input[name=q]") == upn[-6:].lower(), "the search box keeps what was typed"
    with page.expect_download() as download:
        page.click("text=Download these pupils as a spreadsheet (XLSX)")
    import io

    from openpyxl import load_workbook

    assert download.value.suggested_filename == "caseload.xlsx"
    sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    assert sheet.max_row == rows.count() + 1 and sheet.cell(2, 1).value in page.inner_text("table.caseload")


def test_a_failed_form_keeps_its_text_in_the_browser(page, base_url, users):
    sign_in(page, base_url, users["adviser"])
    page.click("table.caseload tbody tr:first-child a")
    page.fill("input[name=kind]", "Attendance panel referral")
    page.fill("input[name=started_on]", "2027-03-01")
    page.fill("input[name=ended_on]", "2027-02-01")
    page.fill("textarea[name=note]", "Discussed with the head of year")
    page.click("form[action$='/interventions'] button[type=submit]")
    assert "There is a problem" in page.inner_text(".govuk-error-summary")
    assert page.input_value("input[name=kind]") == "Attendance panel referral"
    assert page.input_value("textarea[name=note]") == "Discussed with the head of year"
    assert page.input_value("input[name=ended_on]") == "2027-02-01"


def test_every_page_fits_a_390_pixel_phone(browser, base_url, users):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    wide = {}

    def check(where: str) -> None:
        if (width := page.evaluate("document.documentElement.scrollWidth")) > 390:
            wide[where] = width

    try:
        check("/login")
        for role, paths in (
            ("adviser", ["/caseload?all_pupils=1"]),
            ("school_a", ["/school", "/account"]),
            ("admin", ["/admin/users", "/admin/audit", "/admin/conflicts"]),
            ("evaluator", ["/evaluator", "/evaluator/fairness", "/evaluator/impact", "/evaluator/full"]),
        ):
            sign_in(page, base_url, users[role])
            for path in paths:
                page.goto(f"{base_url}{path}")
                check(path)
            if role == "adviser":
                page.click("table.caseload tbody tr:first-child a")
                check("the pupil page")
            page.context.clear_cookies()
    finally:
        context.close()
    assert not wide, f"wider than 390 px: {wide}"


def test_admin_deactivates_a_user_on_the_users_page_and_their_session_ends(
    browser, base_url, users, store, schools
):
    email = "browser-leaver@school.example.org"
    add_user(store, email, PASSWORD, "school", [schools[1]])
    leaver = browser.new_context().new_page()
    sign_in(leaver, base_url, email)
    assert leaver.url.endswith("/school")
    admin = browser.new_context().new_page()
    sign_in(admin, base_url, users["admin"])
    admin.click("header nav >> text=Users")

    def cell(column: str):
        table = admin.get_by_role("table", name="Users and what you can change")
        index = table.locator("thead th").all_inner_texts().index(column)
        return table.get_by_role("row").filter(has_text=email).locator("th, td").nth(index)

    def text(column: str) -> str:
        return cell(column).inner_text().strip()

    assert text("Status") == "active" and text("Sessions") == "1"
    cell("Change").get_by_role("button", name=f"Deactivate: {email}").click()
    assert "deactivated and signed out everywhere" in admin.inner_text("#users-done")
    assert text("Status") == "deactivated" and text("Sessions") == "0"
    row = admin.get_by_role("row").filter(has_text=email)
    leaver.reload()
    assert leaver.url.endswith("/login"), "the leaver's open session has ended"
    row.get_by_role("button", name=f"Reset password: {email}").click()
    assert len(admin.inner_text("#new-password code")) >= 12
    admin.context.close()
    leaver.context.close()
