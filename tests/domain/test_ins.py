"""INS values and the RNIV rules applied to INSi answers."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.domain import ins
from app.domain.errors import InvalidValue
from app.domain.identity import TypedIns


@pytest.mark.parametrize(
    ("number", "key"),
    [
        ("297022A020778", "78"),
        ("180032B020401", "23"),
        ("160012B020777", "13"),
        ("2360663220836", "56"),
        ("1090763220834", "89"),
        ("1090763220888", "35"),
    ],
)
def test_key_of_the_cnam_test_identities(number: str, key: str) -> None:
    assert ins.ins_key(number) == key
    assert ins.check_matricule(number + key) == number + key


def test_the_key_of_every_dmp_test_patient(shared_specs: Path) -> None:
    patients = json.loads((shared_specs / "services/dmp/test-patients/patients-dmp-jeu-essai.json").read_text())
    values = [str(p["matriculeInsNir"]) for p in patients if p.get("matriculeInsNir")]
    assert len(values) > 90
    for value in values:
        assert ins.ins_key(value[:13]) == value[13:], value


@pytest.mark.parametrize(
    ("matricule", "rule"),
    [("297022A02077879", "ins-key"), ("29702", "ins-format"), ("29702XA020778 78", "ins-format")],
)
def test_typed_matricule_refused(matricule: str, rule: str) -> None:
    with pytest.raises(InvalidValue) as error:
        ins.check_matricule(matricule)
    assert error.value.rule == rule


def test_typed_ins_names_field_and_rule() -> None:
    with pytest.raises(ValidationError) as error:
        TypedIns(matricule="297022A02077879", oid="1.2.250.1.213.1.4.7")
    kinds = {(e["loc"][0], e["type"]) for e in error.value.errors()}
    assert kinds == {("matricule", "ins-key"), ("oid", "ins-oid")}


@pytest.mark.parametrize("oid", sorted(ins.INS_OIDS))
def test_test_and_demo_oids_accepted(oid: str) -> None:
    assert TypedIns(matricule="297022A02077878", oid=oid).oid == oid


def _identity(**changes: object) -> ins.InsiIdentity:
    base = {
        "ins": ins.InsNumber("1810363220456", "60", ins.OID_NIR),
        "history": (),
        "nom_naissance": "HERMANN",
        "prenoms": ("GATIEN",),
        "sexe": "M",
        "date_naissance": "1981-03-24",
        "lieu_naissance": "63220",
    }
    return ins.InsiIdentity(**{**base, **changes})  # type: ignore[arg-type]


def test_a_key_returned_by_insi_is_never_refused() -> None:
    # HERMANN GATIEN (CNDA TEST_2.08 cas 2) carries a key that does not match the formula.
    assert ins.ins_key("1810363220456") != "60"
    assert ins.refusals(_identity()) == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"date_naissance": "1981-03-00"}, ins.InsiRefusal.DAY_OR_MONTH_00),
        ({"date_naissance": "1981-00-24"}, ins.InsiRefusal.DAY_OR_MONTH_00),
        ({"nom_naissance": ""}, ins.InsiRefusal.EMPTY_NAME),
        ({"prenoms": ()}, ins.InsiRefusal.EMPTY_FIRST_NAMES),
        ({"sexe": ""}, ins.InsiRefusal.EMPTY_SEX),
        ({"date_naissance": "1981-02-30"}, ins.InsiRefusal.BAD_DATE),
        ({"ins": ins.InsNumber("18103", "60", ins.OID_NIR)}, ins.InsiRefusal.BAD_MATRICULE),
        ({"ins": ins.InsNumber("1810363220456", "60", "1.2.3")}, ins.InsiRefusal.UNKNOWN_OID),
    ],
)
def test_rniv_rules_11_12_refuse(changes: dict[str, object], reason: ins.InsiRefusal) -> None:
    assert ins.refusals(_identity(**changes)) == [reason]


def test_search_plan_one_first_name_then_the_list_then_the_place() -> None:
    plan = ins.search_plan("Écetinsi", ["Pierre-Alain", "Muriel"], "M", date(2009, 7, 14), "63220")
    assert [(t.nom_naissance, t.prenom, t.lieu_naissance) for t in plan] == [
        ("ECETINSI", "PIERRE-ALAIN", None),
        ("ECETINSI", "MURIEL", None),
        ("ECETINSI", "PIERRE-ALAIN MURIEL", None),
        ("ECETINSI", "PIERRE-ALAIN", "63220"),
        ("ECETINSI", "MURIEL", "63220"),
        ("ECETINSI", "PIERRE-ALAIN MURIEL", "63220"),
    ]


def test_compare_field_by_field() -> None:
    stored = ins.StoredTraits("Hermann", ("Gatien",), "M", date(1981, 3, 24), "63220", "181036322045660", ins.OID_NIR)
    assert ins.compare(stored, _identity()).identical
    other = ins.compare(stored, _identity(sexe="F", ins=ins.InsNumber("2810363220456", "10", ins.OID_NIR)))
    assert [d.field for d in other.differences] == ["ins.matricule", "sexe"]


def test_duplicate_key_ignores_case_accents_and_separators() -> None:
    born = date(1940, 3, 12)
    assert ins.duplicate_key("D'Argent-Lévêque", "Hélène", born, "F") == ins.duplicate_key(
        "DARGENT LEVEQUE", "helene", born, "F"
    )
