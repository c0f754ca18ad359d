"""Accompaniment: projets personnalisés (versions), evaluations (AGGIR, SERAFIN-PH, free), transmissions.

Revision ID: 0004_accompaniment
Revises: 0001
Create Date: 2026-12-01 21:42:52.747841
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004_accompaniment'
down_revision = '0003_identity'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('evaluation',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('usager_id', sa.Uuid(), nullable=False),
    sa.Column('stay_id', sa.Uuid(), nullable=True),
    sa.Column('grille', sa.String(length=20), nullable=False),
    sa.Column('type_evaluation', sa.String(length=20), nullable=True),
    sa.Column('date_evaluation', sa.Date(), nullable=False),
    sa.Column('gir', sa.Integer(), nullable=True),
    sa.Column('counts_for_gir', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['stay_id'], ['stay.id'], name=op.f('fk_evaluation_stay_id_stay')),
    sa.ForeignKeyConstraint(['usager_id'], ['usager.id'], name=op.f('fk_evaluation_usager_id_usager')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation'))
    )
    with op.batch_alter_table('evaluation', schema=None) as batch_op:
        batch_op.create_index('ix_evaluation_usager_date', ['usager_id', 'date_evaluation', 'id'], unique=False)

    op.create_table('plan',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('usager_id', sa.Uuid(), nullable=False),
    sa.Column('stay_id', sa.Uuid(), nullable=False),
    sa.Column('essms_id', sa.Uuid(), nullable=False),
    sa.Column('lineage_id', sa.Uuid(), nullable=False),
    sa.Column('numero_version', sa.Integer(), nullable=False),
    sa.Column('previous_version_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('in_force', sa.Boolean(), nullable=False),
    sa.Column('date_debut', sa.Date(), nullable=False),
    sa.Column('review_due', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['essms_id'], ['essms.id'], name=op.f('fk_plan_essms_id_essms')),
    sa.ForeignKeyConstraint(['previous_version_id'], ['plan.id'], name=op.f('fk_plan_previous_version_id_plan')),
    sa.ForeignKeyConstraint(['stay_id'], ['stay.id'], name=op.f('fk_plan_stay_id_stay')),
    sa.ForeignKeyConstraint(['usager_id'], ['usager.id'], name=op.f('fk_plan_usager_id_usager')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan'))
    )
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.create_index('ix_plan_essms_review', ['essms_id', 'in_force', 'review_due', 'id'], unique=False)
        batch_op.create_index('ix_plan_lineage', ['lineage_id', 'numero_version'], unique=False)
        batch_op.create_index(batch_op.f('ix_plan_usager_id'), ['usager_id'], unique=False)
        batch_op.create_index('uq_plan_in_force_per_stay', ['stay_id'], unique=True, sqlite_where=sa.text('in_force AND archived_at IS NULL'), postgresql_where=sa.text('in_force AND archived_at IS NULL'))
        batch_op.create_index('uq_plan_one_revision', ['previous_version_id'], unique=True, sqlite_where=sa.text('previous_version_id IS NOT NULL AND archived_at IS NULL'), postgresql_where=sa.text('previous_version_id IS NOT NULL AND archived_at IS NULL'))

    op.create_table('transmission',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('usager_id', sa.Uuid(), nullable=False),
    sa.Column('stay_id', sa.Uuid(), nullable=True),
    sa.Column('essms_id', sa.Uuid(), nullable=False),
    sa.Column('auteur_id', sa.Uuid(), nullable=False),
    sa.Column('date_heure', sa.DateTime(timezone=True), nullable=False),
    sa.Column('categorie', sa.String(length=20), nullable=False),
    sa.Column('corrige_id', sa.Uuid(), nullable=True),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['auteur_id'], ['professional.id'], name=op.f('fk_transmission_auteur_id_professional')),
    sa.ForeignKeyConstraint(['corrige_id'], ['transmission.id'], name=op.f('fk_transmission_corrige_id_transmission')),
    sa.ForeignKeyConstraint(['essms_id'], ['essms.id'], name=op.f('fk_transmission_essms_id_essms')),
    sa.ForeignKeyConstraint(['stay_id'], ['stay.id'], name=op.f('fk_transmission_stay_id_stay')),
    sa.ForeignKeyConstraint(['usager_id'], ['usager.id'], name=op.f('fk_transmission_usager_id_usager')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transmission'))
    )
    with op.batch_alter_table('transmission', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transmission_corrige_id'), ['corrige_id'], unique=False)
        batch_op.create_index('ix_transmission_essms_date', ['essms_id', 'date_heure', 'id'], unique=False)
        batch_op.create_index('ix_transmission_usager_date', ['usager_id', 'date_heure', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('transmission', schema=None) as batch_op:
        batch_op.drop_index('ix_transmission_usager_date')
        batch_op.drop_index('ix_transmission_essms_date')
        batch_op.drop_index(batch_op.f('ix_transmission_corrige_id'))

    op.drop_table('transmission')
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.drop_index('uq_plan_one_revision', sqlite_where=sa.text('previous_version_id IS NOT NULL AND archived_at IS NULL'), postgresql_where=sa.text('previous_version_id IS NOT NULL AND archived_at IS NULL'))
        batch_op.drop_index('uq_plan_in_force_per_stay', sqlite_where=sa.text('in_force AND archived_at IS NULL'), postgresql_where=sa.text('in_force AND archived_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_plan_usager_id'))
        batch_op.drop_index('ix_plan_lineage')
        batch_op.drop_index('ix_plan_essms_review')

    op.drop_table('plan')
    with op.batch_alter_table('evaluation', schema=None) as batch_op:
        batch_op.drop_index('ix_evaluation_usager_date')

    op.drop_table('evaluation')
