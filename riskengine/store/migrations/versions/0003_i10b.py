"""Index scores by pupil, so `riskengine explain UPN` finds the pupil's latest scored term in one lookup.

Revision ID: 0003_i10b
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0003_i10b"
down_revision = "0003"  # after the folded 0003 already in main; fold this section into it
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_scores_upn", "scores", ["upn"])


def downgrade() -> None:
    op.drop_index("ix_scores_upn", table_name="scores")
