"""DMP updates through the outbox: ITI-57 deletion, deprecation and visibility of a registered document, with
the retries and dead letter of ITI-41; the opposition check at send time; the replaced older version."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain import codes
from app.domain.access import SYSTEM
from app.domain.dmp import (
    REPLACED_BEFORE_SEND,
    USAGER_OPPOSED,
    DmpOperation,
    DmpStatus,
    Visibility,
    acknowledged,
)
from app.interop.cda.document import parse_cda
from app.interop.cda.xds import Code, MetadataError, document_entry
from app.interop.xds import ebrim
from app.interop.xds.client import RegisteredEntry, RegistryError, TransientError
from app.store.dmp import DmpRepository, OutboxRow
from app.store.documents import DocumentRepository, DocumentRow

if TYPE_CHECKING:
    from app.services.dmp import DeliveryReport, DmpFeeder


def visibility_codes(flags: tuple[str, ...]) -> tuple[Code, ...]:
    """The JDV_J08 concepts of DMP visibility flags (code system and display from the value set)."""
    value_set = codes.xds_confidentialities()
    found = []
    for flag in flags:
        concept = value_set.get(flag)
        if concept is None:
            raise MetadataError("confidentialityCode", f"{flag} is not in JDV_J08")
        found.append(Code(concept.code, concept.system, concept.display))
    return tuple(found)


def _wanted_status(feeder: DmpFeeder, operation: DmpOperation) -> str:
    return ebrim.DMP_DELETED if operation is DmpOperation.DELETE else feeder.policy.deprecate_status


def _done(feeder: DmpFeeder, operation: DmpOperation, current: RegisteredEntry, flags: tuple[str, ...]) -> bool:
    """The registry already holds what the operation asks (an earlier attempt went through unseen)."""
    if operation is DmpOperation.VISIBILITY:
        held = {c for c in current.confidentiality if c not in ("N", "R", "V")}
        return current.status == ebrim.APPROVED and held == set(flags)
    return current.status == _wanted_status(feeder, operation)


async def deliver_update(feeder: DmpFeeder, worker: str, row: OutboxRow, report: DeliveryReport) -> None:
    """One claimed ITI-57 row: find the current entry (ITI-18), then update it unless already done."""
    operation = DmpOperation(row.operation)
    flags = Visibility.from_flags(row.visibility).flags()
    try:
        async with feeder.database.read() as connection:
            content = await DocumentRepository(connection).content(row.document_id, SYSTEM.scope)
        if content is None:
            raise MetadataError("document", "the document is gone")
        xml = content[0].encode("utf-8")
        root = parse_cda(xml)
        entry = document_entry(xml, root)
        if entry.patient_id is None:
            raise MetadataError("patientId", "no INS in the document")
        visibility = visibility_codes(flags)
    except MetadataError as exc:
        await feeder.finish(worker, row, report, DmpStatus.FAILED, f"document: {exc}", outcome=422)
        return
    assertion = feeder.assertions.for_patient(entry.patient_id)
    try:
        found = await feeder.client.find_by_unique_id([entry.unique_id], assertion)
        if not found:
            raise RegistryError([("UnresolvedReferenceException", f"{entry.unique_id} is not in the DMP")])
        current = found[0]
        if _done(feeder, operation, current, flags):
            report.reconciled += 1
            await feeder.finish(worker, row, report, acknowledged(operation), None, outcome=200, counted=False)
            return
        submission = feeder.submission(entry.patient_id, root)
        if operation is DmpOperation.VISIBILITY:
            version = ebrim.SubmittedDocument(entry, xml, logical_id=current.logical_id, visibility=visibility)
            request = ebrim.update_document_entry(replace(submission, documents=(version,)), current.version)
        else:
            request = ebrim.update_availability_status(
                submission, current.entry_uuid, original=ebrim.APPROVED, new=_wanted_status(feeder, operation)
            )
        await feeder.client.update_document_set(request, assertion)
    except RegistryError as exc:
        await feeder.finish(worker, row, report, DmpStatus.FAILED, str(exc), outcome=400)
    except TransientError as exc:
        await feeder.retry_later(worker, row, report, exc)
    else:
        await feeder.finish(worker, row, report, acknowledged(operation), None, outcome=200)


async def hold_back(feeder: DmpFeeder, worker: str, row: OutboxRow) -> None:
    """A first send whose usager opposed after it was queued does not leave: not-eligible (usager-opposed)."""
    async with feeder.database.write() as connection:
        await DmpRepository(connection).hold(row.document_id, worker, feeder.clock(), reason=USAGER_OPPOSED)
    await feeder.trace_delivery(row, 403, USAGER_OPPOSED)


async def replaced(feeder: DmpFeeder, previous: DocumentRow | None) -> None:
    """Once the DMP acknowledged a replacement (RPLC), the older version's row is ``replaced``."""
    if previous is None:
        return
    async with feeder.database.write() as connection:
        await DmpRepository(connection).mark_replaced(previous.id, feeder.clock())


async def predecessor(connection: AsyncConnection, document: DocumentRow | None) -> DocumentRow | None:
    """The version a new one replaces in the DMP: the nearest older one that was not superseded before it left."""
    documents, outbox = DocumentRepository(connection), DmpRepository(connection)
    current = document
    while current is not None and current.replaces_id is not None:
        older = await documents.get(current.replaces_id, SYSTEM.scope)
        row = await outbox.get(current.replaces_id)
        if older is None or row is None or row.reason != REPLACED_BEFORE_SEND:
            return older
        current = older
    return None
