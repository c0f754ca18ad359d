"""The DMP sandbox as the demo and `dui dmp sandbox` run it: a throwaway PKI (TLS and SIGN certificates)
in a folder, the server on loopback, and the DUI_DMP_* settings that point a worker at it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.sandbox.dmp import DmpControl, DmpSandbox
from app.sandbox.pki import Pki, issue_signing_certificate, make_pki

STRUCTURE_ID = "1010101010"  # OU of the sandbox SIGN certificate: the VIHF Identifiant_Structure


@dataclass
class LocalDmp:
    sandbox: DmpSandbox
    pki: Pki
    sign_cert: Path
    sign_key: Path

    def environment(self) -> dict[str, str]:
        base = self.sandbox.base_url
        return {
            "DUI_DMP_REPOSITORY_URL": f"{base}/DocumentRepository_Service",
            "DUI_DMP_REGISTRY_URL": f"{base}/DocumentRegistry_Service",
            "DUI_DMP_CLIENT_CERT": str(self.pki.client_cert),
            "DUI_DMP_CLIENT_KEY": str(self.pki.client_key),
            "DUI_DMP_SIGN_CERT": str(self.sign_cert),
            "DUI_DMP_SIGN_KEY": str(self.sign_key),
            "DUI_DMP_CA_BUNDLE": str(self.pki.ca_cert),
        }

    def stop(self) -> None:
        self.sandbox.stop()


def start_local_dmp(
    folder: Path, *, port: int = 0, failure_rate: float = 0.0, seed: int | None = None, any_patient: bool = True
) -> LocalDmp:
    pki = make_pki(folder, client_cn="DUI AUTH_CLI")
    sign_cert, sign_key = issue_signing_certificate(pki, folder / "sign", cn="DUI ORG SIGN", structure_id=STRUCTURE_ID)
    control = DmpControl(ca_file=pki.ca_cert, any_patient=any_patient)
    if failure_rate:
        control.fail_at_random(failure_rate, seed)
    sandbox = DmpSandbox(pki, control=control, port=port).start()
    return LocalDmp(sandbox, pki, sign_cert, sign_key)
