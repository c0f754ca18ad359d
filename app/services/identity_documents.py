"""Identity-document scans: encrypted at rest, one per usager, re-encrypted on key rotation, purged when stale."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.access import Principal
from app.domain.errors import NotFound
from app.domain.sealing import seal, unseal
from app.services.usagers import UsagerService
from app.store.db import Database
from app.store.security import DocumentRepository, DocumentRow

Keyring = tuple[str, dict[str, bytes]]


@dataclass(frozen=True)
class OpenedDocument:
    row: DocumentRow
    content: bytes


class IdentityDocumentService:
    def __init__(self, connection: AsyncConnection, principal: Principal, keyring: Keyring) -> None:
        self.connection = connection
        self.principal = principal
        self.active, self.keys = keyring
        self.repo = DocumentRepository(connection)

    async def put(self, usager_id: uuid.UUID, kind: str, content_type: str, content: bytes) -> DocumentRow:
        await UsagerService(self.connection, self.principal).get(usager_id)  # scoped: 404 outside the caller's ESSMS
        nonce, ciphertext = seal(self.keys[self.active], self.active, usager_id, content)
        row = DocumentRow(
            id=uuid.uuid4(),
            usager_id=usager_id,
            kind=kind,
            content_type=content_type,
            size=len(content),
            key_id=self.active,
            nonce=nonce,
            ciphertext=ciphertext,
            uploaded_at=datetime.now(UTC),
            uploaded_by=self.principal.actor,
        )
        await self.repo.put(row)
        return row

    async def get(self, usager_id: uuid.UUID) -> OpenedDocument:
        await UsagerService(self.connection, self.principal).get(usager_id)
        row = await self.repo.get(usager_id)
        if row is None:
            raise NotFound(f"Usager {usager_id} has no identity document")
        key = self.keys.get(row.key_id)
        if key is None:
            raise NotFound(f"The key {row.key_id} of this document is no longer configured")
        return OpenedDocument(row, unseal(key, row.key_id, usager_id, row.nonce, row.ciphertext))

    async def delete(self, usager_id: uuid.UUID) -> None:
        await UsagerService(self.connection, self.principal).get(usager_id)
        if not await self.repo.delete(usager_id):
            raise NotFound(f"Usager {usager_id} has no identity document")


async def rotate(database: Database, keyring: Keyring, batch: int = 200) -> int:
    """Re-encrypt every scan sealed with another key than the active one; returns how many."""
    active, keys = keyring
    done = 0
    while True:
        async with database.write() as connection:
            repo = DocumentRepository(connection)
            rows = await repo.not_on_key(active, batch)
            for row in rows:
                plain = unseal(keys[row.key_id], row.key_id, row.usager_id, row.nonce, row.ciphertext)
                nonce, ciphertext = seal(keys[active], active, row.usager_id, plain)
                await repo.reseal(row.id, row.key_id, active, nonce, ciphertext)
        done += len(rows)
        if len(rows) < batch:
            return done


async def purge(database: Database, years: int, now: datetime | None = None) -> list[uuid.UUID]:
    """Delete the scans of usagers without activity for ``years`` (INS 52); returns their usager ids."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=365 * years + years // 4)
    async with database.write() as connection:
        repo = DocumentRepository(connection)
        stale = await repo.inactive_usagers(cutoff)
        for usager_id in stale:
            await repo.delete(usager_id)
    return stale
