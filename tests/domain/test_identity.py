"""Identity: RNIV statuses, attributes and the single INS rule."""

from __future__ import annotations

import csv
from datetime import date
from itertools import product
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.domain.identity import (
    IdentityAttribute,
    IdentityStatus,
    UsagerIdentityInput,
    UsagerRecord,
    identity_status,
    may_share_ins,
)


def test_status_truth_table_matches_fr_core(shared_specs: Path) -> None:
    with (shared_specs / "domain/valuesets/nos/FRCore_identity_status_RNIV.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    for row in rows:
        status = identity_status(
            insi_verified=row["insi_recupere"] == "yes",
            high_trust_proof=row["controle_piece_haut_niveau_confiance"] == "yes",
            attributes=set(),
        )
        assert status.value == row["code"]


@pytest.mark.parametrize(("insi", "proof"), list(product([False, True], repeat=2)))
@pytest.mark.parametrize("attribute", [IdentityAttribute.DOUT, IdentityAttribute.FICT])
def test_doubtful_or_fictitious_identity_stays_provisional(
    insi: bool, proof: bool, attribute: IdentityAttribute
) -> None:
    assert identity_status(insi_verified=insi, high_trust_proof=proof, attributes={attribute}) is IdentityStatus.PROV


def test_homonym_attribute_does_not_change_the_status() -> None:
    assert (
        identity_status(insi_verified=True, high_trust_proof=True, attributes={IdentityAttribute.HOMA})
        is IdentityStatus.QUAL
    )


@pytest.mark.parametrize("status", list(IdentityStatus))
def test_only_a_qualified_identity_may_share_its_ins(status: IdentityStatus) -> None:
    assert may_share_ins(status) is (status is IdentityStatus.QUAL)


def test_minimum_traits_are_enough() -> None:
    person = UsagerIdentityInput(
        nom_naissance="MARTIN", premier_prenom="Jeanne", sexe="F", date_naissance=date(1940, 3, 12)
    )
    assert person.prenoms_naissance == ["Jeanne"]


def test_search_names_cover_every_first_name() -> None:
    person = UsagerRecord(
        nom_naissance="DUPONT",
        nom_utilise="LEFÈVRE",
        premier_prenom="Marie",
        prenoms_naissance=["Marie", "Odile"],
        prenom_utilise="Mimi",
        sexe="F",
        date_naissance=date(1940, 3, 12),
    )
    assert person.search_first_names() == ["Marie", "Odile", "Marie", "Mimi"]
    assert person.search_names() == ["DUPONT", "LEFÈVRE"]


def test_retrieved_identity_needs_its_ins() -> None:
    with pytest.raises(ValidationError) as error:
        UsagerRecord(
            nom_naissance="MARTIN",
            premier_prenom="Jeanne",
            sexe="F",
            date_naissance=date(1940, 3, 12),
            insi_verified=True,
        )
    assert error.value.errors()[0]["type"] == "ins-required"
    qualified = UsagerRecord(
        nom_naissance="MARTIN",
        premier_prenom="Jeanne",
        sexe="F",
        date_naissance=date(1940, 3, 12),
        insi_verified=True,
        high_trust_proof=True,
        ins={"matricule": "240037512345652", "oid": "1.2.250.1.213.1.4.8"},
    )
    assert qualified.status is IdentityStatus.QUAL


def test_death_before_birth_is_refused() -> None:
    with pytest.raises(ValidationError) as error:
        UsagerIdentityInput(
            nom_naissance="MARTIN",
            premier_prenom="Jeanne",
            sexe="F",
            date_naissance=date(1940, 3, 12),
            date_deces=date(1939, 1, 1),
        )
    assert error.value.errors()[0]["type"] == "death-after-birth"
