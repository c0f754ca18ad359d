"""DMP updates (ITI-57): the operation and visibility of an outbox row, and the history of oppositions.

Revision ID: 0007_dmp_updates
Revises: 0006_dmp
Create Date: 2026-12-02 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_dmp_updates"
down_revision = "0006_dmp"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dmp_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("operation", sa.String(length=20), nullable=False, server_default="send"))
        batch_op.add_column(sa.Column("visibility", sa.String(length=200), nullable=True))
    op.create_table(
        "dmp_opposition_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("usager_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expressed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["usager_id"], ["usager.id"], name=op.f("fk_dmp_opposition_event_usager_id_usager")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmp_opposition_event")),
    )
    with op.batch_alter_table("dmp_opposition_event", schema=None) as batch_op:
        batch_op.create_index("ix_dmp_opposition_event_usager", ["usager_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dmp_opposition_event", schema=None) as batch_op:
        batch_op.drop_index("ix_dmp_opposition_event_usager")
    op.drop_table("dmp_opposition_event")
    with op.batch_alter_table("dmp_outbox", schema=None) as batch_op:
        batch_op.drop_column("visibility")
        batch_op.drop_column("operation")
