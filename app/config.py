"""Settings: the one place that reads the environment (prefix ``DUI_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
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

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'dui.sqlite3').as_posix()}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` instead)."""
    return Settings()
