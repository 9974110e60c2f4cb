"""Fixtures for the web tests: a temporary store with generated pupils and two scoring runs, one user per
role, and in-process clients (FastAPI's TestClient) signed in as each of them."""

from __future__ import annotations

import base64
import hashlib
import re
import time
import warnings
from collections.abc import Iterator

import pandas as pd
import pytest

from riskengine.store import Store
from riskengine.web import create_app
from riskengine.web.accounts import add_user
from tests.web.seeding import seed_store

with warnings.catch_warnings():  # Starlette prefers httpx2 for its test client; httpx still works
    warnings.filterwarnings("ignore", message="Using `httpx`")
    from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"


def totp_secret(email: str) -> str:
    """The authentication-app secret the tests give an account: derived from the email, so every test
    module (pytest may import this conftest twice) computes the same one."""
    return base64.b32encode(hashlib.sha256(email.encode()).digest()[:20]).decode()


def with_totp(store: Store, email: str) -> str:
    """Set up an authentication app for an account, as /account/totp does; returns its secret."""
    import pyotp
    import sqlalchemy as sa

    from riskengine.web.accounts import enrol_totp
    from riskengine.web.tables import users as users_table

    secret = totp_secret(email)
    with store.engine.connect() as connection:
        user_id = connection.execute(
            sa.select(users_table.c.id).where(users_table.c.email == email)
        ).scalar_one()
    enrol_totp(store, user_id, secret, pyotp.TOTP(secret).now())
    return secret


def totp_code(email: str, store: Store | None = None) -> str:
    """The current code of the account's test authentication app (ignored for accounts without one).

    A code works once, and tests sign the same admin in several times within one 30-second step; given
    the store, the account's last accepted step is forgotten first, as the passing of time would."""
    import pyotp
    import sqlalchemy as sa

    from riskengine.web.tables import users as users_table

    if store is not None:
        with store.engine.begin() as connection:
            connection.execute(
                sa.update(users_table).where(users_table.c.email == email).values(totp_last_step=None)
            )
    return pyotp.TOTP(totp_secret(email)).now()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("web") / "web.db"
    store = Store.open(f"sqlite:///{path}")
    yield store
    store.close()


@pytest.fixture(scope="module")
def pupil_terms(store: Store) -> pd.DataFrame:
    return seed_store(store)


@pytest.fixture(scope="module")
def schools(pupil_terms: pd.DataFrame) -> list[str]:
    return sorted(pupil_terms["school_urn"].unique().tolist())


@pytest.fixture(scope="module")
def users(store: Store, schools: list[str]) -> dict[str, str]:
    """Role name -> email: a school manager and an adviser for the first school, a manager for the second."""
    accounts = {
        "admin": ("admin@example.org", "admin", []),
        "school_a": ("a@school.example.org", "school", [schools[0]]),
        "school_b": ("b@school.example.org", "school", [schools[1]]),
        "adviser": ("adviser@example.org", "adviser", [schools[0]]),
        "evaluator": ("evaluator@example.org", "evaluator", []),
    }
    for email, role, urns in accounts.values():
        add_user(store, email, PASSWORD, role, urns)
        if role == "admin":
            with_totp(store, email)
    return {name: email for name, (email, _, _) in accounts.items()}


@pytest.fixture(scope="module")
def app(store: Store, users: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    return create_app(store, reports_dir=tmp_path_factory.mktemp("reports"))


def login_csrf(client: TestClient) -> str:
    page = client.get("/login")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def sign_in(app, email: str, password: str = PASSWORD) -> TestClient:
    client = TestClient(app, base_url="https://testserver")
    response = client.post(
        "/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": login_csrf(client),
            "code": totp_code(email, app.state.store),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def table_rows(html: str, row_class: str) -> list[list[str]]:
    """The text of each cell of the page's table rows of class `row_class` (tags inside cells dropped)."""
    rows = re.findall(rf'<tr class="[^"]*\b{row_class}\b[^"]*">(.*?)</tr>', html, re.S)
    cell = re.compile(r"<td[^>]*>(.*?)</td>", re.S)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in cell.findall(row)] for row in rows]


def csrf_of(client: TestClient, path: str = "/") -> str:
    """The session's CSRF token as a page's forms carry it."""
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


@pytest.fixture(scope="module")
def clients(app, users: dict[str, str]) -> dict[str, TestClient]:
    return {name: sign_in(app, email) for name, email in users.items()}


def finished_upload(client: TestClient, response, timeout: float = 120):
    """Follow an upload's 303 to its status page and reload it until it stops refreshing itself (the
    file is checked in a worker process); returns the final page."""
    assert response.status_code == 303, response.text
    url = response.headers["location"]
    deadline = time.monotonic() + timeout
    while True:
        page = client.get(url)
        if 'http-equiv="refresh"' not in page.text:
            return page
        assert time.monotonic() < deadline, "the upload was still being checked"
        time.sleep(0.2)


def finished_job(client: TestClient, accepted, headers=None, timeout: float = 120) -> dict:
    """Poll an API upload's status_url until its job is no longer queued or running."""
    assert accepted.status_code == 202, accepted.text
    url = accepted.json()["status_url"]
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(url, headers=headers).json()
        if body["state"] not in ("queued", "running"):
            return body
        assert time.monotonic() < deadline, "the upload was still being checked"
        time.sleep(0.2)
