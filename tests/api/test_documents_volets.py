"""PPA (from a plan version) and AGGIR report (from an evaluation): N1 documents that pass the ANS validators."""

from __future__ import annotations

import base64
import copy
import uuid
from typing import Any

import httpx
import pytest
from lxml import etree
from pypdf import PdfReader

from app.domain.finess import with_key
from app.interop.cda.pdfa import pdfa_issues
from app.interop.cda.validation import CdaValidator
from app.services.fixtures import load
from app.store.db import Database
from tests.api.test_documents import EDGE_USAGERS, NS, _fixture

pytestmark = pytest.mark.usefixtures("backend")

LOCALS = ["E-1", "E-2", "E-3", "E-4"]
KEYS = {u["identifiant_local"]: u["key"] for u in EDGE_USAGERS}

PLAN: dict[str, Any] = {
    "titre": "Projet personnalisé d'accompagnement 2025",
    "type": "PPA",
    "date_debut": "2025-03-01",
    "referents": ["pro"],
    "attentes": [{"origine": "usager", "description": "Pouvoir aller au jardin l'après-midi"}],
    "besoins": [
        {"code": "1.2.1.1", "description": "Aide pour la toilette du bas", "analyse_professionnelle": "Stable"}
    ],
    "objectifs": [
        {
            "ref": "OBJ-1",
            "titre": "Maintenir l'autonomie pour la toilette",
            "description": "Faire seul(e) la toilette du haut",
            "besoins": ["1.2.1.1"],
            "echeance": "2026-03-01",
            "statut": "ACTIF",
        }
    ],
    "actions": [
        {
            "ref": "ACT-1",
            "titre": "Aide partielle à la toilette chaque matin",
            "objectifs": ["OBJ-1"],
            "moyens": [{"titre": "Siège de douche", "type": "matériel"}],
            "prestations": [{"titre": "Accompagnement aux actes de la vie quotidienne", "codes": ["2.2.1"]}],
            "statut": "ACTIF",
        }
    ],
    "bilans": [{"date_bilan": "2025-03-01", "categorie": "INTERMEDIAIRE", "synthese": "Entrée récente"}],
    "accords": [
        {"partie": "usager", "signataire": "Marie-Ève D'ALMEIDA", "date_signature": "2025-02-20"},
        {"partie": "structure", "signataire": "Direction de l'EHPAD", "date_signature": "2025-02-21"},
    ],
}
AGGIR_VARIABLES: dict[str, Any] = {
    "coherence": {"modalite": "B"},
    "orientation": {"sous_variables": {"temps": {"modalite": "B"}, "espace": {"modalite": "A"}}},
    "toilette": {"modalite": "B"},
    "habillage": {"modalite": "C"},
    "alimentation": {"modalite": "A"},
    "elimination": {"modalite": "B"},
    "transferts": {"modalite": "A"},
    "deplacement_interieur": {"modalite": "A"},
    "deplacement_exterieur": {"modalite": "C"},
    "alerter": {"modalite": "A"},
    "gestion": {"modalite": "C"},
}


def _volet_fixture() -> dict[str, Any]:
    data = _fixture(with_key("69100003"))
    data["stays"] = [
        {"key": f"st-{u['key']}", "usager": u["key"], "essms": "es", "date_entree": "2025-01-15"} for u in EDGE_USAGERS
    ]
    data["plans"] = [
        {"usager": u["key"], "stay": f"st-{u['key']}", "versions": [{**PLAN, "status": status}]}
        for u, status in zip(EDGE_USAGERS, ["in_progress", "validated", "in_progress", "validated"], strict=True)
    ]
    # A draft plan and a SERAFIN-PH evaluation: neither may become a document.
    data["plans"].append({"usager": "nir", "stay": "st-nir", "versions": [{**PLAN, "status": "draft"}]})
    data["evaluations"] = [
        {
            "usager": u["key"],
            "stay": f"st-{u['key']}",
            "date_evaluation": "2025-02-10",
            "evaluateur": "pro",
            "modalite": "Entretien et observation",
            "commentaire": "Évaluation d'entrée",
            "detail": {"grille": "aggir", "variante": "PA", "variables": AGGIR_VARIABLES},
        }
        for u in EDGE_USAGERS
    ]
    data["evaluations"].append(
        {
            "usager": "nir",
            "date_evaluation": "2025-02-11",
            "evaluateur": "pro",
            "detail": {"grille": "serafin", "besoins": [{"besoin": "1.2.1.1", "valeur": 2}]},
        }
    )
    return data


@pytest.fixture
async def records(clean_database: Database) -> dict[str, Any]:
    async with clean_database.write() as connection:
        await load(connection, _volet_fixture())
    async with clean_database.read() as connection:
        usagers = {
            str(r.identifiant_local): str(r.id)
            for r in await connection.exec_driver_sql("SELECT id, identifiant_local FROM usager")
        }
        by_id = {v: k for k, v in usagers.items()}
        plans = [
            (by_id[str(r.usager_id)], str(r.id), r.status)
            for r in await connection.exec_driver_sql("SELECT id, usager_id, status FROM plan")
        ]
        evaluations = [
            (by_id[str(r.usager_id)], str(r.id), r.grille)
            for r in await connection.exec_driver_sql("SELECT id, usager_id, grille FROM evaluation")
        ]
    return {
        "usagers": usagers,
        "plans": {u: p for u, p, s in plans if s != "draft"},
        "draft": next(p for _, p, s in plans if s == "draft"),
        "aggir": {u: e for u, e, g in evaluations if g == "aggir"},
        "serafin": next(e for _, e, g in evaluations if g == "serafin"),
    }


async def _document(
    client: httpx.AsyncClient, usager_id: str, body: dict[str, Any]
) -> tuple[dict[str, Any], etree._Element]:
    response = await client.post(f"/usagers/{usager_id}/documents", json=body)
    assert response.status_code == 201, response.text
    xml = await client.get(f"/documents/{response.json()['id']}/cda")
    return response.json(), etree.fromstring(xml.content)


def _pdf_text(root: etree._Element) -> tuple[bytes, str]:
    pdf = base64.b64decode(root.findtext("c:component/c:nonXMLBody/c:text", namespaces=NS))
    import io

    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return pdf, " ".join(text.split())


@pytest.mark.parametrize("local", LOCALS)
async def test_ppa_for_edge_identities_passes_every_validator(
    client: httpx.AsyncClient, records: dict[str, Any], cda_validator: CdaValidator, local: str
) -> None:
    document, root = await _document(
        client, records["usagers"][local], {"kind": "PPA", "plan_id": records["plans"][local]}
    )
    assert document["kind"] == "PPA" and document["type_code"] == "80788-3"
    assert document["xds"]["class_code"]["code"] == "44"
    assert document["xds"]["format_code"]["code"] == "urn:ihe:iti:xds-sd:pdf:2008"
    report = cda_validator.validate(etree.tostring(root))
    assert report.valid, report.render()
    assert report.errors == []
    assert root.find("c:code", NS).get("code") == "80788-3"
    ins_shared = root.xpath("//c:patientRole/c:id[starts-with(@root, '1.2.250.1.213.1.4.')]", namespaces=NS)
    assert bool(ins_shared) == (local in ("E-1", "E-2"))
    pdf, text = _pdf_text(root)
    assert pdfa_issues(pdf) == []
    for expected in (
        "Pouvoir aller au jardin l'après-midi",  # expectation
        "1.2.1.1",  # need, with its SERAFIN-PH label below
        "Maintenir l'autonomie pour la toilette",  # objective
        "Aide partielle à la toilette chaque matin",  # action
        "Siège de douche",  # means
        "2.2.1",  # prestation
        "Claire MOREAU",  # referent
        "Entrée récente",  # review
        "Direction de l'EHPAD",  # agreement
    ):
        assert expected in text, expected
    from app.domain import codes

    label = codes.serafin_besoins().display("1.2.1.1")
    assert label.split()[0] in text
    if local == "E-1":
        assert "Marie-Ève Léa Zoé" in text and "D'ALMEIDA" in text


@pytest.mark.parametrize("local", LOCALS)
async def test_aggir_report_for_edge_identities_passes_every_validator(
    client: httpx.AsyncClient, records: dict[str, Any], cda_validator: CdaValidator, local: str
) -> None:
    evaluation = (await client.get(f"/evaluations/{records['aggir'][local]}")).json()
    document, root = await _document(
        client, records["usagers"][local], {"kind": "AGGIR", "evaluation_id": records["aggir"][local]}
    )
    assert document["kind"] == "AGGIR" and document["type_code"] == "BIL_AUTO"
    assert document["xds"]["class_code"]["code"] == "10"
    report = cda_validator.validate(etree.tostring(root))
    assert report.valid, report.render()
    assert report.errors == []
    code = root.find("c:code", NS)
    assert (code.get("code"), code.get("codeSystem")) == ("BIL_AUTO", "1.2.250.1.213.1.1.4.12")
    pdf, text = _pdf_text(root)
    assert pdfa_issues(pdf) == []
    gir = evaluation["resultat"]["gir"]
    assert f"GIR {gir} ({evaluation['resultat']['gir_code']})" in text
    assert "10/02/2025" in text and "Claire MOREAU" in text
    assert "Orientation" in text and "temps B" in text and "espace A" in text


async def _refused(client: httpx.AsyncClient, usager_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/usagers/{usager_id}/documents", json=body)
    assert response.status_code in (409, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"/usagers/{usager_id}/documents")).json()["items"] == []
    problem: dict[str, Any] = response.json()
    return problem


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"kind": "PPA", "plan_id": "draft"}, "plan_id", "plan-in-force"),
        ({"kind": "PPA"}, "plan_id", "plan-id-required"),
        ({"kind": "PPA", "plan_id": str(uuid.UUID(int=7))}, "plan_id", "plan-exists"),
        ({"kind": "PPA", "plan_id": "other"}, "plan_id", "plan-id-of-usager"),
        ({"kind": "AGGIR", "evaluation_id": "serafin"}, "evaluation_id", "evaluation-aggir"),
        ({"kind": "AGGIR"}, "evaluation_id", "evaluation-id-required"),
        ({"kind": "AGGIR", "evaluation_id": str(uuid.UUID(int=7))}, "evaluation_id", "evaluation-exists"),
        ({"kind": "N1_PDF", "type_code": "80788-3", "plan_id": "draft"}, "plan_id", "plan-id-kind"),
        ({"kind": "PPA", "plan_id": "E-1", "pdf_base64": "JVBERi0="}, "pdf_base64", "pdf-only-n1"),
    ],
)
async def test_bad_volet_input_is_a_problem_and_writes_nothing(
    client: httpx.AsyncClient, records: dict[str, Any], body: dict[str, Any], field: str, rule: str
) -> None:
    body = copy.deepcopy(body)
    for name in ("plan_id", "evaluation_id"):
        value = body.get(name)
        if value == "draft":
            body[name] = records["draft"]
        elif value == "other":
            body[name] = records["plans"]["E-2"]
        elif value == "serafin":
            body[name] = records["serafin"]
        elif value == "E-1":
            body[name] = records["plans"]["E-1"]
    problem = await _refused(client, records["usagers"]["E-1"], body)
    assert {(e["field"], e["rule"]) for e in problem["errors"]} >= {(field, rule)}


async def test_ppa_title_and_replacement(client: httpx.AsyncClient, records: dict[str, Any]) -> None:
    usager = records["usagers"]["E-1"]
    first, _ = await _document(client, usager, {"kind": "PPA", "plan_id": records["plans"]["E-1"]})
    assert first["title"] == "Projet personnalisé d'accompagnement"
    second, root = await _document(
        client, usager, {"kind": "PPA", "plan_id": records["plans"]["E-1"], "replaces": first["id"]}
    )
    assert second["set_id"] == first["set_id"] and second["version_number"] == 2
    assert root.xpath("c:relatedDocument/@typeCode", namespaces=NS) == ["RPLC"]
