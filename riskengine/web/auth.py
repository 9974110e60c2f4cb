"""Request-level authentication: who is asking (cookie or bearer token), may their role use this route,
and did their form or API write carry the session's CSRF token.

Pages that need a login redirect to /login; API routes answer 401. A role without access gets 403 and no
data; a pupil outside the user's scope is a plain 404 (see riskengine.web.pupils).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException, Request
from starlette.datastructures import FormData

from riskengine.store import Store
from riskengine.web import audit
from riskengine.web.accounts import User
from riskengine.web.pupils import PupilNotFound
from riskengine.web.sessions import Session, csrf_ok, session_with
from riskengine.web.versions import version_columns, versions_from

SESSION_COOKIE = "riskengine_session"
CSRF_HEADER = "X-CSRF-Token"


class LoginRequired(Exception):
    """Raised by page routes for an anonymous visitor; the app turns it into a redirect to /login."""


class EnrolmentRequired(Exception):
    """Raised by page routes for an admin who has not set up TOTP yet; the app redirects to /account/totp."""


def store_of(request: Request) -> Store:
    return request.app.state.store


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def session_token(request: Request) -> str | None:
    """The request's session token; an explicit bearer token wins over a cookie the browser sent along."""
    return _bearer(request) or request.cookies.get(SESSION_COOKIE)


def session_of(request: Request) -> Session | None:
    """The request's live session, looked up once per request, with the caches' versions read in the
    same round trip (riskengine.web.versions; pages.request_versions reads them if there was none)."""
    if not hasattr(request.state, "session"):
        session, values = session_with(store_of(request), session_token(request), version_columns())
        request.state.session = session
        if values is not None:
            request.state.versions = versions_from(values)
    return request.state.session


def _allow(session: Session, roles: tuple[str, ...]) -> Session:
    if roles and session.user.role not in roles:
        raise HTTPException(status_code=403, detail="your role does not give access to this page")
    return session


def page_session(request: Request, *roles: str, enrolling: bool = False) -> Session:
    """The session of a signed-in user with one of `roles` (any role when none given), for a page.
    A session still waiting for TOTP enrolment reaches only the enrolment page (`enrolling`)."""
    session = session_of(request)
    if session is None:
        raise LoginRequired()
    if session.mfa_pending and not enrolling:
        raise EnrolmentRequired()
    return _allow(session, roles)


async def checked_form(request: Request, *roles: str, enrolling: bool = False) -> tuple[Session, FormData]:
    """A page POST: signed in, role allowed, and the form's csrf_token matches the session's (else 403).
    The session is checked before the body is read."""
    session = page_session(request, *roles, enrolling=enrolling)
    form = await request.form(max_files=1, max_fields=50)
    if not csrf_ok(session, form.get("csrf_token")):
        raise HTTPException(
            status_code=403, detail="the form was missing its security token; reload the page"
        )
    return session, form


def api_session(request: Request, *roles: str) -> Session:
    """An API call's session (401 without one). A write authenticated by cookie must also carry the
    session's CSRF token in the X-CSRF-Token header; bearer tokens are never sent by browsers on their
    own, so they need none."""
    session = session_of(request)
    if session is None:
        raise HTTPException(status_code=401, detail="sign in first", headers={"WWW-Authenticate": "Bearer"})
    if session.mfa_pending:
        raise HTTPException(status_code=403, detail="set up your authentication app first (/account/totp)")
    cookie_auth = _bearer(request) is None
    unsafe = request.method not in ("GET", "HEAD", "OPTIONS")
    if cookie_auth and unsafe and not csrf_ok(session, request.headers.get(CSRF_HEADER)):
        raise HTTPException(status_code=403, detail=f"missing or wrong {CSRF_HEADER} header")
    return _allow(session, roles)


def client_ip(request: Request) -> str:
    """The caller's address as uvicorn sees it (behind a proxy, run uvicorn with --proxy-headers)."""
    return request.client.host if request.client else "unknown"


@contextmanager
def refused_as_404(request: Request, user: User, ref: str) -> Iterator[None]:
    """Turn PupilNotFound into the plain 404 an unknown ref gets, after logging the refusal: repeated
    refusals are someone guessing refs, and the answer must not tell them which refs exist."""
    try:
        yield
    except PupilNotFound:
        audit.record_refused(store_of(request), user, ref)
        raise HTTPException(status_code=404, detail="no such pupil") from None
