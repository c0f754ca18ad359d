"""DMP updates end to end: REST -> outbox -> worker -> ITI-57 over mTLS -> sandbox -> ITI-18, on both engines."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from app.domain.access import Role
from app.domain.dmp import DmpStatus
from app.interop.cda.validation import CdaValidator
from app.interop.cda.xds import document_entry
from app.interop.xds import ebrim, vihf
from app.interop.xds.client import RegisteredEntry, RegistryError
from app.interop.xds.signing import Signer
from app.sandbox.dmp import DmpSandbox
from app.sandbox.pki import Pki
from app.services.dmp import CONTENT_TYPE, DmpFeeder
from app.store.db import Database
from app.store.dmp import OUTBOX, DmpRepository
from tests.api import test_documents
from tests.api.test_documents import _generate
from tests.conftest import ClientAs
from tests.interop.xds import test_feeder
from tests.interop.xds.test_feeder import E1_INS, feeder
from tests.interop.xds.test_vihf import CONTEXT

pytestmark = pytest.mark.usefixtures("backend")
edge = test_documents.edge
sandbox = test_feeder.sandbox
PATIENT = f"{E1_INS}^^^&1.2.250.1.213.1.4.8&ISO^NH"


@pytest.fixture
async def worker(
    clean_database: Database, sandbox: DmpSandbox, dmp_pki: Pki, signer: Signer, cda_validator: CdaValidator
) -> AsyncIterator[DmpFeeder]:
    made = feeder(clean_database, sandbox, dmp_pki, signer, cda_validator)
    yield made
    await made.client.aclose()


async def _registry(worker: DmpFeeder, unique_id: str) -> RegisteredEntry:
    """What ITI-18 answers for a document (the registry's view, as any DMP client sees it)."""
    assertion = vihf.build(replace(CONTEXT, patient_id=PATIENT), worker.client.signer)
    found = await worker.client.find_by_unique_id([unique_id], assertion)
    assert len(found) == 1
    return found[0]


async def _sent(client: httpx.AsyncClient, worker: DmpFeeder, usager: str) -> dict[str, object]:
    document = (await _generate(client, usager)).json()
    assert (await worker.deliver("w1")).sent == 1
    return document


async def _cda_bytes(client: httpx.AsyncClient, document_id: object) -> bytes:
    response = await client.get(f"/documents/{document_id}/cda")
    assert response.status_code == 200
    return response.content


async def _due_now(worker: DmpFeeder, document_id: object) -> None:
    """Skip the backoff of a retried request."""
    async with worker.database.write() as connection:
        await connection.execute(
            update(OUTBOX)
            .where(OUTBOX.c.document_id == uuid.UUID(str(document_id)))
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )


async def _dmp(client: httpx.AsyncClient, document_id: object) -> dict[str, object]:
    response = await client.get(f"/documents/{document_id}/dmp")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def test_masking_deprecation_and_deletion_reach_the_registry(
    client: httpx.AsyncClient, edge: dict[str, str], sandbox: DmpSandbox, worker: DmpFeeder
) -> None:
    masked = await _sent(client, worker, edge["E-1"])
    uid = masked["xds"]["unique_id"]  # type: ignore[index]
    first = await _registry(worker, uid)
    assert first.version == 1 and first.confidentiality == ("N",)
    asked = await client.post(f"/documents/{masked['id']}/dmp/visibility", json={"hidden_from_professionals": True})
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "queued" and asked.json()["operation"] == "visibility"
    report = await worker.deliver("w1")
    assert report.sent == 1 and report.failed == 0
    now = await _registry(worker, uid)
    assert now.version == 2 and now.confidentiality == ("N", "MASQUE_PS")
    assert now.logical_id == first.logical_id and now.entry_uuid != first.entry_uuid
    assert now.status == ebrim.APPROVED
    status = await _dmp(client, masked["id"])
    assert status["status"] == "sent" and status["visibility"]["hidden_from_professionals"] is True  # type: ignore[index]
    # Unmasking is a third version without the code.
    await client.post(f"/documents/{masked['id']}/dmp/visibility", json={})
    assert (await worker.deliver("w1")).sent == 1
    unmasked = await _registry(worker, uid)
    assert unmasked.version == 3 and unmasked.confidentiality == ("N",)

    deprecated = await _sent(client, worker, edge["E-1"])
    assert (await client.post(f"/documents/{deprecated['id']}/dmp/deprecate")).status_code == 200
    assert (await worker.deliver("w1")).sent == 1
    assert (await _registry(worker, deprecated["xds"]["unique_id"])).status == ebrim.DEPRECATED  # type: ignore[index]
    assert (await _dmp(client, deprecated["id"]))["status"] == "deprecated"

    deleted = await _sent(client, worker, edge["E-1"])
    response = await client.post(f"/documents/{deleted['id']}/dmp/delete")
    assert response.status_code == 200 and response.json()["operation"] == "delete"
    assert (await _dmp(client, deleted["id"]))["status"] == "queued"  # deleted only once acknowledged
    assert (await worker.deliver("w1")).sent == 1
    assert (await _registry(worker, deleted["xds"]["unique_id"])).status == ebrim.DMP_DELETED  # type: ignore[index]
    assert (await _dmp(client, deleted["id"]))["status"] == "deleted"
    again = await client.post(f"/documents/{deleted['id']}/dmp/delete")
    assert again.status_code == 409 and again.json()["errors"][0]["rule"] == "dmp-delete-registered"
    assert sandbox.control.submissions == 3  # ITI-41 only: every update went by ITI-57


async def test_delete_of_a_document_never_sent_cancels_its_send(
    client: httpx.AsyncClient, edge: dict[str, str], sandbox: DmpSandbox, worker: DmpFeeder
) -> None:
    document = (await _generate(client, edge["E-1"])).json()
    response = await client.post(f"/documents/{document['id']}/dmp/delete")
    assert response.status_code == 200
    assert response.json()["status"] == "deleted" and response.json()["reason"] == "cancelled-before-send"
    report = await worker.deliver("w1")
    assert report.sent == report.failed == 0 and sandbox.control.registered == {}
    masked = await client.post(f"/documents/{document['id']}/dmp/visibility", json={"hidden_from_professionals": True})
    assert masked.status_code == 409 and masked.json()["errors"][0]["rule"] == "dmp-visibility-registered"


async def test_replacement_goes_with_rplc_and_the_old_row_becomes_replaced(
    client: httpx.AsyncClient, edge: dict[str, str], clean_database: Database, sandbox: DmpSandbox, worker: DmpFeeder
) -> None:
    v1 = await _sent(client, worker, edge["E-1"])
    v2 = (await _generate(client, edge["E-1"], replaces=v1["id"])).json()
    assert (await worker.deliver("w1")).sent == 1
    assert (await _registry(worker, v1["xds"]["unique_id"])).status == ebrim.DEPRECATED  # type: ignore[index]
    async with clean_database.read() as connection:
        old = await DmpRepository(connection).get(uuid.UUID(str(v1["id"])))
    assert old is not None and old.status == DmpStatus.REPLACED.value
    assert (await _dmp(client, v1["id"]))["status"] == "replaced"
    assert (await _dmp(client, v2["id"]))["status"] == "sent"
    # A replaced version is not current in the DMP: it takes no ITI-57.
    refused = await client.post(f"/documents/{v1['id']}/dmp/delete")
    assert refused.status_code == 409
    # A version replaced before it ever left is not sent at all: only the newest goes.
    v3 = (await _generate(client, edge["E-1"], replaces=v2["id"])).json()
    v4 = (await _generate(client, edge["E-1"], replaces=v3["id"])).json()
    assert (await _dmp(client, v3["id"]))["status"] == "replaced"
    assert (await worker.deliver("w1")).sent == 1
    assert v3["xds"]["unique_id"] not in sandbox.control.registered
    assert sandbox.control.registered[v4["xds"]["unique_id"]].status == ebrim.APPROVED
    assert sandbox.control.registered[v2["xds"]["unique_id"]].status == ebrim.DEPRECATED


async def test_registry_errors_on_iti57_end_in_the_dead_letter(
    client: httpx.AsyncClient, edge: dict[str, str], sandbox: DmpSandbox, worker: DmpFeeder
) -> None:
    document = await _sent(client, worker, edge["E-1"])
    await client.post(f"/documents/{document['id']}/dmp/deprecate")
    sandbox.control.inject("registry-error", times=2)  # the ITI-18 lookup takes the first
    report = await worker.deliver("w1")  # a busy registry is transient: retried later, not dead-lettered
    assert report.retried == 1 and report.failed == 0
    status = await _dmp(client, document["id"])
    assert status["status"] == "queued" and "XDSRegistryBusy" in str(status["last_error"])
    # Against a closed DMP the registry's refusal is permanent: the dead letter, with the registry's error.
    sandbox.control.patients[E1_INS] = "fermé"
    await _due_now(worker, document["id"])
    assert (await worker.deliver("w1")).failed == 1
    status = await _dmp(client, document["id"])
    assert status["status"] == "failed" and "XDSUnknownPatientId" in str(status["last_error"])
    assert sandbox.control.registered[document["xds"]["unique_id"]].status == ebrim.APPROVED  # type: ignore[index]


async def test_an_update_stored_without_answer_is_reconciled_not_repeated(
    client: httpx.AsyncClient, edge: dict[str, str], sandbox: DmpSandbox, worker: DmpFeeder
) -> None:
    document = await _sent(client, worker, edge["E-1"])
    await client.post(f"/documents/{document['id']}/dmp/delete")
    sandbox.control.inject("drop-after-store", times=2)  # ITI-18 answers; ITI-57 is stored, its answer lost
    first = await worker.deliver("w1")
    assert first.retried == 1 and (await _dmp(client, document["id"]))["status"] == "queued"
    stored = sandbox.control.registered[document["xds"]["unique_id"]]  # type: ignore[index]
    assert stored.status == ebrim.DMP_DELETED
    second = await worker.deliver("w1")
    assert second.reconciled == 1 and second.failed == 0
    assert (await _dmp(client, document["id"]))["status"] == "deleted"


async def test_the_registry_refuses_bad_updates(
    client: httpx.AsyncClient, edge: dict[str, str], sandbox: DmpSandbox, worker: DmpFeeder
) -> None:
    document = await _sent(client, worker, edge["E-1"])
    current = await _registry(worker, document["xds"]["unique_id"])  # type: ignore[index]
    assertion = vihf.build(replace(CONTEXT, patient_id=PATIENT), worker.client.signer)
    submission = ebrim.Submission(
        unique_id="2.25.1",
        source_id="1.2.250.1.213.1.1.1",
        patient_id=PATIENT,
        submission_time="20261202000000",
        author=ebrim.Author(institution="X^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1690000"),
        content_type=CONTENT_TYPE,
        documents=(),
    )
    cases = [
        (f"urn:uuid:{uuid.uuid4()}", ebrim.APPROVED, "UnresolvedReferenceException"),
        (current.entry_uuid, ebrim.DEPRECATED, "XDSMetadataUpdateError"),
    ]
    for target, original, code in cases:
        request = ebrim.update_availability_status(submission, target, original=original, new=ebrim.DMP_DELETED)
        with pytest.raises(RegistryError) as refused:
            await worker.client.update_document_set(request, assertion)
        assert code in str(refused.value)
    entry = document_entry(await _cda_bytes(client, document["id"]))
    stale = ebrim.SubmittedDocument(entry, b"", logical_id=current.logical_id)
    with pytest.raises(RegistryError, match="XDSMetadataVersionError"):  # the version it updates is not current
        await worker.client.update_document_set(
            ebrim.update_document_entry(replace(submission, documents=(stale,)), current.version + 1), assertion
        )
    other = ebrim.SubmittedDocument(entry, b"", logical_id=f"urn:uuid:{uuid.uuid4()}")
    with pytest.raises(RegistryError, match="is not the logicalId"):
        await worker.client.update_document_set(
            ebrim.update_document_entry(replace(submission, documents=(other,)), current.version), assertion
        )
    request = ebrim.update_availability_status(
        submission, current.entry_uuid, original=ebrim.APPROVED, new=ebrim.DMP_DELETED
    )
    await worker.client.update_document_set(request, assertion)
    with pytest.raises(RegistryError, match="is not Approved"):  # a deleted document is not updated again
        await worker.client.update_document_set(request, assertion)
    assert sandbox.control.registered[current.unique_id].status == ebrim.DMP_DELETED


async def test_opposition_blocks_sending_until_withdrawn(
    client: httpx.AsyncClient, edge: dict[str, str], clean_database: Database, sandbox: DmpSandbox, worker: DmpFeeder
) -> None:
    usager = edge["E-1"]
    queued = (await _generate(client, usager)).json()
    recorded = await client.post(f"/usagers/{usager}/dmp/opposition", json={"reason": "Refus exprimé à l'accueil"})
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["opposed"] is True and recorded.json()["history"][0]["documents"] == 1
    held = await _dmp(client, queued["id"])
    assert held["status"] == "not-eligible" and held["reason"] == "usager-opposed"
    later = (await _generate(client, usager)).json()
    assert (await _dmp(client, later["id"]))["reason"] == "usager-opposed"
    report = await worker.deliver("w1")
    assert report.sent == 0 and sandbox.control.registered == {}
    twice = await client.post(f"/usagers/{usager}/dmp/opposition", json={"reason": "encore"})
    assert twice.status_code == 409 and twice.json()["errors"][0]["rule"] == "dmp-opposition-once"
    # Withdrawal does not resend by default (DUI_DMP_RESEND_ON_WITHDRAWAL false).
    withdrawn = await client.post(f"/usagers/{usager}/dmp/opposition/withdraw", json={"reason": "a changé d'avis"})
    assert withdrawn.status_code == 200 and withdrawn.json()["opposed"] is False
    assert (await _dmp(client, queued["id"]))["status"] == "not-eligible"
    assert (await worker.deliver("w1")).sent == 0
    await client.post(f"/usagers/{usager}/dmp/opposition", json={"reason": "de nouveau"})
    resent = await client.post(f"/usagers/{usager}/dmp/opposition/withdraw", json={"resend": True})
    assert resent.json()["history"][-1]["documents"] == 2
    assert (await worker.deliver("w1")).sent == 2
    history = (await client.get(f"/usagers/{usager}/dmp/opposition")).json()
    assert [e["kind"] for e in history["history"]] == ["recorded", "withdrawn", "recorded", "withdrawn"]
    assert history["history"][0]["reason"] == "Refus exprimé à l'accueil" and history["history"][0]["by"]
    trail = (await client.get(f"/usagers/{usager}/audit")).json()["items"]
    operations = [e["operation"] for e in trail]
    assert {"record_dmp_opposition", "withdraw_dmp_opposition", "read_dmp_opposition"} <= set(operations)
    # An opposition recorded after a row was queued, while it waits for the worker, still stops it.
    last = (await _generate(client, usager)).json()
    async with clean_database.write() as connection:
        await DmpRepository(connection).oppose(uuid.UUID(usager), "test", datetime.now(UTC))
    assert (await worker.deliver("w1")).sent == 0
    assert (await _dmp(client, last["id"]))["reason"] == "usager-opposed"
    assert last["xds"]["unique_id"] not in sandbox.control.registered


async def test_bad_requests_name_the_field_and_permissions_hold(
    client: httpx.AsyncClient, client_as: ClientAs, edge: dict[str, str], worker: DmpFeeder
) -> None:
    document = await _sent(client, worker, edge["E-1"])
    unknown = await client.post(f"/documents/{document['id']}/dmp/visibility", json={"masked": True})
    assert unknown.status_code == 422 and unknown.headers["content-type"].startswith("application/problem+json")
    assert "masked" in {e["field"] for e in unknown.json()["errors"]}
    patient = await client.post(f"/documents/{document['id']}/dmp/visibility", json={"hidden_from_patient": True})
    assert patient.status_code == 422
    assert ("hidden_from_patient", "dmp-patient-invisibility-at-send") in {
        (e["field"], e["rule"]) for e in patient.json()["errors"]
    }
    empty = await client.post(f"/usagers/{edge['E-1']}/dmp/opposition", json={"reason": ""})
    assert empty.status_code == 422 and "reason" in {e["field"] for e in empty.json()["errors"]}
    nothing = await client.post(f"/usagers/{edge['E-1']}/dmp/opposition/withdraw", json={})
    assert nothing.status_code == 409 and nothing.json()["errors"][0]["rule"] == "dmp-opposition-recorded"
    assert (await client.post(f"/documents/{uuid.uuid4()}/dmp/delete")).status_code == 404
    essms = document["essms_id"]
    reader = await client_as(Role.LECTURE, essms)
    assert (await reader.post(f"/usagers/{edge['E-1']}/dmp/opposition", json={"reason": "x"})).status_code == 403
    assert (await reader.get(f"/usagers/{edge['E-1']}/dmp/opposition")).status_code == 200
    soignant = await client_as(Role.SOIGNANT, essms)
    assert (await soignant.post(f"/documents/{document['id']}/dmp/delete")).status_code == 403
    assert (await soignant.post(f"/documents/{document['id']}/dmp/deprecate")).status_code == 200


async def test_deprecation_may_use_the_dmp_archiving_status(
    client: httpx.AsyncClient, edge: dict[str, str], sandbox: DmpSandbox, worker: DmpFeeder
) -> None:
    worker.policy = replace(worker.policy, deprecate_status=ebrim.DMP_ARCHIVED)
    document = await _sent(client, worker, edge["E-1"])
    await client.post(f"/documents/{document['id']}/dmp/deprecate")
    assert (await worker.deliver("w1")).sent == 1
    assert (await _registry(worker, document["xds"]["unique_id"])).status == ebrim.DMP_ARCHIVED  # type: ignore[index]
    assert (await _dmp(client, document["id"]))["status"] == "deprecated"
