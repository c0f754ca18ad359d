"""Reliability of the DMP feeding against the sandbox over mTLS: a worker killed with SIGKILL in the middle of
a batch and restarted, and a sandbox failing 30% of the requests at random, both end with every document
registered exactly once (counted by uniqueId in the sandbox store) and every outbox row sent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from app.interop.cda.validation import CdaValidator
from app.interop.xds.client import DmpClient, DmpConfig
from app.interop.xds.signing import Signer
from app.sandbox.dmp import DmpSandbox
from app.sandbox.pki import Pki, issue_signing_certificate
from app.services.dmp import DmpFeeder, FeedPolicy
from app.store.db import Database
from tests.api import test_documents
from tests.api.test_documents import _generate
from tests.interop.xds.test_vihf import CONTEXT

pytestmark = pytest.mark.usefixtures("backend")
edge = test_documents.edge
E1_INS = "238057511212345"
BATCH = int(os.environ.get("DUI_TEST_DMP_BATCH", "40"))  # documents per proof (1,000 for the full proof)


@pytest.fixture
def sandbox(dmp_pki: Pki) -> Iterator[DmpSandbox]:
    with DmpSandbox(dmp_pki) as server:
        server.control.patients[E1_INS] = "OK"
        yield server


async def _queue(client: httpx.AsyncClient, usager_id: str, count: int) -> None:
    for _ in range(count):
        response = await _generate(client, usager_id)
        assert response.status_code == 201, response.text


async def _outbox(database: Database) -> dict[str, str]:
    async with database.read() as connection:
        rows = await connection.execute(text("SELECT unique_id, status FROM dmp_outbox"))
        return {str(r.unique_id): str(r.status) for r in rows}


def _assert_registered_once(sandbox: DmpSandbox, outbox: dict[str, str]) -> None:
    assert set(outbox.values()) == {"sent"}, outbox
    assert set(sandbox.control.registered) == set(outbox)  # none lost
    # Each submission stores one document: as many submissions as documents means none was stored twice.
    assert sandbox.control.submissions == len(outbox)


async def test_random_failures_lose_nothing_and_duplicate_nothing(
    client: httpx.AsyncClient,
    edge: dict[str, str],
    clean_database: Database,
    sandbox: DmpSandbox,
    dmp_pki: Pki,
    signer: Signer,
    cda_validator: CdaValidator,
) -> None:
    await _queue(client, edge["E-1"], BATCH)
    sandbox.control.timeout_seconds = 0.6
    sandbox.control.fail_at_random(0.3, seed=20261202)
    config = DmpConfig(
        repository_url=f"{sandbox.base_url}/DocumentRepository_Service",
        registry_url=f"{sandbox.base_url}/DocumentRegistry_Service",
        client_cert=dmp_pki.client_cert,
        client_key=dmp_pki.client_key,
        ca_bundle=dmp_pki.ca_cert,
        read_timeout=0.3,
        backoff_initial=0.01,
    )
    # The retry delay outlasts the sandbox's slow answers: a resend never races a submission still in progress.
    policy = FeedPolicy(attempts=30, backoff_initial=1.0, backoff_max=1.0, lease=timedelta(seconds=60), concurrency=4)
    feeder = DmpFeeder(
        clean_database, DmpClient(config, signer), cda_validator, software="t", vihf_context=CONTEXT, policy=policy
    )
    try:
        deadline = time.monotonic() + 120
        while set((await _outbox(clean_database)).values()) - {"sent", "failed"} and time.monotonic() < deadline:
            report = await feeder.deliver("w1")
            if report.sent + report.reconciled + report.retried + report.failed == 0:
                await asyncio.sleep(0.2)
    finally:
        await feeder.client.aclose()
    injected = sandbox.control.injected
    assert {"http-503", "timeout", "registry-error", "drop-after-store"} <= set(injected), injected
    _assert_registered_once(sandbox, await _outbox(clean_database))


def _worker(env: dict[str, str], *, once: bool) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "dui"), "worker", *(["--once"] if once else [])],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def _wait(condition: object, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_a_worker_killed_mid_batch_and_restarted_registers_each_document_once(
    client: httpx.AsyncClient,
    edge: dict[str, str],
    clean_database: Database,
    database_url: str,
    sandbox: DmpSandbox,
    dmp_pki: Pki,
    cda_cache_dir: Path,
    tmp_path: Path,
) -> None:
    await _queue(client, edge["E-1"], BATCH)
    sign_cert, sign_key = issue_signing_certificate(dmp_pki, tmp_path / "sign", cn="DUI ORG SIGN", structure_id="1")
    env = {
        **os.environ,
        "DUI_DATABASE_URL": database_url,
        "DUI_DATA_DIR": str(tmp_path),
        "DUI_CDA_CACHE_DIR": str(cda_cache_dir),
        "DUI_DMP_REPOSITORY_URL": f"{sandbox.base_url}/DocumentRepository_Service",
        "DUI_DMP_REGISTRY_URL": f"{sandbox.base_url}/DocumentRegistry_Service",
        "DUI_DMP_CLIENT_CERT": str(dmp_pki.client_cert),
        "DUI_DMP_CLIENT_KEY": str(dmp_pki.client_key),
        "DUI_DMP_SIGN_CERT": str(sign_cert),
        "DUI_DMP_SIGN_KEY": str(sign_key),
        "DUI_DMP_CA_BUNDLE": str(dmp_pki.ca_cert),
        "DUI_DMP_BATCH": "5",
        "DUI_DMP_CONCURRENCY": "2",
        "DUI_DMP_POLL_SECONDS": "0.2",
        "DUI_DMP_LEASE_SECONDS": "2",
        "DUI_DMP_BACKOFF_INITIAL": "0.1",
    }
    sandbox.control.timeout_seconds = 60.0
    first = _worker(env, once=False)
    try:

        async def some_sent() -> bool:
            return sum(s == "sent" for s in (await _outbox(clean_database)).values()) >= BATCH // 4

        await _wait(some_sent, "the first documents to be sent")
        # The next two submissions are stored but their answers never come: killed then, the worker cannot know.
        stored_before = len(sandbox.control.registered)
        sandbox.control.inject("slow-after-store", 2)

        async def stored_unanswered() -> bool:
            return len(sandbox.control.registered) >= stored_before + 2

        await _wait(stored_unanswered, "two submissions stored without an answer")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    outbox = await _outbox(clean_database)
    assert "sending" in outbox.values() and "queued" in outbox.values()  # killed in the middle of the batch
    await asyncio.sleep(2.5)  # the dead worker's lease runs out
    second = _worker(env, once=True)
    output, _ = await asyncio.to_thread(second.communicate, timeout=120)
    assert second.returncode == 0, output
    reconciled = int(output.rsplit("reconciled ", 1)[1].split(",")[0])
    assert reconciled >= 2, output  # the stored-but-unanswered ones were found by ITI-18, not sent again
    _assert_registered_once(sandbox, await _outbox(clean_database))
