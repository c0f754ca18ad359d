"""Identity end to end through the REST API, the real INSi client and the sandbox (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import httpx

from app.sandbox.insi import InsiSandbox
from tests import factories
from tests.factories import if_match

DOMINIQUE = {"nom_naissance": "Adrtrois", "premier_prenom": "Dominique", "sexe": "F", "date_naissance": "1997-02-26"}


async def _search(client: httpx.AsyncClient, record: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/usagers/{record['id']}/insi/search", headers=if_match(record))


async def _proof(client: httpx.AsyncClient, record: dict[str, Any], proof_type: str = "CNI") -> httpx.Response:
    return await client.post(
        f"/usagers/{record['id']}/proofs", json={"proof_type": proof_type, "reference": "X1"}, headers=if_match(record)
    )


async def test_qualify_end_to_end_and_the_trace_journal(client: httpx.AsyncClient, sandbox: InsiSandbox) -> None:
    usager = await factories.usager(client, **DOMINIQUE)
    assert usager["identity_status"] == "PROV"

    found = await _search(client, usager)
    assert found.status_code == 200, found.text
    report = found.json()
    assert report["outcome"] == "found"
    recup = report["usager"]
    assert recup["identity_status"] == "RECUP"
    assert recup["ins"]["matricule"] == "297022A02077878"
    assert (recup["nom_naissance"], recup["lieu_naissance"], recup["ins_source"]) == ("ADRTROIS", "2A020", "insi")
    assert found.headers["ETag"] == f'"{recup["version"]}"'

    shared = (await client.get(f"/usagers/{usager['id']}/shareable-identity")).json()
    assert shared["ins"] is None  # RNIV rule 28: RECUP does not share the INS

    proof = await _proof(client, recup)
    assert proof.status_code == 201, proof.text
    qual = proof.json()["usager"]
    assert qual["identity_status"] == "QUAL"
    assert proof.json()["proof"]["confidence"] == "high"
    shared = (await client.get(f"/usagers/{usager['id']}/shareable-identity")).json()
    assert shared["ins"] == {"matricule": "297022A02077878", "oid": "1.2.250.1.213.1.4.8"}

    changed = await client.patch(f"/usagers/{usager['id']}", json={"nom_utilise": "Martin"}, headers=if_match(qual))
    assert changed.status_code == 200, changed.text
    await client.get(f"/usagers/{usager['id']}")

    journal = (await client.get("/identity-traces", params={"usager_id": usager["id"]})).json()["items"]
    assert [t["action"] for t in journal] == ["create", "insi-search", "ins-retrieved", "proof", "update", "read"]
    assert journal[4]["detail"]["fields"] == ["nom_utilise"]
    calls = (await client.get("/insi-calls", params={"usager_id": usager["id"]})).json()["items"]
    assert len(calls) == 1
    assert calls[0]["code_cr"] == "00" and calls[0]["request_traits"]["nom_naissance"] == "ADRTROIS"
    assert calls[0]["returned_identity"]["ins"]["matricule"] == "297022A02077878"


async def test_ins_traits_are_read_only_once_retrieved(client: httpx.AsyncClient, sandbox: InsiSandbox) -> None:
    usager = await factories.usager(client, **DOMINIQUE)
    recup = (await _search(client, usager)).json()["usager"]
    refused = await client.patch(
        f"/usagers/{usager['id']}", json={"nom_naissance": "AUTRE", "sexe": "M"}, headers=if_match(recup)
    )
    assert refused.status_code == 422
    assert {(e["field"], e["rule"]) for e in refused.json()["errors"]} == {
        ("nom_naissance", "ins-trait-read-only"),
        ("sexe", "ins-trait-read-only"),
    }
    assert (await client.get(f"/usagers/{usager['id']}")).json()["version"] == recup["version"]
    # DOUT forces PROV (rule 25) without touching the INS.
    doubtful = await client.patch(f"/usagers/{usager['id']}", json={"attributes": ["DOUT"]}, headers=if_match(recup))
    assert doubtful.json()["identity_status"] == "PROV" and doubtful.json()["ins"] is not None


async def test_several_first_names_are_tried_in_order(client: httpx.AsyncClient, sandbox: InsiSandbox) -> None:
    usager = await factories.usager(
        client,
        nom_naissance="Tchitchi",
        premier_prenom="Ola",
        prenoms_naissance=["Ola", "Catarina"],
        sexe="F",
        date_naissance="1936-06-21",
    )
    report = (await _search(client, usager)).json()
    assert [c["outcome"] for c in report["calls"]] == ["not_found", "found"]
    assert report["usager"]["prenoms_naissance"] == ["CATARINA", "BELLA"]
    assert report["usager"]["premier_prenom"] == "CATARINA"


async def test_not_found_and_several_change_nothing(client: httpx.AsyncClient, sandbox: InsiSandbox) -> None:
    usager = await factories.usager(
        client, nom_naissance="Houilles", premier_prenom="Pierre", sexe="M", date_naissance="1993-01-27"
    )
    report = (await _search(client, usager)).json()
    assert report["outcome"] == "not_found" and report["usager"] is None
    sandbox.control.inject("cr02")
    other = await factories.usager(client, **DOMINIQUE)
    assert (await _search(client, other)).json()["outcome"] == "several"
    for record in (usager, other):
        stored = (await client.get(f"/usagers/{record['id']}")).json()
        assert stored["version"] == 1 and stored["identity_status"] == "PROV"


async def test_each_bad_answer_is_refused_and_recorded(client: httpx.AsyncClient, sandbox: InsiSandbox) -> None:
    usager = await factories.usager(client, **DOMINIQUE)
    expectations = {
        "day-00": (422, "insi-date-00"),
        "month-00": (422, "insi-date-00"),
        "empty-name": (422, "insi-empty-name"),
        "empty-first-names": (422, "insi-empty-first-names"),
        "empty-sex": (422, "insi-empty-sex"),
        "fault-idam": (502, "desir_550"),
        "malformed": (502, None),
    }
    for mode, (status, rule) in expectations.items():
        sandbox.control.inject(mode)
        response = await _search(client, usager)
        assert response.status_code == status, (mode, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        if rule:
            assert rule in {e["rule"] for e in response.json()["errors"]}, mode
    sandbox.control.inject("timeout", 3)
    unreachable = await _search(client, usager)
    assert unreachable.status_code == 502
    assert unreachable.json()["type"] == "urn:dui:problem:insi-unavailable"
    stored = (await client.get(f"/usagers/{usager['id']}")).json()
    assert stored["version"] == 1 and stored["ins"] is None and stored["identity_status"] == "PROV"
    calls = (await client.get("/insi-calls", params={"usager_id": usager["id"]})).json()["items"]
    assert [c["outcome"] for c in calls] == ["refused"] * 5 + ["fault", "malformed", "unreachable"]
    assert calls[0]["detail"] == "refused: insi-date-00"


async def test_a_birth_name_can_trigger_a_sandbox_fault(client: httpx.AsyncClient, sandbox: InsiSandbox) -> None:
    usager = await factories.usager(client, **{**DOMINIQUE, "nom_naissance": "Sandbox-Day-Zero"})
    response = await _search(client, usager)
    assert response.status_code == 422 and response.json()["errors"][0]["rule"] == "insi-date-00"


async def test_a_received_ins_is_requalified_by_verification(client: httpx.AsyncClient, sandbox: InsiSandbox) -> None:
    usager = await factories.usager(client, **{**DOMINIQUE, "nom_naissance": "ADRTROIS", "lieu_naissance": "2A020"})
    proof = (await _proof(client, usager)).json()["usager"]
    bad = await client.post(
        f"/usagers/{usager['id']}/ins/received",
        json={"matricule": "297022A02077879", "oid": "1.2.250.1.213.1.4.7"},
        headers=if_match(proof),
    )
    assert bad.status_code == 422
    assert {(e["field"], e["rule"]) for e in bad.json()["errors"]} == {
        ("matricule", "ins-key"),
        ("oid", "ins-oid"),
    }
    received = await client.post(
        f"/usagers/{usager['id']}/ins/received",
        json={"matricule": "297022A02077878", "oid": "1.2.250.1.213.1.4.8"},
        headers=if_match(proof),
    )
    assert received.status_code == 200, received.text
    assert received.json()["identity_status"] == "VALI"  # not QUAL until INSi confirms here (rule 30)
    assert (await client.get(f"/usagers/{usager['id']}/shareable-identity")).json()["ins"] is None
    verified = await client.post(f"/usagers/{usager['id']}/insi/verify", headers=if_match(received.json()))
    assert verified.status_code == 200, verified.text
    assert verified.json()["outcome"] == "unchanged"
    assert verified.json()["usager"]["identity_status"] == "QUAL"


async def test_verification_reports_differences_and_changes_nothing(
    client: httpx.AsyncClient, sandbox: InsiSandbox
) -> None:
    usager = await factories.usager(client, **{**DOMINIQUE, "nom_naissance": "ADRTROIS"})
    received = (
        await client.post(
            f"/usagers/{usager['id']}/ins/received",
            json={"matricule": "160012B02077713", "oid": "1.2.250.1.213.1.4.8"},
            headers=if_match(usager),
        )
    ).json()
    report = (await client.post(f"/usagers/{usager['id']}/insi/verify", headers=if_match(received))).json()
    assert report["outcome"] == "changed"
    assert {d["field"] for d in report["differences"]} == {"ins.matricule", "lieu_naissance"}
    stored = (await client.get(f"/usagers/{usager['id']}")).json()
    assert stored["version"] == received["version"] and stored["insi_verified"] is False


async def test_fictitious_identity_is_not_sent(client: httpx.AsyncClient, sandbox: InsiSandbox) -> None:
    usager = await factories.usager(client, **DOMINIQUE, attributes=["FICT"])
    before = sandbox.control.requests
    response = await _search(client, usager)
    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == "insi-fictitious"
    assert sandbox.control.requests == before


async def test_proofs_are_configurable_and_withdrawable(client: httpx.AsyncClient, sandbox: InsiSandbox) -> None:
    usager = await factories.usager(client)
    unknown = await _proof(client, usager, "CARTE_FIDELITE")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["rule"] == "proof-type"
    low = (await _proof(client, usager, "LIVRET_FAMILLE")).json()
    assert low["usager"]["identity_status"] == "PROV"
    high = (await _proof(client, low["usager"], "PASSEPORT")).json()
    assert high["usager"]["identity_status"] == "VALI"
    withdrawn = await client.delete(
        f"/usagers/{usager['id']}/proofs/{high['proof']['id']}", headers=if_match(high["usager"])
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["identity_status"] == "PROV"
    proofs = (await client.get(f"/usagers/{usager['id']}/proofs")).json()
    assert [(p["proof_type"], p["withdrawn_at"] is None) for p in proofs] == [
        ("LIVRET_FAMILLE", True),
        ("PASSEPORT", False),
    ]
    stale = await _proof(client, usager)
    assert stale.status_code == 412
    missing = await client.post(f"/usagers/{usager['id']}/proofs", json={"proof_type": "CNI"})
    assert missing.status_code == 428


async def test_duplicates_and_merge_keep_history(client: httpx.AsyncClient, sandbox: InsiSandbox) -> None:
    essms = await factories.essms(client)
    first = await factories.usager(client, nom_naissance="D'Argent-Lévêque", premier_prenom="Hélène")
    second = await factories.usager(client, nom_naissance="DARGENT LEVEQUE", premier_prenom="helene")
    await factories.usager(client, nom_naissance="Dargent", premier_prenom="Hélène")
    stay = await factories.stay(client, second["id"], essms["id"])
    assert stay.status_code == 201
    groups = (await client.get("/identitovigilance/duplicates")).json()
    assert len(groups) == 1 and groups[0]["kind"] == "potential-duplicate"
    assert {u["id"] for u in groups[0]["usagers"]} == {first["id"], second["id"]}

    itself = await client.post(
        f"/usagers/{second['id']}/merge", json={"into": second["id"], "into_version": 1}, headers=if_match(second)
    )
    assert itself.status_code == 422
    merged = await client.post(
        f"/usagers/{second['id']}/merge", json={"into": first["id"], "into_version": 1}, headers=if_match(second)
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["id"] == first["id"] and merged.json()["version"] == 2
    old = (await client.get(f"/usagers/{second['id']}")).json()
    assert old["archived_at"] is not None and old["merged_into"] == first["id"]
    moved = (await client.get(f"/stays/{stay.json()['id']}")).json()
    assert moved["usager_id"] == first["id"]
    assert [h["operation"] for h in (await client.get(f"/usagers/{second['id']}/history")).json()] == [
        "create",
        "archive",
    ]
    assert (await client.get("/identitovigilance/duplicates")).json() == []


async def test_homonyms_are_flagged(client: httpx.AsyncClient, sandbox: InsiSandbox) -> None:
    first = await factories.usager(client, **DOMINIQUE)
    second = await factories.usager(client, **DOMINIQUE)
    report = (await _search(client, first)).json()
    assert report["potential_homonyms"] == [second["id"]]
    received = await client.post(
        f"/usagers/{second['id']}/ins/received",
        json={"matricule": "160012B02077713", "oid": "1.2.250.1.213.1.4.8"},
        headers=if_match(second),
    )
    assert received.status_code == 200
    groups = (await client.get("/identitovigilance/duplicates")).json()
    assert groups[0]["kind"] == "homonyms"
    refused = await client.post(
        f"/usagers/{second['id']}/merge",
        json={"into": first["id"], "into_version": report["usager"]["version"]},
        headers=if_match(received.json()),
    )
    assert refused.status_code == 409 and refused.json()["errors"][0]["rule"] == "merge-ins-conflict"


async def test_a_list_traces_each_identity_shown(client: httpx.AsyncClient) -> None:
    shown = await factories.usager(client, nom_naissance="Listee")
    hidden = await factories.usager(client, nom_naissance="Autre")
    page = (await client.get("/usagers", params={"nom": "listee"})).json()
    assert [u["id"] for u in page["items"]] == [shown["id"]]
    for record, expected in ((shown, ["create", "list"]), (hidden, ["create"])):
        journal = (await client.get("/identity-traces", params={"usager_id": record["id"]})).json()["items"]
        assert [t["action"] for t in journal] == expected


async def test_ins_check(client: httpx.AsyncClient) -> None:
    good = await client.get("/ins/check", params={"matricule": "180032B02040123", "oid": "1.2.250.1.213.1.4.10"})
    assert good.status_code == 200 and good.json()["kind"] == "INS-NIR de test"
    bad = await client.get("/ins/check", params={"matricule": "180032B02040124", "oid": "1.2.250.1.213.1.4.8"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["rule"] == "ins-key"


async def test_journals_by_period(client: httpx.AsyncClient, sandbox: InsiSandbox) -> None:
    usager = await factories.usager(client, **DOMINIQUE)
    await _search(client, usager)
    everything = (await client.get("/identity-traces", params={"usager_id": usager["id"]})).json()["items"]
    cut = everything[-1]["at"]
    later = (await client.get("/identity-traces", params={"since": cut})).json()["items"]
    earlier = (await client.get("/identity-traces", params={"until": cut})).json()["items"]
    assert len(later) + len(earlier) == len(everything) and later
    page = (await client.get("/identity-traces", params={"limit": 1})).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    second = (await client.get("/identity-traces", params={"limit": 1, "cursor": page["next_cursor"]})).json()
    assert second["items"][0]["id"] > page["items"][0]["id"]
    bad = await client.get("/identity-traces", params={"cursor": "x"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


async def test_openapi_names_the_identity_schemas(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for name in ("InsiReportOut", "Proof", "ProofRecorded", "IdentityTracePage", "InsiCallPage", "DuplicateGroup"):
        assert name in schemas, name
    search = spec["paths"]["/usagers/{usager_id}/insi/search"]["post"]
    assert "if-match" in {p["name"].lower() for p in search["parameters"]}
    assert "application/problem+json" in search["responses"]["502"]["content"]
