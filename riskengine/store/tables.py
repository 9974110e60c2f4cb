"""The database tables, declared once with SQLAlchemy Core so SQLite and PostgreSQL share one schema.

Alembic migrations (riskengine/store/migrations) create these; other areas may add their own tables to
`metadata` in later revisions.
"""

from __future__ import annotations

import sqlalchemy as sa

from riskengine.spec import upload as spec

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

schools = sa.Table(
    "schools",
    metadata,
    sa.Column("urn", sa.String(6), primary_key=True),
    sa.Column("first_upload_at", sa.DateTime(timezone=True), nullable=False),
)

pupils = sa.Table(
    "pupils",
    metadata,
    sa.Column("upn", sa.String(13), primary_key=True),
    sa.Column("first_upload_id", sa.Integer, nullable=False),
)

#: Opaque identifiers for pupils in the web's URLs, so a UPN never appears in an address bar, log or
#: history; `Store.write_pupil_terms` gives each new pupil one in its upload's transaction (migration 0002).
pupil_refs = sa.Table(
    "pupil_refs",
    metadata,
    sa.Column("ref", sa.String(32), primary_key=True),
    sa.Column("upn", sa.String(13), nullable=False, unique=True),
)

#: Every file offered and accepted (rejected files leave no trace, so a rejection changes nothing).
#: `kind` is "pupil_terms" or "destinations"; `active` marks the upload currently holding a school's term.
uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("school_urn", sa.String(6), sa.ForeignKey("schools.urn"), nullable=True),
    sa.Column("academic_year", sa.String(7), nullable=True),
    sa.Column("term", sa.String(6), nullable=True),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("mapping", sa.String(255), nullable=True),
    sa.Column("mapping_sha256", sa.String(64), nullable=True),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("n_stored", sa.Integer, nullable=False),
    sa.Column("n_warnings", sa.Integer, nullable=False),
    sa.Column("uploaded_by", sa.String(255), nullable=False),
    sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("replaces_upload_id", sa.Integer, sa.ForeignKey("uploads.id"), nullable=True),
    sa.Column("active", sa.Boolean, nullable=False),
    # Destinations extracts: the day the extract was taken, which decides whose outcome windows are closed.
    sa.Column("as_of", sa.Date, nullable=True),
    sa.Index("ix_uploads_term", "kind", "school_urn", "academic_year", "term"),
    # At most one upload holds a school's term, even when two arrive at once (the second one fails).
    sa.Index(
        "uq_uploads_active_term",
        "kind",
        "school_urn",
        "academic_year",
        "term",
        unique=True,
        sqlite_where=sa.text("active AND kind = 'pupil_terms'"),
        postgresql_where=sa.text("active AND kind = 'pupil_terms'"),
    ),
)


def _canonical_column(name: str) -> sa.Column:
    dtype = spec.canonical_dtypes()[name]
    type_ = {"Int64": sa.Integer, "boolean": sa.Boolean}.get(dtype, sa.String(16))
    return sa.Column(name, type_, nullable=name not in spec.KEY_COLUMNS)


pupil_terms = sa.Table(
    "pupil_terms",
    metadata,
    *(_canonical_column(name) for name in spec.COLUMNS),
    sa.Column("term_index", sa.Integer, nullable=False),
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.id"), nullable=False),
    sa.PrimaryKeyConstraint("upn", "school_urn", "academic_year", "term"),
    sa.Index("ix_pupil_terms_term_index", "term_index"),
    sa.Index("ix_pupil_terms_school_urn", "school_urn", "academic_year", "term"),
)

#: Audit attributes declared in evaluation/audit.yaml beyond the pupil-terms contract (disability, young
#: carer, ...), one row per pupil, term and attribute: stored for the fairness audit, never a model input.
audit_attributes = sa.Table(
    "audit_attributes",
    metadata,
    sa.Column("upn", sa.String(13), nullable=False),
    sa.Column("school_urn", sa.String(6), nullable=False),
    sa.Column("academic_year", sa.String(7), nullable=False),
    sa.Column("term", sa.String(6), nullable=False),
    sa.Column("attribute", sa.String(64), nullable=False),
    sa.Column("value", sa.String(255), nullable=False),
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.id"), nullable=False),
    sa.PrimaryKeyConstraint("upn", "school_urn", "academic_year", "term", "attribute"),
    sa.Index("ix_audit_attributes_school_term", "school_urn", "academic_year", "term"),
)

destinations = sa.Table(
    "destinations",
    metadata,
    sa.Column("upn", sa.String(13), nullable=False),
    sa.Column("activity_code", sa.Integer, nullable=False),
    sa.Column("activity_date", sa.Date, nullable=False),
    sa.Column("academic_age", sa.Integer, nullable=True),
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.id"), nullable=False),
    sa.PrimaryKeyConstraint("upn", "activity_code", "activity_date"),
)

score_runs = sa.Table(
    "score_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("academic_year", sa.String(7), nullable=False),
    sa.Column("term", sa.String(6), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rule_set_version", sa.String(64), nullable=False),
    sa.Column("feature_version", sa.String(64), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=True),
    sa.Column("threshold", sa.JSON, nullable=True),
    sa.Column("settings", sa.JSON, nullable=True),
    sa.Column("n_pupils", sa.Integer, nullable=False),
)

scores = sa.Table(
    "scores",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("score_runs.id"), nullable=False),
    sa.Column("upn", sa.String(13), nullable=False),
    sa.Column("school_urn", sa.String(6), nullable=False),
    sa.Column("academic_year", sa.String(7), nullable=False),
    sa.Column("term", sa.String(6), nullable=False),
    sa.Column("ncyear", sa.Integer, nullable=True),
    sa.Column("points", sa.Float, nullable=True),
    sa.Column("band", sa.String(32), nullable=True),
    sa.Column("always_flag", sa.Boolean, nullable=True),
    sa.Column("fired", sa.JSON, nullable=True),
    sa.Column("reasons", sa.JSON, nullable=True),
    sa.Column("probability", sa.Float, nullable=True),
    sa.Column("flag", sa.Boolean, nullable=False),
    sa.Column("flag_source", sa.String(10), nullable=True),
    sa.Column("flag_reason", sa.Text, nullable=True),
    sa.Column("reasons_up", sa.JSON, nullable=True),
    sa.Column("reasons_down", sa.JSON, nullable=True),
    sa.Column("contributions", sa.JSON, nullable=True),
    # issue 11 (migration 0003): per feature the risk in percentage points and the pupil's value, the
    # model point used; and "what would change it" (the smallest single change below the flag lines)
    sa.Column("details", sa.JSON, nullable=True),
    sa.Column("what_would_change", sa.JSON, nullable=True),
    sa.PrimaryKeyConstraint("run_id", "upn", "school_urn"),
    # `riskengine explain UPN` finds the pupil's latest scored term with one indexed lookup.
    sa.Index("ix_scores_upn", "upn"),
)

#: Pre/post assessments on an instrument of interventions/instruments/ (issue 13, revision 0003_i13);
#: `scores` maps each subscale to its score. Imported rows name their upload, web ones their user.
assessments = sa.Table(
    "assessments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("upn", sa.String(13), nullable=False),
    sa.Column("instrument", sa.String(64), nullable=False),
    sa.Column("assessed_on", sa.Date, nullable=False),
    sa.Column("stage", sa.String(6), nullable=False),
    sa.Column("scores", sa.JSON, nullable=False),
    sa.Column("recorded_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.id"), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_assessments_upn", "upn"),
)

SCORE_COLUMNS = tuple(c.name for c in scores.columns if c.name != "run_id")
SCORE_RUN_COLUMNS = tuple(c.name for c in score_runs.columns if c.name not in ("id", "created_at"))

# --- issue 12 (access follows enrolment, identity columns); created by migration 0003 -----------------

#: The optional schools list an admin loads (`riskengine schools load`): names shown instead of URNs, and
#: types, which decide whether two rolls in one term are a dual registration or a conflict.
school_list = sa.Table(
    "school_list",
    metadata,
    sa.Column("urn", sa.String(6), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("type", sa.String(80), nullable=True),
    sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
)

#: Identity (spec "Identity"): the latest value per pupil and school, kept apart from pupil_terms so it
#: can never reach features, models or evaluations, and can be purged or forgotten on its own.
pupil_identity = sa.Table(
    "pupil_identity",
    metadata,
    sa.Column("upn", sa.String(13), sa.ForeignKey("pupils.upn"), nullable=False),
    sa.Column("school_urn", sa.String(6), nullable=False),
    *(sa.Column(name, sa.String(100), nullable=True) for name in ("forename", "surname")),
    sa.Column("date_of_birth", sa.Date, nullable=True),
    sa.Column("tutor_group", sa.String(40), nullable=True),
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.id"), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("upn", "school_urn"),
)

#: A UPN found on roll at another school in the same term: `kind` "conflict" (the uploading school does not
#: see the pupil until an admin resolves it) or "dual_registration" (legitimate; both see the pupil).
enrolment_conflicts = sa.Table(
    "enrolment_conflicts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("upn", sa.String(13), sa.ForeignKey("pupils.upn"), nullable=False),
    sa.Column("school_urn", sa.String(6), nullable=False),
    sa.Column("other_school_urn", sa.String(6), nullable=False),
    sa.Column("academic_year", sa.String(7), nullable=False),
    sa.Column("term", sa.String(6), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.id"), nullable=False),
    sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("resolved_by", sa.String(255), nullable=True),
    sa.Index("ix_enrolment_conflicts_upn", "upn"),
)
