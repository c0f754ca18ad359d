"""Use cases for usagers: identity records and trait search (RNIV rule 17)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import orjson
from pydantic import BaseModel

from app.domain import text
from app.domain.errors import FieldIssue, PreconditionFailed, RuleViolation
from app.domain.evaluations import CurrentGir
from app.domain.identity import UsagerIdentityInput, UsagerRecord, locked_trait_changes
from app.domain.ins import duplicate_key as traits_key
from app.services.audit import defer_read_traces
from app.services.resources import Page, ResourceService, utcnow
from app.store.bound import Condition, equal
from app.store.identity import IdentityJournal
from app.store.repository import (
    EssmsRepository,
    HistoryEntry,
    Keyset,
    StoredRow,
    UsagerRepository,
)

NAME, FIRST_NAME = "n", "p"
MAX_KEY = 64  # keys are stored cut to this length, so a longer word is looked up cut too


def search_tokens(record: UsagerRecord) -> set[tuple[str, str]]:
    """Index keys of a usager: birth and used names, every first name, tokens and compact forms."""
    keys = {(NAME, key) for name in record.search_names() for key in text.name_keys(name)}
    keys |= {(FIRST_NAME, key) for name in record.search_first_names() for key in text.name_keys(name)}
    return {(kind, key[:MAX_KEY]) for kind, key in keys}


def duplicate_key(record: UsagerRecord) -> str:
    """Identitovigilance key of a usager (normalised birth name, first first name, birth date, sex)."""
    return traits_key(record.nom_naissance, record.premier_prenom, record.date_naissance, record.sexe)


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
        await IdentityJournal(self.connection).set_key(resource_id, duplicate_key(record))

    # -- traces of every access to and change of an identity (RNIV rule 16) -------------------------
    async def _trace(self, usager_id: uuid.UUID, action: str, detail: dict[str, Any]) -> None:
        await IdentityJournal(self.connection).trace(usager_id, self.principal.actor, utcnow(), action, detail)

    async def _trace_reads(self, usager_ids: list[uuid.UUID], action: str, detail: dict[str, Any]) -> None:
        """Reads are traced with the request's audit event (batched); elsewhere, on this connection."""
        now, serialized = utcnow(), orjson.dumps(detail).decode()
        rows = [
            {"usager_id": u, "actor": self.principal.actor, "at": now, "action": action, "detail": serialized}
            for u in usager_ids
        ]
        if not defer_read_traces(rows):
            await IdentityJournal(self.connection).insert_many([], rows)

    async def read(self, resource_id: uuid.UUID) -> StoredRow:
        row = await self.get(resource_id)
        await self._trace_reads([resource_id], "read", {"version": row.version})
        return row

    async def list_page(
        self,
        *,
        where: Sequence[Condition],
        after: Keyset | None,
        limit: int,
        sort: str | None = None,
        include_archived: bool = False,
    ) -> Page:
        page = await super().list_page(
            where=where, after=after, limit=limit, sort=sort, include_archived=include_archived
        )
        if page.rows:
            await self._trace_reads([row.id for row in page.rows], "list", {"listed": len(page.rows)})
        return page

    async def history(self, resource_id: uuid.UUID) -> list[HistoryEntry]:
        entries = await super().history(resource_id)
        await self._trace_reads([resource_id], "read-history", {"versions": len(entries)})
        return entries

    async def create(self, data: BaseModel) -> StoredRow:
        row = await super().create(data)
        await self._trace(row.id, "create", {"version": 1})
        return row

    async def archive(self, resource_id: uuid.UUID, if_match: int) -> StoredRow:
        row = await super().archive(resource_id, if_match)
        await IdentityJournal(self.connection).set_key(resource_id, None)
        await self._trace(resource_id, "archive", {"version": row.version})
        return row

    async def _write_next(self, row: StoredRow, current: UsagerRecord, document: dict[str, Any]) -> StoredRow:
        # RNIV rule 26: once INSi has returned them, the INS traits are read-only.
        stored = current.model_dump(mode="json")
        kept = {k: v for k, v in stored.items() if k not in self.input_model.model_fields}
        candidate = self.to_record({**kept, **document})
        locked = locked_trait_changes(current, candidate)
        if locked:
            error = RuleViolation(
                "ins-trait-read-only", f"{locked[0]} comes from INSi and is read-only", field=locked[0]
            )
            error.issues = [
                FieldIssue(name, "ins-trait-read-only", "Retrieved through INSi: read-only (RNIV rule 26)")
                for name in locked
            ]
            raise error
        written = await super()._write_next(row, current, document)
        changed = sorted(
            k
            for k in set(stored) | set(candidate.model_dump(mode="json"))
            if stored.get(k) != candidate.model_dump(mode="json").get(k)
        )
        await self._trace(row.id, "update", {"version": written.version, "fields": changed})
        return written

    # -- writes of the identity workflow -------------------------------------------------------------
    async def current_for_write(self, resource_id: uuid.UUID, if_match: int) -> tuple[StoredRow, UsagerRecord]:
        return await self._current_for_write(resource_id, if_match)

    async def write_workflow(
        self,
        row: StoredRow,
        current: UsagerRecord,
        updated: UsagerRecord,
        action: str,
        detail: dict[str, Any] | None = None,
    ) -> StoredRow:
        """Write a version set by the identity workflow (INS fields included), traced as ``action``."""
        await self.check(updated, row.id)
        now = utcnow()
        body = self.render(updated, row.id, row.version + 1, self._created_at(row), now, None)
        written = await self._unique(
            self.repo.update(
                resource_id=row.id,
                expected_version=row.version,
                body=body,
                columns=self.columns(updated),
                actor=self.principal.actor,
                now=now,
            )
        )
        if not written:
            raise PreconditionFailed(f"usager {row.id} has changed")
        await self.after_write(row.id, updated)
        before, after = current.model_dump(mode="json"), updated.model_dump(mode="json")
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        await self._trace(row.id, action, {"version": row.version + 1, "fields": changed, **(detail or {})})
        return StoredRow(row.id, row.version + 1, body, False)

    async def archive_merged(self, row: StoredRow, record: UsagerRecord, kept_id: uuid.UUID) -> StoredRow:
        """Archive a duplicate merged into ``kept_id`` (its history stays readable)."""
        merged = record.model_copy(update={"merged_into": kept_id})
        now = utcnow()
        body = self.render(merged, row.id, row.version + 1, self._created_at(row), now, now)
        written = await self.repo.update(
            resource_id=row.id,
            expected_version=row.version,
            body=body,
            columns=self.columns(merged),
            actor=self.principal.actor,
            now=now,
            operation="archive",
            archived_at=now,
        )
        if not written:
            raise PreconditionFailed(f"usager {row.id} has changed")
        await IdentityJournal(self.connection).set_key(row.id, None)
        await self._trace(row.id, "merged", {"version": row.version + 1, "into": str(kept_id)})
        return StoredRow(row.id, row.version + 1, body, True)

    def conditions(self, filters: Any) -> Sequence[Condition]:
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
    ) -> list[Condition]:
        """Filters of a trait search; names ignore case, accents, hyphens and apostrophes, and a first name
        matches any birth first name, the first one or the used one (RNIV rule 17)."""
        c = self.repo.c
        conditions: list[Condition] = []
        terms: list[tuple[str, tuple[str, ...]]] = [
            (token[:MAX_KEY], (NAME, FIRST_NAME)) for token in text.tokens(q or "")
        ]
        terms += [(token[:MAX_KEY], (NAME,)) for token in text.tokens(nom or "")]
        terms += [(token[:MAX_KEY], (FIRST_NAME,)) for token in text.tokens(prenom or "")]
        if terms:
            conditions.append(self.repo.tokens_match(terms))
        if date_naissance is not None:
            conditions.append(equal(c.date_naissance, date_naissance))
        if sexe is not None:
            conditions.append(equal(c.sexe, sexe))
        if identity_status is not None:
            conditions.append(equal(c.identity_status, identity_status))
        if identifiant_local is not None:
            conditions.append(equal(c.identifiant_local, identifiant_local))
        if essms_id is not None:
            conditions.append(self.repo.in_essms(essms_id))
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
