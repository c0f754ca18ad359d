"""The INSi sandbox over real mutual TLS, with a throwaway PKI generated for the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Settings
from app.sandbox.insi import InsiSandbox
from app.sandbox.pki import Pki, make_pki


@pytest.fixture(scope="session")
def insi_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("insi-pki"))


@pytest.fixture(scope="session")
def insi_sandbox(insi_pki: Pki) -> Iterator[InsiSandbox]:
    sandbox = InsiSandbox(insi_pki).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(insi_sandbox: InsiSandbox) -> Iterator[InsiSandbox]:
    insi_sandbox.control.clear()
    insi_sandbox.control.timeout_seconds = 1.5
    yield insi_sandbox
    insi_sandbox.control.clear()


def insi_settings(database_url: str, pki: Pki, url: str, tmp: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp,
        insi_endpoint=url,
        insi_client_cert=pki.client_cert,
        insi_client_key=pki.client_key,
        insi_ca_bundle=pki.ca_cert,
        insi_idam="TEST-IDAM",
        insi_read_timeout=0.5,
        insi_attempts=3,
        insi_backoff_initial=0.01,
        cda_warm_on_start=False,
    )


@pytest.fixture
def settings(database_url: str, insi_pki: Pki, insi_sandbox: InsiSandbox, tmp_path: Path) -> Settings:
    return insi_settings(database_url, insi_pki, insi_sandbox.url, tmp_path)
