"""Identity: proofs, INSi call journal, identity traces, duplicate keys.

Revision ID: 0003_identity
Revises: 0001
Create Date: 2026-12-01 21:50:00
"""

from __future__ import annotations

import json
import uuid
from datetime import date

import sqlalchemy as sa
from alembic import op

revision = '0003_identity'
down_revision = '0002_security'
branch_labels = None
depends_on = None


def _trace_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('identity_proof',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('usager_id', sa.Uuid(), nullable=False),
    sa.Column('proof_type', sa.String(length=40), nullable=False),
    sa.Column('confidence', sa.String(length=10), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('scan_id', sa.Uuid(), nullable=True),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['usager_id'], ['usager.id'], name=op.f('fk_identity_proof_usager_id_usager')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_proof'))
    )
    with op.batch_alter_table('identity_proof', schema=None) as batch_op:
        batch_op.create_index('ix_identity_proof_usager_id', ['usager_id', 'recorded_at'], unique=False)

    op.create_table('insi_call',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('usager_id', sa.Uuid(), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('called_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('message_id', sa.String(length=80), nullable=False),
    sa.Column('request_traits', sa.Text(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('code_cr', sa.String(length=4), nullable=True),
    sa.Column('fault_code', sa.String(length=40), nullable=True),
    sa.Column('returned_identity', sa.Text(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insi_call'))
    )
    with op.batch_alter_table('insi_call', schema=None) as batch_op:
        batch_op.create_index('ix_insi_call_usager_id', ['usager_id', 'called_at'], unique=False)
        batch_op.create_index('ix_insi_call_called_at', ['called_at'], unique=False)

    op.create_table('identity_trace',
    sa.Column('id', _trace_id(), autoincrement=True, nullable=False),
    sa.Column('usager_id', sa.Uuid(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_trace'))
    )
    with op.batch_alter_table('identity_trace', schema=None) as batch_op:
        batch_op.create_index('ix_identity_trace_usager_id', ['usager_id', 'at'], unique=False)
        batch_op.create_index('ix_identity_trace_at', ['at'], unique=False)

    op.create_table('usager_duplicate_key',
    sa.Column('usager_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['usager_id'], ['usager.id'], name=op.f('fk_usager_duplicate_key_usager_id_usager'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('usager_id', name=op.f('pk_usager_duplicate_key'))
    )
    with op.batch_alter_table('usager_duplicate_key', schema=None) as batch_op:
        batch_op.create_index('ix_usager_duplicate_key_key', ['key', 'usager_id'], unique=False)

    _backfill_duplicate_keys()


def _backfill_duplicate_keys() -> None:
    """Existing usagers get their key computed from the stored record."""
    from app.domain.ins import duplicate_key

    connection = op.get_bind()
    rows = connection.execute(sa.text('SELECT id, body FROM usager WHERE archived_at IS NULL')).all()
    table = sa.table('usager_duplicate_key', sa.column('usager_id', sa.Uuid()), sa.column('key', sa.String()))
    values = []
    for row in rows:
        body = json.loads(row.body)
        key = duplicate_key(body['nom_naissance'], body['premier_prenom'], date.fromisoformat(body['date_naissance']),
                            body['sexe'])
        values.append({'usager_id': uuid.UUID(str(row.id)), 'key': key})
    if values:
        op.bulk_insert(table, values)


def downgrade() -> None:
    with op.batch_alter_table('usager_duplicate_key', schema=None) as batch_op:
        batch_op.drop_index('ix_usager_duplicate_key_key')
    op.drop_table('usager_duplicate_key')
    with op.batch_alter_table('identity_trace', schema=None) as batch_op:
        batch_op.drop_index('ix_identity_trace_at')
        batch_op.drop_index('ix_identity_trace_usager_id')
    op.drop_table('identity_trace')
    with op.batch_alter_table('insi_call', schema=None) as batch_op:
        batch_op.drop_index('ix_insi_call_called_at')
        batch_op.drop_index('ix_insi_call_usager_id')
    op.drop_table('insi_call')
    with op.batch_alter_table('identity_proof', schema=None) as batch_op:
        batch_op.drop_index('ix_identity_proof_usager_id')
    op.drop_table('identity_proof')
