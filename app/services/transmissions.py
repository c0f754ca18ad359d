"""Use cases for transmissions: written once, corrected by new notes, searched per usager or ESSMS."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.sql.elements import ColumnElement

from app.domain import text, transmissions
from app.domain.errors import RuleViolation
from app.domain.transmissions import TransmissionInput
from app.services.references import require_professionals, require_stay_of, require_usager
from app.services.resources import ResourceService
from app.store.repository import EssmsRepository, TransmissionRepository


class TransmissionService(ResourceService[TransmissionInput]):
    repository = TransmissionRepository
    input_model = TransmissionInput
    record_model = TransmissionInput
    repo: TransmissionRepository

    def columns(self, record: TransmissionInput) -> dict[str, Any]:
        words = " ".join(
            w for w in (record.cible, record.cible_besoin, record.texte, record.actions, record.resultats) if w
        )
        return {
            "usager_id": record.usager_id,
            "stay_id": record.stay_id,
            "essms_id": record.essms_id,
            "auteur_id": record.auteur_id,
            "date_heure": record.date_heure,
            "categorie": record.categorie.value,
            "corrige_id": record.corrige_id,
            "search_text": " ".join(text.tokens(words)),
        }

    async def check(self, record: TransmissionInput, current_id: uuid.UUID | None) -> None:
        await require_usager(self.connection, self.principal, record.usager_id)
        if record.stay_id is not None:
            stay = await require_stay_of(self.connection, self.principal, record.stay_id, record.usager_id)
            if record.essms_id is not None and str(record.essms_id) != stay["essms_id"]:
                raise RuleViolation("transmission-essms-of-stay", "essms_id is not the stay's ESSMS", field="essms_id")
            record.essms_id = uuid.UUID(stay["essms_id"])
            start = stay.get("date_entree") or stay.get("date_admission")
            end = stay.get("date_sortie")
            transmissions.check_within_stay(
                record, date.fromisoformat(start) if start else None, date.fromisoformat(end) if end else None
            )
        elif (
            record.essms_id is not None
            and await EssmsRepository(self.connection).get(record.essms_id, self.principal.scope) is None
        ):
            raise RuleViolation("essms-exists", f"No ESSMS {record.essms_id}", field="essms_id")
        await require_professionals(self.connection, self.principal, [("auteur_id", record.auteur_id)])
        if record.corrige_id is not None:
            corrected = await self.repo.get(record.corrige_id, self.principal.scope)
            owner = await self.repo.owner(record.corrige_id) if corrected is not None else None
            transmissions.check_correction(record, owner)

    def conditions(self, filters: Any) -> list[ColumnElement[bool]]:
        c = self.repo.c
        conditions: list[ColumnElement[bool]] = []
        for name in ("usager_id", "stay_id", "essms_id", "auteur_id", "corrige_id"):
            if getattr(filters, name):
                conditions.append(c[name] == getattr(filters, name))
        if filters.categorie:
            conditions.append(c.categorie == filters.categorie.value)
        if filters.since:
            conditions.append(c.date_heure >= filters.since)
        if filters.until:
            conditions.append(c.date_heure < filters.until)
        if filters.q:
            conditions.extend(self.repo.text_contains(text.tokens(filters.q)))
        if filters.current_only:
            conditions.append(self.repo.not_corrected())
        return conditions
