"""DMP XDS.b client: ITI-41 (MTOM), ITI-18 and ITI-57 over SOAP 1.2 with mutual TLS; retries transient failures."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
from lxml import etree

from app.interop.xds import dsg, ebrim, soap
from app.interop.xds.signing import Signer

OID_ROOT_OF_SIGNATURES = "2.25"


class DmpError(Exception):
    """Base of the DMP client errors."""


class TransientError(DmpError):
    """Timeout, connection failure or 5xx: the same request may be sent again."""


class TransientRegistryError(TransientError):
    """The registry or repository answered that it is busy or out of resources: nothing was stored."""


# IHE ITI TF-3 4.2.4.1: the codes that say "try again later" rather than "this submission is wrong".
TRANSIENT_REGISTRY_CODES = frozenset(
    {"XDSRegistryBusy", "XDSRepositoryBusy", "XDSRegistryOutOfResources", "XDSRepositoryOutOfResources"}
)


@dataclass
class RegistryError(DmpError):
    """The registry refused the submission (permanent): its RegistryError codes and texts."""

    errors: list[tuple[str, str]]

    def __str__(self) -> str:
        return "; ".join(f"{code}: {text}" for code, text in self.errors)


@dataclass(frozen=True)
class DmpConfig:
    repository_url: str
    registry_url: str
    client_cert: Path
    client_key: Path
    ca_bundle: Path | None
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    attempts: int = 3
    backoff_initial: float = 0.2
    signature_digest: dsg.Digest = "sha256"


@dataclass(frozen=True)
class RegisteredEntry:
    unique_id: str
    entry_uuid: str
    status: str
    logical_id: str = ""
    version: int = 1
    confidentiality: tuple[str, ...] = ()


@dataclass
class DmpClient:
    """The transport is aiohttp (as the INSi client): per call it costs a sixth of the CPU of httpx, which
    matters when the worker delivers thousands of documents. Its session is made in the running event loop."""

    config: DmpConfig
    signer: Signer
    _session: aiohttp.ClientSession | None = field(default=None, init=False)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            context = ssl.create_default_context(cafile=str(self.config.ca_bundle) if self.config.ca_bundle else None)
            context.load_cert_chain(str(self.config.client_cert), str(self.config.client_key))
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context),
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=self.config.connect_timeout, sock_read=self.config.read_timeout
                ),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, url: str, content_type: str, body: bytes, *, idempotent: bool) -> tuple[str, bytes]:
        """POST with retries; a non-idempotent request (ITI-41) is retried only when the server surely did not
        process it (no connection, HTTP 503): otherwise the caller reconciles with ITI-18 first."""
        delay = self.config.backoff_initial
        for attempt in range(1, self.config.attempts + 1):
            try:
                async with self._http().post(url, data=body, headers={"Content-Type": content_type}) as response:
                    status, answer_type = response.status, response.headers.get("Content-Type", "")
                    answer = await response.read()
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                failure: Exception = TransientError(f"{type(exc).__name__}: {exc}")
            except (TimeoutError, aiohttp.ClientError) as exc:
                # Sent, but the answer was lost or late: the server may have processed it.
                failure = TransientError(f"{type(exc).__name__}: {exc}")
                if not idempotent:
                    raise failure from exc
            else:
                if status < 500 or answer_type.startswith(("application/soap+xml", "multipart/related")):
                    return answer_type, answer
                failure = TransientError(f"HTTP {status}")
                if not idempotent and status != 503:
                    raise failure
            if attempt == self.config.attempts:
                raise failure
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def build_iti41(
        self, submission: ebrim.Submission, assertion: etree._Element, *, signature_uid: str | None = None
    ) -> soap.Package:
        """The MTOM package: the documents, a submission-set signature document and the signs association."""
        contents = {doc.entry.unique_id: doc.content for doc in submission.documents}
        signature = dsg.sign(submission.unique_id, contents, self.signer, digest=self.config.signature_digest)
        entry = dsg.signature_entry(
            signature,
            unique_id=signature_uid or f"{OID_ROOT_OF_SIGNATURES}.{uuid.uuid4().int}",
            patient_id=submission.patient_id,
            creation_time=submission.submission_time,
        )
        signed_doc = ebrim.SubmittedDocument(entry, signature, event_codes=(dsg.SIGNATURE_EVENT,))
        full = replace(submission, documents=(*submission.documents, signed_doc), signature_of=signed_doc.entry_uuid)
        request = ebrim.provide_and_register(full)
        env = soap.envelope(request, action=soap.ITI41_ACTION, to=self.config.repository_url, assertion=assertion)
        attachments = {ebrim.content_id(i): doc.content for i, doc in enumerate(full.documents)}
        return soap.mtom(env, attachments, action=soap.ITI41_ACTION)

    async def provide_and_register(self, submission: ebrim.Submission, assertion: etree._Element) -> None:
        """ITI-41; raises RegistryError when refused, TransientError when the outcome is unknown."""
        package = self.build_iti41(submission, assertion)
        content_type, body = await self._post(
            self.config.repository_url, package.content_type, package.body, idempotent=False
        )
        check_response(content_type, body)

    async def find_by_unique_id(self, unique_ids: list[str], assertion: etree._Element) -> list[RegisteredEntry]:
        """ITI-18 GetDocuments: what the registry holds for these uniqueIds."""
        env = soap.envelope(
            ebrim.stored_query_by_unique_id(unique_ids),
            action=soap.ITI18_ACTION,
            to=self.config.registry_url,
            assertion=assertion,
        )
        body = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
        content_type, answer = await self._post(
            self.config.registry_url,
            f'application/soap+xml; charset=UTF-8; action="{soap.ITI18_ACTION}"',
            body,
            idempotent=True,
        )
        payload = check_response(content_type, answer)
        found = []
        for eo in payload.iter(f"{{{ebrim.RIM}}}ExtrinsicObject"):
            uid = eo.xpath(
                "rim:ExternalIdentifier[@identificationScheme=$s]/@value", namespaces=ebrim.NSMAP, s=ebrim.DE_UNIQUE_ID
            )
            found.append(_registered(eo, str(uid[0]) if uid else ""))
        return found

    async def update_document_set(self, request: etree._Element, assertion: etree._Element) -> None:
        """ITI-57 Update Document Set on the registry; RegistryError when refused, TransientError when unknown.
        Not idempotent (a repeated status change is refused): retried only when surely not processed."""
        env = soap.envelope(request, action=soap.ITI57_ACTION, to=self.config.registry_url, assertion=assertion)
        body = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
        content_type, answer = await self._post(
            self.config.registry_url,
            f'application/soap+xml; charset=UTF-8; action="{soap.ITI57_ACTION}"',
            body,
            idempotent=False,
        )
        check_response(content_type, answer)


def _registered(eo: etree._Element, unique_id: str) -> RegisteredEntry:
    """An ExtrinsicObject of an ITI-18 answer: ids, status, version and confidentiality codes."""
    codes = eo.xpath(
        "rim:Classification[@classificationScheme=$s]/@nodeRepresentation",
        namespaces=ebrim.NSMAP,
        s=ebrim.DE_CONFIDENTIALITY,
    )
    version = eo.find(f"{{{ebrim.RIM}}}VersionInfo")
    name = version.get("versionName", "1") if version is not None else "1"
    return RegisteredEntry(
        unique_id,
        eo.get("id", ""),
        eo.get("status", ""),
        logical_id=eo.get("lid") or eo.get("id", ""),
        version=int(name) if name.isdigit() else 1,
        confidentiality=tuple(str(c) for c in codes),
    )


def check_response(content_type: str, body: bytes) -> etree._Element:
    """The payload of a success answer; RegistryError for a Failure or a SOAP fault."""
    try:
        env, _ = soap.parse(content_type, body)
        payload = soap.body_child(env)
    except soap.MtomError as exc:
        raise TransientError(f"unreadable answer: {exc}") from exc
    if payload.tag == f"{{{soap.SOAP}}}Fault":
        code = " ".join(t.strip() for t in payload.itertext() if t.strip())
        raise RegistryError([("SOAPFault", code)])
    status = payload.get("status", "")
    if not status.endswith(":Success"):
        errors = [
            (e.get("errorCode", ""), e.get("codeContext", "")) for e in payload.iter(f"{{{ebrim.RS}}}RegistryError")
        ]
        if errors and all(code in TRANSIENT_REGISTRY_CODES for code, _ in errors):
            raise TransientRegistryError("; ".join(f"{code}: {text}" for code, text in errors))
        raise RegistryError(errors or [("XDSRegistryError", status)])
    return payload
