"""SQLModel tables. Each resource row keeps the JSON it serves (``body``) next to the columns its
queries, constraints and scoping need; ``resource_history`` keeps every version."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLModel.metadata = MetaData(naming_convention=NAMING_CONVENTION)
metadata = SQLModel.metadata

# Search tokens compare byte-wise so that a prefix range uses the index on every PostgreSQL locale.
TokenText = String(64).with_variant(String(64, collation="C"), "postgresql")
SearchVector = Text().with_variant(TSVECTOR(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, stored in UTC and read back with its offset on every engine: SQLite keeps no offset and gives
    its moments back naive (they are the UTC ones stored), PostgreSQL gives them aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        # A moment compared with a moment goes through this type (to UTC); anything else as with DateTime.
        if isinstance(value, datetime):
            return self
        return self.impl_instance.coerce_compared_value(op, value)


def _ts() -> Column[datetime]:
    return Column(UtcDateTime(), nullable=False)


class ResourceColumns(SQLModel):
    """Columns every versioned resource has."""

    id: uuid.UUID = Field(sa_type=Uuid, primary_key=True)
    version: int = Field(sa_type=Integer, nullable=False)
    created_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    updated_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    archived_at: datetime | None = Field(default=None, sa_type=UtcDateTime(), nullable=True)
    body: str = Field(sa_type=Text, nullable=False)


class Organisme(ResourceColumns, table=True):
    __tablename__ = "organisme"
    finess_ej: str = Field(sa_type=String(9), nullable=False, unique=True)
    name_key: str = Field(sa_type=String(200), nullable=False, index=True)


class Essms(ResourceColumns, table=True):
    __tablename__ = "essms"
    finess_et: str = Field(sa_type=String(9), nullable=False, unique=True)
    organisme_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("organisme.id"), nullable=False, index=True))
    categorie: str = Field(sa_type=String(3), nullable=False, index=True)
    name_key: str = Field(sa_type=String(200), nullable=False)


class Usager(ResourceColumns, table=True):
    __tablename__ = "usager"
    __table_args__ = (
        Index(
            "uq_usager_ins_matricule",
            "ins_matricule",
            unique=True,
            sqlite_where=text("ins_matricule IS NOT NULL"),
            postgresql_where=text("ins_matricule IS NOT NULL"),
        ),
        Index("ix_usager_name_key_id", "name_key", "id"),
        Index("ix_usager_search_vector", "search_vector", postgresql_using="gin"),
    )
    name_key: str = Field(sa_type=String(300), nullable=False)
    date_naissance: date = Field(sa_type=Date, nullable=False, index=True)
    sexe: str = Field(sa_type=String(2), nullable=False)
    identity_status: str = Field(sa_type=String(5), nullable=False)
    essms_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, ForeignKey("essms.id"), nullable=True))
    identifiant_local: str | None = Field(default=None, sa_type=String(200), nullable=True, index=True)
    ins_matricule: str | None = Field(default=None, sa_type=String(15), nullable=True)
    # The trait-search keys on PostgreSQL (names weighted A, first names B), matched by prefix through a GIN
    # index; always NULL on SQLite, where usager_search_token holds them.
    search_vector: str | None = Field(default=None, sa_column=Column(SearchVector, nullable=True))


class UsagerSearchToken(SQLModel, table=True):
    """Normalised name tokens of a usager (kind ``n`` name, ``p`` first name) for trait search on SQLite."""

    __tablename__ = "usager_search_token"
    __table_args__ = (Index("ix_usager_search_token_token", "token", "kind", "usager_id"),)
    usager_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("usager.id", ondelete="CASCADE"), primary_key=True))
    kind: str = Field(sa_type=String(1), primary_key=True)
    token: str = Field(sa_type=TokenText, primary_key=True)


class UsagerEssms(SQLModel, table=True):
    """Which ESSMS know a usager (record ESSMS and every stay): the basis of per-ESSMS scoping."""

    __tablename__ = "usager_essms"
    __table_args__ = (Index("ix_usager_essms_essms_id", "essms_id", "usager_id"),)
    usager_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("usager.id", ondelete="CASCADE"), primary_key=True))
    essms_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("essms.id"), primary_key=True))


class Contact(ResourceColumns, table=True):
    __tablename__ = "contact"
    __table_args__ = (
        Index(
            "uq_contact_personne_de_confiance",
            "usager_id",
            unique=True,
            sqlite_where=text("personne_de_confiance AND archived_at IS NULL"),
            postgresql_where=text("personne_de_confiance AND archived_at IS NULL"),
        ),
    )
    usager_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("usager.id"), nullable=False, index=True))
    personne_de_confiance: bool = Field(nullable=False)


class ProtectionMeasure(ResourceColumns, table=True):
    __tablename__ = "protection_measure"
    usager_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("usager.id"), nullable=False, index=True))
    nature: str = Field(sa_type=String(40), nullable=False)
    date_debut: date = Field(sa_type=Date, nullable=False)
    date_fin: date | None = Field(default=None, sa_type=Date, nullable=True)
    protecteur_contact_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("contact.id"), nullable=True)
    )


class Stay(ResourceColumns, table=True):
    __tablename__ = "stay"
    __table_args__ = (
        Index(
            "uq_stay_open_per_essms",
            "usager_id",
            "essms_id",
            unique=True,
            sqlite_where=text("is_open AND archived_at IS NULL"),
            postgresql_where=text("is_open AND archived_at IS NULL"),
        ),
        Index("ix_stay_essms_id_id", "essms_id", "id"),
    )
    usager_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("usager.id"), nullable=False, index=True))
    essms_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("essms.id"), nullable=False))
    date_entree: date | None = Field(default=None, sa_type=Date, nullable=True)
    date_sortie: date | None = Field(default=None, sa_type=Date, nullable=True)
    is_open: bool = Field(nullable=False)
    status: str = Field(sa_type=String(20), nullable=False)


class Professional(ResourceColumns, table=True):
    __tablename__ = "professional"
    __table_args__ = (
        Index(
            "uq_professional_rpps",
            "rpps",
            unique=True,
            sqlite_where=text("rpps IS NOT NULL"),
            postgresql_where=text("rpps IS NOT NULL"),
        ),
    )
    rpps: str | None = Field(default=None, sa_type=String(11), nullable=True)
    identifiant_local: str | None = Field(default=None, sa_type=String(200), nullable=True, index=True)
    name_key: str = Field(sa_type=String(300), nullable=False, index=True)
    profession: str = Field(sa_type=String(40), nullable=False)


class ProfessionalEssms(SQLModel, table=True):
    __tablename__ = "professional_essms"
    __table_args__ = (Index("ix_professional_essms_essms_id", "essms_id", "professional_id"),)
    professional_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("professional.id", ondelete="CASCADE"), primary_key=True)
    )
    essms_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("essms.id"), primary_key=True))


class ResourceHistory(SQLModel, table=True):
    """Every version of every resource: who, when, which operation, the full content."""

    __tablename__ = "resource_history"
    __table_args__ = (Index("uq_resource_history_version", "resource_type", "resource_id", "version", unique=True),)
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    )
    resource_type: str = Field(sa_type=String(40), nullable=False)
    resource_id: uuid.UUID = Field(sa_type=Uuid, nullable=False)
    version: int = Field(sa_type=Integer, nullable=False)
    operation: str = Field(sa_type=String(10), nullable=False)
    actor: str = Field(sa_type=String(200), nullable=False)
    recorded_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    body: str = Field(sa_type=Text, nullable=False)


class Plan(ResourceColumns, table=True):
    """One version of a projet personnalisé; every version of a plan shares ``lineage_id``."""

    __tablename__ = "plan"
    __table_args__ = (
        Index(
            "uq_plan_in_force_per_stay",
            "stay_id",
            unique=True,
            sqlite_where=text("in_force AND archived_at IS NULL"),
            postgresql_where=text("in_force AND archived_at IS NULL"),
        ),
        Index(
            "uq_plan_one_revision",
            "previous_version_id",
            unique=True,
            sqlite_where=text("previous_version_id IS NOT NULL AND archived_at IS NULL"),
            postgresql_where=text("previous_version_id IS NOT NULL AND archived_at IS NULL"),
        ),
        Index("ix_plan_essms_review", "essms_id", "in_force", "review_due", "id"),
        Index("ix_plan_lineage", "lineage_id", "numero_version"),
    )
    usager_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("usager.id"), nullable=False, index=True))
    stay_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("stay.id"), nullable=False))
    essms_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("essms.id"), nullable=False))
    lineage_id: uuid.UUID = Field(sa_type=Uuid, nullable=False)
    numero_version: int = Field(sa_type=Integer, nullable=False)
    previous_version_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("plan.id"), nullable=True)
    )
    status: str = Field(sa_type=String(20), nullable=False)
    in_force: bool = Field(nullable=False)
    date_debut: date = Field(sa_type=Date, nullable=False)
    review_due: date | None = Field(default=None, sa_type=Date, nullable=True)


class Evaluation(ResourceColumns, table=True):
    """An evaluation of a usager on one grid (AGGIR, SERAFIN-PH, free)."""

    __tablename__ = "evaluation"
    __table_args__ = (Index("ix_evaluation_usager_date", "usager_id", "date_evaluation", "id"),)
    usager_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("usager.id"), nullable=False))
    stay_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, ForeignKey("stay.id"), nullable=True))
    grille: str = Field(sa_type=String(20), nullable=False)
    type_evaluation: str | None = Field(default=None, sa_type=String(20), nullable=True)
    date_evaluation: date = Field(sa_type=Date, nullable=False)
    gir: int | None = Field(default=None, sa_type=Integer, nullable=True)
    counts_for_gir: bool = Field(nullable=False)


class Transmission(ResourceColumns, table=True):
    """A daily note; rows are written once (a correction is a new row pointing to the corrected one)."""

    __tablename__ = "transmission"
    __table_args__ = (
        Index("ix_transmission_essms_date", "essms_id", "date_heure", "id"),
        Index("ix_transmission_usager_date", "usager_id", "date_heure", "id"),
    )
    usager_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("usager.id"), nullable=False))
    stay_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, ForeignKey("stay.id"), nullable=True))
    essms_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("essms.id"), nullable=False))
    auteur_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("professional.id"), nullable=False))
    date_heure: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    categorie: str = Field(sa_type=String(20), nullable=False)
    corrige_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("transmission.id"), nullable=True, index=True)
    )
    search_text: str = Field(sa_type=Text, nullable=False)


class IdentityProof(SQLModel, table=True):
    """An identity proof seen by staff (RNIV rule 19): its type, confidence level, who and when.

    The scan itself, when there is one, lives in the encrypted document store; only its id is kept here."""

    __tablename__ = "identity_proof"
    __table_args__ = (Index("ix_identity_proof_usager_id", "usager_id", "recorded_at"),)
    id: uuid.UUID = Field(sa_type=Uuid, primary_key=True)
    usager_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("usager.id"), nullable=False))
    proof_type: str = Field(sa_type=String(40), nullable=False)
    confidence: str = Field(sa_type=String(10), nullable=False)
    reference: str | None = Field(default=None, sa_type=String(200), nullable=True)
    scan_id: uuid.UUID | None = Field(default=None, sa_type=Uuid, nullable=True)
    recorded_by: str = Field(sa_type=String(200), nullable=False)
    recorded_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UtcDateTime(), nullable=True)


class InsiCall(SQLModel, table=True):
    """Every INSi call (RNIV rules 37, 39, 48): who, when, the traits sent, the CR and the returned identity."""

    __tablename__ = "insi_call"
    __table_args__ = (
        Index("ix_insi_call_usager_id", "usager_id", "called_at"),
        Index("ix_insi_call_called_at", "called_at"),
    )
    id: uuid.UUID = Field(sa_type=Uuid, primary_key=True)
    usager_id: uuid.UUID | None = Field(default=None, sa_type=Uuid, nullable=True)
    actor: str = Field(sa_type=String(200), nullable=False)
    called_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    purpose: str = Field(sa_type=String(20), nullable=False)
    message_id: str = Field(sa_type=String(80), nullable=False)
    request_traits: str = Field(sa_type=Text, nullable=False)
    outcome: str = Field(sa_type=String(20), nullable=False)
    code_cr: str | None = Field(default=None, sa_type=String(4), nullable=True)
    fault_code: str | None = Field(default=None, sa_type=String(40), nullable=True)
    returned_identity: str | None = Field(default=None, sa_type=Text, nullable=True)
    detail: str | None = Field(default=None, sa_type=Text, nullable=True)
    duration_ms: int = Field(sa_type=Integer, nullable=False)


class IdentityTrace(SQLModel, table=True):
    """Every access to and change of an identity (RNIV rule 16): who, when, what."""

    __tablename__ = "identity_trace"
    __table_args__ = (
        Index("ix_identity_trace_usager_id", "usager_id", "at"),
        Index("ix_identity_trace_at", "at"),
    )
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    )
    usager_id: uuid.UUID = Field(sa_type=Uuid, nullable=False)
    actor: str = Field(sa_type=String(200), nullable=False)
    at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    action: str = Field(sa_type=String(30), nullable=False)
    detail: str = Field(sa_type=Text, nullable=False)


class UsagerDuplicateKey(SQLModel, table=True):
    """Normalised traits of each active usager (identitovigilance: potential duplicates share a key)."""

    __tablename__ = "usager_duplicate_key"
    __table_args__ = (Index("ix_usager_duplicate_key_key", "key", "usager_id"),)
    usager_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("usager.id", ondelete="CASCADE"), primary_key=True))
    key: str = Field(sa_type=String(300), nullable=False)


# -- security -------------------------------------------------------------------------------------------


class Account(SQLModel, table=True):
    """A person or a batch job that signs in: local password, Pro Santé Connect (IDNPS), or API tokens."""

    __tablename__ = "account"
    __table_args__ = (
        Index(
            "uq_account_idnps",
            "idnps",
            unique=True,
            sqlite_where=text("idnps IS NOT NULL"),
            postgresql_where=text("idnps IS NOT NULL"),
        ),
    )
    id: uuid.UUID = Field(sa_type=Uuid, primary_key=True)
    username: str = Field(sa_type=String(100), nullable=False, unique=True)
    password_hash: str | None = Field(default=None, sa_type=String(200), nullable=True)
    idnps: str | None = Field(default=None, sa_type=String(20), nullable=True)
    professional_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("professional.id"), nullable=True)
    )
    superuser: bool = Field(default=False, nullable=False)
    created_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    disabled_at: datetime | None = Field(default=None, sa_type=UtcDateTime(), nullable=True)


class Membership(SQLModel, table=True):
    """A role of an account in one ESSMS, or in every ESSMS of an organisme gestionnaire."""

    __tablename__ = "membership"
    id: uuid.UUID = Field(sa_type=Uuid, primary_key=True)
    account_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    role: str = Field(sa_type=String(30), nullable=False)
    essms_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, ForeignKey("essms.id"), nullable=True))
    organisme_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("organisme.id"), nullable=True)
    )


class ApiToken(SQLModel, table=True):
    """A long-lived token for a staff application or a batch job; only its SHA-256 is stored."""

    __tablename__ = "api_token"
    id: uuid.UUID = Field(sa_type=Uuid, primary_key=True)
    account_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    name: str = Field(sa_type=String(100), nullable=False)
    secret_hash: str = Field(sa_type=String(64), nullable=False)
    permissions: str | None = Field(default=None, sa_type=Text, nullable=True)
    created_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    expires_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime(), nullable=True)


class RefreshToken(SQLModel, table=True):
    """One use of a refresh token; a reused one revokes its whole family (stolen token detection)."""

    __tablename__ = "refresh_token"
    id: uuid.UUID = Field(sa_type=Uuid, primary_key=True)
    account_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    family: uuid.UUID = Field(sa_type=Uuid, nullable=False, index=True)
    secret_hash: str = Field(sa_type=String(64), nullable=False)
    auth_method: str = Field(sa_type=String(20), nullable=False)
    created_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    expires_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UtcDateTime(), nullable=True)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime(), nullable=True)


class OidcLogin(SQLModel, table=True):
    """A Pro Santé Connect login in progress: the PKCE verifier and nonce stay on the server."""

    __tablename__ = "oidc_login"
    state: str = Field(sa_type=String(64), primary_key=True)
    code_verifier: str = Field(sa_type=String(128), nullable=False)
    nonce: str = Field(sa_type=String(64), nullable=False)
    created_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)


class AuditEventRow(SQLModel, table=True):
    """The audit trail: append-only (an update trigger refuses changes), each row hash-chained to the previous."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_actor_id", "actor", "id"),
        # One successor per event: an append from a stale head fails instead of forking the chain.
        Index("uq_audit_event_prev_hash", "prev_hash", unique=True),
    )
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    )
    recorded_at: datetime = Field(sa_type=UtcDateTime(), nullable=False, index=True)
    actor: str = Field(sa_type=String(200), nullable=False)
    actor_kind: str = Field(sa_type=String(20), nullable=False)
    account_id: uuid.UUID | None = Field(default=None, sa_type=Uuid, nullable=True, index=True)
    action: str = Field(sa_type=String(40), nullable=False)
    operation: str = Field(sa_type=String(100), nullable=False)
    outcome: int = Field(sa_type=Integer, nullable=False)
    resource_type: str | None = Field(default=None, sa_type=String(40), nullable=True)
    resource_id: str | None = Field(default=None, sa_type=String(64), nullable=True)
    client_ip: str | None = Field(default=None, sa_type=String(64), nullable=True)
    detail: str = Field(sa_type=Text, nullable=False)
    usager_ids: str = Field(sa_type=Text, nullable=False)
    prev_hash: str = Field(sa_type=String(64), nullable=False)
    hash: str = Field(sa_type=String(64), nullable=False)


class AuditEventUsager(SQLModel, table=True):
    """Which usagers an audit event touched: answers "who accessed my record"."""

    __tablename__ = "audit_event_usager"
    __table_args__ = (Index("ix_audit_event_usager_usager_id", "usager_id", "event_id"),)
    event_id: int = Field(
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"),
            ForeignKey("audit_event.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    usager_id: uuid.UUID = Field(sa_type=Uuid, primary_key=True)


class IdentityDocument(SQLModel, table=True):
    """The scan of a usager's identity document, encrypted with AES-GCM (INS 52: encrypted, purged after 5 years)."""

    __tablename__ = "identity_document"
    id: uuid.UUID = Field(sa_type=Uuid, primary_key=True)
    usager_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("usager.id", ondelete="CASCADE"), nullable=False, unique=True)
    )
    kind: str = Field(sa_type=String(40), nullable=False)
    content_type: str = Field(sa_type=String(100), nullable=False)
    size: int = Field(sa_type=Integer, nullable=False)
    key_id: str = Field(sa_type=String(40), nullable=False, index=True)
    nonce: bytes = Field(sa_type=LargeBinary, nullable=False)
    ciphertext: bytes = Field(sa_type=LargeBinary, nullable=False)
    uploaded_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    uploaded_by: str = Field(sa_type=String(200), nullable=False)


class CdaDocument(SQLModel, table=True):
    """A CDA document of a usager, immutable once stored: a new version is a new row with the same set_id."""

    __tablename__ = "cda_document"
    __table_args__ = (
        Index("uq_cda_document_set_version", "set_id", "version_number", unique=True),
        Index("ix_cda_document_usager_created", "usager_id", "created_at", "id"),
    )
    id: uuid.UUID = Field(sa_type=Uuid, primary_key=True)
    usager_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("usager.id"), nullable=False))
    essms_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("essms.id"), nullable=False))
    kind: str = Field(sa_type=String(16), nullable=False)
    origin: str = Field(sa_type=String(16), nullable=False)
    type_code: str = Field(sa_type=String(64), nullable=False)
    title: str = Field(sa_type=String(300), nullable=False)
    set_id: str = Field(sa_type=String(128), nullable=False)
    version_number: int = Field(sa_type=Integer, nullable=False)
    replaces_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("cda_document.id"), nullable=True)
    )
    replaced_by_id: uuid.UUID | None = Field(default=None, sa_type=Uuid, nullable=True)
    created_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    created_by: str = Field(sa_type=String(200), nullable=False)
    xml: str = Field(sa_type=Text, nullable=False)
    pdf: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    html: str | None = Field(default=None, sa_type=Text, nullable=True)
    xds: str = Field(sa_type=Text, nullable=False)
    validation: str = Field(sa_type=Text, nullable=False)


class DmpOutbox(SQLModel, table=True):
    """One DMP send request per document, written in the same transaction as the document."""

    __tablename__ = "dmp_outbox"
    __table_args__ = (
        Index("uq_dmp_outbox_unique_id", "unique_id", unique=True),
        Index("ix_dmp_outbox_due", "status", "next_attempt_at"),
    )
    document_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("cda_document.id"), primary_key=True))
    unique_id: str = Field(sa_type=String(200), nullable=False)
    usager_id: uuid.UUID = Field(sa_type=Uuid, nullable=False)
    essms_id: uuid.UUID = Field(sa_type=Uuid, nullable=False)
    type_code: str = Field(sa_type=String(64), nullable=False)
    qualified: bool = Field(sa_type=Boolean, nullable=False)
    status: str = Field(sa_type=String(20), nullable=False)
    reason: str | None = Field(default=None, sa_type=String(60), nullable=True)
    attempts: int = Field(sa_type=Integer, nullable=False)
    next_attempt_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    claimed_by: str | None = Field(default=None, sa_type=String(100), nullable=True)
    claimed_until: datetime | None = Field(default=None, sa_type=UtcDateTime(), nullable=True)
    last_error: str | None = Field(default=None, sa_type=Text, nullable=True)
    created_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    updated_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    sent_at: datetime | None = Field(default=None, sa_type=UtcDateTime(), nullable=True)
    # The last operation asked (send, delete, deprecate, visibility) and the DMP visibility codes asked or held.
    operation: str = Field(default="send", sa_column=Column(String(20), nullable=False, server_default="send"))
    visibility: str | None = Field(default=None, sa_type=String(200), nullable=True)


class DmpOpposition(SQLModel, table=True):
    """A usager's opposition to the feeding of the DMP: nothing of theirs is sent while it stands."""

    __tablename__ = "dmp_opposition"
    usager_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("usager.id"), primary_key=True))
    recorded_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    recorded_by: str = Field(sa_type=String(200), nullable=False)


class DmpOppositionEvent(SQLModel, table=True):
    """The history of a usager's oppositions to the DMP feeding: each one recorded or withdrawn, by whom, why."""

    __tablename__ = "dmp_opposition_event"
    __table_args__ = (Index("ix_dmp_opposition_event_usager", "usager_id", "at"),)
    id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    usager_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("usager.id"), nullable=False))
    kind: str = Field(sa_type=String(20), nullable=False)
    at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    expressed_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    actor: str = Field(sa_type=String(200), nullable=False)
    reason: str | None = Field(default=None, sa_type=String(200), nullable=True)
    documents: int = Field(default=0, sa_type=Integer, nullable=False)


class DmpFeedSource(SQLModel, table=True):
    """Which version of a record (plan, evaluation) a batch-fed document was made from: the batch's
    idempotency key, written in the document's transaction, so a re-run never makes it twice."""

    __tablename__ = "dmp_feed_source"
    source_kind: str = Field(sa_type=String(16), primary_key=True)
    source_id: uuid.UUID = Field(sa_type=Uuid, primary_key=True)
    source_version: int = Field(sa_type=Integer, primary_key=True)
    document_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("cda_document.id"), nullable=False))
    usager_id: uuid.UUID = Field(sa_type=Uuid, nullable=False, index=True)
    created_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
