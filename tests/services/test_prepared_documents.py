"""A document prepared (built and validated) outside the write transaction is stored and queued in one, and a
replacement prepared before another one came first is refused when stored."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text

from app.domain.access import SYSTEM
from app.domain.documents import DocumentKind, DocumentRequest
from app.domain.errors import Conflict
from app.interop.cda.validation import CdaValidator
from app.services.documents import DocumentService
from app.store.db import Database
from tests.api import test_documents
from tests.api.test_documents import _generate

pytestmark = pytest.mark.usefixtures("backend")
edge = test_documents.edge


async def _count(database: Database, table: str) -> int:
    async with database.read() as connection:
        return int(await connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


async def test_prepare_writes_nothing_and_store_queues_the_document(
    clean_database: Database, edge: dict[str, str], cda_validator: CdaValidator
) -> None:
    request = DocumentRequest(kind=DocumentKind.N1_PDF, type_code="80788-3")
    before = await _count(clean_database, "cda_document"), await _count(clean_database, "dmp_outbox")
    async with clean_database.read() as connection:
        prepared = await DocumentService(connection, SYSTEM, cda_validator, "DUI").prepare(
            uuid.UUID(edge["E-1"]), request
        )
    assert prepared.report.valid and prepared.generated.xml.startswith(b"<?xml")
    assert (await _count(clean_database, "cda_document"), await _count(clean_database, "dmp_outbox")) == before
    async with clean_database.write() as connection:
        stored = await DocumentService(connection, SYSTEM, cda_validator, "DUI").store(prepared)
    assert stored.row.id == prepared.document_id
    assert await _count(clean_database, "cda_document") == before[0] + 1
    assert await _count(clean_database, "dmp_outbox") == before[1] + 1


async def test_a_replacement_prepared_before_another_is_refused_when_stored(
    client: httpx.AsyncClient, clean_database: Database, edge: dict[str, str], cda_validator: CdaValidator
) -> None:
    first = (await _generate(client, edge["E-1"])).json()
    request = DocumentRequest(kind=DocumentKind.N1_PDF, type_code="80788-3", replaces=uuid.UUID(first["id"]))
    async with clean_database.read() as connection:
        prepared = await DocumentService(connection, SYSTEM, cda_validator, "DUI").prepare(
            uuid.UUID(edge["E-1"]), request
        )
    assert (await _generate(client, edge["E-1"], replaces=first["id"])).status_code == 201
    with pytest.raises(Conflict):
        async with clean_database.write() as connection:
            await DocumentService(connection, SYSTEM, cda_validator, "DUI").store(prepared)
    versions = (await client.get(f"/usagers/{edge['E-1']}/documents", params={"set_id": first["set_id"]})).json()
    assert [d["version_number"] for d in versions["items"]] == [2, 1]
