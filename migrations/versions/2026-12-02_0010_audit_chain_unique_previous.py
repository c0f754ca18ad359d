"""The audit chain stays linear without a lock: one successor per event.

An append chains to the head its process knows and is one statement on PostgreSQL; when another process
appended meanwhile, the unique previous hash refuses the fork and the append starts again from the new head.

Revision ID: 0010_audit_chain_unique_previous
Revises: 0009_usager_search_vector
Create Date: 2026-12-02 16:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0010_audit_chain_unique_previous"
down_revision = "0009_usager_search_vector"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A unique index rather than a constraint: SQLite cannot add a constraint to an existing table, and a
    # batch copy would cascade-delete the events' usager links.
    op.create_index("uq_audit_event_prev_hash", "audit_event", ["prev_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_audit_event_prev_hash", table_name="audit_event")
