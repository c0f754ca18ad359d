"""Use cases for evaluations: the GIR is computed on every write and the usager shows the current one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.sql.elements import ColumnElement

from app.domain.evaluations import AggirDetail, CurrentGir, EvaluationInput
from app.domain.identity import UsagerRecord
from app.domain.professionals import ProfessionalInput
from app.services.references import require_professionals, require_stay_of, require_usager
from app.services.resources import ResourceService
from app.services.usagers import UsagerService
from app.store.repository import EvaluationRepository, ProfessionalRepository, StoredRow


class EvaluationService(ResourceService[EvaluationInput]):
    repository = EvaluationRepository
    input_model = EvaluationInput
    record_model = EvaluationInput
    derived_fields = ("type_evaluation", "resultat")
    immutable_fields = ("usager_id",)
    repo: EvaluationRepository

    def derived(self, record: EvaluationInput) -> dict[str, Any]:
        return {"type_evaluation": record.detail.type_evaluation, "resultat": record.result()}

    def columns(self, record: EvaluationInput) -> dict[str, Any]:
        detail = record.detail
        return {
            "usager_id": record.usager_id,
            "stay_id": record.stay_id,
            "grille": detail.grille,
            "type_evaluation": detail.type_evaluation,
            "date_evaluation": record.date_evaluation,
            "gir": detail.result().gir if isinstance(detail, AggirDetail) else None,
            "counts_for_gir": record.counts_for_current_gir,
        }

    async def check(self, record: EvaluationInput, current_id: uuid.UUID | None) -> None:
        record.result()  # a bad grid is refused before anything is written
        await require_usager(self.connection, self.principal, record.usager_id)
        if record.stay_id is not None:
            await require_stay_of(self.connection, self.principal, record.stay_id, record.usager_id)
        named = {"evaluateur_id": record.evaluateur_id, "responsable_id": record.responsable_id}
        await require_professionals(self.connection, self.principal, [(f, p) for f, p in named.items() if p])

    def conditions(self, filters: Any) -> list[ColumnElement[bool]]:
        c = self.repo.c
        conditions: list[ColumnElement[bool]] = []
        if filters.usager_id:
            conditions.append(c.usager_id == filters.usager_id)
        if filters.stay_id:
            conditions.append(c.stay_id == filters.stay_id)
        if filters.grille:
            conditions.append(c.grille == filters.grille)
        if filters.gir:
            conditions.append(c.gir == filters.gir)
        if filters.date_from:
            conditions.append(c.date_evaluation >= filters.date_from)
        if filters.date_to:
            conditions.append(c.date_evaluation <= filters.date_to)
        return conditions

    async def after_write(self, resource_id: uuid.UUID, record: EvaluationInput) -> None:
        await self.refresh_current_gir(record.usager_id)

    async def archive(self, resource_id: uuid.UUID, if_match: int) -> StoredRow:
        row = await super().archive(resource_id, if_match)
        await self.refresh_current_gir(uuid.UUID(orjson.loads(row.body)["usager_id"]))
        return row

    async def refresh_current_gir(self, usager_id: uuid.UUID) -> None:
        latest = await self.repo.latest_gir(usager_id)
        current = CurrentGir(gir=latest[2], evaluation_id=latest[0], date_evaluation=latest[1]) if latest else None
        await UsagerService(self.connection, self.principal).set_current_gir(usager_id, current)


@dataclass(frozen=True)
class EvaluationView:
    """An evaluation with what a document (CDA, FHIR QuestionnaireResponse) needs to render it."""

    id: uuid.UUID
    version: int
    evaluation: EvaluationInput
    type_evaluation: str | None
    resultat: dict[str, Any]
    usager: UsagerRecord
    evaluateur: ProfessionalInput | None
    responsable: ProfessionalInput | None


async def read_evaluation(service: EvaluationService, evaluation_id: uuid.UUID) -> EvaluationView:
    """One evaluation, its usager and professionals, typed (NotFound outside the caller's scope)."""
    row, record = await service.get_record(evaluation_id)
    stored = orjson.loads(row.body)
    _, usager = await UsagerService(service.connection, service.principal).get_record(record.usager_id)
    professionals = ProfessionalRepository(service.connection)

    async def professional(professional_id: uuid.UUID | None) -> ProfessionalInput | None:
        if professional_id is None:
            return None
        found = await professionals.get(professional_id, service.principal.scope)
        if found is None:
            return None
        data = orjson.loads(found.body)
        return ProfessionalInput.model_validate({k: data[k] for k in ProfessionalInput.model_fields if k in data})

    return EvaluationView(
        id=row.id,
        version=row.version,
        evaluation=record,
        type_evaluation=stored["type_evaluation"],
        resultat=stored["resultat"],
        usager=usager,
        evaluateur=await professional(record.evaluateur_id),
        responsable=await professional(record.responsable_id),
    )
