"""Usager identity per the RNIV: traits, status PROV/RECUP/VALI/QUAL, attributes, INS fields."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, ValidationInfo, field_validator, model_validator

from app.domain import codes
from app.domain import ins as ins_rules
from app.domain.errors import InvalidValue
from app.domain.evaluations import CurrentGir
from app.domain.types import (
    Address,
    CogCode,
    DomainModel,
    LongText,
    Name,
    PastDate,
    ShortText,
    Telecom,
    coded,
    rule,
    violation,
)

_NAME_CHARACTERS = re.compile(r"^[^\W\d_]+(?:[ '’-]+[^\W\d_]+)*$")


def _check_name(value: str) -> str:
    if not _NAME_CHARACTERS.match(value):
        raise InvalidValue("name-characters", "A name holds letters, spaces, hyphens and apostrophes only")
    return value


PersonName = Annotated[Name, rule(_check_name)]


class IdentityStatus(StrEnum):
    """RNIV identity status (FR Core fr-core-cs-identity-status)."""

    PROV = "PROV"
    RECUP = "RECUP"
    VALI = "VALI"
    QUAL = "QUAL"


class IdentityAttribute(StrEnum):
    """RNIV identity attributes (douteuse, fictive, homonyme avéré)."""

    DOUT = "DOUT"
    FICT = "FICT"
    HOMA = "HOMA"


def identity_status(
    *, insi_verified: bool, high_trust_proof: bool, attributes: frozenset[IdentityAttribute] | set[IdentityAttribute]
) -> IdentityStatus:
    """The status is derived, never stored on its own: INSi x high-trust proof (RNIV rule 20).

    A doubtful or fictitious identity stays provisional whatever was checked (rule 25).
    """
    if IdentityAttribute.DOUT in attributes or IdentityAttribute.FICT in attributes:
        return IdentityStatus.PROV
    if insi_verified and high_trust_proof:
        return IdentityStatus.QUAL
    if insi_verified:
        return IdentityStatus.RECUP
    if high_trust_proof:
        return IdentityStatus.VALI
    return IdentityStatus.PROV


def may_share_ins(status: IdentityStatus) -> bool:
    """RNIV rule 28: the INS (matricule + OID) leaves the system only for a qualified identity."""
    return status is IdentityStatus.QUAL


class Ins(DomainModel):
    """The national health identifier: matricule (NIR or NIA, 13 characters + 2-digit key) and its OID.

    The shape is checked, not the key: an INS returned by INSi is kept as returned."""

    matricule: Annotated[str, Field(pattern=r"^\d{6}[0-9AB]\d{6}\d{2}$", description="15 characters")]
    oid: Annotated[str, Field(pattern=r"^1\.2\.250\.1\.213\.1\.4\.(8|9|10|11)$")]
    date_debut: date | None = None
    date_fin: date | None = None


class TypedIns(DomainModel):
    """An INS typed by staff or received from another system: the key and the OID are checked."""

    matricule: Annotated[str, rule(ins_rules.check_matricule)] = Field(description="15 characters, key included")
    oid: Annotated[str, rule(ins_rules.check_oid)] = Field(
        description="1.2.250.1.213.1.4.8 NIR, .9 NIA, .10 test, .11 demo"
    )


class ProofConfidence(StrEnum):
    HIGH = "high"
    LOW = "low"


# The INS traits: read-only once INSi has returned them (RNIV rule 26).
INS_TRAITS = ("nom_naissance", "premier_prenom", "prenoms_naissance", "sexe", "date_naissance", "lieu_naissance")


def locked_trait_changes(current: UsagerRecord, new: UsagerRecord) -> list[str]:
    """The INS traits a change would alter on an identity retrieved or verified through INSi."""
    if not current.insi_verified:
        return []
    before, after = current.model_dump(mode="json"), new.model_dump(mode="json")
    return [name for name in INS_TRAITS if before.get(name) != after.get(name)]


class UsagerIdentityInput(DomainModel):
    """What staff may type about a usager. Creation needs exactly the minimum traits (RNIV rule 5):
    birth name, first birth first name, sex and birth date; everything else is optional."""

    nom_naissance: PersonName = Field(description="Nom de naissance")
    premier_prenom: PersonName = Field(description="Premier prénom de naissance")
    sexe: Annotated[str, coded(codes.sexes)] = Field(description="JDV_J143: F, M or UN")
    date_naissance: PastDate = Field(description="Date de naissance")
    prenoms_naissance: list[PersonName] | None = Field(
        None, max_length=10, description="Prénoms de naissance, in the order of the birth certificate"
    )
    nom_utilise: PersonName | None = Field(None, description="Nom utilisé, when different from the birth name")
    prenom_utilise: PersonName | None = Field(None, description="Prénom utilisé")
    lieu_naissance: CogCode | None = Field(None, description="INSEE COG code of the birth place (99xxx abroad)")
    civilite: Annotated[str, coded(codes.civilites)] | None = Field(None, description="JDV_J245: M or MME")
    attributes: list[IdentityAttribute] = Field(default_factory=list, description="DOUT, FICT, HOMA")
    identifiant_local: ShortText | None = Field(None, description="Local record number (IPP of the DUI)")
    essms_id: UUID | None = Field(None, description="ESSMS that records the usager")
    adresse: Address | None = None
    telecoms: list[Telecom] = Field(default_factory=list, max_length=10)
    date_deces: PastDate | None = None
    commentaire: LongText | None = None

    @field_validator("prenoms_naissance")
    @classmethod
    def _first_names_consistent(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        # RNIV rule 6: the first birth first name is the first of the birth first names.
        first = info.data.get("premier_prenom")
        if value and first and value[0].casefold() != first.casefold():
            raise violation("first-names-consistent", "prenoms_naissance must begin with premier_prenom")
        return value

    @field_validator("attributes")
    @classmethod
    def _attributes_unique(cls, value: list[IdentityAttribute]) -> list[IdentityAttribute]:
        if len(set(value)) != len(value):
            raise violation("attributes-unique", "An identity attribute is listed twice")
        return value

    @field_validator("date_deces")
    @classmethod
    def _death_after_birth(cls, value: date | None, info: ValidationInfo) -> date | None:
        born = info.data.get("date_naissance")
        if value is not None and born is not None and value < born:
            raise violation("death-after-birth", "date_deces is before date_naissance")
        return value

    @model_validator(mode="after")
    def _default_first_names(self) -> Self:
        if not self.prenoms_naissance:
            self.prenoms_naissance = [self.premier_prenom]
        return self


class UsagerRecord(UsagerIdentityInput):
    """The stored identity: typed traits plus what only the INS workflow may set."""

    insi_verified: bool = False
    high_trust_proof: bool = False
    ins: Ins | None = None
    ins_history: list[Ins] = Field(default_factory=list)
    gir_actuel: CurrentGir | None = Field(None, description="GIR of the latest AGGIR evaluation (set by evaluations)")
    ins_source: Annotated[str, Field(pattern=r"^(insi|received)$")] | None = Field(
        None, description="insi: returned by INSi here; received: from another identification domain (rule 30)"
    )
    insi_checked_at: datetime | None = Field(None, description="Last INSi search or verification that matched")
    merged_into: UUID | None = Field(None, description="Set on a duplicate merged into another record")

    @field_validator("ins")
    @classmethod
    def _ins_when_retrieved(cls, value: Ins | None, info: ValidationInfo) -> Ins | None:
        if info.data.get("insi_verified") and value is None:
            raise violation("ins-required", "An identity retrieved by INSi carries its INS")
        return value

    @property
    def status(self) -> IdentityStatus:
        return identity_status(
            insi_verified=self.insi_verified,
            high_trust_proof=self.high_trust_proof,
            attributes=set(self.attributes),
        )

    def search_first_names(self) -> list[str]:
        """Every first name a search must match (RNIV rule 17)."""
        names = [*(self.prenoms_naissance or []), self.premier_prenom]
        if self.prenom_utilise:
            names.append(self.prenom_utilise)
        return names

    def search_names(self) -> list[str]:
        return [self.nom_naissance, *([self.nom_utilise] if self.nom_utilise else [])]


def outgoing_identity(record: UsagerRecord) -> dict[str, object]:
    """What any output (document, message, FHIR) may carry about the usager: the traits always, the INS
    (matricule + OID) only when ``may_share_ins`` says so (RNIV rule 28)."""
    identity: dict[str, object] = {
        "nom_naissance": record.nom_naissance,
        "prenoms_naissance": record.prenoms_naissance or [record.premier_prenom],
        "premier_prenom": record.premier_prenom,
        "sexe": record.sexe,
        "date_naissance": record.date_naissance.isoformat(),
        "lieu_naissance": record.lieu_naissance,
        "nom_utilise": record.nom_utilise,
        "prenom_utilise": record.prenom_utilise,
        "identity_status": record.status.value,
        "ins": None,
    }
    if record.ins is not None and may_share_ins(record.status):
        identity["ins"] = {"matricule": record.ins.matricule, "oid": record.ins.oid}
    return identity
