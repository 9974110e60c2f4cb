"""Accounts: deactivating a user or resetting a password ends every session at once, users sign out
everywhere, the admin's users page and the `riskengine users` commands change accounts, admins must use an
authentication app, and sign-in throttling holds under parallel attempts and against spraying."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from riskengine.cli import app as cli
from riskengine.web import audit
from riskengine.web.accounts import LoginThrottled, add_user, authenticate
from riskengine.web.limits import load_limits
from riskengine.web.tables import audit_log, login_throttle
from riskengine.web.tables import users as users_table
from tests.store.stores import _pg_store
from tests.web.conftest import PASSWORD, csrf_of, login_csrf, sign_in, with_totp

WRONG = "not the password at all"


def bearer(app, email: str, password: str = PASSWORD) -> dict[str, str]:
    token = (
        TestClient(app).post("/api/v1/session", json={"email": email, "password": password}).json()["token"]
    )
    return {"Authorization": f"Bearer {token}"}


def signed_out(client: TestClient) -> bool:
    return client.get("/school", follow_redirects=False).status_code == 303


def test_deactivation_ends_every_session_at_once(app, store, clients, schools):
    email = "leaver@school.example.org"
    add_user(store, email, PASSWORD, "school", [schools[0]])
    browser, other_browser = sign_in(app, email), sign_in(app, email)
    token = bearer(app, email)
    api = TestClient(app)
    assert api.get("/api/v1/me", headers=token).status_code == 200
    admin = clients["admin"]
    page = admin.post(
        "/admin/users/deactivate", data={"email": email, "csrf_token": csrf_of(admin, "/admin/users")}
    )
    assert page.status_code == 200 and "deactivated and signed out everywhere" in page.text
    assert signed_out(browser) and signed_out(other_browser)
    assert api.get("/api/v1/me", headers=token).status_code == 401
    again = TestClient(app).post("/api/v1/session", json={"email": email, "password": PASSWORD})
    assert again.status_code == 401


def test_a_password_reset_on_the_users_page_ends_sessions_and_the_new_one_works(app, store, clients, schools):
    email = "forgetful@school.example.org"
    add_user(store, email, PASSWORD, "school", [schools[1]])
    browser = sign_in(app, email)
    admin = clients["admin"]
    page = admin.post(
        "/admin/users/reset-password", data={"email": email, "csrf_token": csrf_of(admin, "/admin/users")}
    )
    shown = re.sub(r"<[^>]+>", "", re.search(r'id="new-password">(.*?)</p>', page.text, re.S).group(1))
    new_password = re.search(r"shown only now: (\S+)\. ", shown).group(1)
    assert signed_out(browser)
    assert not signed_out(sign_in(app, email, new_password))


def test_sign_out_everywhere(app, store, schools):
    email = "careful@school.example.org"
    add_user(store, email, PASSWORD, "school", [schools[0]])
    here, there = sign_in(app, email), sign_in(app, email)
    token = bearer(app, email)
    response = here.post(
        "/account/sign-out-everywhere", data={"csrf_token": csrf_of(here, "/account")}, follow_redirects=False
    )
    assert response.status_code == 303 and signed_out(here) and signed_out(there)
    assert TestClient(app).get("/api/v1/me", headers=token).status_code == 401


def test_set_schools_on_the_users_page_changes_what_an_adviser_sees(app, store, clients, schools):
    email = "moving@example.org"
    add_user(store, email, PASSWORD, "adviser", [schools[0]])
    adviser = sign_in(app, email)
    assert schools[1] not in adviser.get("/caseload?all_pupils=1").text
    admin = clients["admin"]
    bad = admin.post(
        "/admin/users/schools",
        data={"email": email, "schools": "12", "csrf_token": csrf_of(admin, "/admin/users")},
    )
    assert bad.status_code == 422 and "6 digits" in bad.text
    admin.post(
        "/admin/users/schools",
        data={"email": email, "schools": f"{schools[0]} {schools[1]}", "csrf_token": csrf_of(admin)},
    )
    assert schools[1] in adviser.get("/caseload?all_pupils=1").text
    assert clients["adviser"].get("/admin/users").status_code == 403


def test_users_commands(store, tmp_path):
    runner = CliRunner()
    url = str(store.engine.url)
    email = "cli-user@example.org"
    add_user(store, email, PASSWORD, "adviser", ["100001"])
    listed = runner.invoke(cli, ["users", "list", "--db", url])
    assert listed.exit_code == 0 and email in listed.output and "100001" in listed.output
    moved = runner.invoke(
        cli, ["users", "set-schools", email, "--school", "100002", "--school", "100003", "--db", url]
    )
    assert moved.exit_code == 0
    assert "100002 100003" in runner.invoke(cli, ["users", "list", "--db", url]).output
    wrong = runner.invoke(cli, ["users", "set-schools", email, "--school", "1", "--db", url])
    assert wrong.exit_code == 1 and "6 digits" in wrong.output
    reset = runner.invoke(
        cli,
        ["users", "reset-password", email, "--password-stdin", "--db", url],
        input="a new long password\n",
    )
    assert reset.exit_code == 0
    assert authenticate(store, email, "a new long password", "10.0.0.9") is not None
    assert runner.invoke(cli, ["users", "deactivate", email, "--db", url]).exit_code == 0
    assert "deactivated" in runner.invoke(cli, ["users", "list", "--db", url]).output
    assert authenticate(store, email, "a new long password", "10.0.0.9") is None
    missing = runner.invoke(cli, ["users", "deactivate", "nobody@example.org", "--db", url])
    assert missing.exit_code == 1 and "no user" in missing.output


def test_admins_must_set_up_an_authentication_app(app, store):
    email = "new-admin@example.org"
    add_user(store, email, PASSWORD, "admin")
    client = TestClient(app, base_url="https://testserver")
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": login_csrf(client)},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/account/totp"
    assert client.get("/caseload", follow_redirects=False).headers["location"] == "/account/totp"
    page = client.get("/account/totp").text
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    wrong = client.post("/account/totp", data={"secret": secret, "code": "000000", "csrf_token": token})
    assert wrong.status_code == 422
    done = client.post(
        "/account/totp",
        data={"secret": secret, "code": pyotp.TOTP(secret).now(), "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303 and client.get("/caseload").status_code == 200
    # From now on the code is part of signing in.
    fresh = TestClient(app)
    no_code = fresh.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": login_csrf(fresh)}
    )
    assert no_code.status_code == 401 and "6-digit code" in no_code.text
    next_code = pyotp.TOTP(secret).at(time.time(), counter_offset=1)  # the enrolment's code is used up
    api = fresh.post("/api/v1/session", json={"email": email, "password": PASSWORD, "code": next_code})
    assert api.status_code == 200


def test_an_authentication_code_signs_in_only_once(app, store):
    """A code seen over someone's shoulder (or replayed) is refused within its 30 seconds, and so is an
    earlier one: each code's time step must come after the last accepted one."""
    email = "once@example.org"
    add_user(store, email, PASSWORD, "admin")
    secret = with_totp(store, email)  # set up with the current code, which is now used

    def sign_in_with(code: str):
        client = TestClient(app, base_url="https://testserver")
        form = {"email": email, "password": PASSWORD, "csrf_token": login_csrf(client), "code": code}
        return client.post("/login", data=form, follow_redirects=False)

    code = pyotp.TOTP(secret).at(time.time(), counter_offset=1)  # one step of clock drift is allowed
    assert sign_in_with(code).status_code == 303
    again = sign_in_with(code)
    assert again.status_code == 401 and "6-digit code" in again.text
    assert sign_in_with(pyotp.TOTP(secret).now()).status_code == 401  # an earlier step: refused too
    audit.flush(store)
    with store.engine.connect() as connection:
        details = connection.execute(
            sa.select(audit_log.c.detail)
            .join(users_table, users_table.c.id == audit_log.c.user_id)
            .where(audit_log.c.action == "sign_in_failed", users_table.c.email == email)
        ).scalars()
        assert sum("already used" in (d or "") for d in details) == 2


def parallel_wrong_logins(store, email: str, n: int = 40) -> tuple[int, int]:
    """n wrong sign-ins at once from one address: (how many reached the password check, how many were
    throttled)."""

    def attempt(_):
        try:
            return authenticate(store, email, WRONG, "203.0.113.7")
        except LoginThrottled:
            return "throttled"

    with ThreadPoolExecutor(max_workers=n) as pool:
        outcomes = list(pool.map(attempt, range(n)))
    return outcomes.count(None), outcomes.count("throttled")


def test_the_throttle_holds_under_40_parallel_attempts(store):
    email = "target@example.org"
    add_user(store, email, PASSWORD, "evaluator")
    checked, throttled = parallel_wrong_logins(store, email)
    limit = load_limits().throttle.per_account_and_address
    assert checked == limit and throttled == 40 - limit


@pytest.mark.postgres
@pytest.mark.slow
def test_the_throttle_holds_under_40_parallel_attempts_on_postgresql():
    for pg in _pg_store():
        add_user(pg, "target@example.org", PASSWORD, "evaluator")
        checked, throttled = parallel_wrong_logins(pg, "target@example.org")
        audit.flush(pg)
        assert checked == load_limits().throttle.per_account_and_address and checked + throttled == 40


def test_spraying_one_password_across_accounts_is_capped_per_address(store):
    policy = load_limits().throttle
    outcomes = []
    for n in range(policy.per_address + 1):
        try:
            outcomes.append(authenticate(store, f"sprayed{n}@example.org", WRONG, "198.51.100.4"))
        except LoginThrottled:
            outcomes.append("throttled")
    assert outcomes[: policy.per_address] == [None] * policy.per_address and outcomes[-1] == "throttled"
    assert authenticate(store, "sprayed0@example.org", WRONG, "198.51.100.5") is None, "other addresses go on"


def test_the_per_account_cap_spans_addresses_and_expires(store):
    policy = load_limits().throttle
    email = "popular@example.org"
    add_user(store, email, PASSWORD, "evaluator")
    for n in range(policy.per_account):
        assert authenticate(store, email, WRONG, f"192.0.2.{n}") is None
    with pytest.raises(LoginThrottled):
        authenticate(store, email, PASSWORD, "192.0.2.250")  # even the right password, from a new address
    with store.engine.begin() as connection:  # an hour passes
        connection.execute(
            sa.update(login_throttle)
            .where(login_throttle.c.key == f"account:{email}")
            .values(window_start=time.time() - policy.per_account_minutes * 60 - 1)
        )
    assert authenticate(store, email, PASSWORD, "192.0.2.250") is not None


def test_every_sign_in_is_audited_unknown_emails_too(app, store, users):
    client = TestClient(app)
    client.post(
        "/login", data={"email": "nobody@example.org", "password": WRONG, "csrf_token": login_csrf(client)}
    )
    client.post(
        "/login", data={"email": users["school_b"], "password": WRONG, "csrf_token": login_csrf(client)}
    )
    sign_in(app, users["school_b"])
    audit.flush(store)
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(audit_log.c.user_id, audit_log.c.action, audit_log.c.detail)
            .where(audit_log.c.action.like("sign_in%"))
            .order_by(audit_log.c.id.desc())
            .limit(3)
        ).all()
    unknown, failed, ok = rows[2], rows[1], rows[0]
    assert (
        unknown.user_id is None
        and unknown.action == "sign_in_failed"
        and "nobody@example.org" in unknown.detail
    )
    assert failed.user_id is not None and failed.action == "sign_in_failed"
    assert ok.user_id == failed.user_id and ok.action == "sign_in"
