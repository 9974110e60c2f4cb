"""Web service part A (issue 12): upload jobs, atomic sign-in throttle counters, TOTP secrets, sessions
pending TOTP enrolment, and audit entries without a user (failed sign-ins for unknown emails).

Revision ID: 0003_i12a
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_i12a"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_login_throttle"),
    )
    op.create_table(
        "upload_jobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("school_urn", sa.String(6), nullable=False),
        sa.Column("academic_year", sa.String(7), nullable=False),
        sa.Column("term", sa.String(6), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("mapping", sa.String(255), nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(10), nullable=True),
        sa.Column("summary", sa.Text, nullable=True),
        sa.Column("upload_id", sa.Integer, nullable=True),
        sa.Column("counts", sa.JSON, nullable=True),
        sa.Column("n_errors", sa.Integer, nullable=True),
        sa.Column("n_warnings", sa.Integer, nullable=True),
        sa.Column("problems", sa.JSON, nullable=True),
        sa.Column("problem_counts", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_upload_jobs"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_upload_jobs_user_id_users"),
    )
    op.create_index("ix_upload_jobs_user_id", "upload_jobs", ["user_id"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("totp_secret", sa.String(64), nullable=True))
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("mfa_pending", sa.Boolean, nullable=True))
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("user_id", existing_type=sa.Integer, nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("user_id", existing_type=sa.Integer, nullable=False)
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("mfa_pending")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_secret")
    op.drop_index("ix_upload_jobs_user_id", table_name="upload_jobs")
    op.drop_table("upload_jobs")
    op.drop_table("login_throttle")
