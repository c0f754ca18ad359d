"""Organismes gestionnaires and ESSMS."""

from __future__ import annotations

import httpx
import pytest

from app.domain.finess import with_key
from tests.factories import essms, finess, if_match, organisme

pytestmark = pytest.mark.usefixtures("backend")


async def test_essms_shows_its_finess_category(client: httpx.AsyncClient) -> None:
    ehpad = await essms(client, categorie="500")
    assert ehpad["categorie_libelle"] == "Etablissement d'hébergement pour personnes âgées dépendantes"
    assert ehpad["categorie_obsolete"] is False
    fam = await essms(client, categorie="437", nom="Foyer d'accueil médicalisé", types_activite=["11"])
    assert fam["categorie_obsolete"] is True


@pytest.mark.parametrize("category", ["500", "183", "255", "354", "448"])
async def test_essms_categories_of_the_sector(client: httpx.AsyncClient, category: str) -> None:
    assert (await essms(client, categorie=category, types_activite=[]))["categorie"] == category


async def test_finess_key_and_format_are_checked(client: httpx.AsyncClient) -> None:
    good = finess()
    bad_key = good[:-1] + str((int(good[-1]) + 1) % 10)
    response = await client.post("/organismes", json={"finess_ej": bad_key, "raison_sociale": "X"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == "finess-key"
    response = await client.post("/organismes", json={"finess_ej": "75-000001", "raison_sociale": "X"})
    assert response.json()["errors"][0]["rule"] == "finess-format"
    assert (await client.get("/organismes")).json()["items"] == []


async def test_corsican_finess_numbers(client: httpx.AsyncClient) -> None:
    for department in ("2A", "2B"):
        created = await organisme(client, finess_ej=with_key(f"{department}0000{(department == '2A' and 1) or 2}2"))
        assert created["finess_ej"].startswith(department)


async def test_unknown_category_and_activity_codes(client: httpx.AsyncClient) -> None:
    og = await organisme(client)
    response = await client.post(
        "/essms",
        json={
            "finess_et": finess(),
            "organisme_id": og["id"],
            "nom": "X",
            "categorie": "999",
            "types_activite": ["11", "ZZ"],
        },
    )
    assert response.status_code == 422
    rules = {(e["field"], e["rule"]) for e in response.json()["errors"]}
    assert rules == {("categorie", "code-finess-category"), ("types_activite.1", "code-TRE_R209")}


async def test_duplicate_finess_is_a_conflict(client: httpx.AsyncClient) -> None:
    first = await organisme(client)
    again = await client.post("/organismes", json={"finess_ej": first["finess_ej"], "raison_sociale": "Other"})
    assert again.status_code == 409
    assert again.json()["errors"][0] == {
        "field": "finess_ej",
        "rule": "finess-unique",
        "message": "This FINESS juridique is already recorded",
    }


async def test_essms_needs_a_known_organisme_and_keeps_its_finess(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/essms",
        json={
            "finess_et": finess(),
            "organisme_id": "01a21117-06df-7abd-8df1-0deb22fe3602",
            "nom": "X",
            "categorie": "500",
        },
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == "organisme-exists"
    ehpad = await essms(client)
    change = await client.patch(f"/essms/{ehpad['id']}", json={"finess_et": finess()}, headers=if_match(ehpad))
    assert change.status_code == 422
    assert change.json()["errors"][0]["rule"] == "immutable-field"
    renamed = await client.patch(f"/essms/{ehpad['id']}", json={"nom": "EHPAD Les Lilas"}, headers=if_match(ehpad))
    assert renamed.status_code == 200 and renamed.json()["nom"] == "EHPAD Les Lilas"


async def test_filters(client: httpx.AsyncClient) -> None:
    og = await organisme(client)
    ime = await essms(client, og["id"], categorie="183", types_activite=["13", "14"])
    await essms(client, og["id"], categorie="500")
    items = (await client.get("/essms", params={"categorie": "183"})).json()["items"]
    assert [e["id"] for e in items] == [ime["id"]]
    assert len((await client.get("/essms", params={"organisme_id": og["id"]})).json()["items"]) == 2
    assert (await client.get("/organismes", params={"finess_ej": og["finess_ej"]})).json()["items"][0]["id"] == og["id"]
