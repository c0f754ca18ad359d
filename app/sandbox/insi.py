"""INSi sandbox: HTTPS on loopback requiring a client certificate, the CNAM SOAP 1.2 messages validated
against their XSD, answers from the CNDA test identities, and misbehaviour on demand."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.domain.ins import InsiIdentity, InsNumber, insi_text
from app.interop.insi import messages
from app.sandbox.pki import Pki, make_pki
from app.sandbox.server import BackgroundServer

TEST_IDENTITIES = messages.DATA / "test-identities.json"
SOAP_TYPE = "application/soap+xml; charset=utf-8"

Mode = Literal[
    "timeout",
    "fault-technical",
    "fault-idam",
    "fault-rights",
    "http-503",
    "malformed",
    "cr02",
    "day-00",
    "month-00",
    "empty-name",
    "empty-first-names",
    "empty-sex",
]
MODES: tuple[str, ...] = Mode.__args__  # type: ignore[attr-defined]
# A request whose birth name is one of these triggers that mode (for the demo and manual tests); names
# hold letters only, so that staff can type them as a usager's birth name.
TRIGGERS = {
    "SANDBOX-" + {"http-503": "UNAVAILABLE", "cr02": "SEVERAL"}.get(mode, mode.upper().replace("00", "ZERO")): mode
    for mode in MODES
}


def load_identities(path: Path = TEST_IDENTITIES) -> list[InsiIdentity]:
    data = json.loads(path.read_text(encoding="utf-8"))

    def number(entry: dict[str, str]) -> InsNumber:
        return InsNumber(
            entry["num"],
            entry["cle"],
            entry["oid"],
            date.fromisoformat(entry["date_debut"]) if entry.get("date_debut") else None,
            date.fromisoformat(entry["date_fin"]) if entry.get("date_fin") else None,
        )

    return [
        InsiIdentity(
            ins=number(item["ins"]),
            history=tuple(number(h) for h in item["history"]),
            nom_naissance=item["nom_naissance"],
            prenoms=tuple(item["prenoms"]),
            sexe=item["sexe"],
            date_naissance=item["date_naissance"],
            lieu_naissance=item.get("lieu_naissance"),
        )
        for item in data["identities"]
    ]


@dataclass
class SandboxControl:
    """Fault injection: queued modes apply to the next requests, one each."""

    identities: list[InsiIdentity] = field(default_factory=load_identities)
    expected_idam: str | None = None
    timeout_seconds: float = 30.0
    queue: deque[str] = field(default_factory=deque)
    requests: int = 0
    stopping: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.index: dict[tuple[str, str, str], list[InsiIdentity]] = {}
        for identity in self.identities:
            key = (identity.nom_naissance, identity.sexe, identity.date_naissance)
            self.index.setdefault(key, []).append(identity)

    def inject(self, mode: str, times: int = 1) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode}; one of {', '.join(MODES)}")
        with self.lock:
            self.queue.extend([mode] * times)

    def clear(self) -> None:
        with self.lock:
            self.queue.clear()

    def next_mode(self, nom: str | None) -> str | None:
        with self.lock:
            self.requests += 1
            if self.queue:
                return self.queue.popleft()
        return TRIGGERS.get(insi_text(nom or ""))

    def matches(self, request: messages.SearchRequest) -> list[InsiIdentity]:
        nom = insi_text(request.nom_naissance or "")
        wanted = " ".join(insi_text(p) for p in request.prenoms)
        found = []
        for identity in self.index.get((nom, request.sexe or "", request.date_naissance or ""), []):
            if request.lieu_naissance and identity.lieu_naissance != request.lieu_naissance:
                continue
            if wanted not in identity.prenoms and wanted != " ".join(identity.prenoms):
                continue
            found.append(identity)
        return found


def _fault(kind: str, message_id: str | None) -> Response:
    faults = {
        "fault-technical": (
            "Receiver",
            "siram_40",
            "insi_102",
            "Le service est temporairement inaccessible. Veuillez renouveler votre demande ultérieurement.",
        ),
        "fault-idam": ("Sender", "siram_100", "desir_550", "Numéro d'autorisation du logiciel inconnu."),
        "fault-rights": ("Sender", "siram_100", "desir_560", "Vous ne disposez pas des droits suffisants."),
        "bad-request": ("Sender", "siram_10", "insi_001", "La requête ne respecte pas le schéma du service."),
    }
    code, subcode, detail, reason = faults[kind]
    body = messages.build_fault(code, subcode, detail, reason, message_id)  # type: ignore[arg-type]
    return Response(body, status_code=500, media_type=SOAP_TYPE)


def _degraded(identity: InsiIdentity, mode: str) -> InsiIdentity:
    year, month, day = identity.date_naissance.split("-")
    if mode == "day-00":
        return replace(identity, date_naissance=f"{year}-{month}-00")
    if mode == "month-00":
        return replace(identity, date_naissance=f"{year}-00-{day}")
    if mode == "empty-name":
        return replace(identity, nom_naissance="")
    if mode == "empty-first-names":
        return replace(identity, prenoms=())
    return replace(identity, sexe="")


# The CNAM requires the structure certificate's CN to be INSI-AUTO or INSI-MANU (fault desir_560 otherwise).
ALLOWED_CLIENT_CN = ("INSI-AUTO", "INSI-MANU")


class _ClientCertificateProtocol(HttpToolsProtocol):
    """uvicorn's protocol, adding the CN of the TLS client certificate to each request's scope."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        ssl_object = self.transport.get_extra_info("ssl_object")
        certificate = ssl_object.getpeercert() if ssl_object is not None else None
        names = [value for rdn in (certificate or {}).get("subject", ()) for key, value in rdn if key == "commonName"]
        self.scope["extensions"] = {"dui.client_cn": {"cn": names[0] if names else None}}


def _client_cn(request: Request) -> str | None:
    extension = request.scope.get("extensions", {}).get("dui.client_cn", {})
    return extension.get("cn") if isinstance(extension, dict) else None


def build_app(control: SandboxControl) -> Starlette:
    async def lps(request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("application/soap+xml"):
            return Response("SOAP 1.2 expected (application/soap+xml)", status_code=415)
        if _client_cn(request) not in ALLOWED_CLIENT_CN:
            return _fault("fault-rights", None)
        try:
            search = messages.read_search(await request.body())
        except messages.MessageError:
            return _fault("bad-request", None)
        mode = control.next_mode(search.nom_naissance)
        if mode == "timeout":
            # Sleeps in short steps so that stopping the sandbox does not wait for the whole delay.
            deadline = time.monotonic() + control.timeout_seconds
            while time.monotonic() < deadline and not control.stopping:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        if mode in ("fault-technical", "fault-idam", "fault-rights"):
            return _fault(mode, search.message_id)
        if mode == "http-503":
            return Response("Service Unavailable", status_code=503)
        if mode == "malformed":
            return Response(b"<soap:Envelope", status_code=200, media_type=SOAP_TYPE)
        if control.expected_idam is not None and search.idam != control.expected_idam:
            return _fault("fault-idam", search.message_id)
        found = control.matches(search)
        if mode == "cr02" or len(found) > 1:
            return Response(messages.build_result("02", "Plusieurs identites trouvees", None), media_type=SOAP_TYPE)
        if mode in ("day-00", "month-00", "empty-name", "empty-first-names", "empty-sex"):
            base = found[0] if found else control.identities[0]
            return Response(messages.build_result("00", "OK", _degraded(base, mode)), media_type=SOAP_TYPE)
        if not found:
            return Response(messages.build_result("01", "Aucune identite trouvee", None), media_type=SOAP_TYPE)
        return Response(messages.build_result("00", "OK", found[0]), media_type=SOAP_TYPE)

    return Starlette(routes=[Route("/lps", lps, methods=["POST"])])


class InsiSandbox:
    """The sandbox server in a background thread, on an ephemeral loopback port unless told otherwise."""

    def __init__(self, pki: Pki, *, control: SandboxControl | None = None, host: str = "127.0.0.1", port: int = 0):
        self.pki = pki
        self.control = control or SandboxControl()
        self._server = BackgroundServer(
            build_app(self.control), host, port, name="INSi sandbox", mutual_tls=pki, http=_ClientCertificateProtocol
        )
        self.host, self.port = self._server.host, self._server.port

    @property
    def url(self) -> str:
        return f"{self._server.url}/lps"

    def start(self) -> InsiSandbox:
        self._server.start()
        return self

    def stop(self) -> None:
        self.control.stopping = True
        self._server.stop()


def main() -> None:
    """Run the sandbox alone (benchmarks): prints its URL, serves until interrupted."""
    parser = argparse.ArgumentParser(description="INSi sandbox on loopback (mutual TLS)")
    parser.add_argument("--pki", type=Path, required=True, help="folder of the throwaway CA and certificates")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--identities", type=Path, help="more identities, in the format of test-identities.json")
    arguments = parser.parse_args()
    pki = make_pki(arguments.pki)
    identities = load_identities()
    if arguments.identities:
        identities += load_identities(arguments.identities)
    sandbox = InsiSandbox(pki, control=SandboxControl(identities=identities), port=arguments.port).start()
    print(sandbox.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sandbox.stop()


if __name__ == "__main__":
    main()
