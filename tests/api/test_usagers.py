"""Usager records through the REST API: minimum traits, search, versions, errors."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.factories import essms, if_match, usager

pytestmark = pytest.mark.usefixtures("backend")


async def test_creation_needs_exactly_the_minimum_traits(client: httpx.AsyncClient) -> None:
    response = await client.post("/usagers", json={})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    missing = {e["field"] for e in response.json()["errors"] if e["rule"] == "missing"}
    assert missing == {"nom_naissance", "premier_prenom", "sexe", "date_naissance"}

    created = await usager(client)
    assert created["identity_status"] == "PROV"
    assert created["prenoms_naissance"] == ["Jeanne"]
    assert created["ins"] is None
    assert (await client.get(f"/usagers/{created['id']}")).headers["etag"] == '"1"'


@pytest.mark.parametrize(
    "query",
    ["helene dargent leveque", "HELENE D'ARGENT-LEVEQUE", "Hélène d argent", "dargentleveque", "leveque marie", "lena"],
)
async def test_trait_search_ignores_case_accents_hyphens_apostrophes(client: httpx.AsyncClient, query: str) -> None:
    helene = await usager(
        client,
        nom_naissance="D'ARGENT-LÉVÊQUE",
        premier_prenom="Hélène",
        prenoms_naissance=["Hélène", "Marie", "Léna"],
        date_naissance="1938-04-02",
    )
    await usager(client, nom_naissance="ARGENTIN", premier_prenom="Paul", sexe="M")
    found = (await client.get("/usagers", params={"q": query})).json()["items"]
    if query == "Hélène d argent":
        # "d" and "argent" are two words: "argent" starts no token of D'ARGENT (folded to "dargent").
        assert found == []
    else:
        assert [u["id"] for u in found] == [helene["id"]]


async def test_first_name_search_covers_birth_first_and_used_first_names(client: httpx.AsyncClient) -> None:
    marie = await usager(
        client,
        nom_naissance="DUPONT",
        premier_prenom="Marie-Thérèse",
        prenoms_naissance=["Marie-Thérèse", "Odile"],
        prenom_utilise="Maïté",
        nom_utilise="LEFÈVRE",
    )
    for params in (
        {"prenom": "odile"},
        {"prenom": "maite"},
        {"prenom": "therese"},
        {"nom": "lefevre"},
        {"nom": "dupont", "prenom": "marie", "date_naissance": "1940-03-12"},
    ):
        items = (await client.get("/usagers", params=params)).json()["items"]
        assert [u["id"] for u in items] == [marie["id"]], params
    assert (await client.get("/usagers", params={"prenom": "dupont"})).json()["items"] == []
    assert (await client.get("/usagers", params={"nom": "dupont", "date_naissance": "1941-03-12"})).json()[
        "items"
    ] == []


async def test_concurrent_patches_with_the_same_if_match_one_wins(client: httpx.AsyncClient) -> None:
    record = await usager(client)
    first, second = await asyncio.gather(
        client.patch(f"/usagers/{record['id']}", json={"nom_utilise": "DURAND"}, headers=if_match(record)),
        client.patch(f"/usagers/{record['id']}", json={"nom_utilise": "LEROY"}, headers=if_match(record)),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 412]
    winner = first if first.status_code == 200 else second
    loser = second if winner is first else first
    assert loser.json()["type"] == "urn:dui:problem:precondition-failed"
    assert winner.headers["etag"] == '"2"'

    history = (await client.get(f"/usagers/{record['id']}/history")).json()
    assert [(h["version"], h["operation"]) for h in history] == [(1, "create"), (2, "update")]
    assert history[0]["document"]["nom_utilise"] is None
    assert history[1]["document"]["nom_utilise"] == winner.json()["nom_utilise"]
    version_1 = await client.get(f"/usagers/{record['id']}/history/1")
    assert version_1.json()["document"]["version"] == 1


async def test_if_match_is_required_and_checked(client: httpx.AsyncClient) -> None:
    record = await usager(client)
    path = f"/usagers/{record['id']}"
    missing = await client.patch(path, json={"nom_utilise": "X"})
    assert missing.status_code == 428
    assert missing.json()["type"] == "urn:dui:problem:precondition-required"
    assert (await client.patch(path, json={"nom_utilise": "X"}, headers={"If-Match": '"7"'})).status_code == 412
    assert (await client.patch(path, json={"nom_utilise": "X"}, headers={"If-Match": "garbage"})).status_code == 412
    assert (await client.delete(path)).status_code == 428
    assert (
        await client.put(
            path,
            json={"nom_naissance": "MARTIN", "premier_prenom": "Jeanne", "sexe": "F", "date_naissance": "1940-03-12"},
        )
    ).status_code == 428
    assert (await client.get(path)).json()["version"] == 1


async def test_merge_patch_removes_a_field_with_null(client: httpx.AsyncClient) -> None:
    record = await usager(client, nom_utilise="LEROY")
    response = await client.patch(f"/usagers/{record['id']}", json={"nom_utilise": None}, headers=if_match(record))
    assert response.status_code == 200
    assert response.json()["nom_utilise"] is None
    assert response.json()["nom_naissance"] == "MARTIN"


async def test_ins_fields_are_read_only(client: httpx.AsyncClient) -> None:
    record = await usager(client)
    ins = {"matricule": "297022A02077878", "oid": "1.2.250.1.213.1.4.8"}
    patch = await client.patch(f"/usagers/{record['id']}", json={"ins": ins}, headers=if_match(record))
    assert patch.status_code == 422
    assert patch.json()["errors"][0]["field"] == "ins"
    create = await client.post(
        "/usagers",
        json={
            "nom_naissance": "MARTIN",
            "premier_prenom": "Jeanne",
            "sexe": "F",
            "date_naissance": "1940-03-12",
            "insi_verified": True,
        },
    )
    assert create.status_code == 422


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"date_naissance": "2999-01-01"}, "date_naissance", "date-not-in-future"),
        ({"date_naissance": "1940-02-30"}, "date_naissance", "date_from_datetime_parsing"),
        ({"sexe": "X"}, "sexe", "code-JDV_J143"),
        ({"nom_naissance": "MART1N"}, "nom_naissance", "name-characters"),
        ({"prenoms_naissance": ["Paul", "Jeanne"]}, "prenoms_naissance", "first-names-consistent"),
        ({"lieu_naissance": "7505"}, "lieu_naissance", "cog-format"),
        ({"unknown": 1}, "unknown", "extra_forbidden"),
        ({"date_naissance": 19400312}, "date_naissance", "date_from_datetime_inexact"),
        ({"attributes": ["DOUT", "DOUT"]}, "attributes", "attributes-unique"),
    ],
)
async def test_bad_input_names_the_field_and_rule_and_writes_nothing(
    client: httpx.AsyncClient, body: dict[str, object], field: str, rule: str
) -> None:
    valid = {"nom_naissance": "MARTIN", "premier_prenom": "Jeanne", "sexe": "F", "date_naissance": "1940-03-12"}
    response = await client.post("/usagers", json={**valid, **body})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "urn:dui:problem:validation-error"
    assert {"field": field, "rule": rule} in [{"field": e["field"], "rule": e["rule"]} for e in problem["errors"]]
    assert (await client.get("/usagers")).json()["items"] == []


async def test_malformed_json_and_wrong_types(client: httpx.AsyncClient) -> None:
    malformed = await client.post(
        "/usagers", content=b'{"nom_naissance": ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["type"] == "urn:dui:problem:malformed-json"
    wrong = await client.post("/usagers", json=["not", "an", "object"])
    assert wrong.status_code == 422
    record = await usager(client)
    bad_patch = await client.patch(
        f"/usagers/{record['id']}", json={"date_naissance": "2999-01-01"}, headers=if_match(record)
    )
    assert bad_patch.status_code == 422
    assert (await client.get(f"/usagers/{record['id']}")).json()["version"] == 1
    assert len((await client.get(f"/usagers/{record['id']}/history")).json()) == 1


async def test_archive_keeps_the_record(client: httpx.AsyncClient) -> None:
    record = await usager(client)
    archived = await client.delete(f"/usagers/{record['id']}", headers=if_match(record))
    assert archived.status_code == 200
    assert archived.json()["archived_at"] is not None
    read = await client.get(f"/usagers/{record['id']}")
    assert read.status_code == 200 and read.json()["archived_at"] is not None
    assert (await client.get("/usagers")).json()["items"] == []
    assert len((await client.get("/usagers", params={"include_archived": True})).json()["items"]) == 1
    gone = await client.patch(f"/usagers/{record['id']}", json={"nom_utilise": "X"}, headers=if_match(archived))
    assert gone.status_code == 410
    history = (await client.get(f"/usagers/{record['id']}/history")).json()
    assert [h["operation"] for h in history] == ["create", "archive"]


async def test_cursor_pagination_is_stable_under_inserts(client: httpx.AsyncClient) -> None:
    ids = [(await usager(client, identifiant_local=f"P{i:03d}"))["id"] for i in range(12)]
    seen: list[str] = []
    page = (await client.get("/usagers", params={"limit": 5})).json()
    seen += [u["id"] for u in page["items"]]
    await usager(client, identifiant_local="LATE")  # inserted while paging: lands after the cursor
    while page["next_cursor"]:
        response = await client.get("/usagers", params={"limit": 5, "cursor": page["next_cursor"]})
        page = response.json()
        seen += [u["id"] for u in page["items"]]
    assert seen[:12] == ids
    assert len(seen) == len(set(seen)) == 13


async def test_sorted_pagination_by_name(client: httpx.AsyncClient) -> None:
    for name in ["ÉMERY", "ZOLA", "ABADIE", "Martin", "le goff", "LEBLANC"]:
        await usager(client, nom_naissance=name)
    names: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2, "sort": "nom"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/usagers", params=params)).json()
        names += [u["nom_naissance"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert names == ["ABADIE", "ÉMERY", "le goff", "LEBLANC", "Martin", "ZOLA"]


async def test_bad_cursor_and_unknown_filters_are_400_or_422(client: httpx.AsyncClient) -> None:
    assert (await client.get("/usagers", params={"cursor": "not-a-cursor"})).status_code == 400
    page = await client.get("/usagers", params={"limit": 1})
    assert page.status_code == 200
    assert (await client.get("/usagers", params={"colour": "blue"})).status_code == 422
    assert (await client.get("/usagers", params={"limit": 0})).status_code == 422


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient) -> None:
    missing = await client.get("/usagers/01a21117-06df-7abd-8df1-0deb22fe3602")
    assert missing.status_code == 404
    assert missing.json()["type"] == "urn:dui:problem:not-found"
    assert (await client.get("/usagers/12")).status_code == 422


async def test_usager_linked_to_an_unknown_essms_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/usagers",
        json={
            "nom_naissance": "MARTIN",
            "premier_prenom": "Jeanne",
            "sexe": "F",
            "date_naissance": "1940-03-12",
            "essms_id": "01a21117-06df-7abd-8df1-0deb22fe3602",
        },
    )
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "essms_id",
        "rule": "essms-exists",
        "message": response.json()["errors"][0]["message"],
    }


async def test_list_by_essms(client: httpx.AsyncClient) -> None:
    home = await essms(client)
    other = await essms(client)
    inside = await usager(client, essms_id=home["id"])
    await usager(client, essms_id=other["id"])
    items = (await client.get("/usagers", params={"essms_id": home["id"]})).json()["items"]
    assert [u["id"] for u in items] == [inside["id"]]


async def test_body_size_limit(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/usagers",
        content=b'{"commentaire": "' + b"x" * 2_000_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["type"] == "urn:dui:problem:payload-too-large"
