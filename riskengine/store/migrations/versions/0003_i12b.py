"""Access follows enrolment and identity columns (issue 12, part B): the schools list, pupils' identity
kept apart from their terms, enrolment conflicts, reviews and interventions shared with the school, and the
foreign keys 0002 left out (a review names an existing run and pupil; an intervention an existing pupil).

Revision ID: 0003_i12b
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_i12b"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "school_list",
        sa.Column("urn", sa.String(6), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(80), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("urn", name="pk_school_list"),
    )
    op.create_table(
        "pupil_identity",
        sa.Column("upn", sa.String(13), nullable=False),
        sa.Column("school_urn", sa.String(6), nullable=False),
        sa.Column("forename", sa.String(100), nullable=True),
        sa.Column("surname", sa.String(100), nullable=True),
        sa.Column("date_of_birth", sa.Date, nullable=True),
        sa.Column("tutor_group", sa.String(40), nullable=True),
        sa.Column("upload_id", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("upn", "school_urn", name="pk_pupil_identity"),
        sa.ForeignKeyConstraint(["upn"], ["pupils.upn"], name="fk_pupil_identity_upn_pupils"),
        sa.ForeignKeyConstraint(["upload_id"], ["uploads.id"], name="fk_pupil_identity_upload_id_uploads"),
    )
    op.create_table(
        "enrolment_conflicts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("upn", sa.String(13), nullable=False),
        sa.Column("school_urn", sa.String(6), nullable=False),
        sa.Column("other_school_urn", sa.String(6), nullable=False),
        sa.Column("academic_year", sa.String(7), nullable=False),
        sa.Column("term", sa.String(6), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("upload_id", sa.Integer, nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_enrolment_conflicts"),
        sa.ForeignKeyConstraint(["upn"], ["pupils.upn"], name="fk_enrolment_conflicts_upn_pupils"),
        sa.ForeignKeyConstraint(
            ["upload_id"], ["uploads.id"], name="fk_enrolment_conflicts_upload_id_uploads"
        ),
    )
    op.create_index("ix_enrolment_conflicts_upn", "enrolment_conflicts", ["upn"])
    shared = sa.Column("shared_with_school", sa.Boolean, nullable=False, server_default=sa.false())
    with op.batch_alter_table("reviews") as batch:
        batch.add_column(shared)
        batch.create_foreign_key("fk_reviews_run_id_score_runs", "score_runs", ["run_id"], ["id"])
        batch.create_foreign_key("fk_reviews_upn_pupils", "pupils", ["upn"], ["upn"])
    with op.batch_alter_table("interventions") as batch:
        batch.add_column(
            sa.Column("shared_with_school", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.create_foreign_key("fk_interventions_upn_pupils", "pupils", ["upn"], ["upn"])


def downgrade() -> None:
    with op.batch_alter_table("interventions") as batch:
        batch.drop_constraint("fk_interventions_upn_pupils", type_="foreignkey")
        batch.drop_column("shared_with_school")
    with op.batch_alter_table("reviews") as batch:
        batch.drop_constraint("fk_reviews_upn_pupils", type_="foreignkey")
        batch.drop_constraint("fk_reviews_run_id_score_runs", type_="foreignkey")
        batch.drop_column("shared_with_school")
    op.drop_index("ix_enrolment_conflicts_upn", table_name="enrolment_conflicts")
    for table in ("enrolment_conflicts", "pupil_identity", "school_list"):
        op.drop_table(table)
