"""Evaluations through the API: AGGIR with the GIR computed, history, the current GIR on the usager, other grids."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.domain import tunables
from tests.factories import created, essms, if_match, professional, stay, usager

pytestmark = pytest.mark.usefixtures("backend")

ALL_A = {
    name: {"modalite": "A"}
    for name in (
        "coherence",
        "orientation",
        "toilette",
        "habillage",
        "alimentation",
        "elimination",
        "transferts",
        "deplacement_interieur",
        "deplacement_exterieur",
        "alerter",
    )
}
ADVERBS_NONE = {"spontanement": False, "totalement": False, "correctement": False, "habituellement": False}
ADVERBS_SOME = {"spontanement": True, "totalement": False, "correctement": True, "habituellement": True}


async def _people(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    home = await essms(client)
    person = await usager(client)
    nurse = await professional(client, home["id"])
    return home, person, nurse


def _aggir(person: dict[str, Any], nurse: dict[str, Any], day: str, variables: dict[str, Any]) -> dict[str, Any]:
    return {
        "usager_id": person["id"],
        "date_evaluation": day,
        "evaluateur_id": nurse["id"],
        "detail": {"grille": "aggir", "variables": variables},
    }


async def test_aggir_evaluation_computes_the_gir_and_the_usager_shows_it(client: httpx.AsyncClient) -> None:
    _, person, nurse = await _people(client)
    variables = {
        **ALL_A,
        # AABBAAAA -> group H sum 4000 -> rank 11 -> GIR 4 (threshold reached exactly)
        "toilette": {"sous_variables": {"haut": {"modalite": "B"}, "bas": {"adverbes": ADVERBS_SOME}}},
        "habillage": {
            "sous_variables": {"haut": {"modalite": "C"}, "moyen": {"adverbes": ADVERBS_NONE}, "bas": {"modalite": "A"}}
        },
        "gestion": {"modalite": "C"},
    }
    first = await created(await client.post("/evaluations", json=_aggir(person, nurse, "2025-02-01", variables)))
    assert first["type_evaluation"] == "MED-1293"
    result = first["resultat"]
    assert result["gir"] == 4 and result["gir_code"] == "MED-342"
    assert result["modalites"]["toilette"] == "B" and result["modalites"]["habillage"] == "B"
    assert result["sous_modalites"]["habillage"] == {"haut": "C", "moyen": "C", "bas": "A"}
    assert result["modalites"]["gestion"] == "C"

    shown = (await client.get(f"/usagers/{person['id']}")).json()
    assert shown["gir_actuel"] == {"gir": 4, "evaluation_id": first["id"], "date_evaluation": "2025-02-01"}
    renamed = await client.patch(f"/usagers/{person['id']}", json={"nom_utilise": "DUPONT"}, headers=if_match(shown))
    assert renamed.status_code == 200 and renamed.json()["gir_actuel"] == shown["gir_actuel"]

    worse = {**ALL_A, **{n: {"modalite": "C"} for n in ("coherence", "orientation")}}
    second = await created(await client.post("/evaluations", json=_aggir(person, nurse, "2025-09-01", worse)))
    assert second["resultat"]["gir"] == 2
    older = await created(await client.post("/evaluations", json=_aggir(person, nurse, "2024-01-01", ALL_A)))
    assert older["resultat"]["gir"] == 6
    assert (await client.get(f"/usagers/{person['id']}")).json()["gir_actuel"]["gir"] == 2

    listed = (await client.get("/evaluations", params={"usager_id": person["id"], "sort": "date_evaluation"})).json()
    assert [e["resultat"]["gir"] for e in listed["items"]] == [6, 4, 2]
    assert [e["evaluateur_id"] for e in listed["items"]] == [nurse["id"]] * 3
    assert len((await client.get("/evaluations", params={"gir": 2})).json()["items"]) == 1

    corrected = await client.patch(
        f"/evaluations/{second['id']}",
        json={"detail": {"grille": "aggir", "variables": ALL_A}},
        headers=if_match(second),
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["resultat"]["gir"] == 6
    assert (await client.get(f"/usagers/{person['id']}")).json()["gir_actuel"]["gir"] == 6
    history = (await client.get(f"/evaluations/{second['id']}/history")).json()
    assert [h["document"]["resultat"]["gir"] for h in history] == [2, 6]

    archived = await client.delete(f"/evaluations/{second['id']}", headers=if_match(corrected))
    assert archived.status_code == 200
    now = (await client.get(f"/usagers/{person['id']}")).json()["gir_actuel"]
    assert now == {"gir": 4, "evaluation_id": first["id"], "date_evaluation": "2025-02-01"}
    usager_history = (await client.get(f"/usagers/{person['id']}/history")).json()
    girs = [(h["document"].get("gir_actuel") or {}).get("gir") for h in usager_history]
    assert girs == [None, 4, 4, 2, 6, 4]


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"transferts": None}, "detail.variables.transferts", "aggir-variable-missing"),
        ({"humeur": {"modalite": "A"}}, "detail.variables.humeur", "aggir-variable-unknown"),
        (
            {"toilette": {"sous_variables": {"haut": {"modalite": "A"}}}},
            "detail.variables.toilette.sous_variables.bas",
            "aggir-subvariable-missing",
        ),
        (
            {"transferts": {"sous_variables": {"haut": {"modalite": "A"}}}},
            "detail.variables.transferts.sous_variables.haut",
            "aggir-subvariable-unknown",
        ),
    ],
)
async def test_bad_aggir_grids_are_refused(
    client: httpx.AsyncClient, change: dict[str, Any], field: str, rule: str
) -> None:
    _, person, nurse = await _people(client)
    variables = {k: v for k, v in {**ALL_A, **change}.items() if v is not None}
    response = await client.post("/evaluations", json=_aggir(person, nurse, "2025-02-01", variables))
    assert response.status_code == 422, response.text
    assert (field, rule) in {(e["field"], e["rule"]) for e in response.json()["errors"]}
    assert (await client.get("/evaluations")).json()["items"] == []
    assert "gir_actuel" not in (await client.get(f"/usagers/{person['id']}")).json() or (
        (await client.get(f"/usagers/{person['id']}")).json()["gir_actuel"] is None
    )


async def test_answer_forms_and_evaluator(client: httpx.AsyncClient) -> None:
    _, person, nurse = await _people(client)
    both = {**ALL_A, "transferts": {"modalite": "A", "adverbes": ADVERBS_NONE}}
    response = await client.post("/evaluations", json=_aggir(person, nurse, "2025-02-01", both))
    assert response.status_code == 422
    assert "aggir-answer-one-form" in {e["rule"] for e in response.json()["errors"]}
    nobody = {**_aggir(person, nurse, "2025-02-01", ALL_A), "evaluateur_id": None}
    response = await client.post("/evaluations", json=nobody)
    assert response.status_code == 422 and response.json()["errors"][0]["rule"] == "evaluation-evaluator-required"


@pytest.mark.parametrize(("rule", "expected"), [("C", "C"), ("B", "B")])
async def test_the_disputed_alimentation_case_follows_the_setting(
    client: httpx.AsyncClient, rule: str, expected: str
) -> None:
    _, person, nurse = await _people(client)
    variables = {
        **ALL_A,
        "alimentation": {"sous_variables": {"se_servir": {"modalite": "A"}, "manger": {"modalite": "C"}}},
    }
    saved = tunables.aggir_alimentation_mixed
    tunables.aggir_alimentation_mixed = rule
    try:
        record = await created(await client.post("/evaluations", json=_aggir(person, nurse, "2025-02-01", variables)))
    finally:
        tunables.aggir_alimentation_mixed = saved
    assert record["resultat"]["modalites"]["alimentation"] == expected
    assert record["resultat"]["regle_alimentation_ac"] == rule


async def test_serafin_and_free_evaluations(client: httpx.AsyncClient) -> None:
    home, person, nurse = await _people(client)
    the_stay = (await stay(client, person["id"], home["id"])).json()
    serafin = {
        "usager_id": person["id"],
        "stay_id": the_stay["id"],
        "date_evaluation": "2025-03-01",
        "responsable_id": nurse["id"],
        "detail": {"grille": "serafin", "besoins": [{"besoin": "1.2.1.2", "valeur": 2}, {"besoin": "1.1.1"}]},
    }
    record = await created(await client.post("/evaluations", json=serafin))
    assert record["type_evaluation"] == "MED-1291" and record["resultat"] == {"besoins": ["1.1.1", "1.2.1.2"]}
    bad = {**serafin, "detail": {"grille": "serafin", "besoins": [{"besoin": "2.1.1.1"}]}}
    response = await client.post("/evaluations", json=bad)
    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == "code-SERAFIN_besoins"

    free = {
        "usager_id": person["id"],
        "date_evaluation": "2025-03-02",
        "auto_evaluation": True,
        "detail": {
            "grille": "libre",
            "type_evaluation_code": "MED-1327",
            "titre": "PATHOS",
            "items": [{"libelle": "Profil", "valeur": "T2"}],
        },
    }
    record = await created(await client.post("/evaluations", json=free))
    assert record["type_evaluation"] == "MED-1327"
    assert (await client.get(f"/usagers/{person['id']}")).json().get("gir_actuel") is None
    assert len((await client.get("/evaluations", params={"grille": "serafin"})).json()["items"]) == 1
