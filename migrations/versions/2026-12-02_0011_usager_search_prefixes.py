"""Trait search on PostgreSQL: the prefixes of every name key become lexemes of ``usager.search_vector``.

A prefix term of a tsquery (``'jean':*``) makes GIN gather the posting lists of every lexeme it starts into
a bitmap before intersecting (3 to 6 ms for a common first name at 100,000 usagers); the same term as an
exact lexeme is one posting list, skipped through beside the rarer term (0.2 to 1 ms). Keys stay at
positions 1 (names, weight A) and 2 (first names, weight B); their shorter prefixes go at positions 3 and 4,
which is how the downgrade finds the keys again. Nothing changes on SQLite (token rows and index ranges).

Revision ID: 0011_usager_search_prefixes
Revises: 0010_audit_chain_unique_previous
Create Date: 2026-12-02 16:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0011_usager_search_prefixes"
down_revision = "0010_audit_chain_unique_previous"
branch_labels = None
depends_on = None

# Same literal as app.store.repository.search_vector (repeated merges of a lexeme are merged by tsvector).
_WITH_PREFIXES = """
UPDATE usager SET search_vector = (
    SELECT string_agg(
        format('%L:%s%s', left(key.lexeme, length), CASE WHEN length = char_length(key.lexeme)
               THEN entry.position ELSE entry.position + 2 END, entry.weight), ' ')::tsvector
    FROM unnest(usager.search_vector) AS key,
         unnest(key.positions, key.weights) AS entry(position, weight),
         generate_series(1, char_length(key.lexeme)) AS length
    WHERE entry.position <= 2
)
WHERE search_vector IS NOT NULL
"""
_KEYS_ONLY = """
UPDATE usager SET search_vector = (
    SELECT string_agg(format('%L:%s%s', key.lexeme, entry.position, entry.weight), ' ')::tsvector
    FROM unnest(usager.search_vector) AS key, unnest(key.positions, key.weights) AS entry(position, weight)
    WHERE entry.position <= 2
)
WHERE search_vector IS NOT NULL
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_WITH_PREFIXES)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_KEYS_ONLY)
