"""Helpers that create records through the API, with valid defaults."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from app.domain.finess import with_key

_serial = itertools.count(1)


def finess(department: str = "75") -> str:
    return with_key(f"{department}{next(_serial):06d}")


async def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def organisme(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"finess_ej": finess(), "raison_sociale": "Association Les Tilleuls", **fields}
    return await created(await client.post("/organismes", json=body))


async def essms(client: httpx.AsyncClient, organisme_id: str | None = None, **fields: Any) -> dict[str, Any]:
    if organisme_id is None:
        organisme_id = (await organisme(client))["id"]
    body = {
        "finess_et": finess(),
        "organisme_id": organisme_id,
        "nom": "EHPAD Les Tilleuls",
        "categorie": "500",
        "types_activite": ["11", "21", "40"],
        **fields,
    }
    return await created(await client.post("/essms", json=body))


async def usager(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "nom_naissance": "MARTIN",
        "premier_prenom": "Jeanne",
        "sexe": "F",
        "date_naissance": "1940-03-12",
        **fields,
    }
    return await created(await client.post("/usagers", json=body))


async def stay(client: httpx.AsyncClient, usager_id: str, essms_id: str, **fields: Any) -> httpx.Response:
    body = {"usager_id": usager_id, "essms_id": essms_id, "date_entree": "2024-01-15", **fields}
    return await client.post("/stays", json=body)


def if_match(record: dict[str, Any] | httpx.Response) -> dict[str, str]:
    version = record.json()["version"] if isinstance(record, httpx.Response) else record["version"]
    return {"If-Match": f'"{version}"'}


async def professional(client: httpx.AsyncClient, essms_id: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {
        "identifiant_local": f"PRO-{next(_serial)}",
        "nom": "GIRAUD",
        "prenom": "Nathalie",
        "profession": "G15_60",
        "affectations": [{"essms_id": essms_id}] if essms_id else [],
        **fields,
    }
    return await created(await client.post("/professionals", json=body))
