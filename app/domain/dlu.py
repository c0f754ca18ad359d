"""What a DLU (dossier de liaison d'urgence, EHPAD) says, as staff enter it: pure data and its value sets."""

from __future__ import annotations

from functools import cache
from typing import Annotated

from pydantic import Field

from app.domain import codes
from app.domain.types import DomainModel, Finess, LongText, Rpps, ShortText, coded

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
