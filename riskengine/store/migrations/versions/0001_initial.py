"""initial schema: schools, pupils, uploads, pupil-terms, destinations, scores

Revision ID: 0001
Revises:
Create Date: 2026-11-24 00:29:25.999694
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pupils',
    sa.Column('upn', sa.String(length=13), nullable=False),
    sa.Column('first_upload_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('upn', name=op.f('pk_pupils'))
    )
    op.create_table('schools',
    sa.Column('urn', sa.String(length=6), nullable=False),
    sa.Column('first_upload_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('urn', name=op.f('pk_schools'))
    )
    op.create_table('score_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('academic_year', sa.String(length=7), nullable=False),
    sa.Column('term', sa.String(length=6), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rule_set_version', sa.String(length=64), nullable=False),
    sa.Column('feature_version', sa.String(length=64), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=True),
    sa.Column('threshold', sa.JSON(), nullable=True),
    sa.Column('settings', sa.JSON(), nullable=True),
    sa.Column('n_pupils', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_score_runs'))
    )
    op.create_table('scores',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('upn', sa.String(length=13), nullable=False),
    sa.Column('school_urn', sa.String(length=6), nullable=False),
    sa.Column('academic_year', sa.String(length=7), nullable=False),
    sa.Column('term', sa.String(length=6), nullable=False),
    sa.Column('ncyear', sa.Integer(), nullable=True),
    sa.Column('points', sa.Float(), nullable=True),
    sa.Column('band', sa.String(length=32), nullable=True),
    sa.Column('always_flag', sa.Boolean(), nullable=True),
    sa.Column('fired', sa.JSON(), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=True),
    sa.Column('probability', sa.Float(), nullable=True),
    sa.Column('flag', sa.Boolean(), nullable=False),
    sa.Column('flag_source', sa.String(length=10), nullable=True),
    sa.Column('flag_reason', sa.Text(), nullable=True),
    sa.Column('reasons_up', sa.JSON(), nullable=True),
    sa.Column('reasons_down', sa.JSON(), nullable=True),
    sa.Column('contributions', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['score_runs.id'], name=op.f('fk_scores_run_id_score_runs')),
    sa.PrimaryKeyConstraint('run_id', 'upn', 'school_urn', name=op.f('pk_scores'))
    )
    op.create_table('uploads',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('school_urn', sa.String(length=6), nullable=True),
    sa.Column('academic_year', sa.String(length=7), nullable=True),
    sa.Column('term', sa.String(length=6), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('mapping', sa.String(length=255), nullable=True),
    sa.Column('mapping_sha256', sa.String(length=64), nullable=True),
    sa.Column('n_rows', sa.Integer(), nullable=False),
    sa.Column('n_stored', sa.Integer(), nullable=False),
    sa.Column('n_warnings', sa.Integer(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=255), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('replaces_upload_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['replaces_upload_id'], ['uploads.id'], name=op.f('fk_uploads_replaces_upload_id_uploads')),
    sa.ForeignKeyConstraint(['school_urn'], ['schools.urn'], name=op.f('fk_uploads_school_urn_schools')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uploads'))
    )
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.create_index('ix_uploads_term', ['kind', 'school_urn', 'academic_year', 'term'], unique=False)
        batch_op.create_index(
            'uq_uploads_active_term', ['kind', 'school_urn', 'academic_year', 'term'], unique=True,
            sqlite_where=sa.text("active AND kind = 'pupil_terms'"),
            postgresql_where=sa.text("active AND kind = 'pupil_terms'"),
        )

    op.create_table('destinations',
    sa.Column('upn', sa.String(length=13), nullable=False),
    sa.Column('activity_code', sa.Integer(), nullable=False),
    sa.Column('activity_date', sa.Date(), nullable=False),
    sa.Column('academic_age', sa.Integer(), nullable=True),
    sa.Column('upload_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.id'], name=op.f('fk_destinations_upload_id_uploads')),
    sa.PrimaryKeyConstraint('upn', 'activity_code', 'activity_date', name=op.f('pk_destinations'))
    )
    op.create_table('pupil_terms',
    sa.Column('upn', sa.String(length=16), nullable=False),
    sa.Column('school_urn', sa.String(length=16), nullable=False),
    sa.Column('academic_year', sa.String(length=16), nullable=False),
    sa.Column('term', sa.String(length=16), nullable=False),
    sa.Column('ncyear', sa.Integer(), nullable=False),
    sa.Column('sessions_possible', sa.Integer(), nullable=True),
    sa.Column('sessions_authorised_absence', sa.Integer(), nullable=True),
    sa.Column('sessions_unauthorised_absence', sa.Integer(), nullable=True),
    sa.Column('suspensions', sa.Integer(), nullable=True),
    sa.Column('suspension_sessions', sa.Integer(), nullable=True),
    sa.Column('permanent_exclusion', sa.Boolean(), nullable=True),
    sa.Column('sen_provision', sa.String(length=16), nullable=True),
    sa.Column('sen_primary_need', sa.String(length=16), nullable=True),
    sa.Column('looked_after', sa.Boolean(), nullable=True),
    sa.Column('child_in_need', sa.Boolean(), nullable=True),
    sa.Column('fsm_eligible', sa.Boolean(), nullable=True),
    sa.Column('eal', sa.Boolean(), nullable=True),
    sa.Column('young_carer', sa.Boolean(), nullable=True),
    sa.Column('youth_justice', sa.Boolean(), nullable=True),
    sa.Column('alternative_provision', sa.Boolean(), nullable=True),
    sa.Column('school_moves', sa.Integer(), nullable=True),
    sa.Column('ks2_reading_scaled', sa.Integer(), nullable=True),
    sa.Column('ks2_maths_scaled', sa.Integer(), nullable=True),
    sa.Column('sex', sa.String(length=16), nullable=True),
    sa.Column('ethnicity', sa.String(length=16), nullable=True),
    sa.Column('term_index', sa.Integer(), nullable=False),
    sa.Column('upload_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.id'], name=op.f('fk_pupil_terms_upload_id_uploads')),
    sa.PrimaryKeyConstraint('upn', 'school_urn', 'academic_year', 'term', name=op.f('pk_pupil_terms'))
    )
    with op.batch_alter_table('pupil_terms', schema=None) as batch_op:
        batch_op.create_index('ix_pupil_terms_school_urn', ['school_urn', 'academic_year', 'term'], unique=False)
        batch_op.create_index('ix_pupil_terms_term_index', ['term_index'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('pupil_terms', schema=None) as batch_op:
        batch_op.drop_index('ix_pupil_terms_term_index')
        batch_op.drop_index('ix_pupil_terms_school_urn')

    op.drop_table('pupil_terms')
    op.drop_table('destinations')
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_index('uq_uploads_active_term')
        batch_op.drop_index('ix_uploads_term')

    op.drop_table('uploads')
    op.drop_table('scores')
    op.drop_table('score_runs')
    op.drop_table('schools')
    op.drop_table('pupils')
