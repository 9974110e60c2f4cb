"""The web service's tables, on the store's shared `metadata` (created by Alembic revision 0002).

Reviews, interventions and the audit log are append-only: the service only ever inserts into them, so a
pupil's history of decisions is never overwritten.
"""

from __future__ import annotations

import sqlalchemy as sa

from riskengine.store.tables import metadata, pupil_refs  # pupil_refs: an upload creates them

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
    # Base32 TOTP secret once the user has enrolled an authenticator app (required for admins).
    sa.Column("totp_secret", sa.String(64), nullable=True),
    # The time step of the last TOTP code accepted (migration 0004): a code at or before it is refused,
    # so each code works once.
    sa.Column("totp_last_step", sa.BigInteger, nullable=True),
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
    # An admin who signed in with a password but has not yet enrolled TOTP: only the enrolment page works.
    sa.Column("mfa_pending", sa.Boolean, nullable=True),
)

reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("upn", sa.String(13), sa.ForeignKey("pupils.upn"), nullable=False),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("score_runs.id"), nullable=True),
    sa.Column("decision", sa.String(10), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("reviewer_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # Seen by the pupil's school only when the adviser says so (migration 0003).
    sa.Column("shared_with_school", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_reviews_upn", "upn"),
)

interventions = sa.Table(
    "interventions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("upn", sa.String(13), sa.ForeignKey("pupils.upn"), nullable=False),
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("started_on", sa.Date, nullable=False),
    sa.Column("ended_on", sa.Date, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("recorded_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),  # NULL: imported
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("shared_with_school", sa.Boolean, nullable=False, server_default=sa.false()),
    # Issue 13 (migration 0003): each row is one event of the intervention `intervention_id`.
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
    # Nullable: a failed sign-in for an unknown email is logged with no user (the email goes in detail).
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("pupil_ref", sa.String(32), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    # The entry's key in the local audit journal (migration 0004): replaying a journal twice adds nothing.
    sa.Column("entry_key", sa.String(32), nullable=True),
    sa.Index("ix_audit_log_at", "at"),
    sa.Index("ix_audit_log_entry_key", "entry_key", unique=True),
    sa.Index("ix_audit_log_action_id", "action", "id"),  # the newest erasure, read on every page
)

#: Sign-in throttling counters, one row per key ("pair:email|ip", "ip:address", "account:email"): a fixed
#: window that starts at the first failure and expires on its own; incremented by one atomic upsert.
login_throttle = sa.Table(
    "login_throttle",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("window_start", sa.Float, nullable=False),  # unix seconds: compares the same on every database
)

#: Uploads validated in a separate process: the page and API poll this row, so any web worker can answer.
#: `problems` keeps at most the first 1,000 problems (upload/limits.yaml), `problem_counts` all by kind.
upload_jobs = sa.Table(
    "upload_jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("school_urn", sa.String(6), nullable=False),
    sa.Column("academic_year", sa.String(7), nullable=False),
    sa.Column("term", sa.String(6), nullable=False),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("mapping", sa.String(255), nullable=True),
    sa.Column("state", sa.String(10), nullable=False),  # queued, running, done, failed
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("status", sa.String(10), nullable=True),  # the UploadResult status once done
    sa.Column("summary", sa.Text, nullable=True),
    sa.Column("upload_id", sa.Integer, nullable=True),
    sa.Column("counts", sa.JSON, nullable=True),
    sa.Column("n_errors", sa.Integer, nullable=True),
    sa.Column("n_warnings", sa.Integer, nullable=True),
    sa.Column("problems", sa.JSON, nullable=True),
    sa.Column("problem_counts", sa.JSON, nullable=True),
    sa.Index("ix_upload_jobs_user_id", "user_id"),
)

WEB_TABLES = (
    users,
    user_schools,
    web_sessions,
    pupil_refs,
    reviews,
    interventions,
    audit_log,
    login_throttle,
    upload_jobs,
)
