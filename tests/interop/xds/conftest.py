"""A throwaway PKI with a structure TLS certificate and a separate SIGN certificate."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.interop.xds.signing import Signer
from app.sandbox.pki import Pki, issue_signing_certificate, make_pki


@pytest.fixture(scope="session")
def dmp_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("dmp-pki"), client_cn="DUI AUTH_CLI")


@pytest.fixture(scope="session")
def signer(dmp_pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Signer:
    folder: Path = tmp_path_factory.mktemp("dmp-sign")
    cert, key = issue_signing_certificate(dmp_pki, folder, cn="DUI ORG SIGN", structure_id="1010101010")
    return Signer.from_files(cert, key)
