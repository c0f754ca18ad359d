"""Use cases for usagers: identity records and trait search (RNIV rule 17)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy.sql.elements import ColumnElement

from app.domain import text
from app.domain.errors import PreconditionFailed, RuleViolation
from app.domain.evaluations import CurrentGir
from app.domain.identity import UsagerIdentityInput, UsagerRecord
from app.services.resources import ResourceService, utcnow
from app.store.repository import USAGER_ESSMS, EssmsRepository, UsagerRepository

NAME, FIRST_NAME = "n", "p"


def search_tokens(record: UsagerRecord) -> set[tuple[str, str]]:
    """Index keys of a usager: birth and used names, every first name, tokens and compact forms."""
    keys = {(NAME, key) for name in record.search_names() for key in text.name_keys(name)}
    keys |= {(FIRST_NAME, key) for name in record.search_first_names() for key in text.name_keys(name)}
    return {(kind, key[:64]) for kind, key in keys}


class UsagerService(ResourceService[UsagerRecord]):
    repository = UsagerRepository
    input_model = UsagerIdentityInput
    record_model = UsagerRecord
    derived_fields = ("identity_status",)
    unique_rules = {"uq_usager_ins_matricule": ("ins-unique", "This INS is already carried by another usager", "ins")}
    repo: UsagerRepository

    def derived(self, record: UsagerRecord) -> dict[str, Any]:
        return {"identity_status": record.status.value}

    def columns(self, record: UsagerRecord) -> dict[str, Any]:
        display_name = f"{record.nom_utilise or record.nom_naissance} {record.prenom_utilise or record.premier_prenom}"
        return {
            "name_key": text.sort_key(display_name),
            "date_naissance": record.date_naissance,
            "sexe": record.sexe,
            "identity_status": record.status.value,
            "essms_id": record.essms_id,
            "identifiant_local": record.identifiant_local,
            "ins_matricule": record.ins.matricule if record.ins else None,
        }

    async def check(self, record: UsagerRecord, current_id: uuid.UUID | None) -> None:
        if record.essms_id is not None:
            essms = await EssmsRepository(self.connection).get(record.essms_id, self.principal.scope)
            if essms is None:
                raise RuleViolation("essms-exists", f"No ESSMS {record.essms_id}", field="essms_id")

    async def after_write(self, resource_id: uuid.UUID, record: UsagerRecord) -> None:
        await self.repo.replace_tokens(resource_id, search_tokens(record))
        if record.essms_id is not None:
            await self.repo.link_essms(resource_id, record.essms_id)

    def conditions(self, filters: Any) -> list[ColumnElement[bool]]:
        return self.search_conditions(
            q=filters.q,
            nom=filters.nom,
            prenom=filters.prenom,
            date_naissance=filters.date_naissance,
            sexe=filters.sexe,
            essms_id=filters.essms_id,
            identity_status=filters.identity_status.value if filters.identity_status else None,
            identifiant_local=filters.identifiant_local,
        )

    def search_conditions(
        self,
        *,
        q: str | None = None,
        nom: str | None = None,
        prenom: str | None = None,
        date_naissance: date | None = None,
        sexe: str | None = None,
        essms_id: uuid.UUID | None = None,
        identity_status: str | None = None,
        identifiant_local: str | None = None,
    ) -> list[ColumnElement[bool]]:
        """Filters of a trait search; names ignore case, accents, hyphens and apostrophes, and a first name
        matches any birth first name, the first one or the used one (RNIV rule 17)."""
        c = self.repo.c
        conditions: list[ColumnElement[bool]] = []
        for token in text.tokens(q or ""):
            conditions.append(self.repo.token_match(token, (NAME, FIRST_NAME)))
        for token in text.tokens(nom or ""):
            conditions.append(self.repo.token_match(token, (NAME,)))
        for token in text.tokens(prenom or ""):
            conditions.append(self.repo.token_match(token, (FIRST_NAME,)))
        if date_naissance is not None:
            conditions.append(c.date_naissance == date_naissance)
        if sexe is not None:
            conditions.append(c.sexe == sexe)
        if identity_status is not None:
            conditions.append(c.identity_status == identity_status)
        if identifiant_local is not None:
            conditions.append(c.identifiant_local == identifiant_local)
        if essms_id is not None:
            conditions.append(
                c.id.in_(
                    USAGER_ESSMS.select()
                    .with_only_columns(USAGER_ESSMS.c.usager_id)
                    .where(USAGER_ESSMS.c.essms_id == essms_id)
                )
            )
        return conditions

    async def set_current_gir(self, usager_id: uuid.UUID, current: CurrentGir | None) -> None:
        """Show the GIR of the latest AGGIR evaluation on the usager (a new version when it changes)."""
        for _ in range(3):
            row, record = await self.get_record(usager_id)
            if record.gir_actuel == current:
                return
            record.gir_actuel = current
            now = utcnow()
            body = self.render(record, usager_id, row.version + 1, self._created_at(row), now, None)
            archived_at = datetime.fromisoformat(orjson.loads(row.body)["archived_at"]) if row.archived else None
            if await self.repo.update(
                resource_id=usager_id,
                expected_version=row.version,
                body=body,
                columns=self.columns(record),
                actor=self.principal.actor,
                now=now,
                archived_at=archived_at,
            ):
                return
        raise PreconditionFailed(f"usager {usager_id} keeps changing; retry")
