"""SQL of the batch DMP feeding: the ESSMS of a FINESS, their usagers, the sources of their documents and
the idempotency keys (which source version a document was made from)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import desc, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.store import tables
from app.store.repository import USAGER_ESSMS

ESSMS = tables.Essms.__table__  # type: ignore[attr-defined]
ORGANISMES = tables.Organisme.__table__  # type: ignore[attr-defined]
USAGERS = tables.Usager.__table__  # type: ignore[attr-defined]
PLANS = tables.Plan.__table__  # type: ignore[attr-defined]
EVALUATIONS = tables.Evaluation.__table__  # type: ignore[attr-defined]
DOCUMENTS = tables.CdaDocument.__table__  # type: ignore[attr-defined]
SOURCES = tables.DmpFeedSource.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class FedEssms:
    id: uuid.UUID
    finess_et: str
    categorie: str


@dataclass(frozen=True)
class Source:
    """A record version a document is made from."""

    kind: str  # the DocumentKind: PPA or AGGIR
    id: uuid.UUID
    version: int
    updated_at: datetime


class DmpFeedRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def essms_of_finess(self, finess: str) -> tuple[str, list[FedEssms]] | None:
        """('essms', [it]) for a FINESS géographique, ('organisme', its ESSMS) for a FINESS juridique."""
        columns = (ESSMS.c.id, ESSMS.c.finess_et, ESSMS.c.categorie)
        rows = list(
            await self.connection.execute(
                select(*columns).where(ESSMS.c.finess_et == finess, ESSMS.c.archived_at.is_(None))
            )
        )
        if rows:
            return "essms", [FedEssms(*r) for r in rows]
        organisme = await self.connection.scalar(
            select(ORGANISMES.c.id).where(ORGANISMES.c.finess_ej == finess, ORGANISMES.c.archived_at.is_(None))
        )
        if organisme is None:
            return None
        rows = list(
            await self.connection.execute(
                select(*columns)
                .where(ESSMS.c.organisme_id == organisme, ESSMS.c.archived_at.is_(None))
                .order_by(ESSMS.c.finess_et)
            )
        )
        return "organisme", [FedEssms(*r) for r in rows]

    async def usagers_of(self, essms_ids: list[uuid.UUID]) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(usager, ESSMS) of the active usagers the ESSMS know, in a stable order (one ESSMS per usager)."""
        rows = await self.connection.execute(
            select(USAGER_ESSMS.c.usager_id, USAGER_ESSMS.c.essms_id)
            .join(USAGERS, USAGERS.c.id == USAGER_ESSMS.c.usager_id)
            .where(USAGER_ESSMS.c.essms_id.in_(essms_ids), USAGERS.c.archived_at.is_(None))
            .order_by(USAGER_ESSMS.c.usager_id, USAGER_ESSMS.c.essms_id)
        )
        seen: dict[uuid.UUID, uuid.UUID] = {}
        for usager_id, essms_id in rows:
            seen.setdefault(usager_id, essms_id)
        return list(seen.items())

    async def current_plan(self, usager_id: uuid.UUID, essms_id: uuid.UUID) -> Source | None:
        """The plan version in force (validated or in progress) of the usager in that ESSMS."""
        row = (
            await self.connection.execute(
                select(PLANS.c.id, PLANS.c.version, PLANS.c.updated_at)
                .where(
                    PLANS.c.usager_id == usager_id,
                    PLANS.c.essms_id == essms_id,
                    PLANS.c.in_force.is_(True),
                    PLANS.c.archived_at.is_(None),
                )
                .order_by(desc(PLANS.c.date_debut), desc(PLANS.c.numero_version))
                .limit(1)
            )
        ).first()
        return Source("PPA", row.id, row.version, row.updated_at) if row else None

    async def latest_aggir(self, usager_id: uuid.UUID) -> Source | None:
        row = (
            await self.connection.execute(
                select(EVALUATIONS.c.id, EVALUATIONS.c.version, EVALUATIONS.c.updated_at)
                .where(
                    EVALUATIONS.c.usager_id == usager_id,
                    EVALUATIONS.c.grille == "aggir",
                    EVALUATIONS.c.archived_at.is_(None),
                )
                .order_by(desc(EVALUATIONS.c.date_evaluation), desc(EVALUATIONS.c.created_at), desc(EVALUATIONS.c.id))
                .limit(1)
            )
        ).first()
        return Source("AGGIR", row.id, row.version, row.updated_at) if row else None

    async def has_current_document(self, usager_id: uuid.UUID, kind: str) -> bool:
        found = await self.connection.scalar(
            select(DOCUMENTS.c.id)
            .where(DOCUMENTS.c.usager_id == usager_id, DOCUMENTS.c.kind == kind, DOCUMENTS.c.replaced_by_id.is_(None))
            .limit(1)
        )
        return found is not None

    async def generated(self, source: Source) -> uuid.UUID | None:
        """The document already made from this source version, if any."""
        found = await self.connection.scalar(
            select(SOURCES.c.document_id).where(
                SOURCES.c.source_kind == source.kind,
                SOURCES.c.source_id == source.id,
                SOURCES.c.source_version == source.version,
            )
        )
        return found if isinstance(found, uuid.UUID) else (uuid.UUID(str(found)) if found else None)

    async def record(self, source: Source, document_id: uuid.UUID, usager_id: uuid.UUID, now: datetime) -> None:
        await self.connection.execute(
            insert(SOURCES).values(
                source_kind=source.kind,
                source_id=source.id,
                source_version=source.version,
                document_id=document_id,
                usager_id=usager_id,
                created_at=now,
            )
        )
