"""CDA documents of usagers (generated, uploaded or received), immutable, versioned by set_id.

Revision ID: 0005_documents
Revises: 0001
Create Date: 2026-12-01 21:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_documents"
down_revision = "0004_accompaniment"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cda_document",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("usager_id", sa.Uuid(), nullable=False),
        sa.Column("essms_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("type_code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("set_id", sa.String(length=128), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("replaces_id", sa.Uuid(), nullable=True),
        sa.Column("replaced_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("xds", sa.Text(), nullable=False),
        sa.Column("validation", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["essms_id"], ["essms.id"], name=op.f("fk_cda_document_essms_id_essms")),
        sa.ForeignKeyConstraint(
            ["replaces_id"], ["cda_document.id"], name=op.f("fk_cda_document_replaces_id_cda_document")
        ),
        sa.ForeignKeyConstraint(["usager_id"], ["usager.id"], name=op.f("fk_cda_document_usager_id_usager")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cda_document")),
    )
    with op.batch_alter_table("cda_document", schema=None) as batch_op:
        batch_op.create_index("uq_cda_document_set_version", ["set_id", "version_number"], unique=True)
        batch_op.create_index("ix_cda_document_usager_created", ["usager_id", "created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cda_document", schema=None) as batch_op:
        batch_op.drop_index("ix_cda_document_usager_created")
        batch_op.drop_index("uq_cda_document_set_version")
    op.drop_table("cda_document")
