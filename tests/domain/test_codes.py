"""Code systems come from the official files, copied unchanged."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from app.domain import codes
from app.domain.errors import InvalidValue

COPIES = {
    "finess/finess_categories_JDV_J55_with_agregats.csv": "domain/finess/finess_categories_JDV_J55_with_agregats.csv",
    "finess/ASS_X10_AgregatCategorieEtablissement.csv": "domain/finess/ASS_X10_AgregatCategorieEtablissement.csv",
    "nos/TRE_R260_HL7RoleClass.csv": "domain/valuesets/nos/TRE_R260_HL7RoleClass.csv",
    "nos/TRE_R217_ProtectionJuridique.csv": "domain/valuesets/nos/TRE_R217_ProtectionJuridique.csv",
    "nos/TRE_R209_TypeActivite_subset_in_JDV_J03.csv": (
        "domain/valuesets/nos/TRE_R209_TypeActivite_subset_in_JDV_J03.csv"
    ),
    "nos-jdv/JDV_J01_XdsAuthorSpecialty_CISIS.xml": "services/dmp/nos-jdv/JDV_J01_XdsAuthorSpecialty_CISIS.xml",
    "nos-jdv/TRE_R85-RolePriseCharge.xml": "services/dmp/nos-jdv/TRE_R85-RolePriseCharge.xml",
    "tddui-cda/1.2.250.1.213.3.3.16_JDV_J11_RelationPatient_CISIS.csv": (
        "domain/valuesets/tddui-cda/1.2.250.1.213.3.3.16_JDV_J11_RelationPatient_CISIS.csv"
    ),
}


@pytest.mark.parametrize(("ours", "official"), COPIES.items())
def test_shipped_data_is_the_official_file(shared_specs: Path, ours: str, official: str) -> None:
    shipped = Path(str(resources.files("app").joinpath("data", ours))).read_bytes()
    assert shipped == (shared_specs / official).read_bytes()


def test_finess_categories() -> None:
    categories = codes.finess_categories()
    assert {"500", "183", "255", "354", "448"} <= set(categories)
    assert categories["437"].deprecated and not categories["448"].deprecated
    with pytest.raises(InvalidValue):
        codes.check_finess_category("999")


def test_value_sets() -> None:
    assert "NOK" in codes.contact_roles() and codes.contact_roles().get("QUAL").deprecated  # type: ignore[union-attr]
    assert {"TUTEUR", "CURATEUR", "MSVG"} <= set(codes.relationships().concepts)
    assert codes.professions().get("G15_10").system == "1.2.250.1.213.1.1.4.5"  # type: ignore[union-attr]
    assert codes.professions().get("328") is not None
    assert codes.activity_types().display("11").startswith("Hébergement complet")
    with pytest.raises(InvalidValue) as error:
        codes.sexes().check("X")
    assert error.value.rule == "code-JDV_J143"
