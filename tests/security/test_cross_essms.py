"""Requests that name records of another ESSMS beside the caller's own: refused, and nothing is written."""

from __future__ import annotations

import httpx
import pytest

from app.domain.access import Role
from tests.conftest import SHARED, ClientAs
from tests.factories import essms, if_match, organisme, stay, usager

pytestmark = pytest.mark.usefixtures("backend")
FLUDR = SHARED / "specs/cda/TestContenuCDA-3-0/ExemplesCDA/DLU-EHPAD-FLUDR_2022.01.xml"
XML = {"content-type": "application/xml"}


async def _two_essms(client: httpx.AsyncClient) -> tuple[dict[str, object], dict[str, object]]:
    mine = await essms(client, (await organisme(client))["id"], nom="EHPAD A")
    theirs = await essms(client, (await organisme(client))["id"], nom="EHPAD B")
    return mine, theirs


async def test_a_stay_is_not_opened_for_a_usager_of_another_essms(
    client: httpx.AsyncClient, client_as: ClientAs
) -> None:
    mine, theirs = await _two_essms(client)
    their_usager = await usager(client, essms_id=theirs["id"])
    my_usager = await usager(client, essms_id=mine["id"])
    writer = await client_as(Role.ACCUEIL, mine["id"])

    refused = await stay(writer, their_usager["id"], str(mine["id"]))
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "usager_id"
    assert their_usager["id"] not in (await writer.get("/usagers")).text  # still not visible
    assert (await stay(writer, my_usager["id"], str(mine["id"]))).status_code == 201
    # An administrator of both ESSMS takes the usager in.
    both = await client_as(Role.ADMIN, mine["id"], theirs["id"])
    assert (await stay(both, their_usager["id"], str(mine["id"]))).status_code == 201


async def test_a_received_fludr_is_kept_by_one_of_the_callers_essms(
    client: httpx.AsyncClient, client_as: ClientAs
) -> None:
    mine, theirs = await _two_essms(client)
    my_usager = await usager(client, essms_id=theirs["id"])
    await stay(client, my_usager["id"], str(mine["id"]))  # the usager is known to both ESSMS, to theirs first
    writer = await client_as(Role.SOIGNANT, mine["id"])
    url = f"/usagers/{my_usager['id']}/documents/received"

    elsewhere = await writer.post(url, content=FLUDR.read_bytes(), headers=XML, params={"essms_id": theirs["id"]})
    assert elsewhere.status_code == 422, elsewhere.text
    assert elsewhere.json()["errors"][0]["field"] == "essms_id"
    assert (await client.get(f"/usagers/{my_usager['id']}/documents")).json()["items"] == []

    # Without essms_id: the usager's ESSMS among the caller's, not the one it was first known to.
    kept = await writer.post(url, content=FLUDR.read_bytes(), headers=XML)
    assert kept.status_code == 201, kept.text
    assert kept.json()["essms_id"] == mine["id"]

    again = await writer.post(url, content=FLUDR.read_bytes(), headers=XML)
    assert again.status_code == 409, again.text
    assert again.json()["errors"][0]["rule"] == "document-unique"


async def test_a_document_is_not_generated_into_another_essms(client: httpx.AsyncClient, client_as: ClientAs) -> None:
    mine, theirs = await _two_essms(client)
    my_usager = await usager(client, essms_id=mine["id"])
    their_usager = await usager(client, essms_id=theirs["id"])
    body = {"kind": "N1_PDF", "type_code": "80788-3", "essms_id": theirs["id"]}
    writer = await client_as(Role.SOIGNANT, mine["id"])
    refused = await writer.post(f"/usagers/{my_usager['id']}/documents", json=body)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "essms_id"
    other = await writer.post(f"/usagers/{their_usager['id']}/documents", json={**body, "essms_id": mine["id"]})
    assert other.status_code == 404, other.text
    assert their_usager["id"] in other.text and "MARTIN" not in other.text  # only the id that was sent


async def test_a_proof_of_another_usager_is_not_withdrawn(client: httpx.AsyncClient, client_as: ClientAs) -> None:
    mine, theirs = await _two_essms(client)
    my_usager = await usager(client, essms_id=mine["id"])
    their_usager = await usager(client, essms_id=theirs["id"])
    recorded = (
        await client.post(
            f"/usagers/{their_usager['id']}/proofs",
            json={"proof_type": "CNI", "reference": "X"},
            headers=if_match(their_usager),
        )
    ).json()
    writer = await client_as(Role.ACCUEIL, mine["id"])
    url = f"/usagers/{my_usager['id']}/proofs/{recorded['proof']['id']}"
    refused = await writer.delete(url, headers=if_match(my_usager))
    assert refused.status_code == 404, refused.text
    proofs = (await client.get(f"/usagers/{their_usager['id']}/proofs")).json()
    assert [p["withdrawn_at"] for p in proofs] == [None]
