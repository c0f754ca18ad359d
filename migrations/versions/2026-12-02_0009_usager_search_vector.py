"""Trait search on PostgreSQL through a GIN-indexed tsvector of the usager's name keys.

The prefix ranges on usager_search_token, intersected per word, cost several milliseconds for common names
at 100,000 usagers; a GIN index answers ``'martin':* & 'marie':*`` from its posting lists. SQLite keeps the
token table; the column stays NULL there.

Revision ID: 0009_usager_search_vector
Revises: 0008_dmp_feed
Create Date: 2026-12-02 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009_usager_search_vector"
down_revision = "0008_dmp_feed"
branch_labels = None
depends_on = None

# Names at position 1 with weight A, first names at position 2 with weight B (see UsagerRepository).
_VECTOR_OF_TOKENS = """
UPDATE usager SET search_vector = keys.vector
FROM (
    SELECT usager_id,
           string_agg(format('%L:%s', token, CASE kind WHEN 'n' THEN '1A' ELSE '2B' END), ' ')::tsvector AS vector
    FROM usager_search_token GROUP BY usager_id
) AS keys
WHERE keys.usager_id = usager.id
"""
_TOKENS_OF_VECTOR = """
INSERT INTO usager_search_token (usager_id, kind, token)
SELECT usager.id, CASE weight WHEN 'A' THEN 'n' ELSE 'p' END, key.lexeme
FROM usager, unnest(usager.search_vector) AS key, unnest(key.weights) AS weight
WHERE usager.search_vector IS NOT NULL
GROUP BY 1, 2, 3
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    column_type = postgresql.TSVECTOR() if postgres else sa.Text()
    # Plain ALTER TABLE, no batch copy: on SQLite, dropping the copied table would cascade to the tokens.
    op.add_column("usager", sa.Column("search_vector", column_type, nullable=True))
    if postgres:
        op.execute(_VECTOR_OF_TOKENS)
        op.execute("DELETE FROM usager_search_token")
    op.create_index("ix_usager_search_vector", "usager", ["search_vector"], postgresql_using="gin")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_TOKENS_OF_VECTOR)
    op.drop_index("ix_usager_search_vector", table_name="usager")
    op.drop_column("usager", "search_vector")  # SQLite >= 3.35 drops a column in place
