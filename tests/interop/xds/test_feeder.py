"""The DMP worker end to end: outbox -> real client -> sandbox over mTLS, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.domain.dmp import DmpStatus
from app.interop.cda.validation import CdaValidator
from app.interop.xds.client import DmpClient, DmpConfig
from app.interop.xds.signing import Signer
from app.sandbox.dmp import DmpSandbox
from app.sandbox.pki import Pki
from app.services.dmp import DmpFeeder, FeedPolicy
from app.store.db import Database
from app.store.dmp import DmpRepository
from tests.api import test_documents
from tests.api.test_documents import _generate
from tests.interop.xds.test_vihf import CONTEXT

pytestmark = pytest.mark.usefixtures("backend")
edge = test_documents.edge
E1_INS = "238057511212345"  # the qualified usager E-1 of the document tests


@pytest.fixture
def sandbox(dmp_pki: Pki) -> Iterator[DmpSandbox]:
    with DmpSandbox(dmp_pki) as server:
        server.control.patients[E1_INS] = "OK"
        server.control.timeout_seconds = 3.0
        yield server


def feeder(
    database: Database, sandbox: DmpSandbox, pki: Pki, signer: Signer, validator: CdaValidator, **kwargs: object
) -> DmpFeeder:
    config = DmpConfig(
        repository_url=f"{sandbox.base_url}/DocumentRepository_Service",
        registry_url=f"{sandbox.base_url}/DocumentRegistry_Service",
        client_cert=pki.client_cert,
        client_key=pki.client_key,
        ca_bundle=pki.ca_cert,
        read_timeout=1.0,
        backoff_initial=0.01,
    )
    return DmpFeeder(
        database,
        DmpClient(config, signer),
        validator,
        software="dui-test",
        vihf_context=CONTEXT,
        policy=FeedPolicy(backoff_initial=0.0, lease=timedelta(seconds=30)),
        **kwargs,  # type: ignore[arg-type]
    )


async def _status(database: Database, document_id: str) -> str:
    async with database.read() as connection:
        row = await DmpRepository(connection).get(uuid.UUID(document_id))
    assert row is not None
    return row.status


async def test_documents_are_registered_once_and_refusals_dead_letter(
    client: httpx.AsyncClient,
    edge: dict[str, str],
    clean_database: Database,
    sandbox: DmpSandbox,
    dmp_pki: Pki,
    signer: Signer,
    cda_validator: CdaValidator,
) -> None:
    ppa = (await _generate(client, edge["E-1"])).json()
    not_qualified = (await _generate(client, edge["E-3"])).json()
    blocked = (await _generate(client, edge["E-1"])).json()
    assert (await client.post(f"/documents/{blocked['id']}/dmp/block")).status_code == 200
    worker = feeder(clean_database, sandbox, dmp_pki, signer, cda_validator)
    sandbox.control.inject("http-503", times=3)  # the client gives up; the worker retries later
    first = await worker.deliver("w1")
    assert first.retried == 1 and await _status(clean_database, ppa["id"]) == "queued"
    second = await worker.deliver("w1")
    assert second.sent == 1 and await _status(clean_database, ppa["id"]) == "sent"
    assert set(sandbox.control.registered) == {ppa["xds"]["unique_id"]}
    assert await _status(clean_database, not_qualified["id"]) == "not-eligible"
    assert await _status(clean_database, blocked["id"]) == "blocked"
    assert blocked["xds"]["unique_id"] not in sandbox.control.registered
    # A replacement goes with RPLC: the registry deprecates the first version.
    v2 = (await _generate(client, edge["E-1"], replaces=ppa["id"])).json()
    assert (await worker.deliver("w1")).sent == 1
    assert sandbox.control.registered[ppa["xds"]["unique_id"]].status.endswith("Deprecated")
    assert v2["xds"]["unique_id"] in sandbox.control.registered
    # A permanent refusal is a visible dead letter with the registry error.
    sandbox.control.patients[E1_INS] = "fermé"
    v3 = (await _generate(client, edge["E-1"], replaces=v2["id"])).json()
    report = await worker.deliver("w1")
    assert report.failed == 1 and "XDSUnknownPatientId" in report.errors[v3["id"]]
    async with clean_database.read() as connection:
        row = await DmpRepository(connection).get(uuid.UUID(v3["id"]))
    assert row is not None and row.status == DmpStatus.FAILED.value and "XDSUnknownPatientId" in (row.last_error or "")
    await worker.client.aclose()


async def test_crash_between_send_and_acknowledgement_registers_once(
    client: httpx.AsyncClient,
    edge: dict[str, str],
    clean_database: Database,
    sandbox: DmpSandbox,
    dmp_pki: Pki,
    signer: Signer,
    cda_validator: CdaValidator,
) -> None:
    ppa = (await _generate(client, edge["E-1"])).json()
    worker = feeder(clean_database, sandbox, dmp_pki, signer, cda_validator)
    sandbox.control.inject("slow-after-store")
    worker.client.config = dataclasses.replace(worker.client.config, read_timeout=10.0)
    task = asyncio.create_task(worker.deliver("dying"))
    while sandbox.control.submissions == 0:  # noqa: ASYNC110  (the sandbox runs in another thread)
        await asyncio.sleep(0.02)
    task.cancel()  # the worker dies after the DMP stored the document, before it recorded the answer
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _status(clean_database, ppa["id"]) == "sending"
    await worker.client.aclose()
    later = datetime.now(UTC) + timedelta(minutes=5)
    restarted = feeder(clean_database, sandbox, dmp_pki, signer, cda_validator, clock=lambda: later)
    report = await restarted.deliver("w2")
    assert report.reconciled == 1 and report.sent == 0
    assert await _status(clean_database, ppa["id"]) == "sent"
    assert sandbox.control.submissions == 1 and list(sandbox.control.registered) == [ppa["xds"]["unique_id"]]
    await restarted.client.aclose()
