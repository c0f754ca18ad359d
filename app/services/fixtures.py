"""Load a demo data set through the same services as the API, idempotently and in one transaction."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.access import SYSTEM
from app.domain.entourage import ContactInput, ProtectionMeasureInput
from app.domain.identity import UsagerRecord
from app.domain.professionals import ProfessionalInput
from app.domain.stays import StayInput
from app.domain.structures import EssmsInput, OrganismeInput
from app.services.entourage import ContactService, ProtectionMeasureService
from app.services.professionals import ProfessionalService
from app.services.stays import StayService
from app.services.structures import EssmsService, OrganismeService
from app.services.usagers import UsagerService
from app.store.db import Database, create_engine


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

    async def _existing(self, service: Any, where: list[Any]) -> uuid.UUID | None:
        page = await service.list(where=where, after=None, limit=1, include_archived=True)
        return page.rows[0].id if page.rows else None

    async def organismes(self, items: list[dict[str, Any]]) -> None:
        service = OrganismeService(self.connection, SYSTEM)
        for item in items:
            data = {k: v for k, v in item.items() if k != "key"}
            found = await self._existing(service, [service.repo.c.finess_ej == data["finess_ej"]])
            self.ids[item["key"]] = found or (await service.create(OrganismeInput.model_validate(data))).id
            self._count("organisme", found)

    async def essms(self, items: list[dict[str, Any]]) -> None:
        service = EssmsService(self.connection, SYSTEM)
        for item in items:
            data = {k: v for k, v in item.items() if k not in {"key", "organisme"}}
            data["organisme_id"] = str(self.ref(item["organisme"]))
            found = await self._existing(service, [service.repo.c.finess_et == data["finess_et"]])
            self.ids[item["key"]] = found or (await service.create(EssmsInput.model_validate(data))).id
            self._count("essms", found)

    async def professionals(self, items: list[dict[str, Any]]) -> None:
        service = ProfessionalService(self.connection, SYSTEM)
        for item in items:
            data = {k: v for k, v in item.items() if k != "key"}
            data["affectations"] = [
                {**{k: v for k, v in a.items() if k != "essms"}, "essms_id": str(self.ref(a["essms"]))}
                for a in data.get("affectations", [])
            ]
            c = service.repo.c
            where = [c.rpps == data["rpps"]] if data.get("rpps") else [c.identifiant_local == data["identifiant_local"]]
            found = await self._existing(service, where)
            self.ids[item["key"]] = found or (await service.create(ProfessionalInput.model_validate(data))).id
            self._count("professional", found)

    async def usagers(self, items: list[dict[str, Any]]) -> None:
        service = UsagerService(self.connection, SYSTEM)
        for item in items:
            data = {k: v for k, v in item.items() if k not in {"key", "essms"}}
            if item.get("essms"):
                data["essms_id"] = str(self.ref(item["essms"]))
            found = await self._existing(service, [service.repo.c.identifiant_local == data["identifiant_local"]])
            if found is None:
                # Fixtures may carry an INS already qualified: they stand for records migrated from another DUI.
                found = (await service.create(UsagerRecord.model_validate(data))).id
                self.new_usagers.add(item["key"])
            else:
                self.report.kept["usager"] += 1
            if item["key"] in self.new_usagers:
                self.report.created["usager"] += 1
            self.ids[item["key"]] = found

    async def children(self, kind: str, service_cls: Any, model: Any, items: list[dict[str, Any]],
                       refs: dict[str, str]) -> None:
        service = service_cls(self.connection, SYSTEM)
        for item in items:
            if item["usager"] not in self.new_usagers:
                # The usager was loaded by an earlier run, and its entourage and stays with it.
                self.report.kept[kind] += 1
                continue
            data = {k: v for k, v in item.items() if k not in {"key", *refs}}
            for ref_key, field_name in refs.items():
                if item.get(ref_key):
                    data[field_name] = str(self.ref(item[ref_key]))
            row = await service.create(model.model_validate(data))
            if item.get("key"):
                self.ids[item["key"]] = row.id
            self.report.created[kind] += 1

    def _count(self, kind: str, found: uuid.UUID | None) -> None:
        (self.report.kept if found else self.report.created)[kind] += 1


async def load(connection: AsyncConnection, data: dict[str, Any]) -> LoadReport:
    loader = _Loader(connection)
    await loader.organismes(data.get("organismes", []))
    await loader.essms(data.get("essms", []))
    await loader.professionals(data.get("professionals", []))
    await loader.usagers(data.get("usagers", []))
    await loader.children("contact", ContactService, ContactInput, data.get("contacts", []),
                          {"usager": "usager_id"})
    await loader.children("protection_measure", ProtectionMeasureService, ProtectionMeasureInput,
                          data.get("protection_measures", []),
                          {"usager": "usager_id", "protecteur_contact": "protecteur_contact_id"})
    await loader.children("stay", StayService, StayInput, data.get("stays", []),
                          {"usager": "usager_id", "essms": "essms_id"})
    return loader.report


async def load_file(database_url: str, path: Path) -> LoadReport:
    data = orjson.loads(await asyncio.to_thread(path.read_bytes))
    database = Database(create_engine(database_url))
    try:
        async with database.write() as connection:
            return await load(connection, data)
    finally:
        await database.dispose()
