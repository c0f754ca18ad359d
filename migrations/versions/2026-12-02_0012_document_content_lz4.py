"""Document contents are compressed with lz4 on PostgreSQL, or not at all where the server lacks it.

A CDA document is stored with its XML, its PDF and its HTML rendering (~100 KB for an N1 document). With the
default pglz, PostgreSQL spent ~1.6 ms per document trying to compress them and kept them uncompressed (a
deflated PDF, and its base64 in the XML, hardly compress); lz4 costs a tenth of that, and still compresses the
XML of structured documents. A server built without lz4 stores the PDF without trying to compress it.

Revision ID: 0012_document_content_lz4
Revises: 0011_usager_search_prefixes
Create Date: 2026-12-02 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_document_content_lz4"
down_revision = "0011_usager_search_prefixes"
branch_labels = None
depends_on = None

COLUMNS = ("xml", "pdf", "html")


def _has_lz4(bind: sa.Connection) -> bool:
    choices = bind.scalar(sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"))
    return "lz4" in (choices or [])


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if _has_lz4(bind):
        changes = ", ".join(f"ALTER COLUMN {column} SET COMPRESSION lz4" for column in COLUMNS)
    else:
        changes = "ALTER COLUMN pdf SET STORAGE EXTERNAL"
    op.execute(f"ALTER TABLE cda_document {changes}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    changes = [f"ALTER COLUMN {column} SET COMPRESSION default" for column in COLUMNS if _has_lz4(bind)]
    changes.append("ALTER COLUMN pdf SET STORAGE EXTENDED")
    op.execute(f"ALTER TABLE cda_document {', '.join(changes)}")
