"""Sources of the batch-fed DMP documents (idempotency of `dui dmp feed`).

Revision ID: 0008_dmp_feed
Revises: 0007_dmp_updates
Create Date: 2026-12-02 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_dmp_feed"
down_revision = "0007_dmp_updates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dmp_feed_source",
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("source_version", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("usager_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["cda_document.id"], name=op.f("fk_dmp_feed_source_document_id_cda_document")
        ),
        sa.PrimaryKeyConstraint("source_kind", "source_id", "source_version", name=op.f("pk_dmp_feed_source")),
    )
    with op.batch_alter_table("dmp_feed_source", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dmp_feed_source_usager_id"), ["usager_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dmp_feed_source", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dmp_feed_source_usager_id"))
    op.drop_table("dmp_feed_source")
