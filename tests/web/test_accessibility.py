"""Accessibility (Public Sector Bodies Accessibility Regulations: WCAG 2.2 AA): axe-core runs in headless
Chromium on every role's pages and any serious or critical violation fails the test.

axe-core is vendored (tests/web/vendor/axe.min.js, from npm) and injected by Playwright, never loaded
from the network; the browser context bypasses the pages' CSP only to inject it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from riskengine.web.pupils import refs_of
from tests.web import test_browser

base_url = test_browser.base_url  # the served app and the browser, shared with the other browser tests
browser = test_browser.browser
sign_in = test_browser.sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
SERIOUS = ("serious", "critical")


@pytest.fixture
def axe_page(browser):
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def violations(page) -> list[dict]:
    """Serious and critical WCAG 2.2 AA violations on the page as loaded."""
    page.add_script_tag(content=AXE)
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_22_AA
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


@pytest.fixture(scope="module")
def report(app):
    """An evaluation report with fairness tables, so the evaluator pages show what they show in use."""
    folder = app.state.reports_dir / "run-a11y"
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text(
        "<html lang='en'><head><title>Report</title></head><body><h1>Report</h1></body></html>"
    )
    (folder / "report.json").write_text(json.dumps({"headline": {"rules_roc_auc": 0.8}}))
    groups = pd.DataFrame(
        {
            "attribute": ["sex"] * 2 + ["ethnicity"] * 7,
            "group": ["F", "M", "White", "Mixed", "Asian", "Black", "Chinese", "Other", "Unclassified"],
            "n": [120, 131, 180, 20, 25, 14, 11, 12, 13],
            "flag_rate": [0.11, 0.12, 0.1, 0.13, 0.09, 0.14, 0.1, 0.12, 0.11],
        }
    )
    # wide enough to scroll sideways on a laptop, as the real fairness tables do
    wide = groups.assign(**{f"measure_{i}_with_a_long_name": 0.5 + i / 100 for i in range(24)})
    for name in ("audit_groups.csv", "audit_disparities.csv"):
        wide.to_csv(folder / "tables" / name, index=False)
    return folder


def pages_of(role: str, ref: str) -> list[str]:
    return {
        "school_a": ["/school", "/caseload", f"/pupils/{ref}", "/account", "/account/totp"],
        "adviser": ["/caseload", "/caseload?all_pupils=1&not_reviewed=1", f"/pupils/{ref}", "/school"],
        "evaluator": ["/evaluator", "/evaluator/fairness", "/evaluator/impact", "/evaluator/full"],
        "admin": [
            "/caseload",
            "/admin/audit",
            "/admin/audit?since=31/01/2027",  # a filter that is not a date: the error summary
            "/admin/conflicts",
            "/admin/users",
            "/evaluator",
            "/evaluator/fairness",
            "/account",
        ],
    }[role]


def open_details(page) -> None:
    """Open every "detail on demand", so what it holds is checked too."""
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")


@pytest.mark.parametrize("role", ["school_a", "adviser", "evaluator", "admin"])
def test_every_page_of_each_role_has_no_serious_accessibility_violation(
    axe_page,
    base_url,
    users,
    store,
    pupil_terms,
    schools,
    report,
    role,
):
    upn = pupil_terms.loc[
        (pupil_terms["school_urn"] == schools[0]) & (pupil_terms["academic_year"] == "2026/27"), "upn"
    ].iloc[0]
    ref = refs_of(store, [upn]).iloc[0]
    sign_in(axe_page, base_url, users[role])
    found = {}
    for path in pages_of(role, ref):
        axe_page.goto(f"{base_url}{path}")
        open_details(axe_page)
        if problems := violations(axe_page):
            found[path] = problems
    assert not found, json.dumps(found, indent=1)


def test_failed_forms_and_upload_reports_have_no_serious_accessibility_violation(
    axe_page, base_url, users, pupil_terms, schools, tmp_path
):
    """Each form as it comes back with an error summary (and what was typed), and an upload's report."""
    found = {}

    def check(name: str) -> None:
        if problems := violations(axe_page):
            found[name] = problems

    page = axe_page
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", users["school_a"])
    page.fill("input[name=password]", "not the password")
    page.click("main button[type=submit]")
    assert page.input_value("input[name=email]") == users["school_a"]
    check("sign-in refused")
    sign_in(page, base_url, users["school_a"])
    path = test_browser.term_file(pupil_terms, schools[0], tmp_path, "a11y.csv", term="autumn")
    page.fill("input[name=academic_year]", "2026")
    page.set_input_files("input[name=file]", path)
    page.click("form[action='/school/upload'] button[type=submit]")
    assert "There is a problem" in page.inner_text(".govuk-error-summary")
    assert page.input_value("input[name=academic_year]") == "2026"
    check("upload refused")
    frame = pd.read_csv(path, dtype=str)
    frame.loc[frame.index[0], "upn"] = "NOT-A-UPN"
    frame.to_csv(path, index=False)
    page.fill("input[name=academic_year]", "2026/27")
    page.set_input_files("input[name=file]", path)
    page.click("form[action='/school/upload'] button[type=submit]")
    page.wait_for_selector("#upload-status:has-text('rejected')", timeout=60_000)
    check("upload report")
    page.goto(f"{base_url}/account/totp")
    page.fill("input[name=code]", "000000")
    page.click("main button[type=submit]")
    check("authentication app refused")
    page.context.clear_cookies()
    sign_in(page, base_url, users["admin"])
    page.goto(f"{base_url}/admin/users")
    form = page.locator("form[action='/admin/users/schools']").first
    form.locator("input[name=schools]").fill("12")
    form.get_by_role("button").click()
    assert page.locator("input.govuk-input--error").input_value() == "12"
    check("schools refused")
    assert not found, json.dumps(found, indent=1)


def test_the_sign_in_and_error_pages_have_no_serious_accessibility_violation(axe_page, base_url):
    found = {}
    for path in ("/login", "/no-such-page"):
        axe_page.goto(f"{base_url}{path}")
        if problems := violations(axe_page):
            found[path] = problems
    assert not found, json.dumps(found, indent=1)


def test_the_check_finds_a_violation_when_there_is_one(axe_page):
    axe_page.set_content("<html><body><img src='chart.png'><button></button></body></html>")
    assert {v["id"] for v in violations(axe_page)} >= {"image-alt", "button-name"}
