"""Contacts and legal protection measures."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import created, if_match, usager

pytestmark = pytest.mark.usefixtures("backend")


async def contact(client: httpx.AsyncClient, usager_id: str, **fields: object) -> httpx.Response:
    body = {"usager_id": usager_id, "nom": "MARTIN", "prenom": "Paul", "roles": ["ECON"], "relation": "SON", **fields}
    return await client.post("/contacts", json=body)


async def test_one_personne_de_confiance(client: httpx.AsyncClient) -> None:
    person = await usager(client)
    first = await contact(client, person["id"], roles=["NOK", "CAREGIVER"])
    assert first.status_code == 201
    second = await contact(client, person["id"], roles=["NOK"], relation="DAU", prenom="Léa")
    assert second.status_code == 409
    assert second.json()["errors"][0]["rule"] == "single-personne-de-confiance"
    other = await usager(client, nom_naissance="DURAND")
    assert (await contact(client, other["id"], roles=["NOK"])).status_code == 201
    archived = await client.delete(f"/contacts/{first.json()['id']}", headers=if_match(first))
    assert archived.status_code == 200
    assert (await contact(client, person["id"], roles=["NOK"], prenom="Léa")).status_code == 201


async def test_contact_codes(client: httpx.AsyncClient) -> None:
    person = await usager(client)
    response = await contact(client, person["id"], roles=["QUAL"], relation="XYZ")
    assert response.status_code == 422
    assert {e["rule"] for e in response.json()["errors"]} == {"code-TRE_R260-deprecated", "code-JDV_J11"}
    assert (await contact(client, person["id"], roles=[])).status_code == 422
    assert (await contact(client, "01a21117-06df-7abd-8df1-0deb22fe3602")).status_code == 422


async def measure(client: httpx.AsyncClient, usager_id: str, **fields: object) -> httpx.Response:
    body = {
        "usager_id": usager_id,
        "nature": "TUTELLE",
        "date_debut": "2022-05-10",
        "portee": "biens_et_personne",
        "jugement": {"tribunal": "Tribunal judiciaire de Lyon", "date": "2022-05-02"},
        **fields,
    }
    return await client.post("/protection-measures", json=body)


async def test_protection_measure_with_a_protecting_contact(client: httpx.AsyncClient) -> None:
    person = await usager(client)
    tutor = await created(await contact(client, person["id"], roles=["GUARD"], relation="TUTEUR"))
    record = await measure(client, person["id"], protecteur_contact_id=tutor["id"])
    assert record.status_code == 201
    overlapping = await measure(client, person["id"], date_debut="2023-01-01")
    assert overlapping.status_code == 409
    assert overlapping.json()["errors"][0]["rule"] == "measure-no-overlap"
    other = await usager(client, nom_naissance="DURAND")
    foreign = await measure(client, other["id"], protecteur_contact_id=tutor["id"])
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["rule"] == "protector-same-usager"
    active = await client.get("/protection-measures", params={"usager_id": person["id"], "active_on": "2024-01-01"})
    assert len(active.json()["items"]) == 1
    assert (await client.get("/protection-measures", params={"active_on": "2021-01-01"})).json()["items"] == []


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"date_fin": "2020-01-01"}, "date-fin-after-date-debut"),
        ({"nature": "TUTELLE_PROVISOIRE"}, "enum"),
        (
            {
                "protecteur_contact_id": "01a21117-06df-7abd-8df1-0deb22fe3602",
                "protecteur_organisme": {"raison_sociale": "UDAF du Rhône"},
            },
            "single-protector",
        ),
        ({"protecteur_contact_id": "01a21117-06df-7abd-8df1-0deb22fe3602"}, "protector-exists"),
    ],
)
async def test_protection_measure_rules(client: httpx.AsyncClient, fields: dict[str, object], rule: str) -> None:
    person = await usager(client)
    response = await measure(client, person["id"], **fields)
    assert response.status_code == 422, response.text
    assert rule in {e["rule"] for e in response.json()["errors"]}
    assert (await client.get("/protection-measures")).json()["items"] == []
