"""Scores: explanation details (risk in percentage points and values per feature) and "what would change it".

Revision ID: 0003_i11
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_i11"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.add_column(sa.Column("details", sa.JSON, nullable=True))
        batch.add_column(sa.Column("what_would_change", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.drop_column("what_would_change")
        batch.drop_column("details")
