"""The INSi client: SOAP 1.2 over mutual TLS with the structure's certificate; typed outcomes."""

from __future__ import annotations

import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import aiohttp
from cryptography import x509
from cryptography.x509.oid import NameOID
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from app.domain.ins import InsiIdentity, InsiTraits
from app.interop.insi import messages
from app.interop.insi.messages import Fault, MessageError, Software

OutcomeKind = Literal["found", "not_found", "several", "fault", "unreachable", "malformed"]


@dataclass(frozen=True)
class InsiConfig:
    """Where and how to call INSi (from the settings; the same client targets the CNAM test platform)."""

    endpoint: str
    client_cert: Path | None
    client_key: Path | None
    ca_bundle: Path | None
    software: Software
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    attempts: int = 3
    backoff_initial: float = 0.2
    backoff_max: float = 2.0


@dataclass(frozen=True)
class Outcome:
    """One call: what was sent, what came back, as a typed kind (CR 00/01/02, fault, unreachable, malformed)."""

    kind: OutcomeKind
    traits: InsiTraits
    message_id: str
    called_at: datetime
    duration_ms: int
    code_cr: str | None = None
    identity: InsiIdentity | None = None
    fault: Fault | None = None
    detail: str | None = None
    attempts: int = 1


class _Transient(Exception):
    """A failure worth another try: network error, timeout, 502/503/504, or a transient SOAP fault."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


def emetteur_from_certificate(path: Path) -> str:
    """Emetteur of the contexts = OU of the structure certificate (mTLS mode)."""
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    units = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return str(units[0].value) if units else ""


def ssl_context(config: InsiConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(config.ca_bundle) if config.ca_bundle else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.client_cert is not None:
        context.load_cert_chain(str(config.client_cert), str(config.client_key) if config.client_key else None)
    return context


class InsiClient:
    """rechercherInsAvecTraitsIdentite. Retries only transient failures; every attempt ends in an Outcome.

    The transport is aiohttp: per call it costs a sixth of the CPU of httpx, which matters for the batch
    re-verification. Create the client inside a running event loop."""

    def __init__(self, config: InsiConfig, *, max_connections: int = 20) -> None:
        self.config = config
        self._ssl = ssl_context(config)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=self._max_connections),
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=self.config.connect_timeout, sock_read=self.config.read_timeout
                ),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> InsiClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def search(self, traits: InsiTraits) -> Outcome:
        """One search by traits (one first name or the list), with retries of transient failures."""
        message_id = f"uuid:{uuid.uuid4()}"
        called_at = datetime.now(UTC)
        started = time.perf_counter()
        attempts = 0
        last: Outcome | None = None
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(max(1, self.config.attempts)),
                wait=wait_exponential(multiplier=self.config.backoff_initial, max=self.config.backoff_max),
                retry=retry_if_exception_type(_Transient),
                reraise=True,
            ):
                with attempt:
                    attempts += 1
                    last = await self._once(traits, message_id, called_at, started)
                    if last.kind in ("unreachable",) or (last.fault is not None and last.fault.transient):
                        raise _Transient(last)
        except _Transient as failure:
            last = failure.outcome
        assert last is not None
        return _with(last, attempts=attempts, duration_ms=_ms(started))

    async def _once(self, traits: InsiTraits, message_id: str, called_at: datetime, started: float) -> Outcome:
        body = messages.build_search(traits, self.config.software, now=datetime.now(UTC), message_id=message_id)

        def outcome(kind: OutcomeKind, **extra: object) -> Outcome:
            return Outcome(kind, traits, message_id, called_at, _ms(started), **extra)  # type: ignore[arg-type]

        try:
            async with self._http().post(
                self.config.endpoint, data=body, headers={"Content-Type": messages.CONTENT_TYPE}
            ) as response:
                status = response.status
                content = await response.read()
        except TimeoutError as error:
            return outcome("unreachable", detail=f"timeout: {type(error).__name__}")
        except aiohttp.ClientError as error:
            return outcome("unreachable", detail=f"{type(error).__name__}: {error}")
        if status in (502, 503, 504):
            return outcome("unreachable", detail=f"HTTP {status}")
        try:
            parsed = messages.parse_response(content)
        except MessageError as error:
            return outcome("malformed", detail=f"HTTP {status}: {error.reason}")
        if isinstance(parsed, Fault):
            return outcome("fault", fault=parsed, detail=parsed.reason)
        if status != 200:
            return outcome("malformed", detail=f"HTTP {status} with a RESULTAT")
        kinds: dict[str, OutcomeKind] = {"00": "found", "01": "not_found", "02": "several"}
        kind = kinds.get(parsed.code_cr)
        if kind is None:
            return outcome("malformed", code_cr=parsed.code_cr, detail=f"unknown CR {parsed.code_cr}")
        return outcome(kind, code_cr=parsed.code_cr, identity=parsed.identity, detail=parsed.libelle)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _with(outcome: Outcome, *, attempts: int, duration_ms: int) -> Outcome:
    return Outcome(
        outcome.kind,
        outcome.traits,
        outcome.message_id,
        outcome.called_at,
        duration_ms,
        outcome.code_cr,
        outcome.identity,
        outcome.fault,
        outcome.detail,
        attempts,
    )
