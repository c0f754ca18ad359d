"""The real DMP client against the DMP sandbox over mutual TLS: registration, checks, faults, reconciliation."""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Iterator

import httpx
import pytest

from app.interop.cda.xds import Code
from app.interop.xds import ebrim, vihf
from app.interop.xds.client import DmpClient, DmpConfig, RegistryError, TransientError
from app.interop.xds.signing import Signer
from app.sandbox.dmp import DmpSandbox
from app.sandbox.pki import Pki
from tests.interop.xds.test_ebrim_mtom import entry
from tests.interop.xds.test_vihf import CONTEXT

OPEN_DMP = "279035121518989"  # "vide" in the DMP test patients
CLOSED_DMP = "228111439061774"  # "fermé"


def patient(ins: str) -> str:
    return f"{ins}^^^&1.2.250.1.213.1.4.10&ISO^NH"


def cda(n: int) -> bytes:
    return f"<ClinicalDocument xmlns='urn:hl7-org:v3'><!-- n --><title>Doc {n}</title></ClinicalDocument>".encode()


def submission(n: int, ins: str = OPEN_DMP, replaces: str | None = None) -> ebrim.Submission:
    content = cda(n)
    doc_entry = dataclasses.replace(entry(content, f"1.2.250.1.999.1.{n}"), patient_id=patient(ins))
    return ebrim.Submission(
        unique_id=f"1.2.250.1.999.3.{n}",
        source_id="1.2.250.1.999",
        patient_id=patient(ins),
        submission_time="20261201101600",
        author=ebrim.Author(institution="EHPAD Test^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1010101010"),
        content_type=Code("SYNTH", "1.2.250.1.213.2.2", "Synthèse"),
        documents=(ebrim.SubmittedDocument(doc_entry, content, replaces=replaces),),
    )


@pytest.fixture
def sandbox(dmp_pki: Pki) -> Iterator[DmpSandbox]:
    with DmpSandbox(dmp_pki) as server:
        server.control.timeout_seconds = 2.0
        yield server


@pytest.fixture
async def client(sandbox: DmpSandbox, dmp_pki: Pki, signer: Signer) -> DmpClient:
    config = DmpConfig(
        repository_url=f"{sandbox.base_url}/DocumentRepository_Service",
        registry_url=f"{sandbox.base_url}/DocumentRegistry_Service",
        client_cert=dmp_pki.client_cert,
        client_key=dmp_pki.client_key,
        ca_bundle=dmp_pki.ca_cert,
        read_timeout=0.5,
        attempts=3,
        backoff_initial=0.01,
    )
    return DmpClient(config, signer)


@pytest.mark.parametrize("digest", ["sha1", "sha256"])
async def test_document_is_registered_and_found(
    client: DmpClient, sandbox: DmpSandbox, signer: Signer, digest: str
) -> None:
    client.config = dataclasses.replace(client.config, signature_digest=digest)  # type: ignore[arg-type]
    assertion = vihf.build(dataclasses.replace(CONTEXT, patient_id=patient(OPEN_DMP)), signer)
    await client.provide_and_register(submission(1), assertion)
    assert set(sandbox.control.registered) == {"1.2.250.1.999.1.1"}
    found = await client.find_by_unique_id(["1.2.250.1.999.1.1", "1.2.250.1.999.1.9"], assertion)
    assert [f.unique_id for f in found] == ["1.2.250.1.999.1.1"]
    await client.aclose()


async def test_replacement_deprecates_the_previous_version(
    client: DmpClient, sandbox: DmpSandbox, signer: Signer
) -> None:
    assertion = vihf.build(dataclasses.replace(CONTEXT, patient_id=patient(OPEN_DMP)), signer)
    await client.provide_and_register(submission(1), assertion)
    previous = sandbox.control.registered["1.2.250.1.999.1.1"].entry_uuid
    await client.provide_and_register(submission(2, replaces=previous), assertion)
    assert sandbox.control.registered["1.2.250.1.999.1.1"].status.endswith("Deprecated")
    with pytest.raises(RegistryError, match="RPLC target"):
        await client.provide_and_register(submission(3, replaces="urn:uuid:unknown"), assertion)
    await client.aclose()


async def test_registry_refusals_are_permanent(client: DmpClient, sandbox: DmpSandbox, signer: Signer) -> None:
    closed = vihf.build(dataclasses.replace(CONTEXT, patient_id=patient(CLOSED_DMP)), signer)
    with pytest.raises(RegistryError, match="XDSUnknownPatientId"):
        await client.provide_and_register(submission(1, ins=CLOSED_DMP), closed)
    other = vihf.build(dataclasses.replace(CONTEXT, patient_id=patient("133061764035249")), signer)
    with pytest.raises(RegistryError, match="XDSPatientIdDoesNotMatch"):
        await client.provide_and_register(submission(2), other)
    assertion = vihf.build(dataclasses.replace(CONTEXT, patient_id=patient(OPEN_DMP)), signer)
    await client.provide_and_register(submission(3), assertion)
    with pytest.raises(RegistryError, match="XDSDocumentUniqueIdError"):
        await client.provide_and_register(submission(3), assertion)
    assert set(sandbox.control.registered) == {"1.2.250.1.999.1.3"}
    await client.aclose()


async def test_an_attachment_that_is_not_the_described_document_is_refused(
    client: DmpClient, sandbox: DmpSandbox, signer: Signer
) -> None:
    # The MTOM part (signed as sent) differs from the document its metadata describes (hash, size).
    sent = submission(4)
    described = dataclasses.replace(sent.documents[0], content=cda(5))
    assertion = vihf.build(dataclasses.replace(CONTEXT, patient_id=patient(OPEN_DMP)), signer)
    with pytest.raises(RegistryError, match=r"hash of 1\.2\.250\.1\.999\.1\.4 does not match"):
        await client.provide_and_register(dataclasses.replace(sent, documents=(described,)), assertion)
    assert sandbox.control.registered == {}
    await client.aclose()


async def test_vihf_signed_with_the_tls_certificate_is_refused(client: DmpClient, dmp_pki: Pki) -> None:
    auth = Signer.from_files(dmp_pki.client_cert, dmp_pki.client_key)
    with pytest.raises(RegistryError, match="DMPInvalidCertificate"):
        await client.provide_and_register(
            submission(1), vihf.build(dataclasses.replace(CONTEXT, patient_id=patient(OPEN_DMP)), auth)
        )
    await client.aclose()


async def test_transient_failures_are_retried(client: DmpClient, sandbox: DmpSandbox, signer: Signer) -> None:
    assertion = vihf.build(dataclasses.replace(CONTEXT, patient_id=patient(OPEN_DMP)), signer)
    sandbox.control.inject("http-503", times=2)
    await client.provide_and_register(submission(1), assertion)
    assert "1.2.250.1.999.1.1" in sandbox.control.registered
    sandbox.control.inject("timeout")  # the request may have been processed: not resent by the client
    with pytest.raises(TransientError, match="Timeout"):
        await client.provide_and_register(submission(4), assertion)
    sandbox.control.inject("timeout")  # a query is idempotent: retried
    assert await client.find_by_unique_id(["1.2.250.1.999.1.1"], assertion)
    sandbox.control.inject("http-503", times=3)
    with pytest.raises(TransientError, match="503"):
        await client.provide_and_register(submission(2), assertion)
    await client.aclose()


async def test_lost_acknowledgement_is_reconciled_by_query(
    client: DmpClient, sandbox: DmpSandbox, signer: Signer
) -> None:
    assertion = vihf.build(dataclasses.replace(CONTEXT, patient_id=patient(OPEN_DMP)), signer)
    client.config = dataclasses.replace(client.config, attempts=1)
    sandbox.control.inject("drop-after-store")
    with pytest.raises(TransientError):
        await client.provide_and_register(submission(1), assertion)
    # The outcome is unknown to the client: the query tells it the document is there, so it is not sent again.
    assert [f.unique_id for f in await client.find_by_unique_id(["1.2.250.1.999.1.1"], assertion)] == [
        "1.2.250.1.999.1.1"
    ]
    assert sandbox.control.submissions == 1
    await client.aclose()


async def test_client_without_certificate_is_refused(client: DmpClient, sandbox: DmpSandbox) -> None:
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(client.config.ca_bundle))) as plain:
        with pytest.raises(httpx.HTTPError):
            await plain.post(f"{sandbox.base_url}/DocumentRepository_Service", content=b"x")
