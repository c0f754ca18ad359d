"""On PostgreSQL the contents of documents are compressed with lz4 (or, without lz4, the PDF not at all): pglz
spent more on trying to compress an N1 document than storing it; what is read back is what was stored. The PDF an N1
document embeds is stored once, in its XML."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text

from app.domain.access import SYSTEM
from app.domain.documents import DocumentKind, DocumentRequest
from app.interop.cda.document import embedded_pdf
from app.interop.cda.validation import CdaValidator
from app.services.documents import DocumentService, PreparedDocument
from app.store.db import Database
from app.store.documents import DOCUMENTS
from tests.api import test_documents

edge = test_documents.edge


async def _store_n1(database: Database, usager_id: uuid.UUID, validator: CdaValidator) -> PreparedDocument:
    """An N1 document prepared and stored as the API does it."""
    request = DocumentRequest(kind=DocumentKind.N1_PDF, type_code="80788-3")
    async with database.read() as connection:
        prepared = await DocumentService(connection, SYSTEM, validator, "DUI").prepare(usager_id, request)
    async with database.write() as connection:
        await DocumentService(connection, SYSTEM, validator, "DUI").store(prepared)
    return prepared


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
    prepared = await _store_n1(clean_database, uuid.UUID(edge["E-1"]), cda_validator)
    async with clean_database.read() as connection:
        stored = (
            await connection.execute(
                text("SELECT xml, pg_column_compression(xml) AS method FROM cda_document WHERE id = :id"),
                {"id": prepared.document_id},
            )
        ).one()
    assert stored.method == "lz4"
    assert stored.xml.encode() == prepared.generated.xml


async def test_the_pdf_an_n1_document_embeds_is_stored_once(
    clean_database: Database, edge: dict[str, str], cda_validator: CdaValidator
) -> None:
    prepared = await _store_n1(clean_database, uuid.UUID(edge["E-1"]), cda_validator)
    async with clean_database.read() as connection:
        column = await connection.scalar(select(DOCUMENTS.c.pdf).where(DOCUMENTS.c.id == prepared.document_id))
        xml, pdf, _ = await DocumentService(connection, SYSTEM, cda_validator, "DUI").content(prepared.document_id)
    assert column is None
    assert pdf == prepared.generated.pdf and pdf.startswith(b"%PDF-")
    assert embedded_pdf(xml) == pdf


def test_a_structured_document_embeds_no_pdf(shared_specs: Path) -> None:
    example = shared_specs / "cda/TestContenuCDA-3-0/ExemplesCDA/DLU-EHPAD-DLU_2022.01.xml"
    assert embedded_pdf(example.read_bytes()) is None
