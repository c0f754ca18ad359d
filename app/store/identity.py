"""SQL of the identity workflow: proofs, the INSi call journal, identity traces, duplicate keys."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from app.domain.access import Principal
from app.store import tables
from app.store.pg_bulk import insert_rows
from app.store.repository import USAGER_ESSMS


def _t(model: type[Any]) -> Table:
    return model.__table__  # type: ignore[no-any-return]


PROOF = _t(tables.IdentityProof)
INSI_CALL = _t(tables.InsiCall)
TRACE = _t(tables.IdentityTrace)
DUP = _t(tables.UsagerDuplicateKey)
USAGER = _t(tables.Usager)


@dataclass(frozen=True)
class ProofRow:
    id: uuid.UUID
    usager_id: uuid.UUID
    proof_type: str
    confidence: str
    reference: str | None
    scan_id: uuid.UUID | None
    recorded_by: str
    recorded_at: datetime
    withdrawn_at: datetime | None

    def document(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in asdict(self).items()}


def _visible(usager_column: Any, principal: Principal) -> list[ColumnElement[bool]]:
    if principal.scope.unrestricted:
        return []
    assert principal.scope.essms_ids is not None
    return [
        usager_column.in_(
            select(USAGER_ESSMS.c.usager_id).where(USAGER_ESSMS.c.essms_id.in_(principal.scope.essms_ids))
        )
    ]


class IdentityJournal:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    # -- traces --------------------------------------------------------------------------------------
    async def trace(self, usager_id: uuid.UUID, actor: str, at: datetime, action: str, detail: dict[str, Any]) -> None:
        await self.connection.execute(
            insert(TRACE).values(
                usager_id=usager_id, actor=actor, at=at, action=action, detail=orjson.dumps(detail).decode()
            )
        )

    async def traces(
        self,
        usager_id: uuid.UUID | None,
        since: datetime | None,
        until: datetime | None,
        after: int | None,
        limit: int,
        principal: Principal,
    ) -> list[dict[str, Any]]:
        c = TRACE.c
        conditions: list[ColumnElement[bool]] = [*_visible(c.usager_id, principal)]
        if usager_id is not None:
            conditions.append(c.usager_id == usager_id)
        if since is not None:
            conditions.append(c.at >= since)
        if until is not None:
            conditions.append(c.at < until)
        if after is not None:
            conditions.append(c.id > after)
        rows = (await self.connection.execute(select(TRACE).where(*conditions).order_by(c.id).limit(limit))).all()
        return [
            {
                "id": r.id,
                "usager_id": str(r.usager_id),
                "actor": r.actor,
                "at": r.at,
                "action": r.action,
                "detail": orjson.loads(r.detail),
            }
            for r in rows
        ]

    async def insert_many(self, calls: list[dict[str, Any]], traces: list[dict[str, Any]]) -> None:
        """INSi call rows and trace rows (``detail`` already JSON), each list in one statement."""
        if calls:
            await self.connection.execute(insert(INSI_CALL), calls)
        if traces and self.connection.dialect.name == "postgresql":
            await insert_rows(self.connection, TRACE, traces)  # read traces come with every identity read
        elif traces:
            await self.connection.execute(insert(TRACE), traces)

    async def insi_calls(
        self,
        usager_id: uuid.UUID | None,
        since: datetime | None,
        until: datetime | None,
        after: uuid.UUID | None,
        limit: int,
        principal: Principal,
    ) -> list[dict[str, Any]]:
        c = INSI_CALL.c
        conditions: list[ColumnElement[bool]] = [*_visible(c.usager_id, principal)]
        if usager_id is not None:
            conditions.append(c.usager_id == usager_id)
        if since is not None:
            conditions.append(c.called_at >= since)
        if until is not None:
            conditions.append(c.called_at < until)
        if after is not None:
            conditions.append(c.id > after)
        rows = (await self.connection.execute(select(INSI_CALL).where(*conditions).order_by(c.id).limit(limit))).all()
        return [
            {
                "id": str(r.id),
                "usager_id": str(r.usager_id) if r.usager_id else None,
                "actor": r.actor,
                "called_at": r.called_at,
                "purpose": r.purpose,
                "message_id": r.message_id,
                "request_traits": orjson.loads(r.request_traits),
                "outcome": r.outcome,
                "code_cr": r.code_cr,
                "fault_code": r.fault_code,
                "returned_identity": orjson.loads(r.returned_identity) if r.returned_identity else None,
                "detail": r.detail,
                "duration_ms": r.duration_ms,
            }
            for r in rows
        ]

    # -- proofs --------------------------------------------------------------------------------------
    async def add_proof(self, proof: ProofRow) -> None:
        await self.connection.execute(insert(PROOF).values(**asdict(proof)))

    async def proofs(self, usager_id: uuid.UUID) -> list[ProofRow]:
        rows = (
            await self.connection.execute(
                select(PROOF).where(PROOF.c.usager_id == usager_id).order_by(PROOF.c.recorded_at, PROOF.c.id)
            )
        ).all()
        return [
            ProofRow(
                r.id,
                r.usager_id,
                r.proof_type,
                r.confidence,
                r.reference,
                r.scan_id,
                r.recorded_by,
                r.recorded_at,
                r.withdrawn_at,
            )
            for r in rows
        ]

    async def withdraw_proof(self, usager_id: uuid.UUID, proof_id: uuid.UUID, at: datetime) -> bool:
        result = await self.connection.execute(
            update(PROOF)
            .where(PROOF.c.id == proof_id, PROOF.c.usager_id == usager_id, PROOF.c.withdrawn_at.is_(None))
            .values(withdrawn_at=at)
        )
        return bool(result.rowcount == 1)

    async def move_proofs(self, from_id: uuid.UUID, to_id: uuid.UUID) -> int:
        result = await self.connection.execute(
            update(PROOF).where(PROOF.c.usager_id == from_id).values(usager_id=to_id)
        )
        return int(result.rowcount or 0)

    async def essms_of(self, usager_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await self.connection.execute(
            select(USAGER_ESSMS.c.essms_id).where(USAGER_ESSMS.c.usager_id == usager_id)
        )
        return [r.essms_id for r in rows]

    # -- duplicates ----------------------------------------------------------------------------------
    async def set_key(self, usager_id: uuid.UUID, key: str | None) -> None:
        await self.connection.execute(delete(DUP).where(DUP.c.usager_id == usager_id))
        if key is not None:
            await self.connection.execute(insert(DUP).values(usager_id=usager_id, key=key))

    async def same_key(self, usager_id: uuid.UUID, key: str) -> list[uuid.UUID]:
        rows = await self.connection.execute(
            select(DUP.c.usager_id).where(DUP.c.key == key, DUP.c.usager_id != usager_id).order_by(DUP.c.usager_id)
        )
        return [r.usager_id for r in rows]

    async def duplicate_groups(self, limit: int, principal: Principal) -> list[tuple[str, list[dict[str, Any]]]]:
        visible = _visible(DUP.c.usager_id, principal)
        keys = (
            select(DUP.c.key)
            .where(*visible)
            .group_by(DUP.c.key)
            .having(func.count() > 1)
            .order_by(DUP.c.key)
            .limit(limit)
            .subquery()
        )
        rows = (
            await self.connection.execute(
                select(DUP.c.key, USAGER.c.id, USAGER.c.version, USAGER.c.identity_status, USAGER.c.ins_matricule)
                .join(USAGER, USAGER.c.id == DUP.c.usager_id)
                .where(DUP.c.key.in_(select(keys.c.key)), *visible)
                .order_by(DUP.c.key, USAGER.c.id)
            )
        ).all()
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault(r.key, []).append(
                {
                    "id": str(r.id),
                    "version": r.version,
                    "identity_status": r.identity_status,
                    "ins_matricule": r.ins_matricule,
                }
            )
        return list(groups.items())

    async def usagers_with_ins(self, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
        """Active usagers carrying an INS, in id order (the batch re-verification walks them)."""
        conditions: list[ColumnElement[bool]] = [USAGER.c.ins_matricule.is_not(None), USAGER.c.archived_at.is_(None)]
        if after is not None:
            conditions.append(USAGER.c.id > after)
        rows = await self.connection.execute(select(USAGER.c.id).where(*conditions).order_by(USAGER.c.id).limit(limit))
        return [r.id for r in rows]
