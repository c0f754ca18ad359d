"""Usager records foundation: structures, usagers, entourage, stays, professionals, history.

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 05:03:18.292758
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organisme',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('finess_ej', sa.String(length=9), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisme')),
    sa.UniqueConstraint('finess_ej', name=op.f('uq_organisme_finess_ej'))
    )
    with op.batch_alter_table('organisme', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organisme_name_key'), ['name_key'], unique=False)

    op.create_table('professional',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('rpps', sa.String(length=11), nullable=True),
    sa.Column('identifiant_local', sa.String(length=200), nullable=True),
    sa.Column('name_key', sa.String(length=300), nullable=False),
    sa.Column('profession', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_professional'))
    )
    with op.batch_alter_table('professional', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_professional_identifiant_local'), ['identifiant_local'], unique=False)
        batch_op.create_index(batch_op.f('ix_professional_name_key'), ['name_key'], unique=False)
        batch_op.create_index('uq_professional_rpps', ['rpps'], unique=True, sqlite_where=sa.text('rpps IS NOT NULL'), postgresql_where=sa.text('rpps IS NOT NULL'))

    op.create_table('resource_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('resource_type', sa.String(length=40), nullable=False),
    sa.Column('resource_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('operation', sa.String(length=10), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resource_history'))
    )
    with op.batch_alter_table('resource_history', schema=None) as batch_op:
        batch_op.create_index('uq_resource_history_version', ['resource_type', 'resource_id', 'version'], unique=True)

    op.create_table('essms',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('finess_et', sa.String(length=9), nullable=False),
    sa.Column('organisme_id', sa.Uuid(), nullable=False),
    sa.Column('categorie', sa.String(length=3), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['organisme_id'], ['organisme.id'], name=op.f('fk_essms_organisme_id_organisme')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_essms')),
    sa.UniqueConstraint('finess_et', name=op.f('uq_essms_finess_et'))
    )
    with op.batch_alter_table('essms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_essms_categorie'), ['categorie'], unique=False)
        batch_op.create_index(batch_op.f('ix_essms_organisme_id'), ['organisme_id'], unique=False)

    op.create_table('professional_essms',
    sa.Column('professional_id', sa.Uuid(), nullable=False),
    sa.Column('essms_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['essms_id'], ['essms.id'], name=op.f('fk_professional_essms_essms_id_essms')),
    sa.ForeignKeyConstraint(['professional_id'], ['professional.id'], name=op.f('fk_professional_essms_professional_id_professional'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('professional_id', 'essms_id', name=op.f('pk_professional_essms'))
    )
    with op.batch_alter_table('professional_essms', schema=None) as batch_op:
        batch_op.create_index('ix_professional_essms_essms_id', ['essms_id', 'professional_id'], unique=False)

    op.create_table('usager',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('name_key', sa.String(length=300), nullable=False),
    sa.Column('date_naissance', sa.Date(), nullable=False),
    sa.Column('sexe', sa.String(length=2), nullable=False),
    sa.Column('identity_status', sa.String(length=5), nullable=False),
    sa.Column('essms_id', sa.Uuid(), nullable=True),
    sa.Column('identifiant_local', sa.String(length=200), nullable=True),
    sa.Column('ins_matricule', sa.String(length=15), nullable=True),
    sa.ForeignKeyConstraint(['essms_id'], ['essms.id'], name=op.f('fk_usager_essms_id_essms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usager'))
    )
    with op.batch_alter_table('usager', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_usager_date_naissance'), ['date_naissance'], unique=False)
        batch_op.create_index(batch_op.f('ix_usager_identifiant_local'), ['identifiant_local'], unique=False)
        batch_op.create_index('ix_usager_name_key_id', ['name_key', 'id'], unique=False)
        batch_op.create_index('uq_usager_ins_matricule', ['ins_matricule'], unique=True, sqlite_where=sa.text('ins_matricule IS NOT NULL'), postgresql_where=sa.text('ins_matricule IS NOT NULL'))

    op.create_table('contact',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('usager_id', sa.Uuid(), nullable=False),
    sa.Column('personne_de_confiance', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['usager_id'], ['usager.id'], name=op.f('fk_contact_usager_id_usager')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact'))
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_usager_id'), ['usager_id'], unique=False)
        batch_op.create_index('uq_contact_personne_de_confiance', ['usager_id'], unique=True, sqlite_where=sa.text('personne_de_confiance AND archived_at IS NULL'), postgresql_where=sa.text('personne_de_confiance AND archived_at IS NULL'))

    op.create_table('stay',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('usager_id', sa.Uuid(), nullable=False),
    sa.Column('essms_id', sa.Uuid(), nullable=False),
    sa.Column('date_entree', sa.Date(), nullable=True),
    sa.Column('date_sortie', sa.Date(), nullable=True),
    sa.Column('is_open', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['essms_id'], ['essms.id'], name=op.f('fk_stay_essms_id_essms')),
    sa.ForeignKeyConstraint(['usager_id'], ['usager.id'], name=op.f('fk_stay_usager_id_usager')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stay'))
    )
    with op.batch_alter_table('stay', schema=None) as batch_op:
        batch_op.create_index('ix_stay_essms_id_id', ['essms_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stay_usager_id'), ['usager_id'], unique=False)
        batch_op.create_index('uq_stay_open_per_essms', ['usager_id', 'essms_id'], unique=True, sqlite_where=sa.text('is_open AND archived_at IS NULL'), postgresql_where=sa.text('is_open AND archived_at IS NULL'))

    op.create_table('usager_essms',
    sa.Column('usager_id', sa.Uuid(), nullable=False),
    sa.Column('essms_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['essms_id'], ['essms.id'], name=op.f('fk_usager_essms_essms_id_essms')),
    sa.ForeignKeyConstraint(['usager_id'], ['usager.id'], name=op.f('fk_usager_essms_usager_id_usager'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('usager_id', 'essms_id', name=op.f('pk_usager_essms'))
    )
    with op.batch_alter_table('usager_essms', schema=None) as batch_op:
        batch_op.create_index('ix_usager_essms_essms_id', ['essms_id', 'usager_id'], unique=False)

    op.create_table('usager_search_token',
    sa.Column('usager_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=1), nullable=False),
    sa.Column('token', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['usager_id'], ['usager.id'], name=op.f('fk_usager_search_token_usager_id_usager'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('usager_id', 'kind', 'token', name=op.f('pk_usager_search_token'))
    )
    with op.batch_alter_table('usager_search_token', schema=None) as batch_op:
        batch_op.create_index('ix_usager_search_token_token', ['token', 'kind', 'usager_id'], unique=False)

    op.create_table('protection_measure',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('usager_id', sa.Uuid(), nullable=False),
    sa.Column('nature', sa.String(length=40), nullable=False),
    sa.Column('date_debut', sa.Date(), nullable=False),
    sa.Column('date_fin', sa.Date(), nullable=True),
    sa.Column('protecteur_contact_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['protecteur_contact_id'], ['contact.id'], name=op.f('fk_protection_measure_protecteur_contact_id_contact')),
    sa.ForeignKeyConstraint(['usager_id'], ['usager.id'], name=op.f('fk_protection_measure_usager_id_usager')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protection_measure'))
    )
    with op.batch_alter_table('protection_measure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_protection_measure_usager_id'), ['usager_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('protection_measure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_protection_measure_usager_id'))

    op.drop_table('protection_measure')
    with op.batch_alter_table('usager_search_token', schema=None) as batch_op:
        batch_op.drop_index('ix_usager_search_token_token')

    op.drop_table('usager_search_token')
    with op.batch_alter_table('usager_essms', schema=None) as batch_op:
        batch_op.drop_index('ix_usager_essms_essms_id')

    op.drop_table('usager_essms')
    with op.batch_alter_table('stay', schema=None) as batch_op:
        batch_op.drop_index('uq_stay_open_per_essms', sqlite_where=sa.text('is_open AND archived_at IS NULL'), postgresql_where=sa.text('is_open AND archived_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_stay_usager_id'))
        batch_op.drop_index('ix_stay_essms_id_id')

    op.drop_table('stay')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index('uq_contact_personne_de_confiance', sqlite_where=sa.text('personne_de_confiance AND archived_at IS NULL'), postgresql_where=sa.text('personne_de_confiance AND archived_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_contact_usager_id'))

    op.drop_table('contact')
    with op.batch_alter_table('usager', schema=None) as batch_op:
        batch_op.drop_index('uq_usager_ins_matricule', sqlite_where=sa.text('ins_matricule IS NOT NULL'), postgresql_where=sa.text('ins_matricule IS NOT NULL'))
        batch_op.drop_index('ix_usager_name_key_id')
        batch_op.drop_index(batch_op.f('ix_usager_identifiant_local'))
        batch_op.drop_index(batch_op.f('ix_usager_date_naissance'))

    op.drop_table('usager')
    with op.batch_alter_table('professional_essms', schema=None) as batch_op:
        batch_op.drop_index('ix_professional_essms_essms_id')

    op.drop_table('professional_essms')
    with op.batch_alter_table('essms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_essms_organisme_id'))
        batch_op.drop_index(batch_op.f('ix_essms_categorie'))

    op.drop_table('essms')
    with op.batch_alter_table('resource_history', schema=None) as batch_op:
        batch_op.drop_index('uq_resource_history_version')

    op.drop_table('resource_history')
    with op.batch_alter_table('professional', schema=None) as batch_op:
        batch_op.drop_index('uq_professional_rpps', sqlite_where=sa.text('rpps IS NOT NULL'), postgresql_where=sa.text('rpps IS NOT NULL'))
        batch_op.drop_index(batch_op.f('ix_professional_name_key'))
        batch_op.drop_index(batch_op.f('ix_professional_identifiant_local'))

    op.drop_table('professional')
    with op.batch_alter_table('organisme', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisme_name_key'))

    op.drop_table('organisme')
