"""`dui worker`: deliver the DMP outbox until interrupted (several may run at once)."""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import timedelta

from cryptography.x509.oid import NameOID

from app.config import Settings
from app.heap import freeze_long_lived
from app.interop.cda.validation import CdaValidator
from app.interop.xds import vihf
from app.interop.xds.client import DmpClient, DmpConfig
from app.interop.xds.signing import Signer
from app.services.audit import AuditSink
from app.services.dmp import DeliveryReport, DmpFeeder, FeedPolicy
from app.store.db import Database


class NotConfigured(RuntimeError):
    """A DMP setting the worker needs is missing."""


def build_feeder(settings: Settings, database: Database, validator: CdaValidator) -> DmpFeeder:
    needed = {
        "DUI_DMP_CLIENT_CERT": settings.dmp_client_cert,
        "DUI_DMP_CLIENT_KEY": settings.dmp_client_key,
        "DUI_DMP_SIGN_CERT": settings.dmp_sign_cert,
        "DUI_DMP_SIGN_KEY": settings.dmp_sign_key,
    }
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        raise NotConfigured(f"missing settings: {', '.join(missing)}")
    assert settings.dmp_client_cert and settings.dmp_client_key and settings.dmp_sign_cert and settings.dmp_sign_key
    signer = Signer.from_files(settings.dmp_sign_cert, settings.dmp_sign_key)
    ou = signer.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    structure = settings.dmp_structure_id or (str(ou[0].value) if ou else "")
    config = DmpConfig(
        repository_url=settings.dmp_repository_url,
        registry_url=settings.dmp_registry_url,
        client_cert=settings.dmp_client_cert,
        client_key=settings.dmp_client_key,
        ca_bundle=settings.dmp_ca_bundle,
        signature_digest=settings.dmp_signature_digest,
        connect_timeout=settings.dmp_connect_timeout,
        read_timeout=settings.dmp_read_timeout,
    )
    context = vihf.VihfContext(
        user_id=structure,
        user_display=f"{settings.software_name} [{structure}]",
        structure_id=structure,
        sector=settings.dmp_sector,
        roles=(vihf.Role("AUTOMATE", "1.2.250.1.213.1.1.4.6", "Automate"),),
        patient_id="",
        lps_name=settings.software_name,
        lps_version="0.1.0",
        lps_id=f"{socket.gethostname()}",
        homologation=settings.dmp_homologation,
    )
    return DmpFeeder(
        database,
        DmpClient(config, signer),
        validator,
        software=settings.software_name,
        vihf_context=context,
        audit=AuditSink(database),
        policy=FeedPolicy(
            attempts=settings.dmp_attempts,
            backoff_initial=settings.dmp_backoff_initial,
            backoff_max=settings.dmp_backoff_max,
            batch=settings.dmp_batch,
            deprecate_status=settings.dmp_deprecate_status,
            concurrency=settings.dmp_concurrency,
            lease=timedelta(seconds=settings.dmp_lease_seconds),
        ),
    )


async def run_worker(feeder: DmpFeeder, *, poll: float, once: bool = False, gather: float = 0.0) -> DeliveryReport:
    """Deliver rounds until interrupted (or until nothing is due, with ``once``); the summed report. After a
    round that found fewer rows than a batch, the worker waits ``gather`` seconds (not with ``once``): the
    documents queued meanwhile are then claimed in one statement rather than one claim each."""
    total = DeliveryReport()
    worker = f"{socket.gethostname()}-{os.getpid()}"
    settled = False
    while True:
        report = await feeder.deliver(worker)
        total.sent += report.sent
        total.reconciled += report.reconciled
        total.retried += report.retried
        total.failed += report.failed
        total.errors.update(report.errors)
        busy = report.sent + report.reconciled + report.retried + report.failed
        if busy and not settled:
            # After the first delivery: it loaded the signing, SOAP and HTTP modules, keys and certificates.
            freeze_long_lived()
            settled = True
        if once and busy == 0:
            return total
        if busy == 0:
            await asyncio.sleep(poll)
        elif busy < feeder.policy.batch and not once:
            await asyncio.sleep(gather)


__all__ = ["NotConfigured", "build_feeder", "run_worker"]
