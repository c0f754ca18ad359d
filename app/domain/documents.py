"""Documents produced for a usager: kinds, types, versions, and the codes derived from the ESSMS."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field

from app.domain import codes
from app.domain.errors import RuleViolation
from app.domain.types import DomainModel, ShortText


class DocumentKind(StrEnum):
    """The volet a document follows: N1 (structuration minimale + PDF) or a structured (N3) volet.

    FLUDR documents are received from emergency departments and attached, never generated here.
    """

    N1_PDF = "N1_PDF"
    DLU = "DLU"
    FLUDT = "FLUDT"
    FLUDR = "FLUDR"
    # N1 documents rendered from a record: the projet personnalisé (a plan version) and the AGGIR report.
    PPA = "PPA"
    AGGIR = "AGGIR"


# INFERRED: TRE_R02 sector of a FINESS category, through its TRE_R64 aggregate (ASS_X10). No official
# correspondence table was available; SA41 (autre établissement social ou médico-social) is the fallback.
_FACILITY_BY_AGGREGATE_LEVEL2 = {"4100": "SA16", "4300": "SA16", "4400": "SA17", "4500": "SA20"}
_FACILITY_BY_AGGREGATE = {"4601": "SA21", "4602": "SA21", "4607": "SA21"}
_FACILITY_BY_CATEGORY = {"640": "SA18"}  # SAADF: aide et accompagnement à domicile aux familles


def facility_type_code(finess_category: str) -> str:
    """healthCareFacility code (JDV_J02, SA16/SA17/SA18/SA20/SA21/SA41) of an ESSMS from its FINESS category."""
    category = codes.check_finess_category(finess_category)
    return (
        _FACILITY_BY_CATEGORY.get(category.code)
        or _FACILITY_BY_AGGREGATE.get(category.aggregate)
        or _FACILITY_BY_AGGREGATE_LEVEL2.get(category.aggregate_level2)
        or "SA41"
    )


PRACTICE_SETTING = "ESSMS"  # JDV_J04; the DMP J62 snapshot lacks it (see Settings.dmp_practice_setting)


def check_document_type(code: str) -> codes.Concept:
    """A type of document of the CI-SIS (JDV_J07); 422 otherwise."""
    concept = codes.document_types().get(code)
    if concept is None:
        raise RuleViolation("code-JDV_J07", f"'{code}' is not a type of document (JDV_J07)", field="type_code")
    return concept


def check_uploadable_type(code: str) -> codes.EssmsDocumentType:
    """A type a staff member may choose for an uploaded PDF: an ESSMS type accepted by the DMP (JDV_J66)."""
    check_document_type(code)
    known = codes.essms_document_types().get(code)
    if known is None or not known.in_dmp:
        raise RuleViolation("code-JDV_J66", f"'{code}' is not a DMP type of document (JDV_J66)", field="type_code")
    return known


class DocumentRequest(DomainModel):
    """Ask for a document of one kind for a usager."""

    kind: DocumentKind = Field(
        DocumentKind.N1_PDF,
        description="N1_PDF (any JDV_J66 type + PDF/A), PPA (from plan_id), AGGIR (from evaluation_id), DLU or FLUDT",
    )
    type_code: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="JDV_J66 type of an N1 document (ignored for structured volets)"
    )
    title: ShortText | None = Field(None, description="Title (defaults to the type's display name)")
    essms_id: UUID | None = Field(None, description="The ESSMS custodian (default: the usager's first ESSMS)")
    professional_id: UUID | None = Field(
        None, description="Responsible professional, legal authenticator (default: one working in the ESSMS)"
    )
    author_is_software: bool = Field(
        False, description="Author is the DUI software (device) instead of the professional"
    )
    pdf_base64: str | None = Field(None, description="An uploaded PDF/A (base64), for N1 documents")
    replaces: UUID | None = Field(None, description="Document this one replaces (same setId, next version, RPLC)")
    data: dict[str, Any] | None = Field(
        None, description="Volet data of structured volets (DLU: DluData, FLUDT: FludtData)"
    )
    plan_id: UUID | None = Field(None, description="PPA: the plan version rendered (validated or in progress)")
    evaluation_id: UUID | None = Field(None, description="AGGIR: the AGGIR evaluation reported")


@dataclass(frozen=True)
class VersionChain:
    """setId, versionNumber and the replaced document of a new document."""

    set_id: str
    version: int
    parent_id: str | None

    @classmethod
    def first(cls, document_id: str) -> VersionChain:
        return cls(set_id=document_id, version=1, parent_id=None)

    def replaced_by(self, parent_document_id: str) -> VersionChain:
        """The chain of a replacement: same setId, versionNumber + 1, relatedDocument RPLC to the parent."""
        return VersionChain(set_id=self.set_id, version=self.version + 1, parent_id=parent_document_id)
