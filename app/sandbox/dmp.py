"""DMP sandbox: ITI-41 (MTOM) and ITI-18 on loopback over mutual TLS, checking what the DMP checks
(XDS.b schema, VIHF signature, submission-set signature, hashes, INS of the DMP test patients), with faults."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.interop.xds import dsg, ebrim, soap, vihf
from app.sandbox.dmp_update import CLASSIFIED_AS, ITI57_RESPONSE, confidentiality_codes, describe_version, plan_update
from app.sandbox.pki import Pki
from app.sandbox.server import BackgroundServer

SOAP_TYPE = "application/soap+xml; charset=UTF-8"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
SIGNATURE_FORMAT = "http://www.w3.org/2000/09/xmldsig#"
# The attachments of ITI-41 stay binary in the envelope: the checks read their bytes (soap.parse_included).
DOCUMENT_TAGS = frozenset({f"{{{ebrim.XDSB}}}Document"})
FAULT_MODES = ("timeout", "http-503", "registry-error", "drop-after-store", "slow-after-store")
# What a request meets when it fails at random: a 5xx, a timeout (the submission is stored meanwhile), a
# transient registry error, and a dropped connection after the submission was stored.
RANDOM_FAULTS = ("http-503", "timeout", "registry-error", "drop-after-store")


def test_patients() -> dict[str, str]:
    """INS (NIR, 15 digits) -> DMP status of the DMP test patients."""
    text = (resources.files("app") / "data" / "dmp" / "patients-dmp-jeu-essai.json").read_text(encoding="utf-8")
    return {str(p["matriculeInsNir"]): str(p["statutDmp"]) for p in json.loads(text) if p.get("matriculeInsNir")}


@dataclass
class Registered:
    unique_id: str
    entry_uuid: str
    patient_id: str
    content: bytes
    status: str = ebrim.APPROVED
    submission_uid: str = ""
    logical_id: str = ""
    version: int = 1
    confidentiality: tuple[str, ...] = ()
    previous_uuids: list[str] = field(default_factory=list)  # entryUUIDs of the versions ITI-57 superseded

    def __post_init__(self) -> None:
        self.logical_id = self.logical_id or self.entry_uuid


@dataclass
class DmpControl:
    """What the sandbox holds and the faults to inject on the next requests (FIFO)."""

    ca_file: Path
    patients: dict[str, str] = field(default_factory=test_patients)
    faults: list[str] = field(default_factory=list)
    registered: dict[str, Registered] = field(default_factory=dict)
    submissions: int = 0
    timeout_seconds: float = 5.0
    stopping: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    failure_rate: float = 0.0
    any_patient: bool = False  # the demo: every INS has an open DMP, not only the DMP test patients
    rng: random.Random = field(default_factory=random.Random)
    injected: dict[str, int] = field(default_factory=dict)
    # The registry's indexes beside ``registered`` (by uniqueId): each lookup stays constant as it fills.
    by_entry_uuid: dict[str, Registered] = field(default_factory=dict)
    superseded: set[str] = field(default_factory=set)  # entryUUIDs of versions ITI-57 replaced
    assertions: vihf.AcceptedAssertions = field(default_factory=vihf.AcceptedAssertions)

    def register(self, entry: Registered) -> None:
        """Hold a new document (under the lock)."""
        self.registered[entry.unique_id] = entry
        self.by_entry_uuid[entry.entry_uuid] = entry

    def new_version(self, entry: Registered, entry_uuid: str, confidentiality: tuple[str, ...]) -> None:
        """ITI-57: the document's metadata under a new entryUUID, the old one superseded (under the lock)."""
        self.by_entry_uuid.pop(entry.entry_uuid, None)
        self.superseded.add(entry.entry_uuid)
        entry.previous_uuids.append(entry.entry_uuid)
        entry.entry_uuid = entry_uuid
        entry.version += 1
        entry.confidentiality = confidentiality
        self.by_entry_uuid[entry_uuid] = entry

    def fail_at_random(self, rate: float, seed: int | None = None) -> None:
        """From now on, each request without a queued fault fails with probability ``rate`` (RANDOM_FAULTS)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("the failure rate is between 0 and 1")
        with self.lock:
            self.failure_rate = rate
            self.rng = random.Random(seed)

    def inject(self, mode: str, times: int = 1) -> None:
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault {mode}")
        with self.lock:
            self.faults.extend([mode] * times)

    def next_fault(self) -> str | None:
        with self.lock:
            fault = self.faults.pop(0) if self.faults else None
            if fault is None and self.failure_rate and self.rng.random() < self.failure_rate:
                fault = self.rng.choice(RANDOM_FAULTS)
            if fault is not None:
                self.injected[fault] = self.injected.get(fault, 0) + 1
            return fault


def _registry_response(
    errors: list[tuple[str, str]], action: str = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
) -> Response:
    response = etree.Element(
        f"{{{ebrim.RS}}}RegistryResponse", status=FAILURE if errors else SUCCESS, nsmap={"rs": ebrim.RS}
    )
    if errors:
        error_list = etree.SubElement(response, f"{{{ebrim.RS}}}RegistryErrorList")
        for code, text in errors:
            etree.SubElement(
                error_list,
                f"{{{ebrim.RS}}}RegistryError",
                errorCode=code,
                codeContext=text,
                severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error",
            )
    return _soap(response, action)


def _soap(payload: etree._Element, action: str) -> Response:
    env = soap.envelope(payload, action=action, to=soap.ANONYMOUS)
    return Response(etree.tostring(env, xml_declaration=True, encoding="UTF-8"), media_type=SOAP_TYPE)


def _fault(subcode: str, text: str) -> Response:
    env = etree.Element(f"{{{soap.SOAP}}}Envelope", nsmap={"soap": soap.SOAP})
    fault = etree.SubElement(etree.SubElement(env, f"{{{soap.SOAP}}}Body"), f"{{{soap.SOAP}}}Fault")
    code = etree.SubElement(fault, f"{{{soap.SOAP}}}Code")
    etree.SubElement(code, f"{{{soap.SOAP}}}Value").text = "soap:Sender"
    etree.SubElement(etree.SubElement(code, f"{{{soap.SOAP}}}Subcode"), f"{{{soap.SOAP}}}Value").text = subcode
    etree.SubElement(etree.SubElement(fault, f"{{{soap.SOAP}}}Reason"), f"{{{soap.SOAP}}}Text").text = text
    return Response(etree.tostring(env, xml_declaration=True), status_code=500, media_type=SOAP_TYPE)


def _value(eo: etree._Element, scheme: str) -> str:
    found = eo.find(f"{{{ebrim.RIM}}}ExternalIdentifier[@identificationScheme='{scheme}']")
    return str(found.get("value", "")) if found is not None else ""


def _slot(eo: etree._Element, name: str) -> str:
    return str(eo.findtext(f"{{{ebrim.RIM}}}Slot[@name='{name}']/{{{ebrim.RIM}}}ValueList/{{{ebrim.RIM}}}Value") or "")


def _assertion(env: etree._Element) -> etree._Element | None:
    return env.find(f"{{{soap.SOAP}}}Header/{{{soap.WSSE}}}Security/{{{vihf.SAML}}}Assertion")


def build_app(control: DmpControl) -> Starlette:
    async def wait_timeout() -> None:
        deadline = time.monotonic() + control.timeout_seconds
        while time.monotonic() < deadline and not control.stopping:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    async def repository(request: Request) -> Response:
        fault = control.next_fault()
        if fault == "timeout":
            await wait_timeout()
        if fault == "http-503":
            return Response("Service Unavailable", status_code=503)
        if fault == "registry-error":
            return _registry_response([("XDSRegistryBusy", "injected registry error")])
        try:
            env, _, included = soap.parse_included(
                request.headers.get("content-type", ""), await request.body(), binary=DOCUMENT_TAGS
            )
            payload = soap.body_child(env)
        except soap.MtomError as exc:
            return _fault("soap:DMPBadRequest", str(exc))
        if soap.header_value(env, "Action") != soap.ITI41_ACTION:
            return _fault("wsa:ActionNotSupported", "ITI-41 expected")
        assertion = _assertion(env)
        if assertion is None:
            return _fault("soap:DMPVIHFMissing", "no VIHF assertion in wsse:Security")
        try:
            token = control.assertions.verify(assertion, ca_file=control.ca_file)
        except vihf.VihfError as exc:
            return _fault("soap:DMPInvalidCertificate", str(exc))
        errors = ebrim.schema_errors(payload)
        if errors:
            return _registry_response([("XDSRegistryMetadataError", e) for e in errors[:5]])
        documents = {
            d.get("id", ""): included[d] if d in included else base64.b64decode(d.text or "")
            for d in payload.iter(f"{{{ebrim.XDSB}}}Document")
        }
        entries = list(payload.iter(f"{{{ebrim.RIM}}}ExtrinsicObject"))
        problems: list[tuple[str, str]] = []
        contents: dict[str, bytes] = {}
        signature: bytes | None = None
        package = payload.find(f".//{{{ebrim.RIM}}}RegistryPackage")
        submission_uid = _value(package, ebrim.SS_UNIQUE_ID) if package is not None else ""
        for eo in entries:
            entry_uuid, uid, patient = eo.get("id", ""), _value(eo, ebrim.DE_UNIQUE_ID), _value(eo, ebrim.DE_PATIENT_ID)
            content = documents.get(entry_uuid)
            if content is None:
                problems.append(("XDSMissingDocument", f"no document for {entry_uuid}"))
                continue
            if _slot(eo, "hash").lower() != hashlib.sha1(content).hexdigest():
                problems.append(("XDSRepositoryMetadataError", f"hash of {uid} does not match"))
            if patient != token.attributes["urn:oasis:names:tc:xacml:2.0:resource:resource-id"]:
                problems.append(("XDSPatientIdDoesNotMatch", f"patientId of {uid} differs from the VIHF resource"))
            status = control.patients.get(patient.split("^")[0], "OK" if control.any_patient else None)
            if status not in ("OK", "vide"):
                problems.append(("XDSUnknownPatientId", f"no open DMP for {patient.split('^')[0]}"))
            if uid in control.registered:
                problems.append(("XDSDocumentUniqueIdError", f"{uid} is already registered"))
            format_code = CLASSIFIED_AS(eo, s=ebrim.DE_FORMAT)
            if format_code == [SIGNATURE_FORMAT]:
                signature = content
            else:
                contents[uid] = content
        if signature is None:
            problems.append(("XDSRegistryMetadataError", "no submission-set signature document"))
        else:
            try:
                signed = dsg.verify(signature, contents, ca_file=control.ca_file)
                if signed.submission_uid != submission_uid:
                    problems.append(("XDSRegistryMetadataError", "signature of another submission set"))
            except dsg.SignatureError as exc:
                problems.append(("XDSRegistryMetadataError", str(exc)))
        replaced = payload.xpath("//rim:Association[@associationType=$t]", namespaces=ebrim.NSMAP, t=ebrim.RPLC)
        for association in replaced:
            if association.get("targetObject") not in control.by_entry_uuid:
                problems.append(("XDSRegistryError", f"RPLC target {association.get('targetObject')} is unknown"))
        if problems:
            return _registry_response(problems)
        with control.lock:
            for association in replaced:
                control.by_entry_uuid[
                    association.get("targetObject", "")
                ].status = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
            for eo in entries:
                uid = _value(eo, ebrim.DE_UNIQUE_ID)
                if uid in contents:
                    control.register(
                        Registered(
                            uid,
                            eo.get("id", ""),
                            _value(eo, ebrim.DE_PATIENT_ID),
                            contents[uid],
                            submission_uid=submission_uid,
                            confidentiality=confidentiality_codes(eo),
                        )
                    )
            control.submissions += 1
        if fault == "drop-after-store":
            return Response(b"", status_code=502)  # the submission is stored but the client never sees the answer
        if fault == "slow-after-store":
            await wait_timeout()
        return _registry_response([])

    async def registry(request: Request) -> Response:
        fault = control.next_fault()
        if fault == "timeout":
            await wait_timeout()
        if fault == "http-503":
            return Response("Service Unavailable", status_code=503)
        try:
            env, _ = soap.parse(request.headers.get("content-type", ""), await request.body())
            query = soap.body_child(env)
        except soap.MtomError as exc:
            return _fault("soap:DMPBadRequest", str(exc))
        assertion = _assertion(env)
        if assertion is None:
            return _fault("soap:DMPVIHFMissing", "no VIHF assertion in wsse:Security")
        try:
            token = control.assertions.verify(assertion, ca_file=control.ca_file)
        except vihf.VihfError as exc:
            return _fault("soap:DMPInvalidCertificate", str(exc))
        if soap.header_value(env, "Action") == soap.ITI57_ACTION:
            return await update(fault, query, token)
        wanted = query.findtext(
            f".//{{{ebrim.RIM}}}Slot[@name='$XDSDocumentEntryUniqueId']/{{{ebrim.RIM}}}ValueList/{{{ebrim.RIM}}}Value"
        )
        uids = [u.strip(" '") for u in (wanted or "").strip("()").split(",") if u.strip(" '")]
        response = etree.Element(
            f"{{{ebrim.QUERY}}}AdhocQueryResponse", status=SUCCESS, nsmap={"query": ebrim.QUERY, "rim": ebrim.RIM}
        )
        objects = etree.SubElement(response, f"{{{ebrim.RIM}}}RegistryObjectList")
        for uid in uids:
            found = control.registered.get(uid)
            if found is None:
                continue
            eo = etree.SubElement(
                objects,
                f"{{{ebrim.RIM}}}ExtrinsicObject",
                id=found.entry_uuid,
                status=found.status,
                mimeType="text/xml",
                objectType=ebrim.DOCUMENT_ENTRY_TYPE,
                lid=found.logical_id,
            )
            describe_version(eo, found)
            etree.SubElement(
                eo,
                f"{{{ebrim.RIM}}}ExternalIdentifier",
                id=f"{found.entry_uuid}-uid",
                registryObject=found.entry_uuid,
                identificationScheme=ebrim.DE_UNIQUE_ID,
                value=uid,
            )
        return _soap(response, "urn:ihe:iti:2007:RegistryStoredQueryResponse")

    async def update(fault: str | None, payload: etree._Element, token: vihf.VerifiedVihf) -> Response:
        """ITI-57: the same faults as ITI-41, then the registry's checks and the update of what it holds."""
        if fault == "registry-error":
            return _registry_response([("XDSRegistryBusy", "injected registry error")], ITI57_RESPONSE)
        patient = token.attributes["urn:oasis:names:tc:xacml:2.0:resource:resource-id"]
        problems, apply = plan_update(control, payload, patient)
        if problems:
            return _registry_response(problems, ITI57_RESPONSE)
        with control.lock:
            apply()
        if fault == "drop-after-store":
            return Response(b"", status_code=502)
        if fault == "slow-after-store":
            await wait_timeout()
        return _registry_response([], ITI57_RESPONSE)

    return Starlette(
        routes=[
            Route("/DocumentRepository_Service", repository, methods=["POST"]),
            Route("/DocumentRegistry_Service", registry, methods=["POST"]),
        ]
    )


class DmpSandbox:
    """The sandbox in a background thread on an ephemeral loopback port, requiring a client certificate."""

    def __init__(self, pki: Pki, *, control: DmpControl | None = None, host: str = "127.0.0.1", port: int = 0):
        self.control = control or DmpControl(ca_file=pki.ca_cert)
        self._server = BackgroundServer(build_app(self.control), host, port, name="DMP sandbox", mutual_tls=pki)
        self.host, self.port = self._server.host, self._server.port

    @property
    def base_url(self) -> str:
        return self._server.url

    def start(self) -> DmpSandbox:
        self._server.start()
        return self

    def stop(self) -> None:
        self.control.stopping = True
        self._server.stop()

    def __enter__(self) -> DmpSandbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
