"""One migration for this round's schema changes, each area a section:
- destination extracts as of a date (issue 10)
- score explanation details and what would change it (issue 11)
- schools list, identity, enrolment conflicts, sharing and foreign keys (issue 12)
- web uploads, sign-in throttle, TOTP, audit without a user (issue 12)
- intervention events and assessments (issue 13)
- declared audit attributes (issue 14)
- an index on scores.upn, so explain finds a pupil's latest score in one query (issue 10)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _upgrade_i10a()
    _upgrade_i11()
    _upgrade_i12b()
    _upgrade_i12a()
    _upgrade_i13()
    _upgrade_i14()
    _upgrade_i10b()


def downgrade() -> None:
    _downgrade_i10b()
    _downgrade_i14()
    _downgrade_i13()
    _downgrade_i12a()
    _downgrade_i12b()
    _downgrade_i11()
    _downgrade_i10a()


# === section i10a
def _upgrade_i10a() -> None:
    """Destinations extracts record their as-of date (the day the extract was taken)."""
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("as_of", sa.Date, nullable=True))


def _downgrade_i10a() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("as_of")


# === end i10a


# === section i11
def _upgrade_i11() -> None:
    """Scores: explanation details (risk in percentage points and values per feature) and "what would change it"."""
    with op.batch_alter_table("scores") as batch:
        batch.add_column(sa.Column("details", sa.JSON, nullable=True))
        batch.add_column(sa.Column("what_would_change", sa.JSON, nullable=True))


def _downgrade_i11() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.drop_column("what_would_change")
        batch.drop_column("details")


# === end i11


# === section i12b
def _upgrade_i12b() -> None:
    """Access follows enrolment and identity columns (issue 12, part B): the schools list, pupils' identity."""
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


def _downgrade_i12b() -> None:
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


# === end i12b


# === section i12a
def _upgrade_i12a() -> None:
    """Web service part A (issue 12): upload jobs, atomic sign-in throttle counters, TOTP secrets, sessions."""
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


def _downgrade_i12a() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("user_id", existing_type=sa.Integer, nullable=False)
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("mfa_pending")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_secret")
    op.drop_index("ix_upload_jobs_user_id", table_name="upload_jobs")
    op.drop_table("upload_jobs")
    op.drop_table("login_throttle")


# === end i12a


# === section i13
def _upgrade_i13() -> None:
    """Interventions as append-only events (issue 13), and assessments."""
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


def _downgrade_i13() -> None:
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


# === end i13


# === section i14
def _upgrade_i14() -> None:
    """Audit attributes beyond the pupil-terms contract, declared in evaluation/audit.yaml (issue 14)."""
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


def _downgrade_i14() -> None:
    op.drop_index("ix_audit_attributes_school_term", table_name="audit_attributes")
    op.drop_table("audit_attributes")


# === end i14


# === section i10b
def _upgrade_i10b() -> None:
    """Index scores by pupil, so `riskengine explain UPN` finds the pupil's latest scored term in one lookup."""
    op.create_index("ix_scores_upn", "scores", ["upn"])


def _downgrade_i10b() -> None:
    op.drop_index("ix_scores_upn", table_name="scores")


# === end i10b
