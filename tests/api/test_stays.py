"""Stays: one open stay per usager per ESSMS, concurrent stays elsewhere allowed."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import essms, if_match, stay, usager

pytestmark = pytest.mark.usefixtures("backend")


async def test_second_open_stay_in_the_same_essms_is_refused(client: httpx.AsyncClient) -> None:
    ehpad = await essms(client)
    ssiad = await essms(client, categorie="354", types_activite=["16"])
    person = await usager(client)
    first = await stay(client, person["id"], ehpad["id"], type_activite="11")
    assert first.status_code == 201 and first.json()["status"] == "en_cours"
    second = await stay(client, person["id"], ehpad["id"], date_entree="2024-03-01")
    assert second.status_code == 409
    assert second.json()["errors"][0]["rule"] == "single-open-stay-per-essms"
    elsewhere = await stay(client, person["id"], ssiad["id"], type_activite="16")
    assert elsewhere.status_code == 201
    listed = (await client.get("/stays", params={"usager_id": person["id"], "open": True})).json()["items"]
    assert len(listed) == 2


async def test_closing_a_stay_allows_a_new_one(client: httpx.AsyncClient) -> None:
    ehpad = await essms(client)
    person = await usager(client)
    first = (await stay(client, person["id"], ehpad["id"])).json()
    no_reason = await client.patch(f"/stays/{first['id']}", json={"date_sortie": "2024-06-30"}, headers=if_match(first))
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["rule"] == "motif-sortie-required"
    closed = await client.patch(
        f"/stays/{first['id']}",
        json={"date_sortie": "2024-06-30", "motif_sortie": "Retour à domicile"},
        headers=if_match(first),
    )
    assert closed.status_code == 200 and closed.json()["status"] == "sorti"
    again = await stay(client, person["id"], ehpad["id"], date_entree="2024-09-01")
    assert again.status_code == 201
    reopen = await client.patch(
        f"/stays/{first['id']}", json={"date_sortie": None, "motif_sortie": None}, headers=if_match(closed)
    )
    assert reopen.status_code == 409


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"date_entree": "2024-05-01", "date_sortie": "2024-04-01", "motif_sortie": "x"}, "date-sortie-after-entree"),
        ({"date_entree": None, "date_admission": None}, "stay-needs-a-date"),
        ({"type_activite": "16"}, "type-activite-offered"),
        ({"type_activite": "99"}, "code-TRE_R209"),
        ({"date_entree": "2999-01-01"}, "date-entree-not-future"),
        ({"modalite_accueil": "zz"}, "code-JDV_J226"),
    ],
)
async def test_stay_rules(client: httpx.AsyncClient, fields: dict[str, object], rule: str) -> None:
    ehpad = await essms(client)
    person = await usager(client)
    response = await stay(client, person["id"], ehpad["id"], **fields)
    assert response.status_code == 422, response.text
    assert rule in {e["rule"] for e in response.json()["errors"]}
    assert (await client.get("/stays")).json()["items"] == []


async def test_stay_keeps_its_usager_and_essms(client: httpx.AsyncClient) -> None:
    ehpad = await essms(client)
    other = await essms(client)
    person = await usager(client)
    record = (await stay(client, person["id"], ehpad["id"])).json()
    moved = await client.patch(f"/stays/{record['id']}", json={"essms_id": other["id"]}, headers=if_match(record))
    assert moved.status_code == 422
    assert moved.json()["errors"][0]["field"] == "essms_id"


async def test_a_stay_links_the_usager_to_the_essms(client: httpx.AsyncClient) -> None:
    ehpad = await essms(client)
    person = await usager(client)
    await stay(client, person["id"], ehpad["id"])
    items = (await client.get("/usagers", params={"essms_id": ehpad["id"]})).json()["items"]
    assert [u["id"] for u in items] == [person["id"]]
    present = (await client.get("/stays", params={"essms_id": ehpad["id"], "present_on": "2024-02-01"})).json()
    assert len(present["items"]) == 1
    before = (await client.get("/stays", params={"essms_id": ehpad["id"], "present_on": "2023-12-31"})).json()
    assert before["items"] == []
