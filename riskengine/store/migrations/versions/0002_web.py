"""Web service: users, school assignments, sessions, login attempts, pupil refs, reviews, interventions, audit.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "user_schools",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("school_urn", sa.String(6), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "school_urn", name="pk_user_schools"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_user_schools_user_id_users"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_sha256", name="pk_web_sessions"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_web_sessions_user_id_users"),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_attempts"),
    )
    op.create_index("ix_login_attempts_email_ip_at", "login_attempts", ["email", "ip", "at"])
    op.create_table(
        "pupil_refs",
        sa.Column("ref", sa.String(32), nullable=False),
        sa.Column("upn", sa.String(13), nullable=False),
        sa.PrimaryKeyConstraint("ref", name="pk_pupil_refs"),
        sa.UniqueConstraint("upn", name="uq_pupil_refs_upn"),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("upn", sa.String(13), nullable=False),
        sa.Column("run_id", sa.Integer, nullable=True),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("reviewer_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reviews"),
        sa.ForeignKeyConstraint(["reviewer_id"], ["users.id"], name="fk_reviews_reviewer_id_users"),
    )
    op.create_index("ix_reviews_upn", "reviews", ["upn"])
    op.create_table(
        "interventions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("upn", sa.String(13), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("started_on", sa.Date, nullable=False),
        sa.Column("ended_on", sa.Date, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("recorded_by", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_interventions"),
        sa.ForeignKeyConstraint(["recorded_by"], ["users.id"], name="fk_interventions_recorded_by_users"),
    )
    op.create_index("ix_interventions_upn", "interventions", ["upn"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("pupil_ref", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_audit_log_user_id_users"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    for index, table in (
        ("ix_audit_log_at", "audit_log"),
        ("ix_interventions_upn", "interventions"),
        ("ix_reviews_upn", "reviews"),
        ("ix_login_attempts_email_ip_at", "login_attempts"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "audit_log",
        "interventions",
        "reviews",
        "pupil_refs",
        "login_attempts",
        "web_sessions",
        "user_schools",
        "users",
    ):
        op.drop_table(table)
