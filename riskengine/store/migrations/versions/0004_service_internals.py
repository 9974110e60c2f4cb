"""Service internals (issue 12):
- drop `login_attempts`, unused since 0003 (throttling counts in `login_throttle`, sign-ins go to the audit log)
- `users.totp_last_step`: the time step of the last accepted TOTP code, so a code works only once
- `audit_log.entry_key`: each entry's key from the local audit journal, unique, so replaying a journal
  after a crash never writes an entry twice
- every stored pupil gets its opaque ref now (uploads create them from here on), so reads never write

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_login_attempts_email_ip_at", table_name="login_attempts")
    op.drop_table("login_attempts")
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger, nullable=True))
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("entry_key", sa.String(32), nullable=True))
        batch.create_index("ix_audit_log_entry_key", ["entry_key"], unique=True)
    bind = op.get_bind()
    missing = bind.execute(
        sa.text("SELECT p.upn FROM pupils p LEFT JOIN pupil_refs r ON r.upn = p.upn WHERE r.ref IS NULL")
    ).scalars()
    rows = [{"upn": upn, "ref": secrets.token_hex(12)} for upn in missing]
    if rows:
        bind.execute(sa.text("INSERT INTO pupil_refs (ref, upn) VALUES (:ref, :upn)"), rows)


def downgrade() -> None:
    """Refs made by the upgrade stay: they are what 0003 would have made on first view."""
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_log_entry_key")
        batch.drop_column("entry_key")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_last_step")
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
