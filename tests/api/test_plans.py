"""The projet personnalisé through the API: life cycle, immutability, revisions, reviews due."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from app.domain import aggir
from app.domain.access import SYSTEM
from app.domain.plans import PlanStatus, add_months
from app.services.evaluations import EvaluationService, read_evaluation
from app.services.plans import PlanService, read_plan
from app.store.db import Database
from tests.factories import created, essms, if_match, professional, stay, usager

pytestmark = pytest.mark.usefixtures("backend")


async def _setting(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    home = await essms(client)
    person = await usager(client)
    referent = await professional(client, home["id"])
    the_stay = (await stay(client, person["id"], home["id"])).json()
    return {"essms": home, "usager": person, "referent": referent, "stay": the_stay}


def _plan(setting: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "usager_id": setting["usager"]["id"],
        "stay_id": setting["stay"]["id"],
        "titre": "Projet d'accompagnement 2025",
        "date_debut": "2025-01-15",
        "referents": [setting["referent"]["id"]],
        "attentes": [{"origine": "usager", "description": "Continuer à marcher jusqu'au jardin"}],
        "besoins": [{"code": "1.2.1.2", "description": "Aide aux déplacements"}],
        "objectifs": [
            {
                "ref": "OBJ-1",
                "titre": "Maintenir la marche",
                "description": "Marche accompagnée chaque jour",
                "besoins": ["1.2.1.2"],
            }
        ],
        "actions": [
            {
                "ref": "ACT-1",
                "titre": "Séance de kinésithérapie",
                "objectifs": ["OBJ-1"],
                "prestations": [{"titre": "Kinésithérapie", "codes": ["2.1.2.1"]}],
                "moyens": [{"titre": "Déambulateur"}],
            }
        ],
        "accords": [{"partie": "usager", "signataire": "Jeanne MARTIN", "date_signature": "2025-01-10"}],
        **fields,
    }


STRUCTURE_AGREEMENT = {"partie": "structure", "signataire": "La directrice", "date_signature": "2025-01-12"}


async def _post(client: httpx.AsyncClient, path: str, record: dict[str, Any], body: Any = None) -> httpx.Response:
    return await client.post(path, json=body, headers=if_match(record))


async def test_life_cycle_with_a_revision_end_to_end(client: httpx.AsyncClient) -> None:
    setting = await _setting(client)
    draft = await created(await client.post("/plans", json=_plan(setting)))
    assert draft["status"] == "draft" and draft["numero_version"] == 1 and draft["lineage_id"] == draft["id"]
    assert draft["essms_id"] == setting["essms"]["id"]
    assert draft["review_due"] == add_months(date(2025, 1, 15), 12).isoformat()

    edited = await client.patch(
        f"/plans/{draft['id']}", json={"description": "Revu en équipe"}, headers=if_match(draft)
    )
    assert edited.status_code == 200, edited.text
    submitted = await _post(client, f"/plans/{draft['id']}/submit", edited.json())
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"

    refused = await _post(client, f"/plans/{draft['id']}/validate", submitted.json())
    assert refused.status_code == 422
    assert refused.json()["errors"][0] == {
        "field": "accords",
        "rule": "plan-establishment-agreement-required",
        "message": refused.json()["errors"][0]["message"],
    }
    assert (await client.get(f"/plans/{draft['id']}")).json()["status"] == "submitted"

    agreed = await _post(client, f"/plans/{draft['id']}/accords", submitted.json(), STRUCTURE_AGREEMENT)
    assert agreed.status_code == 200, agreed.text
    validated = await _post(client, f"/plans/{draft['id']}/validate", agreed.json())
    assert validated.status_code == 200, validated.text
    assert validated.json()["status"] == "validated" and validated.json()["statut_tddui"] == "ENCOURS"
    assert validated.json()["validated_by"] == "test-admin"

    frozen = await client.patch(f"/plans/{draft['id']}", json={"titre": "Autre"}, headers=if_match(validated))
    assert frozen.status_code == 409 and frozen.json()["errors"][0]["rule"] == "plan-version-immutable"
    replaced = await client.put(f"/plans/{draft['id']}", json=_plan(setting), headers=if_match(validated))
    assert replaced.status_code == 409
    withdrawn = await client.delete(f"/plans/{draft['id']}", headers=if_match(validated))
    assert withdrawn.status_code == 409

    started = await _post(client, f"/plans/{draft['id']}/start", validated.json())
    assert started.json()["status"] == "in_progress"

    revision = await _post(client, f"/plans/{draft['id']}/revise", started.json())
    assert revision.status_code == 201, revision.text
    second = revision.json()
    assert revision.headers["Location"] == f"/plans/{second['id']}"
    assert second["status"] == "draft" and second["numero_version"] == 2
    assert second["previous_version_id"] == draft["id"] and second["lineage_id"] == draft["id"]
    assert second["accords"] == [] and second["objectifs"] == started.json()["objectifs"]
    again = await _post(client, f"/plans/{draft['id']}/revise", started.json())
    assert again.status_code == 409 and again.json()["errors"][0]["rule"] == "plan-revision-pending"

    changed = await client.patch(
        f"/plans/{second['id']}",
        json={"titre": "Projet 2026", "accords": [STRUCTURE_AGREEMENT]},
        headers=if_match(second),
    )
    assert changed.status_code == 200, changed.text
    second_submitted = await _post(client, f"/plans/{second['id']}/submit", changed.json())
    # The first version is still in force until its revision is validated.
    assert (await client.get(f"/plans/{draft['id']}")).json()["status"] == "in_progress"
    second_validated = await _post(client, f"/plans/{second['id']}/validate", second_submitted.json())
    assert second_validated.status_code == 200, second_validated.text

    first_now = (await client.get(f"/plans/{draft['id']}")).json()
    assert first_now["status"] == "revised" and first_now["superseded_by_id"] == second["id"]
    assert first_now["titre"] == "Projet d'accompagnement 2025"

    versions = (await client.get(f"/plans/{second['id']}/versions")).json()
    assert [(v["numero_version"], v["status"]) for v in versions] == [(1, "revised"), (2, "validated")]
    history = (await client.get(f"/plans/{draft['id']}/history")).json()
    assert [h["operation"] for h in history] == [
        "create",
        "update",
        "submit",
        "agree",
        "validate",
        "start",
        "supersede",
    ]
    assert history[4]["document"]["status"] == "validated"

    closed = await _post(client, f"/plans/{second['id']}/close", second_validated.json(), {"motif": "Sortie"})
    assert closed.json()["status"] == "closed" and closed.json()["motif_cloture"] == "Sortie"
    reopen = await _post(client, f"/plans/{second['id']}/start", closed.json())
    assert reopen.status_code == 409 and reopen.json()["errors"][0]["rule"] == "plan-transition-start"


async def test_transitions_need_if_match_and_the_right_state(client: httpx.AsyncClient) -> None:
    setting = await _setting(client)
    draft = await created(await client.post("/plans", json=_plan(setting)))
    assert (await client.post(f"/plans/{draft['id']}/submit")).status_code == 428
    stale = await client.post(f"/plans/{draft['id']}/submit", headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    early = await _post(client, f"/plans/{draft['id']}/validate", draft)
    assert early.status_code == 409 and early.json()["errors"][0]["rule"] == "plan-transition-validate"
    no_revision = await _post(client, f"/plans/{draft['id']}/revise", draft)
    assert no_revision.status_code == 409
    submitted = (await _post(client, f"/plans/{draft['id']}/submit", draft)).json()
    locked = await client.patch(f"/plans/{draft['id']}", json={"titre": "x"}, headers=if_match(submitted))
    assert locked.status_code == 409 and locked.json()["errors"][0]["rule"] == "plan-submitted"
    back = await _post(client, f"/plans/{draft['id']}/return-to-draft", submitted)
    assert back.json()["status"] == "draft"


async def test_a_second_plan_in_force_for_the_stay_is_refused(client: httpx.AsyncClient) -> None:
    setting = await _setting(client)
    ids = []
    for _ in range(2):
        plan = await created(await client.post("/plans", json=_plan(setting, accords=[STRUCTURE_AGREEMENT])))
        submitted = (await _post(client, f"/plans/{plan['id']}/submit", plan)).json()
        ids.append((plan["id"], submitted))
    first = await _post(client, f"/plans/{ids[0][0]}/validate", ids[0][1])
    assert first.status_code == 200
    second = await _post(client, f"/plans/{ids[1][0]}/validate", ids[1][1])
    assert second.status_code == 409 and second.json()["errors"][0]["rule"] == "single-plan-in-force"
    assert (await client.get(f"/plans/{ids[1][0]}")).json()["status"] == "submitted"


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"besoins": [{"code": "9.9.9", "description": "x"}]}, "besoins.0.code", "code-SERAFIN_besoins"),
        ({"besoins": [{"code": "2.1.1.1", "description": "x"}]}, "besoins.0.code", "code-SERAFIN_besoins"),
        ({"date_revision_prevue": "2024-12-31"}, "date_revision_prevue", "review-date-after-start"),
        ({"date_revision_prevue": "2026-06-30"}, "date_revision_prevue", "review-within-interval"),
        ({"type": "XYZ"}, "type", "code-TRE_R390"),
        (
            {"actions": [{"ref": "A", "titre": "x", "prestations": [{"titre": "y", "codes": ["1.1"]}]}]},
            "actions.0.prestations.0.codes.0",
            "code-SERAFIN_prestations",
        ),
        ({"actions": [{"ref": "A", "titre": "x", "objectifs": ["OBJ-9"]}]}, "actions.0.objectifs", "plan-link-unknown"),
        ({"referents": ["0190b7a4-0000-7000-8000-000000000000"]}, "referents", "professional-exists"),
    ],
)
async def test_bad_plans_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient, fields: dict[str, Any], field: str, rule: str
) -> None:
    setting = await _setting(client)
    response = await client.post("/plans", json=_plan(setting, **fields))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (field, rule) in {(e["field"], e["rule"]) for e in response.json()["errors"]}
    assert (await client.get("/plans")).json()["items"] == []


async def test_the_stay_must_be_the_usagers(client: httpx.AsyncClient) -> None:
    setting = await _setting(client)
    other = await usager(client, nom_naissance="DURAND")
    response = await client.post("/plans", json=_plan(setting, usager_id=other["id"]))
    assert response.status_code == 422 and response.json()["errors"][0]["rule"] == "stay-of-usager"


async def _in_force(client: httpx.AsyncClient, setting: dict[str, Any], **fields: Any) -> dict[str, Any]:
    plan = await created(await client.post("/plans", json=_plan(setting, accords=[STRUCTURE_AGREEMENT], **fields)))
    submitted = (await _post(client, f"/plans/{plan['id']}/submit", plan)).json()
    return (await _post(client, f"/plans/{plan['id']}/validate", submitted)).json()  # type: ignore[no-any-return]


async def test_reviews_due_per_essms(client: httpx.AsyncClient) -> None:
    today = date.today()
    a = await _setting(client)
    overdue = await _in_force(client, a, date_debut=(today - timedelta(days=400)).isoformat())
    b = await _setting(client)
    soon = await _in_force(
        client,
        b,
        date_debut=(today - timedelta(days=100)).isoformat(),
        date_revision_prevue=(today + timedelta(days=10)).isoformat(),
    )
    c = await _setting(client)
    await _in_force(client, c, date_debut=(today - timedelta(days=10)).isoformat())
    d = await _setting(client)
    await created(await client.post("/plans", json=_plan(d, date_debut=(today - timedelta(days=500)).isoformat())))

    everywhere = (await client.get("/plans/reviews-due")).json()
    assert [(i["plan_id"], i["state"]) for i in everywhere["items"]] == [
        (overdue["id"], "overdue"),
        (soon["id"], "due_soon"),
    ]
    assert everywhere["items"][0]["days"] == (today - date.fromisoformat(overdue["review_due"])).days > 0
    assert everywhere["items"][1]["days"] == -10

    only_b = (await client.get("/plans/reviews-due", params={"essms_id": b["essms"]["id"]})).json()
    assert [i["plan_id"] for i in only_b["items"]] == [soon["id"]]
    narrow = (await client.get("/plans/reviews-due", params={"within_days": 5})).json()
    assert [i["plan_id"] for i in narrow["items"]] == [overdue["id"]]
    page = (await client.get("/plans/reviews-due", params={"limit": 1})).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = (await client.get("/plans/reviews-due", params={"limit": 1, "cursor": page["next_cursor"]})).json()
    assert [i["plan_id"] for i in rest["items"]] == [soon["id"]]

    reviewed = await _post(
        client,
        f"/plans/{overdue['id']}/bilans",
        overdue,
        {"date_bilan": today.isoformat(), "categorie": "INTERMEDIAIRE", "synthese": "Objectifs atteints en partie"},
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["review_due"] == add_months(today, 12).isoformat()
    assert reviewed.json()["titre"] == overdue["titre"]
    after = (await client.get("/plans/reviews-due")).json()
    assert [i["plan_id"] for i in after["items"]] == [soon["id"]]
    before_start = await _post(
        client, f"/plans/{soon['id']}/bilans", soon, {"date_bilan": "2000-01-01", "categorie": "PARTIEL"}
    )
    assert before_start.status_code == 409 and before_start.json()["errors"][0]["rule"] == "review-date-after-start"


async def test_documents_read_a_plan_version_and_an_evaluation(
    client: httpx.AsyncClient, clean_database: Database
) -> None:
    setting = await _setting(client)
    plan = await _in_force(client, setting)
    variables = {name: {"modalite": "B"} for name in aggir.discriminant_variables()}
    evaluation = await created(
        await client.post(
            "/evaluations",
            json={
                "usager_id": setting["usager"]["id"],
                "stay_id": setting["stay"]["id"],
                "date_evaluation": "2025-01-20",
                "evaluateur_id": setting["referent"]["id"],
                "detail": {"grille": "aggir", "variables": variables},
            },
        )
    )
    async with clean_database.read() as connection:
        view = await read_plan(PlanService(connection, SYSTEM), uuid.UUID(plan["id"]))
        scored = await read_evaluation(EvaluationService(connection, SYSTEM), uuid.UUID(evaluation["id"]))
    assert view.plan.status is PlanStatus.VALIDATED and view.version == plan["version"]
    assert view.plan.besoins[0].code == "1.2.1.2" and view.review_due == date.fromisoformat(plan["review_due"])
    assert view.usager.nom_naissance == "MARTIN" and view.essms["finess_et"] == setting["essms"]["finess_et"]
    assert view.stay["id"] == setting["stay"]["id"]
    assert [p.nom for p in view.professionals.values()] == ["GIRAUD"]
    assert scored.resultat["gir"] == 4 and scored.type_evaluation == "MED-1293"
    assert scored.evaluateur is not None and scored.evaluateur.nom == "GIRAUD"
    assert scored.usager.gir_actuel is not None and scored.usager.gir_actuel.gir == 4
