"""Interventions as append-only events (issue 13), and assessments.

Every row of `interventions` is now one event of an intervention (`intervention_id` groups them): a status
change or a new end date is a new row, never an update. Imported rows have no web user (`recorded_by`
becomes nullable) but name the upload that brought them in. `assessments` holds pre/post scores on an
instrument defined in interventions/instruments/*.yaml.

Revision ID: 0003_i13
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_i13"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("interventions") as batch:
        batch.add_column(sa.Column("intervention_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("status", sa.String(10), nullable=True))
        batch.add_column(sa.Column("adviser", sa.String(255), nullable=True))
        batch.add_column(sa.Column("prompted_by_run", sa.Integer, nullable=True))
        batch.add_column(sa.Column("qualification", sa.String(12), nullable=True))
        batch.add_column(sa.Column("upload_id", sa.Integer, nullable=True))
        batch.alter_column("recorded_by", existing_type=sa.Integer, nullable=True)
        batch.create_foreign_key("fk_interventions_upload_id_uploads", "uploads", ["upload_id"], ["id"])
        batch.create_index("ix_interventions_intervention_id", ["intervention_id"])
    # Rows recorded before events existed: each is its own intervention, active until it has an end date.
    op.execute(
        "UPDATE interventions SET intervention_id = 'w' || CAST(id AS VARCHAR(20)), "
        "status = CASE WHEN ended_on IS NULL THEN 'active' ELSE 'completed' END "
        "WHERE intervention_id IS NULL"
    )
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("upn", sa.String(13), nullable=False),
        sa.Column("instrument", sa.String(64), nullable=False),
        sa.Column("assessed_on", sa.Date, nullable=False),
        sa.Column("stage", sa.String(6), nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("recorded_by", sa.Integer, nullable=True),
        sa.Column("upload_id", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_assessments"),
        sa.ForeignKeyConstraint(["recorded_by"], ["users.id"], name="fk_assessments_recorded_by_users"),
        sa.ForeignKeyConstraint(["upload_id"], ["uploads.id"], name="fk_assessments_upload_id_uploads"),
    )
    op.create_index("ix_assessments_upn", "assessments", ["upn"])


def downgrade() -> None:
    op.drop_index("ix_assessments_upn", table_name="assessments")
    op.drop_table("assessments")
    with op.batch_alter_table("interventions") as batch:
        batch.drop_index("ix_interventions_intervention_id")
        batch.drop_constraint("fk_interventions_upload_id_uploads", type_="foreignkey")
        batch.alter_column("recorded_by", existing_type=sa.Integer, nullable=False)
        for column in (
            "upload_id",
            "qualification",
            "prompted_by_run",
            "adviser",
            "status",
            "intervention_id",
        ):
            batch.drop_column(column)
