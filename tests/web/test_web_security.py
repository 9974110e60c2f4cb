"""Sign-in, sessions, throttling and CSRF: a form without the session's token is refused, changing nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from riskengine.web import tables
from riskengine.web.accounts import MAX_FAILURES, add_user
from riskengine.web.tables import reviews
from tests.web.conftest import PASSWORD, csrf_of, login_csrf, sign_in


def count(store, table) -> int:
    with store.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_passwords_are_stored_as_argon2_hashes(store, users):
    with store.engine.connect() as connection:
        hashes = connection.execute(sa.select(tables.users.c.password_hash)).scalars().all()
    assert hashes and all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


def test_add_user_checks_roles_and_schools(store):
    with pytest.raises(ValueError, match="exactly one school"):
        add_user(store, "x@example.org", PASSWORD, "school", [])
    with pytest.raises(ValueError, match="role"):
        add_user(store, "x@example.org", PASSWORD, "superuser")
    with pytest.raises(ValueError, match="12 characters"):
        add_user(store, "x@example.org", "short", "admin")


def test_session_cookie_is_httponly_samesite_and_secure_over_https(app, users):
    client = TestClient(app, base_url="https://testserver")
    response = client.post(
        "/login",
        data={"email": users["school_a"], "password": PASSWORD, "csrf_token": login_csrf(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = (
        response.cookies.jar
        and next(
            h for h in response.headers.get_list("set-cookie") if h.startswith("riskengine_session=")
        ).lower()
    )
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie


def test_wrong_password_then_throttled(app, store):
    email = add_user(store, "guessed@example.org", PASSWORD, "evaluator") and "guessed@example.org"
    client = TestClient(app)
    for _ in range(MAX_FAILURES):
        bad = client.post(
            "/login", data={"email": email, "password": "wrong password!", "csrf_token": login_csrf(client)}
        )
        assert bad.status_code == 401
    right = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": login_csrf(client)},
        follow_redirects=False,
    )
    assert right.status_code == 429, "even the right password waits once the limit is reached"
    api = client.post("/api/v1/session", json={"email": email, "password": PASSWORD})
    assert api.status_code == 429


def test_login_form_without_token_is_refused(app, users):
    client = TestClient(app)
    client.get("/login")
    response = client.post("/login", data={"email": users["admin"], "password": PASSWORD})
    assert response.status_code == 403 and "riskengine_session" not in response.headers.get("set-cookie", "")


def test_forms_without_csrf_token_are_refused_and_change_nothing(clients, store, pupil_terms, schools):
    from riskengine.web.pupils import refs_of

    ref = refs_of(store, [pupil_terms.loc[pupil_terms["school_urn"] == schools[0], "upn"].iloc[0]]).iloc[0]
    adviser = clients["adviser"]
    before = count(store, reviews)
    for token in (None, "", "forged-token"):
        data = {"decision": "confirm"} | ({} if token is None else {"csrf_token": token})
        assert adviser.post(f"/pupils/{ref}/reviews", data=data).status_code == 403
        assert (
            adviser.post(
                f"/pupils/{ref}/interventions",
                data={"kind": "mentoring", "started_on": "2027-01-10"}
                | ({} if token is None else {"csrf_token": token}),
            ).status_code
            == 403
        )
    upload = clients["school_a"].post(
        "/school/upload",
        data={"academic_year": "2026/27", "term": "summer"},
        files={"file": ("x.csv", b"upn\n", "text/csv")},
    )
    assert upload.status_code == 403
    assert adviser.post("/logout").status_code == 403
    assert adviser.get("/caseload").status_code == 200, "still signed in"
    # The API refuses a cookie-authenticated write without the header, and a bearer token needs none.
    assert adviser.post(f"/api/v1/pupils/{ref}/reviews", json={"decision": "confirm"}).status_code == 403
    assert count(store, reviews) == before
    token = csrf_of(adviser, "/caseload")
    ok = adviser.post(
        f"/api/v1/pupils/{ref}/reviews", json={"decision": "refer"}, headers={"X-CSRF-Token": token}
    )
    assert ok.status_code == 201 and count(store, reviews) == before + 1


def test_bearer_tokens_work_and_stop_working_after_sign_out(app, users):
    client = TestClient(app)
    token = client.post("/api/v1/session", json={"email": users["adviser"], "password": PASSWORD}).json()[
        "token"
    ]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).json()["role"] == "adviser"
    assert client.delete("/api/v1/session", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_sign_out_ends_the_session(app, users):
    client = sign_in(app, users["school_b"])
    assert (
        client.post(
            "/logout", data={"csrf_token": csrf_of(client, "/school")}, follow_redirects=False
        ).status_code
        == 303
    )
    assert client.get("/school", follow_redirects=False).status_code == 303


def test_pages_send_security_headers(clients):
    response = clients["admin"].get("/caseload")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_openapi_describes_the_api(clients):
    paths = clients["admin"].get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/session",
        "/api/v1/caseload",
        "/api/v1/pupils/{ref}",
        "/api/v1/pupils/{ref}/reviews",
        "/api/v1/pupils/{ref}/interventions",
        "/api/v1/uploads",
        "/api/v1/evaluation",
        "/api/v1/audit",
    ):
        assert path in paths
    assert not any(p.startswith("/pupils") or p == "/caseload" for p in paths), (
        "pages stay out of the API doc"
    )
