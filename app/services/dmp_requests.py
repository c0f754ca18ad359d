"""Staff requests on the DMP copy of a document (delete, deprecate, visibility) and a usager's opposition to
the feeding, each written with the outbox change in the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.access import Principal
from app.domain.dmp import (
    DmpOperation,
    DmpStatus,
    OppositionRequest,
    OppositionWithdrawal,
    Visibility,
    plan_update,
)
from app.domain.errors import Conflict, NotFound
from app.services.usagers import UsagerService
from app.store.dmp import DmpRepository, OutboxRow


class DmpRequests:
    def __init__(
        self,
        connection: AsyncConnection,
        principal: Principal,
        *,
        patient_invisibility_after_send: bool = False,
        resend_on_withdrawal: bool = False,
    ) -> None:
        self.connection = connection
        self.principal = principal
        self.repo = DmpRepository(connection)
        self.patient_invisibility_after_send = patient_invisibility_after_send
        self.resend_on_withdrawal = resend_on_withdrawal

    async def request(
        self, document_id: uuid.UUID, operation: DmpOperation, visibility: Visibility | None = None
    ) -> OutboxRow:
        """Queue an ITI-57 operation on a registered document, or cancel the send of one never sent."""
        row = await self.repo.get(document_id)
        if row is None:
            raise NotFound(f"No DMP send request for document {document_id}")
        plan = plan_update(
            operation,
            status=DmpStatus(row.status),
            operation=DmpOperation(row.operation),
            visibility=visibility,
            current=Visibility.from_flags(row.visibility),
            patient_invisibility_after_send=self.patient_invisibility_after_send,
        )
        flags = ",".join(visibility.flags()) if visibility is not None else None
        moved = await self.repo.request_update(
            document_id,
            datetime.now(UTC),
            from_status=row.status,
            status=plan.status,
            operation=plan.operation.value,
            visibility=flags,
            reason=plan.reason,
        )
        if not moved:
            raise Conflict("dmp-status-changed", "The DMP status changed meanwhile; read it and ask again")
        updated = await self.repo.get(document_id)
        assert updated is not None
        return updated

    async def oppose(self, usager_id: uuid.UUID, body: OppositionRequest) -> dict[str, Any]:
        """Record the opposition: queued first sends of the usager become not-eligible (usager-opposed)."""
        await UsagerService(self.connection, self.principal).get_record(usager_id)
        if await self.repo.opposed(usager_id):
            raise Conflict("dmp-opposition-once", "The usager's opposition is already recorded", field="usager_id")
        now = datetime.now(UTC)
        await self.repo.oppose(usager_id, self.principal.actor, now)
        held = await self.repo.hold_back(usager_id, now)
        await self.repo.add_opposition_event(
            usager_id=usager_id,
            kind="recorded",
            at=now,
            expressed_at=body.expressed_at or now,
            actor=self.principal.actor,
            reason=body.reason,
            documents=held,
        )
        return await self.opposition(usager_id)

    async def withdraw(self, usager_id: uuid.UUID, body: OppositionWithdrawal) -> dict[str, Any]:
        """Withdraw it; the documents it held back are queued again only if asked (or by the setting)."""
        await UsagerService(self.connection, self.principal).get_record(usager_id)
        now = datetime.now(UTC)
        if not await self.repo.withdraw_opposition(usager_id):
            raise Conflict("dmp-opposition-recorded", "The usager has no recorded opposition", field="usager_id")
        resend = self.resend_on_withdrawal if body.resend is None else body.resend
        released = await self.repo.release(usager_id, now) if resend else 0
        await self.repo.add_opposition_event(
            usager_id=usager_id,
            kind="withdrawn",
            at=now,
            expressed_at=now,
            actor=self.principal.actor,
            reason=body.reason,
            documents=released,
        )
        return await self.opposition(usager_id)

    async def opposition(self, usager_id: uuid.UUID) -> dict[str, Any]:
        """Whether the usager opposes now, since when, and every opposition recorded or withdrawn."""
        await UsagerService(self.connection, self.principal).get_record(usager_id)
        since = await self.repo.opposition_since(usager_id)
        history = [
            {
                "kind": e["kind"],
                "at": e["at"].isoformat(),
                "expressed_at": e["expressed_at"].isoformat(),
                "by": e["actor"],
                "reason": e["reason"],
                "documents": e["documents"],
            }
            for e in await self.repo.opposition_history(usager_id)
        ]
        return {
            "usager_id": str(usager_id),
            "opposed": since is not None,
            "since": since.isoformat() if since else None,
            "history": history,
        }
