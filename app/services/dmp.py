"""DMP feeding worker: claims outbox rows, reconciles with ITI-18 before any resend, sends with ITI-41,
retries transient failures with exponential backoff and moves permanent refusals to the dead letter."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from lxml import etree

from app.domain.access import SYSTEM
from app.domain.dmp import DmpOperation, DmpStatus, next_attempt
from app.domain.errors import NotFound
from app.interop.cda.document import parse_cda
from app.interop.cda.validation import CdaValidator
from app.interop.cda.xds import Code, MetadataError, document_entry
from app.interop.xds import ebrim, vihf
from app.interop.xds.client import DmpClient, RegistryError, TransientError
from app.services import dmp_updates
from app.services.audit import AuditSink, trace
from app.services.documents import DocumentInvalid, DocumentService
from app.store.db import Database
from app.store.dmp import DmpRepository, OutboxRow

NS = {"c": "urn:hl7-org:v3"}
Change = Callable[[DmpRepository], Awaitable[object]]
FINESS_OID = "1.2.250.1.71.4.2.2"
CONTENT_TYPE = Code("04", "1.2.250.1.213.2.2", "Hospitalisation de jour")  # INFERRED default, see README


@dataclass(frozen=True)
class FeedPolicy:
    attempts: int = 8
    backoff_initial: float = 2.0
    backoff_max: float = 3600.0
    lease: timedelta = timedelta(minutes=5)
    batch: int = 20
    deprecate_status: str = ebrim.DEPRECATED
    concurrency: int = 1


@dataclass
class DeliveryReport:
    sent: int = 0
    reconciled: int = 0
    retried: int = 0
    failed: int = 0
    errors: dict[str, str] = field(default_factory=dict)


def _author(root: etree._Element) -> ebrim.Author:
    """authorInstitution from the CDA custodian (raison sociale and FINESS) of a parsed document."""
    org = root.find("c:custodian/c:assignedCustodian/c:representedCustodianOrganization", NS)
    name = (org.findtext("c:name", namespaces=NS) if org is not None else None) or "ESSMS"
    ident = org.find("c:id", NS) if org is not None else None
    finess = ident.get("extension", "") if ident is not None else ""
    return ebrim.Author(institution=f"{name}^^^^^&{FINESS_OID}&ISO^IDNST^^^1{finess}")


class _Outcomes:
    """The outcome rows of the documents in flight, written together (group commit): those recorded while a
    write transaction commits share the next one. Each caller returns once its own outcome is committed, as
    with a transaction of its own; when a shared transaction fails, each of its outcomes is written again
    alone, so that one row's failure stays its own."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._pending: list[tuple[Change, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, change: Change) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((change, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="dmp-outcomes")
        await future

    async def _drain(self) -> None:
        batch: list[tuple[Change, asyncio.Future[None]]] = []
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._apply([change for change, _ in batch])
                except Exception as error:
                    if len(batch) == 1:
                        _settle(batch[0][1], error)
                        continue
                    for change, future in batch:
                        try:
                            await self._apply([change])
                        except Exception as alone:
                            _settle(future, alone)
                        else:
                            _settle(future, None)
                else:
                    for _, future in batch:
                        _settle(future, None)
        finally:
            # Stopped (the worker shuts down): no caller is left waiting for an outcome never written.
            for _, future in batch + self._pending:
                _settle(future, RuntimeError("the outcome writer stopped"))

    async def _apply(self, changes: list[Change]) -> None:
        async with self.database.write() as connection:
            repository = DmpRepository(connection)
            for change in changes:
                await change(repository)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class DmpFeeder:
    def __init__(
        self,
        database: Database,
        client: DmpClient,
        validator: CdaValidator,
        *,
        software: str,
        vihf_context: vihf.VihfContext,
        audit: AuditSink | None = None,
        policy: FeedPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.client = client
        self.validator = validator
        self.software = software
        self.vihf_context = vihf_context
        self.audit = audit
        self.policy = policy or FeedPolicy()
        self.clock = clock
        self.assertions = vihf.Assertions(vihf_context, client.signer)
        self._outcomes = _Outcomes(database)

    async def deliver(self, worker: str) -> DeliveryReport:
        """One round: claim due rows and deliver each; returns what happened."""
        report = DeliveryReport()
        async with self.database.write() as connection:
            rows = await DmpRepository(connection).claim(
                worker, self.clock(), limit=self.policy.batch, lease=self.policy.lease
            )
        # Several documents in flight: each waits on the network and the database while others use the CPU.
        gate = asyncio.Semaphore(self.policy.concurrency)

        async def one(row: OutboxRow) -> None:
            async with gate:
                await self._deliver_one(worker, row, report)

        await asyncio.gather(*(one(row) for row in rows))
        return report

    async def _record(self, worker: str, row: OutboxRow, status: DmpStatus, **kwargs: object) -> None:
        now = self.clock()
        await self._outcomes.write(
            lambda repository: repository.record(row.document_id, worker, now, status=status, **kwargs)  # type: ignore[arg-type]
        )

    async def _deliver_one(self, worker: str, row: OutboxRow, report: DeliveryReport) -> None:
        if row.operation != DmpOperation.SEND.value:
            await dmp_updates.deliver_update(self, worker, row, report)
            return
        try:
            # One read: the document, its XML and the usager's opposition.
            async with self.database.read() as connection:
                outgoing = await DmpRepository(connection).outgoing(row.document_id)
                if outgoing is None:
                    raise NotFound(f"No document {row.document_id}")
                if not outgoing.opposed:
                    xml = await DocumentService(connection, SYSTEM, self.validator, self.software).checked_for_sending(
                        outgoing.document, outgoing.xml
                    )
                    previous = await dmp_updates.predecessor(connection, outgoing.document)
            if outgoing.opposed:
                await dmp_updates.hold_back(self, worker, row)
                return
            root = parse_cda(xml)
            entry = document_entry(xml, root)
            if entry.patient_id is None:
                raise MetadataError("patientId", "no INS in the document")
        except (DocumentInvalid, MetadataError) as exc:
            await self.finish(worker, row, report, DmpStatus.FAILED, f"document: {exc}", outcome=422)
            return
        assertion = self.assertions.for_patient(entry.patient_id)
        try:
            if row.attempts > 0:
                # An earlier attempt may have been stored without us seeing the answer (crash, lost reply).
                found = await self.client.find_by_unique_id([entry.unique_id], assertion)
                if found:
                    report.reconciled += 1
                    await self.finish(worker, row, report, DmpStatus.SENT, None, outcome=200, counted=False)
                    await dmp_updates.replaced(self, previous)
                    return
            replaces = None
            if previous is not None:
                old = await self.client.find_by_unique_id([orjson_unique_id(previous.xds)], assertion)
                replaces = old[0].entry_uuid if old else None
            submission = self.submission(
                entry.patient_id, root, (ebrim.SubmittedDocument(entry, xml, replaces=replaces),)
            )
            await self.client.provide_and_register(submission, assertion)
        except RegistryError as exc:
            await self.finish(worker, row, report, DmpStatus.FAILED, str(exc), outcome=400)
        except TransientError as exc:
            await self.retry_later(worker, row, report, exc)
        else:
            await self.finish(worker, row, report, DmpStatus.SENT, None, outcome=200)
            await dmp_updates.replaced(self, previous)

    def submission(
        self, patient_id: str, root: etree._Element, documents: tuple[ebrim.SubmittedDocument, ...] = ()
    ) -> ebrim.Submission:
        """A new submission set of this software for the patient, authored by the document's custodian."""
        return ebrim.Submission(
            unique_id=f"2.25.{uuid.uuid4().int}",
            source_id="1.2.250.1.213.1.1.1",
            patient_id=patient_id,
            submission_time=self.clock().strftime("%Y%m%d%H%M%S"),
            author=_author(root),
            content_type=CONTENT_TYPE,
            documents=documents,
        )

    async def retry_later(self, worker: str, row: OutboxRow, report: DeliveryReport, error: TransientError) -> None:
        """A transient failure (ITI-41 or ITI-57): queued again after an exponential backoff, or failed once the
        attempts are spent."""
        attempts = row.attempts + 1
        if attempts >= self.policy.attempts:
            await self.finish(worker, row, report, DmpStatus.FAILED, f"gave up: {error}", outcome=503)
            return
        report.retried += 1
        due = next_attempt(self.clock(), attempts, initial=self.policy.backoff_initial, ceiling=self.policy.backoff_max)
        await self._record(worker, row, DmpStatus.QUEUED, error=str(error), next_attempt_at=due)
        await self.trace_delivery(row, 503, "retry")

    async def finish(
        self,
        worker: str,
        row: OutboxRow,
        report: DeliveryReport,
        status: DmpStatus,
        error: str | None,
        *,
        outcome: int,
        counted: bool = True,
    ) -> None:
        """The row's final state: sent (or the acknowledged correction: deleted, deprecated...) or failed."""
        await self._record(worker, row, status, error=error)
        if status is DmpStatus.FAILED:
            report.failed += 1
            report.errors[str(row.document_id)] = error or ""
        elif counted:
            report.sent += 1
        await self.trace_delivery(row, outcome, status.value)

    async def trace_delivery(self, row: OutboxRow, outcome: int, result: str) -> None:
        if self.audit is None:
            return
        await trace(
            self.audit,
            SYSTEM,
            action="dmp-iti41" if row.operation == DmpOperation.SEND else "dmp-iti57",
            operation=row.operation,
            outcome=outcome,
            resource_type="cda_document",
            resource_id=str(row.document_id),
            usager_ids=[row.usager_id],
            detail={"unique_id": row.unique_id, "result": result, "attempt": row.attempts + 1},
        )


def orjson_unique_id(xds: str) -> str:
    return str(orjson.loads(xds)["unique_id"])
