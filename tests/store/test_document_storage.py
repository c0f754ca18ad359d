"""On PostgreSQL the contents of documents are compressed with lz4 (or, without lz4, the PDF not at all): pglz
spent more on trying to compress an N1 document than storing it; what is read back is what was stored."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from app.domain.access import SYSTEM
from app.domain.documents import DocumentKind, DocumentRequest
from app.interop.cda.validation import CdaValidator
from app.services.documents import DocumentService
from app.store.db import Database
from tests.api import test_documents

edge = test_documents.edge


async def test_document_contents_are_stored_with_lz4(
    backend: str, clean_database: Database, edge: dict[str, str], cda_validator: CdaValidator
) -> None:
    if backend != "postgresql":
        pytest.skip("TOAST compression is PostgreSQL's")
    async with clean_database.read() as connection:
        lz4 = "lz4" in await connection.scalar(
            text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        )
        settings = {
            r.attname: (r.attcompression, r.attstorage)
            for r in await connection.execute(
                text(
                    "SELECT attname, attcompression::text AS attcompression, attstorage::text AS attstorage "
                    "FROM pg_attribute WHERE attrelid = 'cda_document'::regclass AND attname IN ('xml', 'pdf', 'html')"
                )
            )
        }
    if not lz4:
        assert settings["pdf"][1] == "e"
        return
    assert settings == {"xml": ("l", "x"), "pdf": ("l", "x"), "html": ("l", "x")}
    request = DocumentRequest(kind=DocumentKind.N1_PDF, type_code="80788-3")
    async with clean_database.read() as connection:
        prepared = await DocumentService(connection, SYSTEM, cda_validator, "DUI").prepare(
            uuid.UUID(edge["E-1"]), request
        )
    async with clean_database.write() as connection:
        await DocumentService(connection, SYSTEM, cda_validator, "DUI").store(prepared)
    async with clean_database.read() as connection:
        stored = (
            await connection.execute(
                text("SELECT xml, pdf, pg_column_compression(xml) AS method FROM cda_document WHERE id = :id"),
                {"id": prepared.document_id},
            )
        ).one()
    assert stored.method == "lz4"
    assert stored.xml.encode() == prepared.generated.xml and bytes(stored.pdf) == prepared.generated.pdf
