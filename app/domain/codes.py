"""Code systems and value sets, loaded once from the official files shipped in ``app/data``.

One loader per file format; one ``ValueSet`` per coded field family. Nothing here is typed by hand.
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path

from app.domain.errors import InvalidValue

_SVS = "{urn:ihe:iti:svs:2008}"


@dataclass(frozen=True)
class Concept:
    code: str
    display: str
    system: str
    deprecated: bool = False


class ValueSet:
    """The allowed codes of one coded field."""

    def __init__(self, name: str, concepts: list[Concept]) -> None:
        self.name = name
        self.concepts = {c.code: c for c in concepts}

    def __contains__(self, code: object) -> bool:
        return code in self.concepts

    def __len__(self) -> int:
        return len(self.concepts)

    def get(self, code: str) -> Concept | None:
        return self.concepts.get(code)

    def check(self, code: str, *, allow_deprecated: bool = True) -> str:
        """Return ``code`` if it belongs to the value set, else raise ``InvalidValue``."""
        concept = self.concepts.get(code)
        if concept is None:
            raise InvalidValue(f"code-{self.name}", f"'{code}' is not a code of {self.name}")
        if concept.deprecated and not allow_deprecated:
            raise InvalidValue(f"code-{self.name}-deprecated", f"'{code}' is deprecated in {self.name}")
        return code

    def display(self, code: str) -> str:
        concept = self.concepts.get(code)
        return concept.display if concept else code


def _data(relative: str) -> Path:
    return Path(str(resources.files("app").joinpath("data", relative)))


def _csv_rows(relative: str, delimiter: str = ",") -> list[dict[str, str]]:
    with _data(relative).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def _csv_value_set(name: str, relative: str, system_column: str = "code_system") -> ValueSet:
    concepts = [
        Concept(
            code=row["code"],
            display=row["display"],
            system=row.get(system_column) or row.get("system") or name,
            deprecated=(row.get("status") or "active") == "deprecated",
        )
        for row in _csv_rows(relative)
    ]
    return ValueSet(name, concepts)


def _svs_value_set(name: str, *relatives: str) -> ValueSet:
    today = date.today()
    concepts: list[Concept] = []
    for relative in relatives:
        root = ET.parse(_data(relative)).getroot()
        for element in root.iter(f"{_SVS}Concept"):
            end = element.get("dateFin") or ""
            retired = bool(end) and datetime.strptime(end[:8], "%Y%m%d").date() <= today
            concepts.append(
                Concept(
                    code=element.get("code", ""),
                    display=element.get("displayName", ""),
                    system=element.get("codeSystem", ""),
                    deprecated=retired,
                )
            )
    unique = {c.code: c for c in concepts}
    return ValueSet(name, list(unique.values()))


@dataclass(frozen=True)
class FinessCategory:
    code: str
    label: str
    domain: str
    aggregate: str
    aggregate_level1: str
    aggregate_level2: str
    deprecated: bool
    essms_ph: bool


@cache
def finess_categories() -> dict[str, FinessCategory]:
    """FINESS establishment categories (TRE_R66 / JDV_J55) with their aggregates."""
    return {
        row["code"]: FinessCategory(
            code=row["code"],
            label=row["label_JDV_J55"],
            domain=row["domaine"],
            aggregate=row["agregat"],
            aggregate_level1=row["agregat_niv1"],
            aggregate_level2=row["agregat_niv2"],
            deprecated=row["tre_r66_status_verified"] == "deprecated",
            essms_ph=row["in_JDV_J254_CategorieEtablissementESSMSPH"] == "yes",
        )
        for row in _csv_rows("finess/finess_categories_JDV_J55_with_agregats.csv")
    }


def check_finess_category(code: str) -> FinessCategory:
    category = finess_categories().get(code)
    if category is None:
        raise InvalidValue("code-finess-category", f"'{code}' is not a FINESS category (TRE_R66)")
    return category


@cache
def activity_types() -> ValueSet:
    """FINESS types of activity / accueil (TRE_R209)."""
    return _csv_value_set("TRE_R209", "nos/TRE_R209_TypeActivite_subset_in_JDV_J03.csv")


@cache
def modalites_accueil() -> ValueSet:
    """ROR modalités d'accueil (JDV_J226 / TRE_R338)."""
    return _csv_value_set("JDV_J226", "nos/JDV_J226_ModaliteAccueil_ROR.csv")


@cache
def contact_roles() -> ValueSet:
    """Role of a contact for the usager (TRE_R260: NOK personne de confiance, GUARD, CAREGIVER…)."""
    return _csv_value_set("TRE_R260", "nos/TRE_R260_HL7RoleClass.csv")


@cache
def relationships() -> ValueSet:
    """Relationship of a contact to the usager (JDV_J11, includes TRE_R217 protection roles)."""
    return _csv_value_set("JDV_J11", "tddui-cda/1.2.250.1.213.3.3.16_JDV_J11_RelationPatient_CISIS.csv")


@cache
def protection_roles() -> ValueSet:
    """Role of the protecting person (TRE_R217: TUTEUR, CURATEUR, MSVG)."""
    return _csv_value_set("TRE_R217", "nos/TRE_R217_ProtectionJuridique.csv")


@cache
def civilites() -> ValueSet:
    return _csv_value_set("JDV_J245", "tddui-cda/1.2.250.1.213.1.1.5.718_JDV_J245_Civilite_CISIS.csv")


@cache
def sexes() -> ValueSet:
    """Administrative sex (JDV_J143: F, M, UN)."""
    return _csv_value_set("JDV_J143", "tddui-cda/1.2.250.1.213.1.1.5.590_JDV_J143_AdministrativeGender_CISIS.csv")


@cache
def entry_modes() -> ValueSet:
    """Modalité d'entrée of a stay (jdv-modalite-entree-cisis)."""
    return _csv_value_set("JDV_ModaliteEntree", "tddui-cda/1.2.250.1.213.1.1.5.73_JdvModaliteEntreeCisis.csv")


@cache
def professions() -> ValueSet:
    """Professions and roles of professionals (JDV_J01: TRE_G15, TRE_R94, TRE_R85, TRE_A00…)."""
    return _svs_value_set(
        "JDV_J01",
        "nos-jdv/JDV_J01_XdsAuthorSpecialty_CISIS.xml",
        "nos-jdv/TRE_R94-ProfessionSocial.xml",
        "nos-jdv/TRE_R85-RolePriseCharge.xml",
    )


@cache
def functions() -> ValueSet:
    """Function of a professional towards the usager (JDV_J47)."""
    return _csv_value_set("JDV_J47", "tddui-cda/1.2.250.1.213.1.1.5.124_JDV_J47_FunctionCode_CISIS.csv")


@cache
def identity_statuses() -> ValueSet:
    """RNIV identity statuses (FR Core fr-core-cs-identity-status)."""
    return _csv_value_set("identity-status", "nos/FRCore_identity_status_RNIV.csv", system_column="system")


SERAFIN_SYSTEM = "https://smt.esante.gouv.fr/terminologie-SERAFINPH"


def _serafin(name: str, families: tuple[str, ...]) -> ValueSet:
    concepts = [
        Concept(code=row["code"], display=row["display"], system=SERAFIN_SYSTEM)
        for row in _csv_rows("serafin-ph/serafin_ph_nomenclature.csv")
        if row["family"].split("-")[0] in families
    ]
    return ValueSet(name, concepts)


@cache
def serafin_besoins() -> ValueSet:
    """SERAFIN-PH needs (nomenclature 1.x, JDV_J285)."""
    return _serafin("SERAFIN_besoins", ("1",))


@cache
def serafin_prestations() -> ValueSet:
    """SERAFIN-PH services: direct (2.x, JDV_J284) and indirect (3.x, JDV_J283)."""
    return _serafin("SERAFIN_prestations", ("2", "3"))


@cache
def plan_types() -> ValueSet:
    """Type of projet personnalisé (TRE_R390 / JDV_J367: PPA, PAI, PP…)."""
    return _csv_value_set("TRE_R390", "nos/TRE_R390_TypeProjetPersonnalise_JDV_J367.csv", system_column="system")


@cache
def bilan_categories() -> ValueSet:
    """Category of a review of the plan (TRE_R389 / JDV_J366: PARTIEL, INTERMEDIAIRE, FINAL)."""
    return _csv_value_set("TRE_R389", "nos/TRE_R389_StatutBilanProjetPersonnalise_JDV_J366.csv", system_column="system")


@cache
def evaluation_types() -> ValueSet:
    """Type of evaluation (JDV_TypeEvaluation_CISIS: MED-1293 AGGIR PA, MED-1291 SERAFIN…)."""
    return _csv_value_set("JDV_TypeEvaluation", "tddui-cda/1.2.250.1.213.1.1.5.802_JdvTypeEvaluationCisis.csv")


@cache
def gir_codes() -> ValueSet:
    """GIR result codes (JDV_GIR_CISIS: MED-339 GIR-1 … MED-344 GIR-6)."""
    return _csv_value_set("JDV_GIR", "tddui-cda/1.2.250.1.213.1.1.5.53_JdvGirCisis.csv")


def gir_code(gir: int) -> Concept:
    """The JDV_GIR_CISIS concept of a GIR."""
    for concept in gir_codes().concepts.values():
        if concept.display == f"GIR-{gir}":
            return concept
    raise ValueError(f"no code for GIR {gir}")


@cache
def document_types() -> ValueSet:
    """Types of document of the CI-SIS (JDV_J07_XdsTypeCode_CISIS: LOINC and TRE_A05)."""
    return _svs_value_set("JDV_J07", "nos-jdv/JDV_J07_XdsTypeCode_CISIS.xml")


@cache
def facility_types() -> ValueSet:
    """Types of healthcare facility (JDV_J02, TRE_R02 SecteurActivite: SA16, SA17…)."""
    return _svs_value_set("JDV_J02", "nos-jdv/JDV_J02_XdsHealthcareFacilityTypeCode_CISIS.xml")


@cache
def practice_settings() -> ValueSet:
    """Practice settings (JDV_J04: ESSMS, ETABLISSEMENT…)."""
    return _svs_value_set("JDV_J04", "nos-jdv/JDV_J04_XdsPracticeSettingCode_CISIS.xml")


@cache
def xds_confidentialities() -> ValueSet:
    """XDS confidentialityCode (JDV_J08): N/R/V and the DMP visibility codes (MASQUE_PS, INVISIBLE_PATIENT…)."""
    return _svs_value_set("JDV_J08", "nos-jdv/JDV_J08_XdsConfidentialityCode_CISIS.xml")


@cache
def confidentialities() -> ValueSet:
    """HL7 Confidentiality (N normal, R restricted, V very restricted): content and CDA/XDS documents."""
    return _csv_value_set("Confidentiality", "tddui-cda/2.16.840.1.113883.1.11.10228_Confidentiality.csv")


@dataclass(frozen=True)
class EssmsDocumentType:
    """A type of document an ESSMS produces, with its XDS class (ASS_X04) and DMP acceptance (JDV_J66)."""

    code: str
    system: str
    display: str
    class_code: str
    class_display: str
    in_dmp: bool


@cache
def essms_document_types() -> dict[str, EssmsDocumentType]:
    """The ESSMS document types (JDV_J07 members), their ASS_X04 class code and JDV_J66 membership."""
    return {
        row["code"]: EssmsDocumentType(
            code=row["code"],
            system=row["code_system"],
            display=row["display"],
            class_code=row["class_code"],
            class_display=row["class_display"],
            in_dmp=row["in_J66"] == "yes",
        )
        for row in _csv_rows("xds/ESSMS_document_types.csv")
    }
