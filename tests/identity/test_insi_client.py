"""The real INSi client against the sandbox, over HTTPS with client certificates."""

from __future__ import annotations

import ssl
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from app.domain.ins import InsiTraits
from app.interop.insi import messages
from app.interop.insi.client import InsiClient, InsiConfig, emetteur_from_certificate
from app.interop.insi.messages import Software
from app.sandbox.insi import InsiSandbox
from app.sandbox.pki import Pki, issue_client_certificate, make_pki

DOMINIQUE = InsiTraits("ADRTROIS", "DOMINIQUE", "F", date(1997, 2, 26))


def _config(pki: Pki, url: str, **changes: object) -> InsiConfig:
    values: dict[str, object] = {
        "endpoint": url,
        "client_cert": pki.client_cert,
        "client_key": pki.client_key,
        "ca_bundle": pki.ca_cert,
        "software": Software("TEST-IDAM", "dui", "0.1.0", "instance", emetteur_from_certificate(pki.client_cert)),
        "read_timeout": 0.5,
        "attempts": 3,
        "backoff_initial": 0.01,
        **changes,
    }
    return InsiConfig(**values)  # type: ignore[arg-type]


async def test_cr00_with_the_cnam_identity(sandbox: InsiSandbox, insi_pki: Pki) -> None:
    async with InsiClient(_config(insi_pki, sandbox.url)) as client:
        outcome = await client.search(DOMINIQUE)
    assert outcome.kind == "found" and outcome.code_cr == "00"
    assert outcome.identity is not None
    assert outcome.identity.ins.matricule == "297022A02077878"
    assert outcome.identity.lieu_naissance == "2A020"


async def test_history_and_nia(sandbox: InsiSandbox, insi_pki: Pki) -> None:
    async with InsiClient(_config(insi_pki, sandbox.url)) as client:
        ecetinsi = await client.search(InsiTraits("ECETINSI", "MURIEL", "M", date(2009, 7, 14)))
        nia = await client.search(InsiTraits("PROVISOIRE", "MATRICULE", "M", date(2009, 7, 1)))
    assert ecetinsi.identity is not None
    assert [h.matricule for h in ecetinsi.identity.history] == ["209076322083439", "209066322012355"]
    assert nia.identity is not None and nia.identity.ins.oid == "1.2.250.1.213.1.4.9"


async def test_cr01_and_cr02(sandbox: InsiSandbox, insi_pki: Pki) -> None:
    async with InsiClient(_config(insi_pki, sandbox.url)) as client:
        none = await client.search(InsiTraits("HOUILLES", "PIERRE", "M", date(1993, 1, 27)))
        sandbox.control.inject("cr02")
        several = await client.search(DOMINIQUE)
    assert (none.kind, none.code_cr) == ("not_found", "01")
    assert (several.kind, several.code_cr) == ("several", "02")


async def test_timeouts_are_retried_then_reported(sandbox: InsiSandbox, insi_pki: Pki) -> None:
    async with InsiClient(_config(insi_pki, sandbox.url)) as client:
        sandbox.control.inject("timeout")
        recovered = await client.search(DOMINIQUE)
        sandbox.control.inject("timeout", 3)
        failed = await client.search(DOMINIQUE)
    assert (recovered.kind, recovered.attempts) == ("found", 2)
    assert (failed.kind, failed.attempts) == ("unreachable", 3)
    assert failed.detail is not None and "timeout" in failed.detail


async def test_only_transient_faults_are_retried(sandbox: InsiSandbox, insi_pki: Pki) -> None:
    async with InsiClient(_config(insi_pki, sandbox.url)) as client:
        sandbox.control.inject("fault-technical")
        technical = await client.search(DOMINIQUE)
        sandbox.control.inject("fault-idam")
        idam = await client.search(DOMINIQUE)
        sandbox.control.inject("http-503")
        busy = await client.search(DOMINIQUE)
        sandbox.control.inject("malformed")
        malformed = await client.search(DOMINIQUE)
    assert (technical.kind, technical.attempts) == ("found", 2)
    assert (idam.kind, idam.attempts) == ("fault", 1)
    assert idam.fault is not None and (idam.fault.subcode, idam.fault.detail_code) == ("siram_100", "desir_550")
    assert (busy.kind, busy.attempts) == ("found", 2)
    assert (malformed.kind, malformed.attempts) == ("malformed", 1)


async def test_the_sandbox_requires_a_client_certificate(sandbox: InsiSandbox, insi_pki: Pki) -> None:
    async with InsiClient(_config(insi_pki, sandbox.url, client_cert=None, client_key=None, attempts=1)) as client:
        outcome = await client.search(DOMINIQUE)
    assert outcome.kind == "unreachable"


async def test_a_certificate_from_another_ca_is_refused(sandbox: InsiSandbox, insi_pki: Pki, tmp_path: Path) -> None:
    stranger = make_pki(tmp_path / "stranger")
    config = _config(insi_pki, sandbox.url, client_cert=stranger.client_cert, client_key=stranger.client_key)
    async with InsiClient(config) as client:
        outcome = await client.search(DOMINIQUE)
    assert outcome.kind == "unreachable"


async def test_the_sandbox_validates_requests_against_the_xsd(sandbox: InsiSandbox, insi_pki: Pki) -> None:
    context = ssl.create_default_context(cafile=str(insi_pki.ca_cert))
    context.load_cert_chain(str(insi_pki.client_cert), str(insi_pki.client_key))
    request = messages.build_search(DOMINIQUE, Software("I", "dui", "1", "i", "E"), now=datetime.now(UTC))
    broken = request.replace(b"<ctxbam:Temps>", b"<ctxbam:Temps>not-a-date")
    async with httpx.AsyncClient(verify=context) as http:
        good = await http.post(sandbox.url, content=request, headers={"Content-Type": messages.CONTENT_TYPE})
        bad = await http.post(sandbox.url, content=broken, headers={"Content-Type": messages.CONTENT_TYPE})
    assert good.status_code == 200
    assert bad.status_code == 500
    fault = messages.parse_response(bad.content)
    assert isinstance(fault, messages.Fault) and fault.code == "Sender"


@pytest.mark.parametrize("mode", ["day-00", "month-00", "empty-name", "empty-first-names", "empty-sex"])
async def test_degraded_answers_are_served(sandbox: InsiSandbox, insi_pki: Pki, mode: str) -> None:
    from app.domain.ins import refusals

    async with InsiClient(_config(insi_pki, sandbox.url)) as client:
        sandbox.control.inject(mode)
        outcome = await client.search(DOMINIQUE)
    assert outcome.kind == "found" and outcome.identity is not None
    assert refusals(outcome.identity)


async def test_an_unknown_software_authorisation_is_refused(sandbox: InsiSandbox, insi_pki: Pki) -> None:
    sandbox.control.expected_idam = "OTHER-IDAM"
    try:
        async with InsiClient(_config(insi_pki, sandbox.url)) as client:
            outcome = await client.search(DOMINIQUE)
    finally:
        sandbox.control.expected_idam = None
    assert outcome.kind == "fault" and outcome.fault is not None and outcome.fault.detail_code == "desir_550"


async def test_a_structure_certificate_without_the_insi_cn_is_refused(
    sandbox: InsiSandbox, insi_pki: Pki, tmp_path: Path
) -> None:
    cert, key = issue_client_certificate(insi_pki, tmp_path, cn="DUI-SERVEUR")
    async with InsiClient(_config(insi_pki, sandbox.url, client_cert=cert, client_key=key)) as client:
        refused = await client.search(DOMINIQUE)
    assert refused.kind == "fault" and refused.fault is not None
    assert (refused.fault.detail_code, refused.attempts) == ("desir_560", 1)
    manual, manual_key = issue_client_certificate(insi_pki, tmp_path, cn="INSI-MANU")
    async with InsiClient(_config(insi_pki, sandbox.url, client_cert=manual, client_key=manual_key)) as client:
        assert (await client.search(DOMINIQUE)).kind == "found"
