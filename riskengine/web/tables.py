"""The web service's tables, on the store's shared `metadata` (created by Alembic revision 0002).

Reviews, interventions and the audit log are append-only: the service only ever inserts into them, so a
pupil's history of decisions is never overwritten.
"""

from __future__ import annotations

import sqlalchemy as sa

from riskengine.store.tables import metadata

ROLES = ("school", "adviser", "evaluator", "admin")
DECISIONS = ("confirm", "dismiss", "refer")

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(255), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

#: The schools a school data manager belongs to (one) or an adviser is assigned to (several).
user_schools = sa.Table(
    "user_schools",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("school_urn", sa.String(6), nullable=False),
    sa.PrimaryKeyConstraint("user_id", "school_urn"),
)

#: Server-side sessions: the cookie carries a random token, the table only its SHA-256, so a leaked
#: database does not leak live sessions; logging out deletes the row.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

login_attempts = sa.Table(
    "login_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Index("ix_login_attempts_email_ip_at", "email", "ip", "at"),
)

#: Opaque identifiers for pupils in URLs, so a UPN never appears in an address bar, log or history.
pupil_refs = sa.Table(
    "pupil_refs",
    metadata,
    sa.Column("ref", sa.String(32), primary_key=True),
    sa.Column("upn", sa.String(13), nullable=False, unique=True),
)

reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("upn", sa.String(13), nullable=False),
    sa.Column("run_id", sa.Integer, nullable=True),
    sa.Column("decision", sa.String(10), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("reviewer_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_reviews_upn", "upn"),
)

interventions = sa.Table(
    "interventions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("upn", sa.String(13), nullable=False),
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("started_on", sa.Date, nullable=False),
    sa.Column("ended_on", sa.Date, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("recorded_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),  # NULL: imported
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # Issue 13 (revision 0003_i13): each row is one event of the intervention `intervention_id`.
    sa.Column("intervention_id", sa.String(64), nullable=True),
    sa.Column("status", sa.String(10), nullable=True),
    sa.Column("adviser", sa.String(255), nullable=True),
    sa.Column("prompted_by_run", sa.Integer, nullable=True),
    sa.Column("qualification", sa.String(12), nullable=True),
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.id"), nullable=True),
    sa.Index("ix_interventions_upn", "upn"),
    sa.Index("ix_interventions_intervention_id", "intervention_id"),
)

#: Who looked at which pupil (by opaque ref) and when; admins read it on /admin/audit.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("pupil_ref", sa.String(32), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Index("ix_audit_log_at", "at"),
)

WEB_TABLES = (
    users,
    user_schools,
    web_sessions,
    login_attempts,
    pupil_refs,
    reviews,
    interventions,
    audit_log,
)
