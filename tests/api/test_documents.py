"""CDA documents over REST: every generated document passes the ANS validators; broken input is refused."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from lxml import etree

from app.domain.finess import with_key
from app.interop.cda.validation import CdaValidator
from app.services.fixtures import load
from app.store.db import Database

pytestmark = pytest.mark.usefixtures("backend")
NS = {"c": "urn:hl7-org:v3"}
DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo.json"

EDGE_USAGERS: list[dict[str, Any]] = [
    # Qualified identity with a real-form NIR (.8), several first names, an apostrophe and accents.
    {
        "key": "nir",
        "nom_naissance": "D'ALMEIDA",
        "premier_prenom": "Marie-Ève",
        "prenoms_naissance": ["Marie-Ève", "Léa", "Zoé"],
        "sexe": "F",
        "date_naissance": "1938-05-02",
        "lieu_naissance": "75112",
        "insi_verified": True,
        "high_trust_proof": True,
        "identifiant_local": "E-1",
        "ins": {"matricule": "238057511212345", "oid": "1.2.250.1.213.1.4.8"},
        "essms": "es",
    },
    # Qualified NIA (.9), born abroad.
    {
        "key": "nia",
        "nom_naissance": "NGUYEN",
        "premier_prenom": "Van",
        "sexe": "M",
        "date_naissance": "1945-01-20",
        "lieu_naissance": "99243",
        "insi_verified": True,
        "high_trust_proof": True,
        "identifiant_local": "E-2",
        "ins": {"matricule": "145019924300017", "oid": "1.2.250.1.213.1.4.9"},
        "essms": "es",
    },
    # INS retrieved but identity not qualified: the INS must not leave the system (RNIV rule 28).
    {
        "key": "recup",
        "nom_naissance": "ORSINI",
        "premier_prenom": "Ange",
        "sexe": "M",
        "date_naissance": "1940-07-14",
        "lieu_naissance": "2A004",
        "insi_verified": True,
        "identifiant_local": "E-3",
        "ins": {"matricule": "140076900412345", "oid": "1.2.250.1.213.1.4.8"},
        "essms": "es",
    },
    # Doubtful identity, no INS, no birth place.
    {
        "key": "dout",
        "nom_naissance": "INCONNU",
        "premier_prenom": "Jean",
        "sexe": "M",
        "date_naissance": "1950-01-01",
        "attributes": ["DOUT"],
        "identifiant_local": "E-4",
        "essms": "es",
    },
]


def _fixture(finess: str) -> dict[str, Any]:
    return {
        "organismes": [{"key": "og", "finess_ej": with_key("69100001"), "raison_sociale": "Association Les Tilleuls"}],
        "essms": [
            {
                "key": "es",
                "organisme": "og",
                "finess_et": finess,
                "nom": "EHPAD L'Églantier",
                "categorie": "500",
                "types_activite": ["11"],
            }
        ],
        "professionals": [
            {
                "key": "pro",
                "rpps": "99700000013",
                "civilite": "MME",
                "nom": "MOREAU",
                "prenom": "Claire",
                "profession": "G15_10",
                "affectations": [{"essms": "es"}],
            }
        ],
        "usagers": EDGE_USAGERS,
        "stays": [{"usager": "nir", "essms": "es", "date_entree": "2024-01-15"}],
    }


@pytest.fixture
async def edge(clean_database: Database) -> dict[str, str]:
    async with clean_database.write() as connection:
        report = await load(connection, _fixture(with_key("69100002")))
    assert report.created["usager"] == len(EDGE_USAGERS)
    async with clean_database.read() as connection:
        rows = await connection.exec_driver_sql("SELECT id, identifiant_local FROM usager")
        return {str(r.identifiant_local): str(r.id) for r in rows}


async def _generate(client: httpx.AsyncClient, usager_id: str, **body: Any) -> httpx.Response:
    return await client.post(f"/usagers/{usager_id}/documents", json={"kind": "N1_PDF", "type_code": "80788-3", **body})


async def _cda(client: httpx.AsyncClient, document: dict[str, Any]) -> etree._Element:
    response = await client.get(f"/documents/{document['id']}/cda")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    return etree.fromstring(response.content)


@pytest.mark.parametrize("local", ["E-1", "E-2", "E-3", "E-4"])
async def test_n1_for_edge_identities_passes_the_validators(
    client: httpx.AsyncClient, edge: dict[str, str], cda_validator: CdaValidator, local: str
) -> None:
    response = await _generate(client, edge[local])
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["validation"]["valid"] and document["version_number"] == 1
    root = await _cda(client, document)
    report = cda_validator.validate(etree.tostring(root))
    assert report.valid, report.render()
    ins_ids = root.xpath("//c:patientRole/c:id[starts-with(@root, '1.2.250.1.213.1.4.')]/@root", namespaces=NS)
    expected = {"E-1": ["1.2.250.1.213.1.4.8"], "E-2": ["1.2.250.1.213.1.4.9"], "E-3": [], "E-4": []}[local]
    assert ins_ids == expected
    assert document["xds"]["format_code"]["code"] == "urn:ihe:iti:xds-sd:pdf:2008"
    assert document["xds"]["class_code"]["code"] == "44"
    assert document["xds"]["healthcare_facility_type_code"]["code"] == "SA17"
    assert (document["xds"]["patient_id"] is not None) == bool(expected)


async def test_accents_first_names_and_local_time(client: httpx.AsyncClient, edge: dict[str, str]) -> None:
    document = (await _generate(client, edge["E-1"])).json()
    root = await _cda(client, document)
    given = root.xpath("//c:patient/c:name/c:given[not(@qualifier)]/text()", namespaces=NS)
    assert given == ["Marie-Ève Léa Zoé"]
    assert root.xpath("//c:patient/c:name/c:family[@qualifier='BR']/text()", namespaces=NS) == ["D'ALMEIDA"]
    effective = root.find("c:effectiveTime", NS).get("value")
    assert effective[-5:] in ("+0100", "+0200")
    assert root.xpath("//c:encompassingEncounter/c:effectiveTime/c:low/@value", namespaces=NS) == ["20240115"]


async def test_renderings_pdf_and_html(client: httpx.AsyncClient, edge: dict[str, str]) -> None:
    from app.interop.cda.pdfa import pdfa_issues

    document = (await _generate(client, edge["E-1"], title="Projet personnalisé d'accompagnement 2024")).json()
    pdf = await client.get(f"/documents/{document['id']}/rendering")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdfa_issues(pdf.content) == []
    root = await _cda(client, document)
    embedded = base64.b64decode(root.findtext("c:component/c:nonXMLBody/c:text", namespaces=NS))
    assert embedded == pdf.content
    page = await client.get(f"/documents/{document['id']}/rendering", params={"format": "html"})
    assert page.status_code == 200 and "D&#x27;ALMEIDA" in page.text


async def test_replacement_keeps_set_id_and_chains_versions(client: httpx.AsyncClient, edge: dict[str, str]) -> None:
    first = (await _generate(client, edge["E-1"])).json()
    second_response = await _generate(client, edge["E-1"], replaces=first["id"])
    assert second_response.status_code == 201, second_response.text
    second = second_response.json()
    assert second["set_id"] == first["set_id"] and second["version_number"] == 2
    root = await _cda(client, second)
    parent = root.xpath("c:relatedDocument[@typeCode='RPLC']/c:parentDocument/c:id/@root", namespaces=NS)
    first_root = await _cda(client, first)
    assert parent == [first_root.find("c:id", NS).get("root")]
    assert root.find("c:setId", NS).get("root") == first_root.find("c:setId", NS).get("root")
    again = await _generate(client, edge["E-1"], replaces=first["id"])
    assert again.status_code == 409
    versions = (await client.get(f"/usagers/{edge['E-1']}/documents", params={"set_id": first["set_id"]})).json()
    assert [(d["version_number"], d["current"]) for d in versions["items"]] == [(2, True), (1, False)]


async def test_uploaded_pdf_must_be_pdfa(client: httpx.AsyncClient, edge: dict[str, str]) -> None:
    from reportlab.pdfgen import canvas

    from app.interop.cda.pdfa import Block, render_pdfa

    plain = io.BytesIO()
    sheet = canvas.Canvas(plain)
    sheet.drawString(72, 72, "Bilan")
    sheet.save()
    refused = await _generate(
        client, edge["E-1"], type_code="34842-5", pdf_base64=base64.b64encode(plain.getvalue()).decode()
    )
    assert refused.status_code == 422
    rules = {e["rule"] for e in refused.json()["errors"]}
    assert rules == {"pdf-a"} and any("Helvetica" in e["message"] for e in refused.json()["errors"])
    good = render_pdfa("Grille", [Block("Grille", ["GIR 3"])])
    accepted = await _generate(client, edge["E-1"], type_code="34842-5", pdf_base64=base64.b64encode(good).decode())
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["origin"] == "uploaded"
    assert (await client.get(f"/documents/{accepted.json()['id']}/rendering")).content == good


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"type_code": "99999-9"}, "type_code", "code-JDV_J07"),
        ({"type_code": "28653-4"}, "type_code", "code-JDV_J66"),
        ({"type_code": None}, "type_code", "type-code-required"),
        ({"pdf_base64": "not base64!"}, "pdf_base64", "pdf-base64"),
        ({"essms_id": "00000000-0000-0000-0000-000000000000"}, "essms_id", "essms-exists"),
        ({"kind": "FLUDR"}, "kind", "kind-not-generated"),
    ],
)
async def test_bad_requests_are_problems_and_store_nothing(
    client: httpx.AsyncClient, edge: dict[str, str], body: dict[str, Any], field: str, rule: str
) -> None:
    response = await _generate(client, edge["E-1"], **body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert {(e["field"], e["rule"]) for e in response.json()["errors"]} >= {(field, rule)}
    assert (await client.get(f"/usagers/{edge['E-1']}/documents")).json()["items"] == []


async def test_unknown_usager_and_document_are_404(client: httpx.AsyncClient) -> None:
    missing = "00000000-0000-0000-0000-000000000001"
    assert (await _generate(client, missing)).status_code == 404
    assert (await client.get(f"/documents/{missing}/cda")).status_code == 404


async def test_invalid_document_is_never_stored(
    client: httpx.AsyncClient, edge: dict[str, str], shared_specs: Path
) -> None:
    broken = (shared_specs / "cda/test-fixtures/DLU-EHPAD-DLU_2022.01_BROKEN.xml").read_bytes()
    response = await client.post(
        f"/usagers/{edge['E-1']}/documents/received", content=broken, headers={"content-type": "application/xml"}
    )
    assert response.status_code == 422
    assert (await client.get(f"/usagers/{edge['E-1']}/documents")).json()["items"] == []


async def test_fludr_is_received_and_attached(
    client: httpx.AsyncClient, edge: dict[str, str], shared_specs: Path
) -> None:
    fludr = (shared_specs / "cda/TestContenuCDA-3-0/ExemplesCDA/DLU-EHPAD-FLUDR_2022.01.xml").read_bytes()
    response = await client.post(
        f"/usagers/{edge['E-1']}/documents/received", content=fludr, headers={"content-type": "application/xml"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["origin"] == "received" and response.json()["kind"] == "FLUDR"
    assert response.json()["xds"]["format_code"]["code"] == "urn:asip:ci-sis:fludr:2017"
    listed = (await client.get(f"/usagers/{edge['E-1']}/documents")).json()["items"]
    assert [d["kind"] for d in listed] == ["FLUDR"]
    page = await client.get(f"/documents/{response.json()['id']}/rendering", params={"format": "html"})
    assert page.status_code == 200 and "Diagnostic" in page.text
    assert (await client.get(f"/documents/{response.json()['id']}/rendering")).status_code == 404
    dlu = (shared_specs / "cda/TestContenuCDA-3-0/ExemplesCDA/DLU-EHPAD-DLU_2022.01.xml").read_bytes()
    wrong = await client.post(
        f"/usagers/{edge['E-1']}/documents/received", content=dlu, headers={"content-type": "application/xml"}
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["rule"] == "fludr-template"


def test_demo_fixture_file_is_json() -> None:
    assert orjson.loads(DEMO.read_bytes())["usagers"]


async def test_service_start_keeps_the_validators_warm(
    database: Database, database_url: str, cda_cache_dir: Path, cda_validator: CdaValidator
) -> None:
    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings(database_url=database_url, cda_cache_dir=cda_cache_dir), database=database)
    async with app.router.lifespan_context(app):
        assert app.state.cda_validator is cda_validator


DLU_DATA: dict[str, Any] = {
    "medecin_traitant": {"nom": "MEDIONI", "prenom": "Stéphane", "rpps": "10001234565", "telephone": "0147150000"},
    "etablissement_preference": {"nom": "Centre hospitalier de Villeurbanne"},
    "traitements": [
        {"libelle": "Paracétamol 500 mg", "posologie": "1 comprimé 3 fois par jour"},
        {"libelle": "Kardegic 75 mg", "code_cis": "66187236"},
    ],
    "directives_anticipees": True,
    "observations": [{"code": "288575003", "present": True}, {"code": "62476001", "present": False}],
    "bmr": False,
    "documents": ["DLU_006"],
    "commentaire": "Allergie à la pénicilline signalée par la famille",
}


@pytest.mark.parametrize("local", ["E-1", "E-2", "E-3", "E-4"])
async def test_dlu_for_edge_identities_passes_every_schematron(
    client: httpx.AsyncClient, edge: dict[str, str], cda_validator: CdaValidator, local: str
) -> None:
    response = await client.post(f"/usagers/{edge[local]}/documents", json={"kind": "DLU", "data": DLU_DATA})
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["kind"] == "DLU" and document["type_code"] == "74207-2"
    assert document["xds"]["format_code"]["code"] == "urn:asip:ci-sis:dlu:2015"
    root = await _cda(client, document)
    report = cda_validator.validate(etree.tostring(root))
    assert report.valid, report.render()
    assert "CI-SIS_DLU-EHPAD-DLU_2022.01" in report.checked
    sections = root.xpath("//c:structuredBody/c:component/c:section/c:code/@code", namespaces=NS)
    assert {"11302-7", "10160-0", "42348-3", "42545-4", "30954-2", "55107-7"} <= set(sections)
    assert root.xpath("c:participant[@typeCode='INF']/c:functionCode/@code", namespaces=NS) == ["PCP"]
    pdf = await client.get(f"/documents/{document['id']}/rendering")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"traitements": []}, "data.traitements"),
        ({"observations": [{"code": "999999", "present": True}]}, "data.observations.0.code"),
        ({"documents": ["DLU_999"]}, "data.documents.0"),
        ({"medecin_traitant": None}, "data.medecin_traitant"),
    ],
)
async def test_incomplete_dlu_data_is_refused(
    client: httpx.AsyncClient, edge: dict[str, str], change: dict[str, Any], field: str
) -> None:
    data = {**DLU_DATA, **change}
    response = await client.post(f"/usagers/{edge['E-1']}/documents", json={"kind": "DLU", "data": data})
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}
    assert (await client.get(f"/usagers/{edge['E-1']}/documents")).json()["items"] == []


FLUDT_DATA: dict[str, Any] = {
    "medecin_traitant": DLU_DATA["medecin_traitant"],
    "motif_transfert": "Chute avec suspicion de fracture du col du fémur",
    "destination": {"nom": "CHU de Lyon", "finess": with_key("69000010")},
    "moment": "2026-11-30T15:35:00Z",
    "signes_vitaux": {"pouls": 80, "temperature": 37.2, "tension_systolique": 155, "tension_diastolique": 85},
    "conscience": "DLU_002",
    "douleur": True,
    "traitements": DLU_DATA["traitements"],
    "dernier_repas": "2026-11-30T12:00:00Z",
    "protheses": ["Q021003", "P0102"],
    "commentaire": "Famille prévenue",
}


@pytest.mark.parametrize(
    ("local", "change"),
    [
        ("E-1", {}),
        ("E-2", {"destination": None, "commentaire": None, "signes_vitaux": {"pouls": 110}}),
        ("E-3", {"conscience": "DLU_004", "douleur": False}),
        ("E-4", {"protheses": ["GEN-092.02.01"]}),
    ],
)
async def test_fludt_passes_every_schematron(
    client: httpx.AsyncClient, edge: dict[str, str], cda_validator: CdaValidator, local: str, change: dict[str, Any]
) -> None:
    data = {**FLUDT_DATA, **change}
    response = await client.post(f"/usagers/{edge[local]}/documents", json={"kind": "FLUDT", "data": data})
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["xds"]["format_code"]["code"] == "urn:asip:ci-sis:fludt:2017"
    root = await _cda(client, document)
    report = cda_validator.validate(etree.tostring(root))
    assert report.valid, report.render()
    assert "CI-SIS_DLU-EHPAD-FLUDT_2022.01" in report.checked
    assert root.xpath("c:documentationOf/c:serviceEvent/c:code/@code", namespaces=NS) == ["28651-8"]


async def test_fludt_without_vital_signs_is_refused(client: httpx.AsyncClient, edge: dict[str, str]) -> None:
    data = {**FLUDT_DATA, "signes_vitaux": {}}
    response = await client.post(f"/usagers/{edge['E-1']}/documents", json={"kind": "FLUDT", "data": data})
    assert response.status_code == 422
    assert "data.signes_vitaux" in {e["field"] for e in response.json()["errors"]}


async def test_a_document_that_fails_is_never_released(
    client: httpx.AsyncClient, edge: dict[str, str], clean_database: Database, cda_validator: CdaValidator
) -> None:
    import uuid

    from sqlalchemy import Uuid, bindparam, text

    from app.domain.access import SYSTEM
    from app.services.documents import DocumentInvalid, DocumentService

    document = (await _generate(client, edge["E-1"])).json()
    async with clean_database.read() as connection:
        service = DocumentService(connection, SYSTEM, cda_validator, "DUI")
        assert (await service.for_sending(uuid.UUID(document["id"]))).startswith(b"<?xml")
    async with clean_database.write() as connection:
        tamper = text("UPDATE cda_document SET xml = replace(xml, 'fr-FR', 'french') WHERE id = :i")
        await connection.execute(tamper.bindparams(bindparam("i", type_=Uuid)), {"i": uuid.UUID(document["id"])})
    async with clean_database.read() as connection:
        service = DocumentService(connection, SYSTEM, cda_validator, "DUI")
        with pytest.raises(DocumentInvalid) as refused:
            await service.for_sending(uuid.UUID(document["id"]))
    assert any("languageCode" in issue.message or "fr-FR" in issue.message for issue in refused.value.issues)


async def test_demo_fixture_usagers_get_valid_documents(
    client: httpx.AsyncClient, clean_database: Database, cda_validator: CdaValidator
) -> None:
    """One usager of each identity case of the demo data set (test INS qualified, retrieved, validated, DOUT,
    FICT, HOMA, abroad, Corsica, apostrophes): an N1 and a DLU each, all valid."""
    async with clean_database.write() as connection:
        await load(connection, orjson.loads(DEMO.read_bytes()))
    async with clean_database.read() as connection:
        rows = (await connection.exec_driver_sql("SELECT id, body FROM usager ORDER BY identifiant_local")).all()
    chosen: dict[tuple[Any, ...], str] = {}
    for row in rows:
        body = orjson.loads(row.body)
        place = body.get("lieu_naissance") or ""
        case = (
            body["identity_status"],
            tuple(body.get("attributes", [])),
            place[:2] if place[:2] in ("99", "2A", "2B") else "",
            "'" in body["nom_naissance"],
        )
        chosen.setdefault(case, str(row.id))
    assert len(chosen) >= 8
    for usager_id in chosen.values():
        for body in ({"kind": "N1_PDF", "type_code": "88348-8"}, {"kind": "DLU", "data": DLU_DATA}):
            response = await client.post(f"/usagers/{usager_id}/documents", json=body)
            assert response.status_code == 201, response.text
            report = cda_validator.validate(etree.tostring(await _cda(client, response.json())))
            assert report.valid, report.render()
