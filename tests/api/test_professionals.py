"""Professionals: RPPS or local identifier, profession codes, assignments."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import essms

pytestmark = pytest.mark.usefixtures("backend")


async def test_professional_with_rpps_and_assignments(client: httpx.AsyncClient) -> None:
    ehpad = await essms(client)
    ssiad = await essms(client, categorie="354", types_activite=["16"])
    body = {
        "rpps": "99700218896",
        "nom": "MEDECIN",
        "prenom": "Claire",
        "profession": "G15_10",
        "affectations": [{"essms_id": ehpad["id"], "fonction": "ATTPHYS"}, {"essms_id": ssiad["id"]}],
    }
    response = await client.post("/professionals", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["idnps"] == "899700218896"
    duplicate = await client.post("/professionals", json=body)
    assert duplicate.status_code == 409
    listed = (await client.get("/professionals", params={"essms_id": ssiad["id"]})).json()["items"]
    assert [p["rpps"] for p in listed] == ["99700218896"]


async def test_medico_social_professional_without_rpps(client: httpx.AsyncClient) -> None:
    body = {"identifiant_local": "AES-042", "nom": "BERNARD", "prenom": "Inès", "profession": "328"}
    response = await client.post("/professionals", json=body)
    assert response.status_code == 201 and response.json()["idnps"] is None


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"rpps": "99700218897"}, "rpps-key"),
        ({"rpps": "1234"}, "rpps-format"),
        ({"rpps": None, "identifiant_local": None}, "professional-identifier"),
        ({"profession": "G15_999"}, "code-JDV_J01"),
    ],
)
async def test_professional_rules(client: httpx.AsyncClient, fields: dict[str, object], rule: str) -> None:
    body = {"rpps": "99700218896", "nom": "MEDECIN", "prenom": "Claire", "profession": "G15_10", **fields}
    response = await client.post("/professionals", json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == 422, response.text
    assert rule in {e["rule"] for e in response.json()["errors"]}
