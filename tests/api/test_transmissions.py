"""Transmissions: written once, corrected by new notes, listed and searched per usager and per ESSMS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.factories import created, essms, if_match, professional, stay, usager

pytestmark = pytest.mark.usefixtures("backend")


async def _note(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    return await client.post("/transmissions", json=fields)


async def test_notes_are_never_edited_and_corrections_reference_them(client: httpx.AsyncClient) -> None:
    home = await essms(client)
    person = await usager(client)
    the_stay = (await stay(client, person["id"], home["id"])).json()
    nurse = await professional(client, home["id"])
    note = await created(
        await _note(
            client,
            usager_id=person["id"],
            stay_id=the_stay["id"],
            auteur_id=nurse["id"],
            date_heure="2025-03-01T08:30:00+01:00",
            texte="Nuit calme, a mangé tout son petit déjeuner",
        )
    )
    assert note["essms_id"] == home["id"] and note["date_heure"] == "2025-03-01T07:30:00Z"
    for method in ("patch", "put", "delete"):
        response = await client.request(method.upper(), f"/transmissions/{note['id']}", json={}, headers=if_match(note))
        assert response.status_code == 405, method
        assert response.headers["content-type"] == "application/problem+json"

    correction = await created(
        await _note(
            client,
            usager_id=person["id"],
            stay_id=the_stay["id"],
            auteur_id=nurse["id"],
            date_heure="2025-03-01T08:30:00+01:00",
            texte="Nuit calme, n'a pris que la moitié de son petit déjeuner",
            corrige_id=note["id"],
        )
    )
    assert (await client.get(f"/transmissions/{note['id']}")).json() == note
    corrections = (await client.get("/transmissions", params={"corrige_id": note["id"]})).json()["items"]
    assert [c["id"] for c in corrections] == [correction["id"]]
    current = (await client.get("/transmissions", params={"usager_id": person["id"], "current_only": True})).json()
    assert [c["id"] for c in current["items"]] == [correction["id"]]

    other = await usager(client, nom_naissance="DURAND")
    await stay(client, other["id"], home["id"])
    wrong = await _note(
        client,
        usager_id=other["id"],
        essms_id=home["id"],
        auteur_id=nurse["id"],
        date_heure="2025-03-01T09:00:00Z",
        texte="x",
        corrige_id=note["id"],
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["rule"] == "correction-same-usager"
    before_stay = await _note(
        client,
        usager_id=person["id"],
        stay_id=the_stay["id"],
        auteur_id=nurse["id"],
        date_heure="2023-03-01T09:00:00Z",
        texte="x",
    )
    assert before_stay.status_code == 422 and before_stay.json()["errors"][0]["rule"] == "transmission-date-in-stay"


async def test_list_and_search_over_a_period(client: httpx.AsyncClient) -> None:
    home = await essms(client)
    elsewhere = await essms(client)
    nurse = await professional(client, home["id"])
    people = [await usager(client, nom_naissance=n) for n in ("MARTIN", "BERNARD")]
    for person in people:
        await stay(client, person["id"], home["id"])
    start = datetime(2025, 3, 1, 8, tzinfo=UTC)
    texts = ["Chute dans la salle de bains", "Visite de sa fille", "Refus du repas", "Bonne participation à l'atelier"]
    for day, content in enumerate(texts):
        for person in people:
            await created(
                await _note(
                    client,
                    usager_id=person["id"],
                    essms_id=home["id"],
                    auteur_id=nurse["id"],
                    date_heure=(start + timedelta(days=day)).isoformat(),
                    categorie="ciblee" if day == 2 else "narrative",
                    cible="Alimentation" if day == 2 else None,
                    cible_besoin="1.2.1.1" if day == 2 else None,
                    texte=content,
                )
            )
    period = {"since": "2025-03-02T00:00:00Z", "until": "2025-03-04T00:00:00Z", "sort": "date_heure"}
    per_essms = (await client.get("/transmissions", params={"essms_id": home["id"], **period})).json()["items"]
    assert len(per_essms) == 4
    assert [n["texte"] for n in per_essms][::2] == ["Visite de sa fille", "Refus du repas"]
    per_usager = (await client.get("/transmissions", params={"usager_id": people[0]["id"], **period})).json()
    assert len(per_usager["items"]) == 2
    found = (await client.get("/transmissions", params={"essms_id": home["id"], "q": "salle de BAINS"})).json()
    assert len(found["items"]) == 2 and all("Chute" in n["texte"] for n in found["items"])
    targeted = (await client.get("/transmissions", params={"categorie": "ciblee"})).json()["items"]
    assert {n["cible_besoin"] for n in targeted} == {"1.2.1.1"}
    assert (await client.get("/transmissions", params={"essms_id": elsewhere["id"]})).json()["items"] == []

    pages: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"essms_id": home["id"], "sort": "date_heure", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/transmissions", params=params)).json()
        pages += [n["date_heure"] for n in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(pages) == 8 and pages == sorted(pages)


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"texte": None}, "transmission-text-required"),
        ({"categorie": "ciblee"}, "transmission-target-required"),
        ({"essms_id": None}, "transmission-essms-required"),
        ({"date_heure": "2999-01-01T00:00:00Z"}, "date-heure-not-future"),
        ({"cible_besoin": "9.9"}, "code-SERAFIN_besoins"),
        ({"confidentialite": "X"}, "code-Confidentiality"),
        ({"auteur_id": "0190b7a4-0000-7000-8000-000000000000"}, "professional-exists"),
    ],
)
async def test_bad_notes_are_refused(client: httpx.AsyncClient, fields: dict[str, Any], rule: str) -> None:
    home = await essms(client)
    person = await usager(client)
    nurse = await professional(client, home["id"])
    body = {
        "usager_id": person["id"],
        "essms_id": home["id"],
        "auteur_id": nurse["id"],
        "date_heure": "2025-03-01T08:00:00Z",
        "texte": "Note",
        **fields,
    }
    response = await client.post("/transmissions", json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == 422, response.text
    assert rule in {e["rule"] for e in response.json()["errors"]}
    assert (await client.get("/transmissions")).json()["items"] == []
