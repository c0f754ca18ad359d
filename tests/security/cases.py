"""Own/other samples of the routes that are not standard resource routes (plan life cycle, identity, documents,
DMP, journals). Each is registered with ``@case(method, path)`` (tests/security/world.py); the matrix fails on a
route that touches ESSMS data and has no sample, unless it is in ``NOT_ESSMS_SCOPED``.

To add a route: write ``@case("POST", "/the/{id}/path")`` on ``async def _(world, where, side_name) -> Call``,
building the request against ``where`` (fresh records through ``world.admin``, the superuser client). On the
OTHER side, return a list to add requests that mix the caller's own records with ids of the other ESSMS.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, update

from app.domain.ins import OID_NIR, InsiIdentity, ins_key
from app.sandbox.insi import load_identities
from app.store.dmp import OPPOSITIONS, OUTBOX
from tests import factories
from tests.api.test_documents import DLU_DATA, FLUDT_DATA
from tests.api.test_documents_volets import AGGIR_VARIABLES
from tests.conftest import SHARED
from tests.factories import if_match
from tests.security.world import OTHER, OWN, Call, Side, World, case

# Routes a caller may use without any ESSMS being involved: no own/other leg (the role leg still runs).
NOT_ESSMS_SCOPED = {
    ("GET", "/auth/me"),  # who am I: the caller's own account
    ("GET", "/ins/check"),  # checks the format and key of a typed INS; reads no record
}

STRUCTURE_AGREEMENT = {"partie": "structure", "signataire": "La directrice", "date_signature": "2025-01-12"}
FLUDR = SHARED / "specs/cda/TestContenuCDA-3-0/ExemplesCDA/DLU-EHPAD-FLUDR_2022.01.xml"
# Two CNDA test identities the INSi sandbox serves, one per side (an INS is carried by one usager only).
SANDBOX_IDENTITIES = {i.nom_naissance: i for i in load_identities()}
INSI_IDENTITIES = {"A": SANDBOX_IDENTITIES["ADRTROIS"], "B": SANDBOX_IDENTITIES["TCHITCHI"]}


def _traits(identity: InsiIdentity) -> dict[str, Any]:
    return {
        "nom_naissance": identity.nom_naissance,
        "premier_prenom": identity.prenoms[0].title(),
        "sexe": identity.sexe,
        "date_naissance": identity.date_naissance,
    }


def _other(side_name: str) -> bool:
    return side_name == OTHER


async def _post(world: World, url: str, record: dict[str, Any], body: Any = None) -> dict[str, Any]:
    response = await world.admin.post(url, json=body, headers=if_match(record))
    assert response.status_code in {200, 201}, (url, response.text)
    return response.json()  # type: ignore[no-any-return]


# -- plans ---------------------------------------------------------------------------------------------
async def plan(world: World, where: Side, status: str) -> dict[str, Any]:
    """A fresh plan of ``where`` brought to ``status``: draft, submitted, validated or in_progress."""
    body = await world.create_body("plans", where)
    record = await factories.created(await world.admin.post("/plans", json=body))
    steps = {
        "draft": [],
        "submitted": ["submit"],
        "validated": ["accords", "submit", "validate"],
        "in_progress": ["accords", "submit", "validate", "start"],
    }[status]
    for step in steps:
        body = STRUCTURE_AGREEMENT if step == "accords" else None
        record = await _post(world, f"/plans/{record['id']}/{step}", record, body)
    return record


def _transition(path: str, status: str, body: dict[str, Any] | None = None) -> None:
    @case("POST", path)
    async def _(world: World, where: Side, side_name: str) -> Call:
        record = await plan(world, where, status)
        url = path.replace("{plan_id}", record["id"])
        return Call("POST", url, {"json": body, "headers": if_match(record)})


_transition("/plans/{plan_id}/submit", "draft")
_transition("/plans/{plan_id}/return-to-draft", "submitted")
_transition("/plans/{plan_id}/start", "validated")
_transition("/plans/{plan_id}/close", "in_progress", {"motif": "Sortie"})
_transition("/plans/{plan_id}/revise", "in_progress")
_transition("/plans/{plan_id}/accords", "draft", STRUCTURE_AGREEMENT)
_transition("/plans/{plan_id}/bilans", "in_progress", {"date_bilan": "2025-06-01", "categorie": "INTERMEDIAIRE"})


@case("POST", "/plans/{plan_id}/validate")  # the establishment agrees before the plan is submitted
async def _validate(world: World, where: Side, side_name: str) -> Call:
    record = await plan(world, where, "draft")
    record = await _post(world, f"/plans/{record['id']}/accords", record, STRUCTURE_AGREEMENT)
    record = await _post(world, f"/plans/{record['id']}/submit", record)
    return Call("POST", f"/plans/{record['id']}/validate", {"headers": if_match(record)})


@case("GET", "/plans/{plan_id}/versions")
async def _versions(world: World, where: Side, side_name: str) -> Call:
    return Call("GET", f"/plans/{(await plan(world, where, 'draft'))['id']}/versions")


async def _in_force(world: World, where: Side) -> dict[str, Any]:
    """A plan in force of ``where`` (of a usager of its own), made once."""
    key = "plan_in_force"
    if key not in where.extra:
        where.extra[key] = await plan(world, where, "in_progress")
    return where.extra[key]  # type: ignore[no-any-return]


@case("GET", "/plans/reviews-due")
async def _reviews_due(world: World, where: Side, side_name: str) -> Call:
    mine, theirs = (await _in_force(world, where))["id"], (await _in_force(world, world.opposite(where)))["id"]
    # Far ahead: every plan in force is overdue, so the list would show the other ESSMS's if it leaked.
    params = {"as_of": "2100-01-01", "essms_id": where.essms["id"]}
    if _other(side_name):
        return Call("GET", "/plans/reviews-due", {"params": params}, hidden=[mine], listing=True)
    return Call("GET", "/plans/reviews-due", {"params": {"as_of": "2100-01-01"}}, hidden=[theirs])


# -- identity ------------------------------------------------------------------------------------------
def _serial() -> int:
    return uuid.uuid4().int % 10**9


def _matricule() -> str:
    number = f"1380575{uuid.uuid4().int % 10**6:06d}"
    return number + ins_key(number)


@case("POST", "/usagers/{usager_id}/ins/received")
async def _ins_received(world: World, where: Side, side_name: str) -> Call:
    record = await factories.usager(world.admin, essms_id=where.essms["id"])
    body = {"matricule": _matricule(), "oid": OID_NIR}
    return Call("POST", f"/usagers/{record['id']}/ins/received", {"json": body, "headers": if_match(record)})


@case("POST", "/usagers/{usager_id}/insi/search")
async def _insi_search(world: World, where: Side, side_name: str) -> Call:
    record = await factories.usager(world.admin, essms_id=where.essms["id"])
    return Call("POST", f"/usagers/{record['id']}/insi/search", {"headers": if_match(record)})


@case("POST", "/usagers/{usager_id}/insi/verify")
async def _insi_verify(world: World, where: Side, side_name: str) -> Call:
    """One usager per side carrying a received INS of a sandbox identity (verified again on every call)."""
    name = "A" if where is world.sides[OWN] else "B"
    if "insi_usager" not in where.extra:
        identity = INSI_IDENTITIES[name]
        record = await factories.usager(world.admin, essms_id=where.essms["id"], **_traits(identity))
        body = {"matricule": identity.ins.matricule, "oid": identity.ins.oid}
        where.extra["insi_usager"] = (await _post(world, f"/usagers/{record['id']}/ins/received", record, body))["id"]
    current = (await world.admin.get(f"/usagers/{where.extra['insi_usager']}")).json()
    return Call("POST", f"/usagers/{current['id']}/insi/verify", {"headers": if_match(current)})


@case("POST", "/usagers/{usager_id}/proofs")
async def _record_proof(world: World, where: Side, side_name: str) -> Call:
    record = await factories.usager(world.admin, essms_id=where.essms["id"])
    body = {"proof_type": "CNI", "reference": "X1"}
    return Call("POST", f"/usagers/{record['id']}/proofs", {"json": body, "headers": if_match(record)})


async def _proof_of_fresh_usager(world: World, where: Side) -> tuple[dict[str, Any], str]:
    record = await factories.usager(world.admin, essms_id=where.essms["id"])
    recorded = await _post(world, f"/usagers/{record['id']}/proofs", record, {"proof_type": "CNI", "reference": "X"})
    return recorded["usager"], recorded["proof"]["id"]


@case("DELETE", "/usagers/{usager_id}/proofs/{proof_id}")
async def _withdraw_proof(world: World, where: Side, side_name: str) -> Call | list[Call]:
    record, proof_id = await _proof_of_fresh_usager(world, where)
    call = Call("DELETE", f"/usagers/{record['id']}/proofs/{proof_id}", {"headers": if_match(record)})
    if not _other(side_name):
        return call
    mine, _ = await _proof_of_fresh_usager(world, world.opposite(where))
    # The caller's own usager with a proof of the other ESSMS's usager.
    mixed = Call("DELETE", f"/usagers/{mine['id']}/proofs/{proof_id}", {"headers": if_match(mine)})
    return [call, mixed]


async def _searched(world: World, where: Side) -> str:
    """A usager of ``where`` searched through INSi by an administrator (made once): both journals name it."""
    if "searched" not in where.extra:
        record = await factories.usager(world.admin, essms_id=where.essms["id"])
        await _post(world, f"/usagers/{record['id']}/insi/search", record)
        where.extra["searched"] = record["id"]
    return str(where.extra["searched"])


def _journal(path: str) -> None:
    @case("GET", path)
    async def _(world: World, where: Side, side_name: str) -> Call:
        searched = await _searched(world, where)
        if _other(side_name):
            return Call("GET", path, {"params": {"usager_id": searched}}, listing=True, empty=True)
        # Unfiltered: the caller's journal shows its own searches, none of the other ESSMS's.
        theirs = world.opposite(where)
        return Call("GET", path, hidden=[theirs.usager["id"], await _searched(world, theirs)])


_journal("/identity-traces")
_journal("/insi-calls")


@case("GET", "/identitovigilance/duplicates")
async def _duplicates(world: World, where: Side, side_name: str) -> Call:
    # Every usager of the world has the same traits: the groups would mix the two ESSMS if they leaked.
    theirs = world.opposite(where).usager["id"] if not _other(side_name) else where.usager["id"]
    return Call("GET", "/identitovigilance/duplicates", hidden=[theirs], listing=_other(side_name))


@case("POST", "/usagers/{usager_id}/merge")
async def _merge(world: World, where: Side, side_name: str) -> Call | list[Call]:
    duplicate = await factories.usager(world.admin, essms_id=where.essms["id"])
    kept = await factories.usager(world.admin, essms_id=where.essms["id"])

    def merge(dup: dict[str, Any], into: dict[str, Any]) -> Call:
        body = {"into": into["id"], "into_version": into["version"]}
        return Call("POST", f"/usagers/{dup['id']}/merge", {"json": body, "headers": if_match(dup)})

    if not _other(side_name):
        return merge(duplicate, kept)
    mine = await factories.usager(world.admin, essms_id=world.opposite(where).essms["id"])
    # The other ESSMS's duplicate into the caller's record, and the caller's record into the other ESSMS's.
    return [merge(duplicate, kept), merge(duplicate, mine), merge(mine, kept)]


# -- documents -----------------------------------------------------------------------------------------
async def document(world: World, where: Side) -> str:
    """The id of the side's generated document (made once)."""
    return (await world._usager_records(where))[1]


N1 = {"kind": "N1_PDF", "type_code": "80788-3"}


async def _aggir_evaluation(world: World, where: Side) -> str:
    if "aggir" not in where.extra:
        body = await world.create_body("evaluations", where)
        body["detail"] = {"grille": "aggir", "variante": "PA", "variables": AGGIR_VARIABLES}
        where.extra["aggir"] = (await factories.created(await world.admin.post("/evaluations", json=body)))["id"]
    return str(where.extra["aggir"])


async def _replaced(world: World, where: Side) -> str:
    response = await world.admin.post(f"/usagers/{where.usager['id']}/documents", json=N1)
    return str((await factories.created(response))["id"])


KINDS = ("PPA", "AGGIR", "DLU", "FLUDT", "replacement")


async def _kind_body(world: World, where: Side) -> tuple[str, dict[str, Any]]:
    """The other kinds, one per call in turn: the permission is the route's, the same for every kind, and each
    kind still succeeds once for some role on its own ESSMS (the full role x kind product would only cost time)."""
    turn = where.extra["kind_turn"] = where.extra.get("kind_turn", -1) + 1
    kind = KINDS[turn % len(KINDS)]
    usager_id = where.usager["id"]
    if kind == "PPA":
        in_force = await _in_force(world, where)
        return in_force["usager_id"], {"kind": "PPA", "plan_id": in_force["id"]}
    if kind == "AGGIR":
        return usager_id, {"kind": "AGGIR", "evaluation_id": await _aggir_evaluation(world, where)}
    if kind == "replacement":
        return usager_id, {**N1, "replaces": await _replaced(world, where)}
    return usager_id, {"kind": kind, "data": DLU_DATA if kind == "DLU" else FLUDT_DATA}


@case("POST", "/usagers/{usager_id}/documents")
async def _generate(world: World, where: Side, side_name: str) -> Call | list[Call]:
    url = f"/usagers/{where.usager['id']}/documents"
    call = Call("POST", url, {"json": N1})
    if not _other(side_name):
        usager_id, body = await _kind_body(world, where)
        return [call, Call("POST", f"/usagers/{usager_id}/documents", {"json": body})]
    mine = world.opposite(where).usager["id"]
    theirs_plan = (await _in_force(world, where))["id"]
    care = await world._care(where)
    url = f"/usagers/{mine}/documents"
    return [
        call,
        # The caller's usager, with the custodian, author, replaced document or source of the other ESSMS.
        Call("POST", url, {"json": {**N1, "essms_id": where.essms["id"]}}),
        Call("POST", url, {"json": {**N1, "professional_id": care["professional"]["id"]}}),
        Call("POST", url, {"json": {**N1, "replaces": await document(world, where)}}),
        Call("POST", url, {"json": {"kind": "PPA", "plan_id": theirs_plan}}),
    ]


@case("POST", "/usagers/{usager_id}/documents/received")
async def _receive(world: World, where: Side, side_name: str) -> Call | list[Call]:
    # A FLUDR is stored once (setId, version): each sample gets an id of its own.
    unique = FLUDR.read_bytes().replace(
        b"1.2.250.1.213.1.1.1.24.2022.1", f"1.2.250.1.213.1.1.1.24.{_serial()}".encode()
    )
    xml = {"content": unique, "headers": {"Content-Type": "application/xml"}}
    call = Call("POST", f"/usagers/{where.usager['id']}/documents/received", xml)
    if not _other(side_name):
        return call
    mine = world.opposite(where).usager["id"]
    # The caller's usager, attached to the other ESSMS.
    mixed = Call("POST", f"/usagers/{mine}/documents/received", {**xml, "params": {"essms_id": where.essms["id"]}})
    return [call, mixed]


def _document_read(path: str, **params: str) -> None:
    @case("GET", path)
    async def _(world: World, where: Side, side_name: str) -> Call:
        url = path.replace("{document_id}", await document(world, where))
        return Call("GET", url, {"params": params})


_document_read("/documents/{document_id}/cda")
_document_read("/documents/{document_id}/rendering")
_document_read("/documents/{document_id}/dmp")


def _dmp_move(path: str, status: str) -> None:
    """Block, unblock, send: the document's send request is first put where the move is allowed."""

    @case("POST", path)
    async def _(world: World, where: Side, side_name: str) -> Call:
        document_id = await document(world, where)
        await world.sql(
            update(OUTBOX).where(OUTBOX.c.document_id == uuid.UUID(document_id)).values(status=status, qualified=True)
        )
        return Call("POST", path.replace("{document_id}", document_id))


_dmp_move("/documents/{document_id}/dmp/block", "queued")
_dmp_move("/documents/{document_id}/dmp/unblock", "blocked")
_dmp_move("/documents/{document_id}/dmp/send", "failed")


def _dmp_correction(path: str, body: dict[str, Any] | None = None) -> None:
    """Delete, deprecate, change the visibility: asked of a document the DMP holds (sent), put back there first."""

    @case("POST", path)
    async def _(world: World, where: Side, side_name: str) -> Call:
        document_id = await document(world, where)
        await world.sql(
            update(OUTBOX)
            .where(OUTBOX.c.document_id == uuid.UUID(document_id))
            .values(status="sent", operation="send", qualified=True)
        )
        return Call("POST", path.replace("{document_id}", document_id), {"json": body} if body else {})


_dmp_correction("/documents/{document_id}/dmp/delete")
_dmp_correction("/documents/{document_id}/dmp/deprecate")
_dmp_correction("/documents/{document_id}/dmp/visibility", {"hidden_from_professionals": True})


@case("GET", "/usagers/{usager_id}/dmp/opposition")
async def _opposition(world: World, where: Side, side_name: str) -> Call:
    return Call("GET", f"/usagers/{where.usager['id']}/dmp/opposition")


@case("POST", "/usagers/{usager_id}/dmp/opposition")
async def _oppose(world: World, where: Side, side_name: str) -> Call:
    await world.sql(delete(OPPOSITIONS).where(OPPOSITIONS.c.usager_id == uuid.UUID(where.usager["id"])))
    return Call("POST", f"/usagers/{where.usager['id']}/dmp/opposition", {"json": {"reason": "Refus exprimé"}})


@case("POST", "/usagers/{usager_id}/dmp/opposition/withdraw")
async def _withdraw(world: World, where: Side, side_name: str) -> Call:
    usager_id = where.usager["id"]
    await world.sql(delete(OPPOSITIONS).where(OPPOSITIONS.c.usager_id == uuid.UUID(usager_id)))
    opposed = await world.admin.post(f"/usagers/{usager_id}/dmp/opposition", json={"reason": "Refus exprimé"})
    assert opposed.status_code == 201, opposed.text
    return Call("POST", f"/usagers/{usager_id}/dmp/opposition/withdraw", {"json": {"reason": "A changé d'avis"}})


@case("GET", "/dmp/dashboard")
async def _dashboard(world: World, where: Side, side_name: str) -> Call:
    await document(world, where)
    await document(world, world.opposite(where))
    hidden = where.essms["id"] if _other(side_name) else world.opposite(where).essms["id"]
    return Call("GET", "/dmp/dashboard", hidden=[hidden], listing=_other(side_name))


# -- references across ESSMS in the standard resources ---------------------------------------------------
@case("POST", "/stays")
async def _open_stay(world: World, where: Side, side_name: str) -> Call | list[Call]:
    call = Call("POST", "/stays", {"json": await world.create_body("stays", where)})
    if not _other(side_name):
        return call
    # A stay in the caller's ESSMS for a usager of the other ESSMS, known by id only.
    theirs = await factories.usager(world.admin, essms_id=where.essms["id"])
    mine = world.opposite(where).essms["id"]
    body = {"usager_id": theirs["id"], "essms_id": mine, "date_entree": "2024-01-15"}
    return [call, Call("POST", "/stays", {"json": body})]


def _care_with_their_professional(prefix: str, field: str) -> None:
    @case("POST", f"/{prefix}")
    async def _(world: World, where: Side, side_name: str) -> Call | list[Call]:
        call = Call("POST", f"/{prefix}", {"json": await world.create_body(prefix, where)})
        if not _other(side_name):
            return call
        # The caller's usager, with a professional of the other ESSMS as referent / evaluator / author, or
        # during a stay of the other ESSMS.
        body = await world.create_body(prefix, world.opposite(where))
        theirs = await world._care(where)
        professional = theirs["professional"]["id"]
        with_theirs = {**body, field: [professional] if field == "referents" else professional}
        calls = [call, Call("POST", f"/{prefix}", {"json": with_theirs})]
        if "stay_id" in body:
            calls.append(Call("POST", f"/{prefix}", {"json": {**body, "stay_id": theirs["stay"]["id"]}}))
        return calls


_care_with_their_professional("plans", "referents")
_care_with_their_professional("evaluations", "evaluateur_id")
_care_with_their_professional("transmissions", "auteur_id")
