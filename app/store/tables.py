"""SQLModel tables. Each resource row keeps the JSON it serves (``body``) next to the columns its
queries, constraints and scoping need; ``resource_history`` keeps every version."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
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


def _ts() -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=False)


class ResourceColumns(SQLModel):
    """Columns every versioned resource has."""

    id: uuid.UUID = Field(sa_type=Uuid, primary_key=True)
    version: int = Field(sa_type=Integer, nullable=False)
    created_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    updated_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    archived_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), nullable=True)
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
    )
    name_key: str = Field(sa_type=String(300), nullable=False)
    date_naissance: date = Field(sa_type=Date, nullable=False, index=True)
    sexe: str = Field(sa_type=String(2), nullable=False)
    identity_status: str = Field(sa_type=String(5), nullable=False)
    essms_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, ForeignKey("essms.id"), nullable=True))
    identifiant_local: str | None = Field(default=None, sa_type=String(200), nullable=True, index=True)
    ins_matricule: str | None = Field(default=None, sa_type=String(15), nullable=True)


class UsagerSearchToken(SQLModel, table=True):
    """Normalised name tokens of a usager (kind ``n`` name, ``p`` first name) for trait search."""

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
    recorded_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    body: str = Field(sa_type=Text, nullable=False)


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
    created_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    created_by: str = Field(sa_type=String(200), nullable=False)
    xml: str = Field(sa_type=Text, nullable=False)
    pdf: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    html: str | None = Field(default=None, sa_type=Text, nullable=True)
    xds: str = Field(sa_type=Text, nullable=False)
    validation: str = Field(sa_type=Text, nullable=False)
