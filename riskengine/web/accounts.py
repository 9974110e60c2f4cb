"""Users, roles, school scope and login with throttling.

A user's scope is the set of schools whose pupils they may see: a school data manager has one, an adviser
the schools assigned to them, an admin all (None). Evaluators see no pupil at all, only aggregates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from riskengine.store import Store
from riskengine.web.limits import ThrottleLimits, load_limits
from riskengine.web.tables import ROLES, login_throttle, user_schools, users

#: Failed sign-ins for one email from one address before that pair waits (upload/limits.yaml).
MAX_FAILURES = load_limits().throttle.per_account_and_address
#: Roles that see pupils (within their schools); evaluators see aggregates only.
PUPIL_ROLES = ("school", "adviser", "admin")
ROLE_LABELS = {
    "school": "school data manager",
    "adviser": "adviser",
    "evaluator": "evaluator",
    "admin": "administrator",
}

_hasher = PasswordHasher()
#: Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password")


class LoginThrottled(Exception):
    """Too many failed sign-ins (for this email from this address, from this address, or for this email):
    try again once the window has passed."""


@dataclass(frozen=True)
class User:
    """A signed-in user. `schools` is None for admins (every school); empty for evaluators."""

    id: int
    email: str
    role: str
    schools: tuple[str, ...] | None
    totp: bool = False  # has set up an authenticator app

    @property
    def sees_pupils(self) -> bool:
        return self.role in PUPIL_ROLES


def hash_password(password: str) -> str:
    """An argon2id hash (salted; parameters recorded in the hash so they can be raised later)."""
    return _hasher.hash(password)


def check_password(password: str) -> None:
    """NIST SP 800-63B: at least 12 characters here (its minimum is 8), no composition rules, long ones
    allowed (argon2 takes any length; the forms cap input at 1,024 characters)."""
    if len(password) < 12:
        raise ValueError("password must be at least 12 characters")
    if len(password) > 1024:
        raise ValueError("password must be at most 1,024 characters")


def check_schools(role: str, schools: Sequence[str]) -> list[str]:
    """The schools a role may hold, sorted: a school data manager exactly one, an adviser at least one,
    evaluators and admins none; each a 6-digit URN."""
    schools = sorted({urn.strip() for urn in schools if urn.strip()})
    if role == "school" and len(schools) != 1:
        raise ValueError("a school data manager belongs to exactly one school (--school URN)")
    if role == "adviser" and not schools:
        raise ValueError("an adviser needs at least one school (--school URN, repeatable)")
    if role in ("evaluator", "admin") and schools:
        raise ValueError(f"an {role} is not tied to schools")
    bad = [urn for urn in schools if not (len(urn) == 6 and urn.isdigit())]
    if bad:
        raise ValueError(f"school URNs are 6 digits: {', '.join(bad)}")
    return schools


def add_user(store: Store, email: str, password: str, role: str, schools: Sequence[str] = ()) -> int:
    """Create a user and their school assignments in one transaction; returns the user id.

    School data managers need exactly one school and advisers at least one; evaluators and admins none.
    """
    email = email.strip().lower()
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if "@" not in email:
        raise ValueError("email must contain @")
    check_password(password)
    schools = check_schools(role, schools)
    with store.engine.begin() as connection:
        exists = connection.execute(sa.select(users.c.id).where(users.c.email == email)).first()
        if exists:
            raise ValueError(f"a user {email} already exists")
        user_id = connection.execute(
            sa.insert(users).values(
                email=email,
                password_hash=hash_password(password),
                role=role,
                active=True,
                created_at=datetime.now(UTC),
            )
        ).inserted_primary_key[0]
        if schools:
            connection.execute(
                sa.insert(user_schools), [{"user_id": user_id, "school_urn": urn} for urn in schools]
            )
    return int(user_id)


def load_user(connection: sa.Connection, user_id: int) -> User | None:
    """The active user with this id, with their scope; None if missing or deactivated."""
    row = connection.execute(
        sa.select(users.c.id, users.c.email, users.c.role, users.c.totp_secret).where(
            users.c.id == user_id, users.c.active.is_(True)
        )
    ).first()
    if row is None:
        return None
    schools = None if row.role == "admin" else user_school_urns(connection, user_id)
    return User(row.id, row.email, row.role, schools, row.totp_secret is not None)


def user_school_urns(connection: sa.Connection, user_id: int) -> tuple[str, ...]:
    """The schools assigned to a (non-admin) user, sorted."""
    query = (
        sa.select(user_schools.c.school_urn)
        .where(user_schools.c.user_id == user_id)
        .order_by(user_schools.c.school_urn)
    )
    return tuple(connection.execute(query).scalars())


class LoginNeedsCode(Exception):
    """The password was right but the user has an authenticator app and sent no code (or a wrong one)."""


def _throttle_key(kind: str, email: str, ip: str) -> str:
    return {"pair": f"pair:{email}|{ip}", "address": f"ip:{ip}", "account": f"account:{email}"}[kind][:400]


def _windows(policy: ThrottleLimits) -> tuple[tuple[str, int, int], ...]:
    """(kind, limit, window seconds), checked in this order: one email from one address, one address
    across emails (password spraying), one email across addresses."""
    return (
        ("pair", policy.per_account_and_address, policy.per_account_and_address_minutes * 60),
        ("address", policy.per_address, policy.per_address_minutes * 60),
        ("account", policy.per_account, policy.per_account_minutes * 60),
    )


def _upsert(connection: sa.Connection):
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _reserve(connection: sa.Connection, key: str, now: float, window: int) -> int:
    """Count one more attempt under `key` in ONE atomic statement (an upsert returning the new count):
    parallel attempts each get their own number, so no more than the limit ever reach the password
    check. A window older than `window` seconds starts again at 1; a live one is never extended."""
    t = login_throttle
    expired = t.c.window_start < now - window
    statement = (
        _upsert(connection)(t)
        .values(key=key, failures=1, window_start=now)
        .on_conflict_do_update(
            index_elements=[t.c.key],
            set_={
                "failures": sa.case((expired, 1), else_=t.c.failures + 1),
                "window_start": sa.case((expired, now), else_=t.c.window_start),
            },
        )
        .returning(t.c.failures)
    )
    return int(connection.execute(statement).scalar_one())


def authenticate(store: Store, email: str, password: str, ip: str, code: str | None = None) -> User | None:
    """The user if the password (and, for a user with an authenticator app, the code) is right, else None.

    Throttling (upload/limits.yaml `throttle`, NIST SP 800-63B 5.2.2) comes first: each attempt reserves
    a place in three fixed windows, atomically, and is refused with LoginThrottled (before the password
    is checked, so the right password waits too) when any is full. A success gives back its places, so
    only failures count. Every outcome goes to the audit log, unknown emails included (with no user).
    """
    from riskengine.web import audit  # audit imports this module

    email = email.strip().lower()[:255]
    now = datetime.now(UTC).timestamp()
    with store.engine.begin() as connection:  # the first statement writes: no read-then-write upgrade
        for kind, limit, window in _windows(load_limits().throttle):
            if _reserve(connection, _throttle_key(kind, email, ip), now, window) > limit:
                refused = kind
                break
        else:
            refused = None
    known = _user_by_email(store, email)
    if refused is not None:
        audit.record(store, known, "sign_in_throttled", detail=_who(email, ip, known) + f" ({refused} limit)")
        raise LoginThrottled(THROTTLED_MESSAGE)
    try:
        ok = _hasher.verify(known.password_hash if known else _DUMMY_HASH, password) and known is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if ok and known.totp_secret and not use_totp_code(store, known.id, known.totp_secret, code):
        why = " (authentication code wrong or already used)"
        audit.record(store, known, "sign_in_failed", detail=_who(email, ip, known) + why)
        raise LoginNeedsCode("enter the 6-digit code from your authentication app")
    if not ok:
        audit.record(store, known, "sign_in_failed", detail=_who(email, ip, known))
        return None
    with store.engine.begin() as connection:
        t = login_throttle
        longest = max(window for _, _, window in _windows(load_limits().throttle))
        connection.execute(t.delete().where(t.c.window_start < now - longest))  # expired windows
        connection.execute(t.delete().where(t.c.key == _throttle_key("pair", email, ip)))
        for kind in ("address", "account"):
            connection.execute(
                sa.update(t)
                .where(t.c.key == _throttle_key(kind, email, ip), t.c.failures > 0)
                .values(failures=t.c.failures - 1)
            )
        user = load_user(connection, known.id)
    audit.record(store, user, "sign_in", detail=f"from {ip}")
    return user


THROTTLED_MESSAGE = "too many failed sign-ins; wait a while (at most an hour) and try again"


def _who(email: str, ip: str, known) -> str:
    return f"from {ip}" if known else f"unknown email {email[:100]!r} from {ip}"


def _user_by_email(store: Store, email: str):
    """The active user with this email, as found at sign-in (or None)."""
    with store.engine.connect() as connection:
        row = connection.execute(
            sa.select(
                users.c.id, users.c.email, users.c.role, users.c.password_hash, users.c.totp_secret
            ).where(users.c.email == email, users.c.active.is_(True))
        ).first()
    return None if row is None else _Known(**row._mapping)


@dataclass(frozen=True)
class _Known:
    """A user found by email at sign-in, before they are signed in (the audit log needs only the id)."""

    id: int
    email: str
    role: str
    password_hash: str
    totp_secret: str | None


def totp_step(secret: str, code: str | None) -> int | None:
    """The time step a 6-digit code from the user's authenticator app matches (RFC 6238, 30 s steps, one
    step of clock drift either way), or None when it matches none."""
    import pyotp

    code = (code or "").replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        return None
    try:
        return pyotp.TOTP(secret).verify_and_get_timecode(code, valid_window=1)
    except pyotp.OTPVerificationError:
        return None


def use_totp_code(store: Store, user_id: int, secret: str, code: str | None) -> bool:
    """Accept a code once (NIST SP 800-63B: a time-based OTP is accepted only once in its validity
    period): its time step must be after the last accepted one, recorded in the same atomic UPDATE, so
    two requests replaying one code cannot both pass."""
    step = totp_step(secret, code)
    if step is None:
        return False
    newer = sa.or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step)
    with store.engine.begin() as connection:
        accepted = connection.execute(
            sa.update(users).where(users.c.id == user_id, newer).values(totp_last_step=step)
        )
    return accepted.rowcount == 1


# --- account management (the `riskengine users` commands and the admin's users page) ---------------------


def list_users(store: Store) -> pd.DataFrame:
    """Every account: email, role, schools, active, whether TOTP is set up, and live sessions."""
    from riskengine.web.tables import web_sessions

    now = datetime.now(UTC)
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                users.c.id,
                users.c.email,
                users.c.role,
                users.c.active,
                users.c.totp_secret.is_not(None).label("totp"),
                users.c.created_at,
            ).order_by(users.c.email)
        ).all()
        schools = connection.execute(sa.select(user_schools.c.user_id, user_schools.c.school_urn)).all()
        sessions = connection.execute(
            sa.select(web_sessions.c.user_id, sa.func.count())
            .where(web_sessions.c.expires_at > now)
            .group_by(web_sessions.c.user_id)
        ).all()
    frame = pd.DataFrame.from_records(rows, columns=["id", "email", "role", "active", "totp", "created_at"])
    by_user = pd.DataFrame.from_records(schools, columns=["user_id", "school_urn"])
    joined = by_user.sort_values("school_urn").groupby("user_id")["school_urn"].agg(" ".join)
    frame["schools"] = frame["id"].map(joined).fillna("")
    frame["sessions"] = frame["id"].map(dict(sessions)).fillna(0).astype(int)
    frame["active"] = frame["active"].astype(bool)
    frame["totp"] = frame["totp"].astype(bool)
    return frame


def _account(connection: sa.Connection, email: str):
    row = connection.execute(
        sa.select(users.c.id, users.c.role).where(users.c.email == email.strip().lower())
    ).first()
    if row is None:
        raise ValueError(f"no user {email.strip().lower()}")
    return row


def _end_sessions(connection: sa.Connection, user_id: int) -> int:
    from riskengine.web.tables import web_sessions

    return connection.execute(web_sessions.delete().where(web_sessions.c.user_id == user_id)).rowcount


def end_all_sessions(store: Store, user_id: int) -> int:
    """Sign a user out everywhere: every session (browser or API token) stops working at once."""
    with store.engine.begin() as connection:
        return _end_sessions(connection, user_id)


def deactivate_user(store: Store, email: str) -> int:
    """A leaver: the account can no longer sign in and every session ends now. Returns the user id.
    The account row stays, so the audit log and reviews keep naming who did what."""
    with store.engine.begin() as connection:
        row = _account(connection, email)
        connection.execute(sa.update(users).where(users.c.id == row.id).values(active=False))
        _end_sessions(connection, row.id)
    return int(row.id)


def reactivate_user(store: Store, email: str) -> int:
    with store.engine.begin() as connection:
        row = _account(connection, email)
        connection.execute(sa.update(users).where(users.c.id == row.id).values(active=True))
    return int(row.id)


def reset_password(store: Store, email: str, password: str) -> int:
    """Set a new password; every session of the user ends (whoever held the old one is out)."""
    check_password(password)
    digest = hash_password(password)
    with store.engine.begin() as connection:
        row = _account(connection, email)
        connection.execute(sa.update(users).where(users.c.id == row.id).values(password_hash=digest))
        _end_sessions(connection, row.id)
    return int(row.id)


def set_schools(store: Store, email: str, schools: Sequence[str]) -> int:
    """Replace a user's schools (checked against their role); takes effect on their next request."""
    with store.engine.begin() as connection:
        row = _account(connection, email)
        schools = check_schools(row.role, schools)
        connection.execute(user_schools.delete().where(user_schools.c.user_id == row.id))
        if schools:
            connection.execute(
                sa.insert(user_schools), [{"user_id": row.id, "school_urn": urn} for urn in schools]
            )
    return int(row.id)


def reset_totp(store: Store, email: str) -> int:
    """Forget a user's authenticator app (a lost phone); their sessions end, and an admin must set up a
    new one at their next sign-in."""
    with store.engine.begin() as connection:
        row = _account(connection, email)
        connection.execute(sa.update(users).where(users.c.id == row.id).values(totp_secret=None))
        _end_sessions(connection, row.id)
    return int(row.id)


def new_totp_secret() -> str:
    import pyotp

    return pyotp.random_base32()


def totp_uri(secret: str, email: str) -> str:
    """The otpauth:// URI an authenticator app takes (typed in, or from a QR code the user makes)."""
    import pyotp

    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="riskengine")


def enrol_totp(store: Store, user_id: int, secret: str, code: str) -> None:
    """Save an authenticator app's secret once the user has shown a code from it."""
    step = totp_step(secret, code) if len(secret) in (16, 32) and secret.isalnum() else None
    if step is None:
        raise ValueError("that code does not match; check the app's clock and enter the current code")
    with store.engine.begin() as connection:  # the code shown here cannot then sign in too
        connection.execute(
            sa.update(users).where(users.c.id == user_id).values(totp_secret=secret, totp_last_step=step)
        )
