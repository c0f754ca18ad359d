"""DMP outbox (one send request per document) and oppositions to the DMP feeding.

Revision ID: 0006_dmp
Revises: 0005_documents
Create Date: 2026-12-01 23:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_dmp"
down_revision = "0005_documents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dmp_outbox",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("unique_id", sa.String(length=200), nullable=False),
        sa.Column("usager_id", sa.Uuid(), nullable=False),
        sa.Column("essms_id", sa.Uuid(), nullable=False),
        sa.Column("type_code", sa.String(length=64), nullable=False),
        sa.Column("qualified", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=60), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"], ["cda_document.id"], name=op.f("fk_dmp_outbox_document_id_cda_document")
        ),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_dmp_outbox")),
    )
    with op.batch_alter_table("dmp_outbox", schema=None) as batch_op:
        batch_op.create_index("uq_dmp_outbox_unique_id", ["unique_id"], unique=True)
        batch_op.create_index("ix_dmp_outbox_due", ["status", "next_attempt_at"], unique=False)
    op.create_table(
        "dmp_opposition",
        sa.Column("usager_id", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["usager_id"], ["usager.id"], name=op.f("fk_dmp_opposition_usager_id_usager")),
        sa.PrimaryKeyConstraint("usager_id", name=op.f("pk_dmp_opposition")),
    )


def downgrade() -> None:
    op.drop_table("dmp_opposition")
    with op.batch_alter_table("dmp_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_dmp_outbox_due")
        batch_op.drop_index("uq_dmp_outbox_unique_id")
    op.drop_table("dmp_outbox")
