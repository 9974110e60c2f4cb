"""Audit attributes beyond the pupil-terms contract, declared in evaluation/audit.yaml (issue 14).

Revision ID: 0003_i14
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_i14"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_attributes",
        sa.Column("upn", sa.String(13), nullable=False),
        sa.Column("school_urn", sa.String(6), nullable=False),
        sa.Column("academic_year", sa.String(7), nullable=False),
        sa.Column("term", sa.String(6), nullable=False),
        sa.Column("attribute", sa.String(64), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("upload_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint(
            "upn", "school_urn", "academic_year", "term", "attribute", name="pk_audit_attributes"
        ),
        sa.ForeignKeyConstraint(["upload_id"], ["uploads.id"], name="fk_audit_attributes_upload_id_uploads"),
    )
    op.create_index(
        "ix_audit_attributes_school_term", "audit_attributes", ["school_urn", "academic_year", "term"]
    )


def downgrade() -> None:
    op.drop_index("ix_audit_attributes_school_term", table_name="audit_attributes")
    op.drop_table("audit_attributes")
