"""Users, roles, school scope and login with throttling.

A user's scope is the set of schools whose pupils they may see: a school data manager has one, an adviser
the schools assigned to them, an admin all (None). Evaluators see no pupil at all, only aggregates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from riskengine.store import Store
from riskengine.web.tables import ROLES, login_attempts, user_schools, users

MAX_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)
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
    """Too many failed logins for this email from this address: try again later."""


@dataclass(frozen=True)
class User:
    """A signed-in user. `schools` is None for admins (every school); empty for evaluators."""

    id: int
    email: str
    role: str
    schools: tuple[str, ...] | None

    @property
    def sees_pupils(self) -> bool:
        return self.role in PUPIL_ROLES


def hash_password(password: str) -> str:
    """An argon2id hash (salted; parameters recorded in the hash so they can be raised later)."""
    return _hasher.hash(password)


def add_user(store: Store, email: str, password: str, role: str, schools: Sequence[str] = ()) -> int:
    """Create a user and their school assignments in one transaction; returns the user id.

    School data managers need exactly one school and advisers at least one; evaluators and admins none.
    """
    email = email.strip().lower()
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if "@" not in email:
        raise ValueError("email must contain @")
    if len(password) < 12:
        raise ValueError("password must be at least 12 characters")
    schools = sorted(set(schools))
    if role == "school" and len(schools) != 1:
        raise ValueError("a school data manager belongs to exactly one school (--school URN)")
    if role == "adviser" and not schools:
        raise ValueError("an adviser needs at least one school (--school URN, repeatable)")
    if role in ("evaluator", "admin") and schools:
        raise ValueError(f"an {role} is not tied to schools")
    bad = [urn for urn in schools if not (len(urn) == 6 and urn.isdigit())]
    if bad:
        raise ValueError(f"school URNs are 6 digits: {', '.join(bad)}")
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
        sa.select(users.c.id, users.c.email, users.c.role).where(
            users.c.id == user_id, users.c.active.is_(True)
        )
    ).first()
    if row is None:
        return None
    schools = None if row.role == "admin" else user_school_urns(connection, user_id)
    return User(row.id, row.email, row.role, schools)


def user_school_urns(connection: sa.Connection, user_id: int) -> tuple[str, ...]:
    """The schools assigned to a (non-admin) user, sorted."""
    query = (
        sa.select(user_schools.c.school_urn)
        .where(user_schools.c.user_id == user_id)
        .order_by(user_schools.c.school_urn)
    )
    return tuple(connection.execute(query).scalars())


def authenticate(store: Store, email: str, password: str, ip: str) -> User | None:
    """The user if the password is right, else None; every attempt is recorded.

    Raises LoginThrottled after MAX_FAILURES failures for this email and address within THROTTLE_WINDOW,
    before checking the password, so guessing cannot continue.
    """
    email = email.strip().lower()[:255]
    now = datetime.now(UTC)
    with store.engine.begin() as connection:
        failures = connection.execute(
            sa.select(sa.func.count()).where(
                login_attempts.c.email == email,
                login_attempts.c.ip == ip,
                login_attempts.c.success.is_(False),
                login_attempts.c.at > now - THROTTLE_WINDOW,
            )
        ).scalar_one()
        if failures >= MAX_FAILURES:
            raise LoginThrottled("too many failed sign-ins; try again in 15 minutes")
        row = connection.execute(
            sa.select(users.c.id, users.c.password_hash).where(
                users.c.email == email, users.c.active.is_(True)
            )
        ).first()
        try:
            ok = _hasher.verify(row.password_hash if row else _DUMMY_HASH, password) and row is not None
        except (VerificationError, InvalidHashError):
            ok = False
        connection.execute(sa.insert(login_attempts).values(email=email, ip=ip, at=now, success=ok))
        return load_user(connection, row.id) if ok else None
