"""Server-side sessions and their CSRF tokens.

The browser holds a random token in an HttpOnly, SameSite=Lax cookie (Secure behind HTTPS); the database
holds only its SHA-256, the user and a per-session CSRF token that every form and API write must echo.
The same token, sent as `Authorization: Bearer ...`, authenticates JSON API clients.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from riskengine.store import Store
from riskengine.web.accounts import User
from riskengine.web.tables import user_schools, users, web_sessions

SESSION_LIFETIME = timedelta(hours=8)


@dataclass(frozen=True)
class Session:
    """A live session: who, and the CSRF token their forms must carry."""

    user: User
    csrf_token: str
    #: Signed in with a password, but an admin without an authenticator app yet: only enrolment works.
    mfa_pending: bool = False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def needs_totp_enrolment(user: User) -> bool:
    """Admins must use an authenticator app (TOTP); for everyone else it is optional."""
    return user.role == "admin" and not user.totp


def start_session(store: Store, user: User) -> str:
    """A new session for `user`; returns the secret token for the cookie (shown nowhere else). An admin
    without TOTP gets a session that can only set it up."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with store.engine.begin() as connection:
        connection.execute(web_sessions.delete().where(web_sessions.c.expires_at < now))
        connection.execute(
            sa.insert(web_sessions).values(
                token_sha256=_digest(token),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
                mfa_pending=needs_totp_enrolment(user),
            )
        )
    return token


#: The session, its user and the user's schools (one row per school), in one round trip. Built once:
#: building the statement on every request cost more than running it.
_SESSION_QUERY = (
    sa.select(
        web_sessions.c.csrf_token,
        web_sessions.c.expires_at,
        web_sessions.c.mfa_pending,
        users.c.id,
        users.c.email,
        users.c.role,
        users.c.totp_secret,
        user_schools.c.school_urn,
    )
    .join(users, users.c.id == web_sessions.c.user_id)
    .outerjoin(user_schools, user_schools.c.user_id == users.c.id)
    .where(web_sessions.c.token_sha256 == sa.bindparam("digest"), users.c.active.is_(True))
    .order_by(user_schools.c.school_urn)
)


_queries_with: dict[tuple, sa.Select] = {}


def session_with(
    store: Store, token: str | None, also: tuple[sa.ScalarSelect, ...] = ()
) -> tuple[Session | None, tuple | None]:
    """The live session for a cookie or bearer token, or None (unknown, expired or user deactivated);
    and the values of the scalar subqueries `also`, read in the same round trip (riskengine.web.auth
    reads the caches' versions so), or None when no session row was found."""
    if not token:
        return None, None
    query = _queries_with.get(also)
    if query is None:
        query = _queries_with[also] = _SESSION_QUERY.add_columns(*also)
    with store.reading() as connection:
        rows = connection.execute(query, {"digest": _digest(token)}).all()
    if not rows:
        return None, None
    values = tuple(rows[0][len(rows[0]) - len(also) :]) if also else ()
    return _session(rows), values


def _session(rows: list[sa.Row]) -> Session | None:
    row = rows[0]
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    if expires < datetime.now(UTC):
        return None
    schools = None if row.role == "admin" else tuple(r.school_urn for r in rows if r.school_urn is not None)
    user = User(row.id, row.email, row.role, schools, row.totp_secret is not None)
    return Session(user, row.csrf_token, bool(row.mfa_pending))


def complete_enrolment(store: Store, token: str | None) -> None:
    """The session's user has just set up TOTP: the session becomes a full one."""
    if token:
        with store.engine.begin() as connection:
            connection.execute(
                sa.update(web_sessions)
                .where(web_sessions.c.token_sha256 == _digest(token))
                .values(mfa_pending=False)
            )


def end_session(store: Store, token: str | None) -> None:
    """Log out: the token stops working everywhere at once."""
    if token:
        with store.engine.begin() as connection:
            connection.execute(web_sessions.delete().where(web_sessions.c.token_sha256 == _digest(token)))


def csrf_ok(session: Session, supplied: str | None) -> bool:
    """Constant-time check of a form's or header's CSRF token against the session's."""
    return bool(supplied) and hmac.compare_digest(session.csrf_token, str(supplied))
