"""Settings: the one place that reads the environment (prefix ``DUI_``)."""

from __future__ import annotations

import base64
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")
ProofLevel = Literal["high", "low"]
DEFAULT_PROOF_LEVELS: dict[str, ProofLevel] = {
    "CNI": "high",
    "PASSEPORT": "high",
    "TITRE_SEJOUR": "high",
    "PERMIS_CONDUIRE_EU": "high",
    "LIVRET_FAMILLE": "low",
    "ACTE_NAISSANCE": "low",
    "CARTE_VITALE": "low",
    "ATTESTATION_TIERS": "low",
}


class Settings(BaseSettings):
    """Runtime settings; the defaults run the service on an embedded SQLite file with no configuration."""

    model_config = SettingsConfigDict(env_prefix="DUI_", env_file=".env", extra="ignore")

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Local folder for the SQLite file and runtime data.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL: sqlite+aiosqlite:///path.db (default, in data_dir) or "
        "postgresql+asyncpg://user@host/db.",
    )
    db_pool_size: int = Field(20, ge=1, description="PostgreSQL connection pool size.")
    db_echo: bool = False
    telemetry: bool = Field(
        False, description="FastAPI's native OpenTelemetry (traces, metrics, logs to the global providers)."
    )

    host: str = "127.0.0.1"
    port: int = 8000

    page_size_default: int = Field(50, ge=1, le=500)
    page_size_max: int = Field(500, ge=1)
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest JSON request body accepted.")
    max_document_bytes: int = Field(
        20_971_520, ge=1024, description="Largest body on document routes (embedded PDF, received CDA)."
    )

    # UNVERIFIED: how the FINESS check key treats the Corsican departments 2A/2B is not in the public
    # sources we have; these digits replace the letters before the Luhn check.
    finess_corsica_2a_digits: str = Field("20", pattern=r"^\d{2}$")
    finess_corsica_2b_digits: str = Field("20", pattern=r"^\d{2}$")

    rpps_luhn_check: bool = Field(True, description="Check the Luhn key of RPPS numbers (INFERRED rule).")

    # UNVERIFIED: the 2008 AGGIR guide is not in the public sources read; AC/CA of alimentation gives C in
    # the implementations seen, B in the text one of them quotes.
    aggir_alimentation_ac: Literal["C", "B"] = Field(
        "C", description="AGGIR alimentation modality when its sub-variables are A and C (disputed)."
    )
    plan_review_interval_months: int = Field(
        12, ge=1, le=60, description="Longest time between two reviews of a projet personnalisé."
    )
    plan_review_due_soon_days: int = Field(30, ge=0, le=365, description="Reviews due within this many days.")
    # INSi téléservice (CNAM). The default endpoint is the CNAM qualification platform (mTLS mode).
    dmp_feed_types: list[str] | None = Field(
        None, description="Document typeCodes sent to the DMP after validation; default: the JDV_J66 types; [] none"
    )
    dmp_repository_url: str = Field(
        "https://lps.dev1.dmp.gouv.fr/si-dmp-server/v2/services/DocumentRepository_Service", description="ITI-41 URL"
    )
    dmp_registry_url: str = Field(
        "https://lps.dev1.dmp.gouv.fr/si-dmp-server/v2/services/DocumentRegistry_Service", description="ITI-18 URL"
    )
    dmp_client_cert: Path | None = Field(None, description="PEM authentication certificate (ORG AUTH_CLI), mTLS")
    dmp_client_key: Path | None = Field(None, description="PEM key of the authentication certificate")
    dmp_sign_cert: Path | None = Field(None, description="PEM signature certificate (ORG SIGN): VIHF and signature")
    dmp_sign_key: Path | None = Field(None, description="PEM key of the signature certificate")
    dmp_ca_bundle: Path | None = Field(None, description="CA bundle that signs the DMP server")
    dmp_signature_digest: Literal["sha1", "sha256"] = Field(
        "sha256", description="Digest of the submission-set signature Manifest (sha1: CNAM kit profile)"
    )
    dmp_structure_id: str = Field("", description="VIHF Identifiant_Structure; default: OU of the SIGN certificate")
    dmp_sector: str = Field("SA41^1.2.250.1.71.4.2.4", description="VIHF Secteur_Activite (TRE_R02, INFERRED default)")
    dmp_homologation: str = Field("", description="VIHF LPS_ID_HOMOLOGATION_DMP (CNDA number)")
    dmp_batch: int = Field(20, ge=1, le=500, description="Outbox rows a worker claims per round")
    dmp_poll_seconds: float = Field(2.0, gt=0, description="Worker pause when nothing is due")
    dmp_gather_seconds: float = Field(
        0.25, ge=0, description="Worker pause after a round short of a batch: the rows queued meanwhile go together"
    )
    dmp_attempts: int = Field(8, ge=1, le=50, description="Attempts per document before the dead letter")
    dmp_backoff_initial: float = Field(2.0, ge=0, description="First retry delay (s), doubled each attempt")
    dmp_backoff_max: float = Field(3600.0, ge=0, description="Largest retry delay (s)")
    # UNVERIFIED: the CNAM kit shows ITI-57 deletion (Deleted) and archiving (Archived) with the DMP's own statuses;
    # whether the DMP takes the IHE Deprecated status is not in the public sources.
    dmp_deprecate_status: Literal[
        "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated", "urn:asip:ci-sis:2010:StatusType:Archived"
    ] = Field(
        "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated",
        description="NewStatus of a deprecation (ITI-57): IHE Deprecated, or the DMP archiving status of the kit",
    )
    # UNVERIFIED: whether the DMP lets a published document become invisible to the patient afterwards.
    dmp_patient_invisibility_after_send: bool = Field(
        False, description="Allow making a sent document invisible to the patient (INVISIBLE_PATIENT) by ITI-57"
    )
    dmp_resend_on_withdrawal: bool = Field(
        False, description="When an opposition is withdrawn, queue again the documents it held back"
    )
    dmp_connect_timeout: float = Field(5.0, gt=0, description="DMP connection timeout (s)")
    dmp_read_timeout: float = Field(30.0, gt=0, description="DMP answer timeout (s); the outcome is then unknown")
    dmp_lease_seconds: float = Field(
        300.0, gt=0, description="How long a worker's claim holds; a dead worker's rows are taken again after it"
    )
    dmp_concurrency: int = Field(4, ge=1, le=64, description="Documents a worker has in flight at once")
    dmp_sandbox_failure_rate: float = Field(
        0.0, ge=0, le=1, description="Share of requests the DMP sandbox fails at random (dui dmp sandbox, demo)"
    )
    dmp_sandbox_pki_dir: str = Field("dmp-pki", description="Folder (in data_dir) of the DMP sandbox's throwaway PKI")
    insi_endpoint: str = Field("https://qualiflps-services-ps-tlsm.ameli.fr:443/lps", description="INSi URL")
    insi_client_cert: Path | None = Field(None, description="PEM certificate of the structure (CN INSI-AUTO/MANU)")
    insi_client_key: Path | None = Field(None, description="PEM private key of that certificate")
    insi_ca_bundle: Path | None = Field(None, description="CA bundle that signs the INSi server (IGC-Santé)")
    insi_idam: str = Field("", description="CNDA authorisation number of the software (ContexteLPS/IDAM)")
    insi_software_name: str = "dui-backend"
    insi_software_version: str = "0.1.0"
    insi_instance: str = Field("", description="UUID of this installation (ContexteLPS/Instance); derived if empty")
    insi_emetteur: str = Field("", description="Emetteur of the contexts; default: OU of the client certificate")
    insi_connect_timeout: float = Field(5.0, gt=0)
    insi_read_timeout: float = Field(15.0, gt=0)
    insi_attempts: int = Field(3, ge=1, le=10, description="Tries per call; only transient failures are retried")
    insi_backoff_initial: float = Field(0.2, ge=0)
    insi_batch_concurrency: int = Field(8, ge=1, le=64, description="Parallel calls of `dui ins verify`")
    insi_sandbox_pki_dir: str = Field("insi-pki", description="Folder (in data_dir) of the demo's throwaway PKI")
    # RNIV rule 19: the list of identity proofs and their confidence level is configurable.
    identity_proof_levels: dict[str, ProofLevel] = Field(
        default_factory=lambda: dict(DEFAULT_PROOF_LEVELS),
        description="Identity proof types and their confidence level (high or low), as JSON",
    )

    # -- security ------------------------------------------------------------------------------------
    secret_key: SecretStr | None = Field(
        None, description="Signs the access tokens the backend issues; default: a key file created in data_dir."
    )
    access_token_seconds: int = Field(300, ge=30, le=3600, description="Lifetime of backend access tokens.")
    refresh_token_seconds: int = Field(8 * 3600, ge=300, description="Lifetime of refresh tokens (one use each).")
    api_token_days_max: int = Field(366, ge=1, description="Longest lifetime of an API token.")
    auth_cache_seconds: float = Field(
        5.0, ge=0, description="How long a checked API token is trusted before it is looked up again."
    )
    auth_rate_limit_per_minute: int = Field(30, ge=1, description="Authentication attempts per client IP per minute.")
    auth_rate_limit_storage: str = Field(
        "memory://",
        description="Where attempts are counted (a `limits` storage URI): in process by default; "
        "a shared store such as redis://host:6379 when several instances serve the same users.",
    )
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS (none by default).")
    hsts: bool = Field(False, description="Send Strict-Transport-Security (behind TLS).")

    audit_retention_days: int = Field(
        3 * 365, ge=180, description="Audit events older than this are purged by `dui audit purge` (UNVERIFIED)."
    )

    document_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="AES-256 keys for identity-document scans, key id -> base64 (32 bytes); default: a key file "
        "created in data_dir.",
    )
    document_active_key: str | None = Field(None, description="Key id used to encrypt new scans (default: the last).")
    document_retention_years: int = Field(5, ge=1, description="Scans are purged this long after the last activity.")
    max_scan_bytes: int = Field(10_485_760, ge=1024, description="Largest identity-document scan accepted.")

    psc_discovery_url: str = Field(
        "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet/.well-known/wallet-openid-configuration",
        description="Pro Santé Connect discovery document (bac à sable by default).",
    )
    psc_client_id: str = Field("dui-backend", description="Client id registered with Pro Santé Connect.")
    psc_client_secret: SecretStr = Field(SecretStr(""), description="Client secret (HTTP Basic at the token endpoint).")
    psc_redirect_uri: str = Field(
        "http://127.0.0.1:8000/auth/psc/callback", description="Redirect URI registered with Pro Santé Connect."
    )
    psc_post_logout_redirect_uri: str = Field(
        "http://127.0.0.1:8000/auth/psc/login", description="Where PSC sends the browser after logout."
    )
    psc_scope: str = "openid scope_all"
    psc_acr: str = Field("eidas1", description="Required acr of the ID token (PSC accepts eidas1 only).")
    psc_clock_skew_seconds: int = Field(30, ge=0, le=300)

    oidc_discovery_url: str | None = Field(
        None, description="The organisation's own OpenID provider (…/.well-known/openid-configuration); off if unset."
    )
    oidc_client_id: str = "dui-backend"
    oidc_client_secret: SecretStr = SecretStr("")
    oidc_redirect_uri: str = "http://127.0.0.1:8000/auth/oidc/callback"
    oidc_scope: str = "openid profile email"
    oidc_acr: str | None = Field(None, description="acr required in the ID token, if any.")
    oidc_username_claim: str = Field(
        "preferred_username", description="UserInfo claim matched against the account's username."
    )
    cda_cache_dir: Path | None = Field(
        None,
        description="Compiled ANS schematrons (XSLT), keyed by a hash of their inputs; default data_dir/cda-cache.",
    )
    cda_warm_on_start: bool = Field(True, description="Compile and load the CDA validators when the service starts.")
    software_name: str = Field(
        "DUI backend", description="Name of the software, author of documents it signs as device."
    )

    def resolved_cda_cache_dir(self) -> Path:
        """Where compiled schematrons are cached (outside the source tree)."""
        return self.cda_cache_dir or self.data_dir / "cda-cache"

    def apply_domain_tunables(self) -> None:
        """Hand the UNVERIFIED rule details to the domain."""
        from app.domain import tunables

        tunables.configure(
            rpps_luhn_check=self.rpps_luhn_check,
            finess_corsica_2a=self.finess_corsica_2a_digits,
            finess_corsica_2b=self.finess_corsica_2b_digits,
            aggir_alimentation_ac=self.aggir_alimentation_ac,
            plan_review_months=self.plan_review_interval_months,
            plan_review_soon_days=self.plan_review_due_soon_days,
        )

    def signing_key(self) -> bytes:
        """The key that signs backend access tokens."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        return _local_key(self.data_dir / "secret.key")

    def document_keyring(self) -> tuple[str, dict[str, bytes]]:
        """The active key id and every key (old ones still decrypt until rotated away)."""
        if self.document_keys:
            keys = {kid: base64.b64decode(value.get_secret_value()) for kid, value in self.document_keys.items()}
            active = self.document_active_key or list(keys)[-1]
        else:
            keys = {"local-1": _local_key(self.data_dir / "document-key-local-1.key")}
            active = "local-1"
        for kid, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"document key {kid} is not 32 bytes (AES-256)")
        if active not in keys:
            raise ValueError(f"document_active_key {active} is not in document_keys")
        return active, keys

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'dui.sqlite3').as_posix()}"


def _local_key(path: Path) -> bytes:
    """A random 32-byte key kept in a file readable by the owner only (created on first use)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first
        else:
            with os.fdopen(descriptor, "wb") as file:
                file.write(base64.b64encode(secrets.token_bytes(32)))
    return base64.b64decode(path.read_bytes())


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` instead)."""
    return Settings()
