"""`dui dmp feed`: generate, validate and queue for the DMP the documents of every usager of a structure.

Each document is made in its own transaction together with its idempotency key (the record version it
was made from, ``dmp_feed_source``) and its outbox row: an interrupted run loses at most the document in
progress, and a re-run skips every source already done, so finished usagers cost a few reads."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from app.domain.access import SYSTEM
from app.domain.dmp import DmpStatus, eligibility
from app.domain.dmp_feed import FeedReport, Invalid, changed_since, kinds_for
from app.domain.documents import DocumentKind, DocumentRequest
from app.domain.errors import DomainError, NotFound
from app.domain.identity import IdentityStatus
from app.interop.cda.validation import CdaValidator
from app.services.documents import DocumentInvalid, DocumentService
from app.store.db import Database
from app.store.dmp import DmpRepository
from app.store.dmp_feed import DmpFeedRepository, FedEssms, Source


class UnknownStructure(NotFound):
    """No ESSMS (FINESS géographique) nor organisme (FINESS juridique) has this FINESS."""


def _message(error: DomainError) -> str:
    if isinstance(error, DocumentInvalid):
        first = error.report.errors[0] if error.report.errors else None
        detail = f" — {first.source}:{first.assertion} at {first.location}: {first.message}" if first else ""
        return f"{error.message}{detail}"
    details = "; ".join(f"{i.field}: {i.message}" for i in error.issues[:3])
    return f"{error.message}{' (' + details + ')' if details else ''}"


class DmpBatchFeeder:
    def __init__(
        self,
        database: Database,
        validator: CdaValidator,
        *,
        software: str,
        feed_types: list[str] | None,
        concurrency: int = 1,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.validator = validator
        self.software = software
        self.feed_types = feed_types
        self.concurrency = concurrency
        self.clock = clock

    async def plan(self, finess: str) -> tuple[str, list[FedEssms], list[tuple[uuid.UUID, uuid.UUID]]]:
        """The scope named by the FINESS, its ESSMS and their usagers (usager, ESSMS)."""
        async with self.database.read() as connection:
            repository = DmpFeedRepository(connection)
            found = await repository.essms_of_finess(finess)
            if found is None:
                raise UnknownStructure(f"No ESSMS nor organisme gestionnaire has the FINESS {finess}")
            level, essms = found
            usagers = await repository.usagers_of([e.id for e in essms])
        return f"{level} {finess}", essms, usagers

    async def feed(
        self,
        finess: str,
        *,
        since: datetime | None = None,
        on_start: Callable[[int], None] = lambda _: None,
        on_progress: Callable[[int], None] = lambda _: None,
    ) -> FeedReport:
        scope, essms, usagers = await self.plan(finess)
        report = FeedReport(scope=scope, essms=len(essms))
        category = {e.id: e.categorie for e in essms}
        on_start(len(usagers))
        # SQLite has one writer: a document is built and validated inside its write transaction, so a second
        # usager would only wait for the lock (and time out behind a cold validator).
        gate = asyncio.Semaphore(1 if self.database.dialect == "sqlite" else self.concurrency)

        async def one(usager_id: uuid.UUID, essms_id: uuid.UUID) -> None:
            async with gate:
                await self._usager(usager_id, essms_id, category[essms_id], since, report)
                on_progress(1)

        # A task group: when the run is interrupted, no usager is left running behind it.
        async with asyncio.TaskGroup() as group:
            for usager_id, essms_id in usagers:
                group.create_task(one(usager_id, essms_id))
        return report

    async def _usager(
        self, usager_id: uuid.UUID, essms_id: uuid.UUID, category: str, since: datetime | None, report: FeedReport
    ) -> None:
        report.usagers_seen += 1
        async with self.database.read() as connection:
            dmp = DmpRepository(connection)
            identity = IdentityStatus(await dmp.identity_status(usager_id) or IdentityStatus.PROV.value)
            status, reason = eligibility(
                identity_status=identity, opposed=await dmp.opposed(usager_id), type_code="", feed_types=None
            )
            if status is not DmpStatus.QUEUED:
                report.not_eligible[reason or status.value] += 1
                return
            feed = DmpFeedRepository(connection)
            sources: list[Source] = []
            for kind in kinds_for(category):
                if kind is DocumentKind.DLU:
                    # The DLU is entered by the staff (no record holds its data): it was queued when stored.
                    if await feed.has_current_document(usager_id, kind.value):
                        report.already[kind.value] += 1
                    else:
                        report.not_eligible["dlu-not-entered"] += 1
                    continue
                source = (
                    await feed.current_plan(usager_id, essms_id)
                    if kind is DocumentKind.PPA
                    else await feed.latest_aggir(usager_id)
                )
                if source is None:
                    report.not_eligible["no-plan-in-force" if kind is DocumentKind.PPA else "no-aggir-evaluation"] += 1
                elif changed_since(source.updated_at, since):
                    sources.append(source)
        for source in sources:
            await self._document(usager_id, essms_id, source, report)

    async def _document(self, usager_id: uuid.UUID, essms_id: uuid.UUID, source: Source, report: FeedReport) -> None:
        kind = DocumentKind(source.kind)
        request = DocumentRequest(
            kind=kind,
            plan_id=source.id if kind is DocumentKind.PPA else None,
            evaluation_id=source.id if kind is DocumentKind.AGGIR else None,
            essms_id=essms_id,
        )
        try:
            async with self.database.write() as connection:
                feed = DmpFeedRepository(connection)
                if await feed.generated(source) is not None:
                    report.already[kind.value] += 1
                    return
                service = DocumentService(connection, SYSTEM, self.validator, self.software, self.feed_types)
                stored = await service.generate(usager_id, request)
                await feed.record(source, stored.row.id, usager_id, self.clock())
                outbox = await DmpRepository(connection).get(stored.row.id)
        except DomainError as error:
            report.invalid.append(Invalid(str(usager_id), kind.value, _message(error)))
            return
        except IntegrityError:
            report.already[kind.value] += 1  # another run made it at the same moment
            return
        report.generated[kind.value] += 1
        if outbox is not None and outbox.status == DmpStatus.QUEUED.value:
            report.queued += 1
        elif outbox is not None:
            report.not_eligible[outbox.reason or outbox.status] += 1
