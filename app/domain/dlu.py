"""What a DLU (dossier de liaison d'urgence, EHPAD) says, as staff enter it: pure data and its value sets."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Literal

from pydantic import Field, model_validator

from app.domain import codes
from app.domain.types import DomainModel, Finess, LongText, Rpps, ShortText, coded, violation

_VALUE_SETS = "cda/TestContenuCDA-3-0/jeuxDeValeurs/"


@cache
def patient_observations() -> codes.ValueSet:
    """State of the patient observed for the DLU (JDV_ObservationEtatPatient_CISIS, SNOMED CT)."""
    return codes._svs_value_set("JDV_ObservationEtatPatient", _VALUE_SETS + "JDV_ObservationEtatPatient_CISIS.xml")


@cache
def checklist() -> codes.ValueSet:
    """Documents joined to the DLU (JDV_ChecklistDLU_CISIS)."""
    return codes._svs_value_set("JDV_ChecklistDLU", _VALUE_SETS + "JDV_ChecklistDLU_CISIS.xml")


class MedecinTraitant(DomainModel):
    nom: ShortText
    prenom: ShortText
    rpps: Rpps | None = None
    telephone: Annotated[str, Field(pattern=r"^\+?[0-9]{6,15}$")] | None = None


class Etablissement(DomainModel):
    nom: ShortText
    finess: Finess | None = None


class Traitement(DomainModel):
    libelle: ShortText
    code_cis: Annotated[str, Field(pattern=r"^\d{8}$")] | None = Field(None, description="Code CIS (BDPM)")
    posologie: ShortText | None = None


class EtatPatient(DomainModel):
    code: Annotated[str, coded(patient_observations)] = Field(description="JDV_ObservationEtatPatient")
    present: bool


class DluData(DomainModel):
    """The sections of a DLU; every mandatory section of the volet has a mandatory field here."""

    medecin_traitant: MedecinTraitant
    etablissement_preference: Etablissement
    traitements: list[Traitement] = Field(min_length=1, max_length=60)
    directives_anticipees: bool
    observations: list[EtatPatient] = Field(min_length=1, max_length=40)
    bmr: bool = Field(False, description="Porteur de bactérie multirésistante")
    documents: list[Annotated[str, coded(checklist)]] = Field(min_length=1, max_length=20)
    commentaire: LongText | None = None


@cache
def prothesis_codes() -> codes.ValueSet:
    """Prostheses and personal belongings (JDV_ProtheseObjetPersonnel_CISIS: EMDN and TA_ASIP codes)."""
    return codes._svs_value_set("JDV_ProtheseObjetPersonnel", _VALUE_SETS + "JDV_ProtheseObjetPersonnel_CISIS.xml")


# State of consciousness codes the FLUDT volet accepts (TA_ASIP 1.2.250.1.213.1.1.4.322). Only DLU_002's label is
# in the public example; the other labels are UNVERIFIED.
CONSCIENCE = {"DLU_002": "Conscient et éveillé", "DLU_003": "Conscience altérée", "DLU_004": "Inconscient"}


class SignesVitaux(DomainModel):
    pouls: int | None = Field(None, ge=10, le=300, description="/min")
    temperature: float | None = Field(None, ge=25, le=45, description="°C")
    poids: float | None = Field(None, gt=0, le=400, description="kg")
    tension_systolique: int | None = Field(None, ge=30, le=300, description="mm[Hg]")
    tension_diastolique: int | None = Field(None, ge=10, le=200, description="mm[Hg]")

    @model_validator(mode="after")
    def _one(self) -> SignesVitaux:
        if all(v is None for v in self.model_dump().values()):
            raise violation("signes-vitaux-required", "Give at least one vital sign")
        return self


class FludtData(DomainModel):
    """Fiche de liaison EHPAD -> urgences: every mandatory section of the FLUDT volet has a mandatory field."""

    medecin_traitant: MedecinTraitant
    motif_transfert: ShortText
    destination: Etablissement | None = None
    moment: datetime = Field(description="Moment of the transfer (and of the vital signs)")
    signes_vitaux: SignesVitaux
    conscience: Literal["DLU_002", "DLU_003", "DLU_004"]
    douleur: bool
    traitements: list[Traitement] = Field(min_length=1, max_length=60)
    dernier_repas: datetime
    protheses: list[Annotated[str, coded(prothesis_codes)]] = Field(min_length=1, max_length=20)
    commentaire: LongText | None = None
