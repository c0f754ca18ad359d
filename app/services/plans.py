"""Use cases for the projet personnalisé: drafts, the life cycle, revisions, reviews due.

``validate_plan`` is the one entry point that validates a plan (the place for the validation permission).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from app.domain import plans, tunables
from app.domain.access import Principal
from app.domain.errors import Conflict, PreconditionFailed
from app.domain.identity import UsagerRecord
from app.domain.plans import IN_FORCE, Accord, Bilan, PlanInput, PlanRecord, PlanStatus, Transition
from app.domain.professionals import ProfessionalInput
from app.services.references import require_professionals, require_stay_of, require_usager
from app.services.resources import Page, ResourceService, utcnow
from app.services.usagers import UsagerService
from app.store.ids import new_id
from app.store.repository import EssmsRepository, Keyset, PlanRepository, ProfessionalRepository, StoredRow


class PlanService(ResourceService[PlanRecord]):
    repository = PlanRepository
    input_model = PlanInput
    record_model = PlanRecord
    derived_fields = ("review_due", "statut_tddui")
    immutable_fields = ("usager_id", "stay_id")
    unique_rules = {
        "uq_plan_in_force_per_stay": (
            "single-plan-in-force",
            "Another plan of this stay is in force: revise it instead",
            "stay_id",
        ),
        "uq_plan_one_revision": (
            "plan-revision-pending",
            "This version already has a revision in preparation",
            "previous_version_id",
        ),
    }
    repo: PlanRepository

    # -- hooks ---------------------------------------------------------------------------------------
    def derived(self, record: PlanRecord) -> dict[str, Any]:
        return {
            "review_due": plans.review_due(record, tunables.plan_review_interval_months).isoformat(),
            "statut_tddui": record.status.tddui,
        }

    def columns(self, record: PlanRecord) -> dict[str, Any]:
        return {
            "usager_id": record.usager_id,
            "stay_id": record.stay_id,
            "essms_id": record.essms_id,
            "lineage_id": record.lineage_id,
            "numero_version": record.numero_version,
            "previous_version_id": record.previous_version_id,
            "status": record.status.value,
            "in_force": record.status in IN_FORCE,
            "date_debut": record.date_debut,
            "review_due": plans.review_due(record, tunables.plan_review_interval_months),
        }

    async def check(self, record: PlanRecord, current_id: uuid.UUID | None) -> None:
        if current_id is not None:
            plans.check_editable(record)
        record.check_consistency()
        plans.check_review_within_interval(record, tunables.plan_review_interval_months)
        await require_usager(self.connection, self.principal, record.usager_id)
        stay = await require_stay_of(self.connection, self.principal, record.stay_id, record.usager_id)
        record.essms_id = uuid.UUID(stay["essms_id"])
        await require_professionals(
            self.connection, self.principal, [("referents", p) for p in sorted(record.professionals())]
        )

    def conditions(self, filters: Any) -> list[ColumnElement[bool]]:
        c = self.repo.c
        conditions: list[ColumnElement[bool]] = []
        for name in ("usager_id", "stay_id", "essms_id", "lineage_id"):
            if getattr(filters, name):
                conditions.append(c[name] == getattr(filters, name))
        if filters.status:
            conditions.append(c.status == filters.status.value)
        if filters.in_force is not None:
            conditions.append(c.in_force == filters.in_force)
        return conditions

    # -- writes --------------------------------------------------------------------------------------
    async def create(self, data: BaseModel) -> StoredRow:
        """A new plan: version 1, a draft."""
        record = self.to_record(data.model_dump(mode="json"))
        await self.check(record, None)
        plan_id = new_id()
        record.lineage_id, record.numero_version, record.status = plan_id, 1, PlanStatus.DRAFT
        return await self._insert(plan_id, record)

    async def archive(self, resource_id: uuid.UUID, if_match: int) -> StoredRow:
        """Only a draft or a submitted plan is withdrawn; validated versions stay as they are."""
        _, current = await self._current_for_write(resource_id, if_match)
        if current.status not in (PlanStatus.DRAFT, PlanStatus.SUBMITTED):
            plans.check_editable(current)
        return await super().archive(resource_id, if_match)

    async def submit(self, plan_id: uuid.UUID, if_match: int) -> StoredRow:
        row, record = await self._current_for_write(plan_id, if_match)
        record.status = plans.next_status(record.status, Transition.SUBMIT) or record.status
        record.submitted_at = utcnow()
        return await self._save(row, record, "submit")

    async def return_to_draft(self, plan_id: uuid.UUID, if_match: int) -> StoredRow:
        row, record = await self._current_for_write(plan_id, if_match)
        record.status = plans.next_status(record.status, Transition.RETURN_TO_DRAFT) or record.status
        return await self._save(row, record, "return")

    async def validate(self, plan_id: uuid.UUID, if_match: int) -> StoredRow:
        """Validate a submitted plan (needs an agreement of the establishment); a validated revision
        supersedes the version it revises, which becomes ``revised``."""
        row, record = await self._current_for_write(plan_id, if_match)
        target = plans.next_status(record.status, Transition.VALIDATE)
        plans.check_validation(record)
        now = utcnow()
        if record.previous_version_id is not None:
            previous_row, previous = await self.get_record(record.previous_version_id)
            if previous.status not in IN_FORCE:
                raise Conflict(
                    "plan-revised-version-in-force",
                    f"The revised version is {previous.status.value}: this revision can no longer be validated",
                    field="previous_version_id",
                )
            previous.status, previous.superseded_by_id, previous.revised_at = PlanStatus.REVISED, plan_id, now
            await self._save(previous_row, previous, "supersede")
        assert target is not None
        record.status, record.validated_at, record.validated_by = target, now, self.principal.actor
        return await self._save(row, record, "validate")

    async def start(self, plan_id: uuid.UUID, if_match: int) -> StoredRow:
        row, record = await self._current_for_write(plan_id, if_match)
        record.status = plans.next_status(record.status, Transition.START) or record.status
        record.started_at = utcnow()
        return await self._save(row, record, "start")

    async def close(self, plan_id: uuid.UUID, if_match: int, motif: str | None) -> StoredRow:
        row, record = await self._current_for_write(plan_id, if_match)
        record.status = plans.next_status(record.status, Transition.CLOSE) or record.status
        record.closed_at, record.motif_cloture = utcnow(), motif
        return await self._save(row, record, "close")

    async def revise(self, plan_id: uuid.UUID, if_match: int) -> StoredRow:
        """A new draft version with this version's content (agreements left out: the revision needs its own)."""
        _, record = await self._current_for_write(plan_id, if_match)
        plans.next_status(record.status, Transition.REVISE)
        assert record.lineage_id is not None
        content = record.model_dump(mode="json", include=set(PlanInput.model_fields), exclude={"accords"})
        content["bilans"] = [*content.get("bilans", []), *[b.model_dump(mode="json") for b in record.bilans_suivi]]
        draft = self.to_record(content)
        draft.lineage_id = record.lineage_id
        draft.numero_version = await self.repo.max_version(record.lineage_id) + 1
        draft.previous_version_id = plan_id
        draft.essms_id = record.essms_id
        return await self._insert(new_id(), draft)

    async def add_accord(self, plan_id: uuid.UUID, if_match: int, accord: Accord) -> StoredRow:
        """Record an agreement to a draft or submitted plan (what was agreed is not changed)."""
        row, record = await self._current_for_write(plan_id, if_match)
        if record.status not in (PlanStatus.DRAFT, PlanStatus.SUBMITTED):
            plans.check_editable(record)
        record.accords.append(accord)
        if accord.professionnel_id:
            await require_professionals(
                self.connection, self.principal, [("professionnel_id", accord.professionnel_id)]
            )
        return await self._save(row, record, "agree")

    async def add_review(self, plan_id: uuid.UUID, if_match: int, bilan: Bilan) -> StoredRow:
        """Record a review (bilan) of the version in force; the content of the version is not changed."""
        row, record = await self._current_for_write(plan_id, if_match)
        if record.status not in IN_FORCE:
            raise Conflict("plan-review-in-force", "Only a plan in force is reviewed", field="status")
        if bilan.date_bilan < record.date_debut:
            raise Conflict("review-date-after-start", "The review is dated before the plan's start", field="date_bilan")
        record.bilans_suivi.append(bilan)
        return await self._save(row, record, "review")

    # -- reads ---------------------------------------------------------------------------------------
    async def versions(self, plan_id: uuid.UUID) -> list[StoredRow]:
        _, record = await self.get_record(plan_id)
        assert record.lineage_id is not None
        return await self.repo.versions(record.lineage_id, self.principal.scope)

    async def reviews_due(
        self, *, essms_id: uuid.UUID | None, as_of: date, within_days: int | None, after: Keyset | None, limit: int
    ) -> tuple[Page, date]:
        """Plans in force whose review is overdue or due within ``within_days`` of ``as_of``."""
        horizon = as_of + timedelta(days=tunables.plan_review_due_soon_days if within_days is None else within_days)
        where = [self.repo.review_due_by(horizon)]
        if essms_id is not None:
            where.append(self.repo.c.essms_id == essms_id)
        return await self.list_page(where=where, after=after, limit=limit, sort="review_due"), horizon

    # -- helpers -------------------------------------------------------------------------------------
    async def _insert(self, plan_id: uuid.UUID, record: PlanRecord) -> StoredRow:
        now = utcnow()
        body = self.render(record, plan_id, 1, now, now, None)
        await self._unique(
            self.repo.insert(
                resource_id=plan_id, body=body, columns=self.columns(record), actor=self.principal.actor, now=now
            )
        )
        return StoredRow(plan_id, 1, body, False)

    async def _save(self, row: StoredRow, record: PlanRecord, operation: str) -> StoredRow:
        now = utcnow()
        body = self.render(record, row.id, row.version + 1, self._created_at(row), now, None)
        written = await self._unique(
            self.repo.update(
                resource_id=row.id,
                expected_version=row.version,
                body=body,
                columns=self.columns(record),
                actor=self.principal.actor,
                now=now,
                operation=operation,
            )
        )
        if not written:
            raise PreconditionFailed(f"plan {row.id} has changed")
        return StoredRow(row.id, row.version + 1, body, False)


async def validate_plan(
    connection: AsyncConnection, principal: Principal, plan_id: uuid.UUID, if_match: int
) -> StoredRow:
    """Validate a plan version: the one entry point (attach the validation permission here)."""
    return await PlanService(connection, principal).validate(plan_id, if_match)


@dataclass(frozen=True)
class PlanView:
    """A plan version with what a document (CDA PPA, FHIR CarePlan) needs to render it."""

    id: uuid.UUID
    version: int
    plan: PlanRecord
    review_due: date
    usager: UsagerRecord
    usager_id: uuid.UUID
    stay: dict[str, Any]
    essms: dict[str, Any]
    professionals: dict[uuid.UUID, ProfessionalInput]


async def read_plan(service: PlanService, plan_id: uuid.UUID) -> PlanView:
    """One plan version, its usager, stay, ESSMS and the professionals it names, typed."""
    row, record = await service.get_record(plan_id)
    _, usager = await UsagerService(service.connection, service.principal).get_record(record.usager_id)
    stay = await require_stay_of(service.connection, service.principal, record.stay_id, record.usager_id)
    essms_row = await EssmsRepository(service.connection).get(uuid.UUID(stay["essms_id"]), service.principal.scope)
    repository = ProfessionalRepository(service.connection)
    professionals: dict[uuid.UUID, ProfessionalInput] = {}
    for professional_id in sorted(record.professionals()):
        found = await repository.get(professional_id, service.principal.scope)
        if found is not None:
            data = orjson.loads(found.body)
            professionals[professional_id] = ProfessionalInput.model_validate(
                {k: data[k] for k in ProfessionalInput.model_fields if k in data}
            )
    return PlanView(
        id=row.id,
        version=row.version,
        plan=record,
        review_due=plans.review_due(record, tunables.plan_review_interval_months),
        usager=usager,
        usager_id=record.usager_id,
        stay=stay,
        essms=orjson.loads(essms_row.body) if essms_row else {},
        professionals=professionals,
    )
