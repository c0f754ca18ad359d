"""Identity-document scans: AES-GCM at rest, bound to their usager, key rotation, purge after 5 years."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from app.config import Settings
from app.domain.sealing import SealError, unseal
from app.services import identity_documents as documents
from app.store.db import Database
from app.store.security import DOCUMENT, USAGER
from tests import factories
from tests.conftest import TEST_DOCUMENT_KEY

pytestmark = pytest.mark.usefixtures("backend")
SCAN = b"%PDF-1.4\n" + b"carte nationale d'identite MARTIN Jeanne " * 50


async def test_upload_read_replace_delete(client: httpx.AsyncClient, clean_database: Database) -> None:
    usager = await factories.usager(client)
    url = f"/usagers/{usager['id']}/identity-document"
    assert (await client.get(url)).status_code == 404
    stored = await client.put(url, content=SCAN, headers={"Content-Type": "application/pdf"}, params={"kind": "cni"})
    assert stored.status_code == 200 and stored.json()["size"] == len(SCAN)
    read = await client.get(url)
    assert read.content == SCAN and read.headers["content-type"] == "application/pdf"
    async with clean_database.read() as connection:
        row = (await connection.execute(select(DOCUMENT))).one()
    assert b"MARTIN" not in bytes(row.ciphertext) and row.key_id == "test-1"  # encrypted at rest
    wrong = await client.put(url, content=b"x", headers={"Content-Type": "text/plain"})
    assert wrong.status_code == 415
    empty = await client.put(url, content=b"", headers={"Content-Type": "image/png"})
    assert empty.status_code == 422
    assert (await client.put(url, content=b"\x89PNG", headers={"Content-Type": "image/png"})).status_code == 200
    assert (await client.get(url)).content == b"\x89PNG"  # one per usager: replaced
    assert (await client.delete(url)).status_code == 204
    assert (await client.get(url)).status_code == 404


async def test_ciphertext_is_bound_to_its_usager(client: httpx.AsyncClient, clean_database: Database) -> None:
    first, second = await factories.usager(client), await factories.usager(client)
    await client.put(f"/usagers/{first['id']}/identity-document", content=SCAN, headers={"Content-Type": "image/jpeg"})
    async with clean_database.read() as connection:
        row = (await connection.execute(select(DOCUMENT))).one()
    key = base64.b64decode(TEST_DOCUMENT_KEY)
    assert unseal(key, row.key_id, uuid.UUID(first["id"]), row.nonce, row.ciphertext) == SCAN
    with pytest.raises(SealError):  # moved to another usager's row, it no longer opens
        unseal(key, row.key_id, uuid.UUID(second["id"]), row.nonce, row.ciphertext)


async def test_key_rotation(settings: Settings, client: httpx.AsyncClient, clean_database: Database) -> None:
    usager = await factories.usager(client)
    url = f"/usagers/{usager['id']}/identity-document"
    await client.put(url, content=SCAN, headers={"Content-Type": "application/pdf"})
    new_key = base64.b64encode(b"n" * 32).decode()
    rotated = settings.model_copy(
        update={
            "document_keys": {**settings.document_keys, "test-2": SecretStr(new_key)},
            "document_active_key": "test-2",
        }
    )
    assert await documents.rotate(clean_database, rotated.document_keyring()) == 1
    assert await documents.rotate(clean_database, rotated.document_keyring()) == 0
    async with clean_database.read() as connection:
        assert (await connection.scalar(select(DOCUMENT.c.key_id))) == "test-2"
    only_new = settings.model_copy(update={"document_keys": {"test-2": SecretStr(new_key)}})
    from app.main import create_app
    from tests.conftest import http_client, issue_token

    app = create_app(only_new, database=clean_database)
    async with http_client(app, await issue_token(clean_database, "after-rotation", superuser=True)) as http:
        assert (await http.get(url)).content == SCAN  # the old key is no longer needed


async def test_purge_after_five_years_without_activity(client: httpx.AsyncClient, clean_database: Database) -> None:
    home = await factories.essms(client)
    idle, active, staying = [await factories.usager(client, essms_id=home["id"]) for _ in range(3)]
    await factories.stay(client, staying["id"], home["id"])
    for person in (idle, active, staying):
        url = f"/usagers/{person['id']}/identity-document"
        await client.put(url, content=SCAN, headers={"Content-Type": "application/pdf"})
    long_ago = datetime.now(UTC) - timedelta(days=6 * 365)
    async with clean_database.write() as connection:
        await connection.execute(update(DOCUMENT).values(uploaded_at=long_ago))
        await connection.execute(
            update(USAGER)
            .where(USAGER.c.id.in_([uuid.UUID(idle["id"]), uuid.UUID(staying["id"])]))
            .values(updated_at=long_ago)
        )
    purged = await documents.purge(clean_database, 5)
    assert [str(u) for u in purged] == [idle["id"]]  # the other two: recent record change, open stay
    assert (await client.get(f"/usagers/{idle['id']}/identity-document")).status_code == 404
    assert (await client.get(f"/usagers/{active['id']}/identity-document")).status_code == 200


async def test_size_limits(settings: Settings, clean_database: Database) -> None:
    from app.main import create_app
    from tests.conftest import http_client, issue_token

    small = settings.model_copy(update={"max_scan_bytes": 4096, "max_body_bytes": 1024})
    app = create_app(small, database=clean_database)
    async with http_client(app, await issue_token(clean_database, "limits", superuser=True)) as http:
        usager = await factories.usager(http)
        url = f"/usagers/{usager['id']}/identity-document"
        scan = b"%PDF" + b"0" * 3000  # above the JSON limit, below the scan limit
        assert (await http.put(url, content=scan, headers={"Content-Type": "application/pdf"})).status_code == 200
        too_big = await http.put(url, content=b"0" * 5000, headers={"Content-Type": "application/pdf"})
        assert too_big.status_code == 413
        assert (await http.post("/usagers", content=b"{" + b" " * 2000 + b"}")).status_code == 413
