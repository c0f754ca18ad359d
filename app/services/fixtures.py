"""Load a demo data set through the same services as the API, idempotently and in one transaction."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.access import SYSTEM
from app.domain.entourage import ContactInput, ProtectionMeasureInput
from app.domain.errors import DomainError
from app.domain.evaluations import EvaluationInput
from app.domain.identity import UsagerRecord
from app.domain.plans import Bilan, PlanInput, PlanStatus, Transition
from app.domain.professionals import ProfessionalInput
from app.domain.stays import StayInput
from app.domain.structures import EssmsInput, OrganismeInput
from app.domain.transmissions import TransmissionInput
from app.services.entourage import ContactService, ProtectionMeasureService
from app.services.evaluations import EvaluationService
from app.services.plans import PlanService
from app.services.professionals import ProfessionalService
from app.services.resources import InputInvalid
from app.services.stays import StayService
from app.services.structures import EssmsService, OrganismeService
from app.services.transmissions import TransmissionService
from app.services.usagers import UsagerService
from app.store.db import Database, create_engine
from app.store.repository import StoredRow


class FixtureError(Exception):
    """A fixture record broke a rule; names the record and every issue."""

    def __init__(self, kind: str, key: str, issues: list[str]) -> None:
        super().__init__(f"{kind} {key}: " + "; ".join(issues))


@contextmanager
def _record(kind: str, key: str) -> Iterator[None]:
    try:
        yield
    except InputInvalid as error:
        raise FixtureError(
            kind, key, [f"{'.'.join(map(str, e['loc']))}: {e['msg']} ({e['type']})" for e in error.error.errors()]
        ) from error
    except ValidationError as error:
        raise FixtureError(
            kind, key, [f"{'.'.join(map(str, e['loc']))}: {e['msg']} ({e['type']})" for e in error.errors()]
        ) from error
    except DomainError as error:
        raise FixtureError(
            kind, key, [f"{i.field}: {i.message} ({i.rule})" for i in error.issues] or [error.message]
        ) from error
    except KeyError as error:
        raise FixtureError(kind, key, [f"unknown reference {error}"]) from error


@dataclass
class LoadReport:
    created: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        kinds = sorted(set(self.created) | set(self.kept))
        parts = [f"{kind}: {self.created[kind]} created, {self.kept[kind]} already present" for kind in kinds]
        return "Fixtures loaded. " + "; ".join(parts)


class _Loader:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.ids: dict[str, uuid.UUID] = {}
        self.report = LoadReport()
        self.new_usagers: set[str] = set()

    def ref(self, key: str) -> uuid.UUID:
        return self.ids[key]

    async def each(
        self, kind: str, items: list[dict[str, Any]], load_one: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> None:
        for item in items:
            with _record(kind, str(item.get("key") or item.get("usager") or "?")):
                await load_one(item)

    async def _existing(self, service: Any, where: list[Any]) -> uuid.UUID | None:
        page = await service.list_page(where=where, after=None, limit=1, include_archived=True)
        return page.rows[0].id if page.rows else None

    async def _keep_or_create(self, kind: str, key: str, service: Any, where: list[Any], record: Any) -> bool:
        found = await self._existing(service, where)
        self.ids[key] = found or (await service.create(record)).id
        (self.report.kept if found else self.report.created)[kind] += 1
        return found is None

    async def organisme(self, item: dict[str, Any]) -> None:
        service = OrganismeService(self.connection, SYSTEM)
        record = OrganismeInput.model_validate(_without(item, "key"))
        await self._keep_or_create(
            "organisme", item["key"], service, [service.repo.c.finess_ej == record.finess_ej], record
        )

    async def essms(self, item: dict[str, Any]) -> None:
        service = EssmsService(self.connection, SYSTEM)
        data = {**_without(item, "key", "organisme"), "organisme_id": str(self.ref(item["organisme"]))}
        record = EssmsInput.model_validate(data)
        await self._keep_or_create(
            "essms", item["key"], service, [service.repo.c.finess_et == record.finess_et], record
        )

    async def professional(self, item: dict[str, Any]) -> None:
        service = ProfessionalService(self.connection, SYSTEM)
        data = _without(item, "key")
        data["affectations"] = [
            {**_without(a, "essms"), "essms_id": str(self.ref(a["essms"]))} for a in data.get("affectations", [])
        ]
        record = ProfessionalInput.model_validate(data)
        c = service.repo.c
        where = [c.rpps == record.rpps] if record.rpps else [c.identifiant_local == record.identifiant_local]
        await self._keep_or_create("professional", item["key"], service, where, record)

    async def usager(self, item: dict[str, Any]) -> None:
        service = UsagerService(self.connection, SYSTEM)
        data = _without(item, "key", "essms")
        if item.get("essms"):
            data["essms_id"] = str(self.ref(item["essms"]))
        # Fixtures may carry a qualified INS: they stand for records migrated from another DUI.
        record = UsagerRecord.model_validate(data)
        where = [service.repo.c.identifiant_local == record.identifiant_local]
        if await self._keep_or_create("usager", item["key"], service, where, record):
            self.new_usagers.add(item["key"])

    async def plan(self, item: dict[str, Any]) -> None:
        """A plan and its versions, taken through the life cycle as staff would (revisions included)."""
        if item["usager"] not in self.new_usagers:
            self.report.kept["plan"] += 1
            return
        service = PlanService(self.connection, SYSTEM)
        row: StoredRow | None = None
        for version in item["versions"]:
            content = {
                **_without(version, "status", "bilans_suivi", "motif_cloture"),
                "usager_id": str(self.ref(item["usager"])),
                "stay_id": str(self.ref(item["stay"])),
                "referents": [str(self.ref(k)) for k in version.get("referents", [])],
            }
            record = PlanInput.model_validate(content)
            if row is None:
                row = await service.create(record)
            else:
                draft = await service.revise(row.id, row.version)
                row = await service.replace(draft.id, draft.version, record)
            row = await _drive(service, row, version)
        self.report.created["plan"] += 1

    def child(
        self, kind: str, service_cls: Any, model: Any, refs: dict[str, str]
    ) -> Callable[[dict[str, Any]], Awaitable[None]]:
        """Loader of records that hang off a usager: created with a new usager, kept with an old one."""

        async def load_one(item: dict[str, Any]) -> None:
            if item["usager"] not in self.new_usagers:
                self.report.kept[kind] += 1
                return
            data = _without(item, "key", *refs)
            for ref_key, field_name in refs.items():
                if item.get(ref_key):
                    data[field_name] = str(self.ref(item[ref_key]))
            row = await service_cls(self.connection, SYSTEM).create(model.model_validate(data))
            if item.get("key"):
                self.ids[item["key"]] = row.id
            self.report.created[kind] += 1

        return load_one


# The transitions that take a new draft to each status.
_PATH = {
    PlanStatus.DRAFT: (),
    PlanStatus.SUBMITTED: (Transition.SUBMIT,),
    PlanStatus.VALIDATED: (Transition.SUBMIT, Transition.VALIDATE),
    PlanStatus.IN_PROGRESS: (Transition.SUBMIT, Transition.VALIDATE, Transition.START),
    # A version ends up revised when the next one is validated.
    PlanStatus.REVISED: (Transition.SUBMIT, Transition.VALIDATE, Transition.START),
    PlanStatus.CLOSED: (Transition.SUBMIT, Transition.VALIDATE, Transition.START, Transition.CLOSE),
}


async def _drive(service: PlanService, row: StoredRow, version: dict[str, Any]) -> StoredRow:
    steps = {
        Transition.SUBMIT: service.submit,
        Transition.VALIDATE: service.validate,
        Transition.START: service.start,
    }
    for step in _PATH[PlanStatus(version["status"])]:
        if step is Transition.CLOSE:
            row = await service.close(row.id, row.version, version.get("motif_cloture"))
        else:
            row = await steps[step](row.id, row.version)
    for bilan in version.get("bilans_suivi", []):
        row = await service.add_review(row.id, row.version, Bilan.model_validate(bilan))
    return row


def _without(item: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in keys}


async def load(connection: AsyncConnection, data: dict[str, Any]) -> LoadReport:
    """Load ``data`` in the caller's transaction; a broken record raises ``FixtureError``."""
    loader = _Loader(connection)
    await loader.each("organisme", data.get("organismes", []), loader.organisme)
    await loader.each("essms", data.get("essms", []), loader.essms)
    await loader.each("professional", data.get("professionals", []), loader.professional)
    await loader.each("usager", data.get("usagers", []), loader.usager)
    await loader.each(
        "contact",
        data.get("contacts", []),
        loader.child("contact", ContactService, ContactInput, {"usager": "usager_id"}),
    )
    await loader.each(
        "protection_measure",
        data.get("protection_measures", []),
        loader.child(
            "protection_measure",
            ProtectionMeasureService,
            ProtectionMeasureInput,
            {"usager": "usager_id", "protecteur_contact": "protecteur_contact_id"},
        ),
    )
    await loader.each(
        "stay",
        data.get("stays", []),
        loader.child("stay", StayService, StayInput, {"usager": "usager_id", "essms": "essms_id"}),
    )
    await loader.each(
        "evaluation",
        data.get("evaluations", []),
        loader.child(
            "evaluation",
            EvaluationService,
            EvaluationInput,
            {"usager": "usager_id", "stay": "stay_id", "evaluateur": "evaluateur_id", "responsable": "responsable_id"},
        ),
    )
    await loader.each("plan", data.get("plans", []), loader.plan)
    await loader.each(
        "transmission",
        data.get("transmissions", []),
        loader.child(
            "transmission",
            TransmissionService,
            TransmissionInput,
            {"usager": "usager_id", "stay": "stay_id", "auteur": "auteur_id", "corrige": "corrige_id"},
        ),
    )
    return loader.report


async def load_file(database_url: str, path: Path) -> LoadReport:
    data = orjson.loads(await asyncio.to_thread(path.read_bytes))
    database = Database(create_engine(database_url))
    try:
        async with database.write() as connection:
            return await load(connection, data)
    finally:
        await database.dispose()
