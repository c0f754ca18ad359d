"""Two organismes, each with an ESSMS and its usagers, and a way to build a request for any route of the table."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.sql import Executable

from app.api.security import RouteInfo
from app.domain.access import ROLE_PERMISSIONS, Role
from app.store.db import Database
from tests import factories

OWN, OTHER = "own", "other"


@dataclass
class Side:
    organisme: dict[str, Any]
    essms: dict[str, Any]
    usager: dict[str, Any]
    spare_essms: dict[str, Any] | None = None
    spare_organisme: dict[str, Any] | None = None
    care: dict[str, Any] | None = None  # a stay and a professional for ``usager``, made on first need
    records: list[str] = field(default_factory=list)  # ids of the care records made on this side
    usager_records: list[str] | None = None  # a proof and a document of ``usager``, made on first need
    extra: dict[str, Any] = field(default_factory=dict)  # records a case makes once per side (tests/security/cases.py)


@dataclass
class Call:
    method: str
    url: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    hidden: list[str] = field(default_factory=list)  # ids that must never appear in the answer
    # A list or journal: on the other ESSMS's data it may answer 200, but then with no item (and none of
    # ``hidden``), instead of 403/404/422.
    listing: bool = False
    empty: bool = False  # with ``listing``: a 200 answer on the other ESSMS's data has no item at all


# A route's own/other sample: ``where`` is the side whose data the request targets, ``side_name`` says whether
# that is the caller's own ESSMS (OWN) or the other one (OTHER). It returns the request, or several: on the
# OTHER side, extra requests mix the caller's own records with ids of the other ESSMS (each must be refused).
Case = Callable[["World", "Side", str], Awaitable["Call | list[Call]"]]
CASES: dict[tuple[str, str], Case] = {}


def case(method: str, path: str) -> Callable[[Case], Case]:
    """Register the own/other sample of one route (see tests/security/cases.py for examples)::

    @case("POST", "/plans/{plan_id}/submit")
    async def _(world: World, where: Side, side_name: str) -> Call:
        plan = await world.plan(where, "draft")
        return Call("POST", f"/plans/{plan['id']}/submit", {"headers": if_match(plan)})
    """

    def register(build: Case) -> Case:
        assert (method, path) not in CASES, f"two samples for {method} {path}"
        CASES[(method, path)] = build
        return build

    return register


async def side(admin: httpx.AsyncClient, name: str) -> Side:
    organisme = await factories.organisme(admin, raison_sociale=f"Association {name}")
    essms = await factories.essms(admin, organisme["id"], nom=f"EHPAD {name}")
    usager = await factories.usager(admin, essms_id=essms["id"])
    return Side(organisme, essms, usager)


class World:
    """Builds, for a route and a side (own / other ESSMS of the caller), a request that would succeed for an
    unrestricted caller; fresh targets are created through the superuser client so that writes never collide."""

    def __init__(self, admin: httpx.AsyncClient, own: Side, other: Side, database: Database) -> None:
        self.admin = admin
        self.sides = {OWN: own, OTHER: other}
        self.database = database  # to put a record in a state no API call reaches (e.g. a DMP send failed)

    def opposite(self, where: Side) -> Side:
        return self.sides[OTHER] if where is self.sides[OWN] else self.sides[OWN]

    async def sql(self, statement: Executable) -> None:
        async with self.database.write() as connection:
            await connection.execute(statement)

    # -- fresh records -------------------------------------------------------------------------------
    async def fresh(self, prefix: str, where: Side) -> dict[str, Any]:
        essms_id = where.essms["id"]
        if prefix == "organismes":
            return where.organisme
        if prefix == "essms":
            return where.spare_essms or where.essms
        if prefix == "usagers":
            return await factories.usager(self.admin, essms_id=essms_id)
        if prefix == "contacts":
            return await factories.created(await self.admin.post("/contacts", json=self.body(prefix, where)))
        if prefix == "protection-measures":
            body = await self.create_body(prefix, where)
            return await factories.created(await self.admin.post("/protection-measures", json=body))
        if prefix == "stays":
            fresh_usager = await factories.usager(self.admin, essms_id=essms_id)
            return await factories.created(await factories.stay(self.admin, fresh_usager["id"], essms_id))
        if prefix == "professionals":
            return await factories.created(await self.admin.post("/professionals", json=self.body(prefix, where)))
        if prefix in CARE:
            body = await self.create_body(prefix, where)
            record = await factories.created(await self.admin.post(f"/{prefix}", json=body))
            where.records += [record["id"], record["usager_id"]]
            return record
        raise KeyError(prefix)

    async def _care(self, where: Side) -> dict[str, Any]:
        if where.care is None:
            essms_id = where.essms["id"]
            stay = await factories.created(await factories.stay(self.admin, where.usager["id"], essms_id))
            professional = await factories.professional(self.admin, essms_id)
            where.care = {"stay": stay, "professional": professional}
        return where.care

    def body(self, prefix: str, where: Side) -> dict[str, Any]:
        essms_id, usager_id = where.essms["id"], where.usager["id"]
        if prefix in CARE:
            assert where.care is not None, "create_body makes the stay and the professional"
            return care_body(prefix, usager_id, where.care["stay"]["id"], where.care["professional"]["id"])
        return {
            "organismes": {"finess_ej": factories.finess(), "raison_sociale": "Association nouvelle"},
            "essms": {
                "finess_et": factories.finess(),
                "organisme_id": where.organisme["id"],
                "nom": "SSIAD nouveau",
                "categorie": "354",
                "types_activite": ["16"],
            },
            "usagers": {
                "nom_naissance": "DURAND",
                "premier_prenom": "Paul",
                "sexe": "M",
                "date_naissance": "1938-05-02",
                "essms_id": essms_id,
            },
            "contacts": {"usager_id": usager_id, "nom": "DURAND", "prenom": "Marc", "roles": ["ECON"]},
            "protection-measures": {
                "usager_id": usager_id,
                "nature": "TUTELLE",
                "date_debut": "2022-05-10",
                "portee": "biens_et_personne",
                "jugement": {"tribunal": "Tribunal judiciaire de Lyon", "date": "2022-05-02"},
            },
            "stays": {"usager_id": usager_id, "essms_id": essms_id, "date_entree": "2024-01-15"},
            "professionals": {
                "identifiant_local": f"LOC-{uuid.uuid4().hex[:8]}",
                "nom": "PETIT",
                "prenom": "Anne",
                "profession": "G15_10",
                "affectations": [{"essms_id": essms_id}],
            },
        }[prefix]

    async def create_body(self, prefix: str, where: Side) -> dict[str, Any]:
        if prefix in {"stays", "protection-measures"}:  # one open stay / measure of a nature: a new usager each time
            fresh_usager = await factories.usager(self.admin, essms_id=where.essms["id"])
            return {**self.body(prefix, where), "usager_id": fresh_usager["id"]}
        if prefix == "plans":  # one plan in preparation per stay: a new usager and stay each time
            usager = await factories.usager(self.admin, essms_id=where.essms["id"])
            stay = await factories.created(await factories.stay(self.admin, usager["id"], where.essms["id"]))
            professional = (await self._care(where))["professional"]
            return care_body(prefix, usager["id"], stay["id"], professional["id"])
        if prefix in CARE:
            await self._care(where)
        return self.body(prefix, where)

    # -- the request ---------------------------------------------------------------------------------
    async def calls(self, route: RouteInfo, method: str, side_name: str) -> list[Call] | None:
        """The requests for ``route`` on ``side_name``; ``None`` when the world does not know the route."""
        build = CASES.get((method, route.path))
        if build is not None:
            made = await build(self, self.sides[side_name], side_name)
            return made if isinstance(made, list) else [made]
        call = await self.call(route, method, side_name)
        return None if call is None else [call]

    async def call(self, route: RouteInfo, method: str, side_name: str) -> Call | None:
        """A request for a standard resource route on ``side_name``; ``None`` when it is not one."""
        where = self.sides[side_name]
        other = self.sides[OTHER if side_name == OWN else OWN]
        path = route.path
        prefix = path.strip("/").split("/")[0]
        params = route.params
        if path.endswith("/identity-document"):
            usager = await factories.usager(self.admin, essms_id=where.essms["id"])
            url = f"/usagers/{usager['id']}/identity-document"
            if method != "PUT":
                stored = await self.admin.put(
                    url, content=b"%PDF-1.4 scan", headers={"Content-Type": "application/pdf"}
                )
                assert stored.status_code == 200, stored.text
            return Call(method, url, {"content": b"%PDF-1.4 scan", "headers": {"Content-Type": "application/pdf"}})
        if path == "/usagers/{usager_id}/audit":
            return Call(method, f"/usagers/{where.usager['id']}/audit")
        if path == "/auth/me":
            return Call(method, path)
        if path == "/audit/events":
            return Call(method, "/audit/events", {"params": {"usager_id": where.usager["id"]}})
        if method == "GET" and path in USAGER_READS:
            kept = await self._usager_records(where)
            hidden = kept if side_name == OTHER else []
            return Call(method, path.replace("{usager_id}", where.usager["id"]), hidden=hidden)
        if method == "GET" and path == "/documents/{document_id}":
            proof_id, document_id = await self._usager_records(where)
            return Call(method, f"/documents/{document_id}", hidden=[proof_id] if side_name == OTHER else [])
        if prefix in {"accounts", "api-tokens"}:
            return await self._admin_call(route, method, where)
        if prefix not in {
            "organismes",
            "essms",
            "usagers",
            "contacts",
            "protection-measures",
            "stays",
            "professionals",
            *CARE,
        }:
            return None
        if prefix in CARE and path != f"/{prefix}" and not path.startswith(f"/{prefix}/{{resource_id}}"):
            return None  # e.g. /plans/reviews-due: not a standard resource route
        if set(params) - {"resource_id", "version"}:  # a route of its own package (e.g. /usagers/{usager_id}/proofs)
            return None
        if not params:
            if method == "POST":
                return Call(method, path, {"json": await self.create_body(prefix, where)})
            if prefix in CARE:
                # The side's usager has records on both sides: asking for the other one's must show none of them.
                await self.fresh(prefix, where)
                hidden = [*self.sides[OTHER].records]
                return Call(method, path, {"params": {"usager_id": where.usager["id"]}}, hidden=hidden)
            hidden = [other.usager["id"], other.essms["id"]] if prefix in {"usagers", "essms"} else []
            return Call(method, path, hidden=hidden)
        target = await self.fresh(prefix, where)
        if method == "DELETE" and prefix in {"organismes", "essms"}:
            target = await self._spare(prefix, where)
        url = path.replace("{resource_id}", target["id"]).replace("{version}", "1")
        current = (await self.admin.get(url.split("/history")[0])).json()
        headers = factories.if_match(current)
        if method == "PATCH":
            return Call(method, url, {"json": {}, "headers": headers})
        if method == "PUT":
            body = {k: v for k, v in current.items() if k in self.body(prefix, where)}
            return Call(method, url, {"json": body or self.body(prefix, where), "headers": headers})
        if method == "DELETE":
            return Call(method, url, {"headers": headers})
        return Call(method, url, hidden=[])

    async def _usager_records(self, where: Side) -> list[str]:
        """A proof of identity and a generated document for the side's usager, made once: [proof id, document id]."""
        if where.usager_records is None:
            await self._care(where)
            url = f"/usagers/{where.usager['id']}"
            current = (await self.admin.get(url)).json()
            body = {"proof_type": "CNI", "reference": "X1"}
            proof = await factories.created(
                await self.admin.post(f"{url}/proofs", json=body, headers=factories.if_match(current))
            )
            body = {"kind": "N1_PDF", "type_code": "80788-3"}
            document = await factories.created(await self.admin.post(f"{url}/documents", json=body))
            where.usager_records = [proof["proof"]["id"], document["id"]]
        return where.usager_records

    async def _spare(self, prefix: str, where: Side) -> dict[str, Any]:
        """Archiving a structure: a spare one in the same organisme, known to the caller's memberships."""
        # The other side has none: its structures must be refused anyway.
        if prefix == "essms":
            return where.spare_essms or where.essms
        return where.spare_organisme or where.organisme

    async def _admin_call(self, route: RouteInfo, method: str, where: Side) -> Call:
        path = route.path
        username = f"user-{uuid.uuid4().hex[:8]}"
        membership = [{"role": "lecture", "essms_id": where.essms["id"]}]
        if path == "/accounts" and method == "POST":
            return Call(method, path, {"json": {"username": username, "memberships": membership}})
        if path == "/accounts" or (path == "/api-tokens" and method == "GET"):
            return Call(method, path)
        account = (await self.admin.post("/accounts", json={"username": username, "memberships": membership})).json()
        if path == "/api-tokens":
            return Call(method, path, {"json": {"name": "batch", "account_id": account["id"]}})
        if path == "/accounts/{account_id}":
            url = f"/accounts/{account['id']}"
            return Call(method, url, {"json": {"disabled": False}} if method == "PATCH" else {})
        token = (await self.admin.post("/api-tokens", json={"name": "batch", "account_id": account["id"]})).json()
        return Call(method, path.replace("{token_id}", token["id"]))


USAGER_READS = (
    "/usagers/{usager_id}/proofs",
    "/usagers/{usager_id}/shareable-identity",
    "/usagers/{usager_id}/documents",
)
CARE = ("plans", "evaluations", "transmissions")  # usager data written by professionals during a stay


def care_body(prefix: str, usager_id: str, stay_id: str, professional_id: str) -> dict[str, Any]:
    if prefix == "plans":
        return {
            "usager_id": usager_id,
            "stay_id": stay_id,
            "titre": "Projet d'accompagnement",
            "date_debut": "2025-01-15",
            "referents": [professional_id],
            "besoins": [{"code": "1.2.1.2", "description": "Aide aux déplacements"}],
        }
    if prefix == "evaluations":
        return {
            "usager_id": usager_id,
            "date_evaluation": "2025-02-01",
            "evaluateur_id": professional_id,
            "detail": {
                "grille": "libre",
                "titre": "Bilan d'autonomie",
                "items": [{"libelle": "Marche", "valeur": "Seule"}],
            },
        }
    return {
        "usager_id": usager_id,
        "stay_id": stay_id,
        "auteur_id": professional_id,
        "date_heure": "2025-03-01T08:30:00+01:00",
        "texte": "Nuit calme",
    }


def generic_call(route: RouteInfo) -> Call:
    """A request for a route the world has no sample for (e.g. added by another package): unknown ids, empty body."""
    url = route.path
    for name in route.params:
        url = url.replace("{" + name + "}", "1" if name == "version" else "01a23399-0000-7000-8000-000000000000")
    body = {"json": {}} if route.method in {"POST", "PUT", "PATCH"} else {}
    return Call(route.method, url, {**body, "headers": {"If-Match": '"1"'}})


def allowed(role: Role, route: RouteInfo) -> bool:
    requirement = route.requirement
    assert requirement is not None
    if requirement.permission is None:  # any authenticated caller
        return True
    return requirement.permission in ROLE_PERMISSIONS[role]
