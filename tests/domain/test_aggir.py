"""gir() against the official oracles, and against an independent transcription of the CASF annexe 2-2 table."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import aggir
from app.domain.aggir import AlimentationMixedRule, adverbs_to_modality, combine, gir
from app.domain.errors import DomainError

WEIGHTED = (
    "coherence",
    "orientation",
    "toilette",
    "habillage",
    "alimentation",
    "elimination",
    "transferts",
    "deplacement_interieur",
)
ALL = (*WEIGHTED, "deplacement_exterieur", "alerter")

# Typed from the legal text (CASF annexe 2-2) independently of the JSON the product reads:
# group -> (value of C, value of B) for the 8 weighted variables in WEIGHTED order, then thresholds -> rank.
LEGAL_TABLE: dict[str, tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]] = {
    "A": (
        ((2000, 0), (1200, 0), (40, 16), (40, 16), (60, 20), (100, 16), (800, 120), (200, 32)),
        ((4380, 1), (4140, 2), (3390, 3)),
    ),
    "B": (((1500, 320), (1200, 120), (40, 16), (40, 16), (60, 0), (100, 16), (800, 120), (-80, -40)), ((2016, 4),)),
    "C": (((0, 0), (0, 0), (40, 16), (40, 16), (60, 20), (160, 20), (1000, 200), (400, 40)), ((1700, 5), (1432, 6))),
    "D": (((0, 0), (0, 0), (0, 0), (0, 0), (2000, 200), (400, 200), (2000, 200), (200, 0)), ((2400, 7),)),
    "E": (((400, 0), (400, 0), (400, 100), (400, 100), (400, 100), (800, 100), (800, 100), (200, 0)), ((1200, 8),)),
    "F": (
        ((200, 100), (200, 100), (500, 100), (500, 100), (500, 100), (500, 100), (500, 100), (200, 0)),
        ((800, 9),),
    ),
    "G": (((150, 0), (150, 0), (300, 200), (300, 200), (500, 200), (500, 200), (400, 200), (200, 100)), ((650, 10),)),
    "H": (
        ((0, 0), (0, 0), (3000, 2000), (3000, 2000), (3000, 2000), (3000, 2000), (1000, 2000), (1000, 1000)),
        ((4000, 11), (2000, 12), (-(10**9), 13)),
    ),
}
RANK_TO_GIR = {1: 1, **dict.fromkeys(range(2, 8), 2), 8: 3, 9: 3, 10: 4, 11: 4, 12: 5, 13: 6}


def reference_gir(letters: tuple[str, ...]) -> int:
    """A straightforward reading of the legal table, written without looking at the product code."""
    for values, thresholds in LEGAL_TABLE.values():
        total = 0
        for letter, (c_value, b_value) in zip(letters[:8], values, strict=True):
            total += c_value if letter == "C" else b_value if letter == "B" else 0
        for minimum, rank in thresholds:
            if total >= minimum:
                return RANK_TO_GIR[rank]
    raise AssertionError


def _scores(row: dict[str, str], extra: str = "A") -> dict[str, str]:
    return {**{name: row[name] for name in WEIGHTED}, "deplacement_exterieur": extra, "alerter": extra}


def _rows(shared_specs: Path, name: str) -> list[dict[str, str]]:
    with (shared_specs / "domain" / "aggir" / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_boundary_case(shared_specs: Path) -> None:
    rows = _rows(shared_specs, "aggir_boundary_cases.csv")
    assert len(rows) == 1372
    wrong = [(r, gir(_scores(r))) for r in rows if gir(_scores(r)) != int(r["gir"])]
    assert wrong == []


def test_every_mutation_case(shared_specs: Path) -> None:
    rows = _rows(shared_specs, "aggir_mutation_cases.csv")
    assert len(rows) == 60
    for row in rows:
        assert gir(_scores(row, "C")) == int(row["expected_gir"]), row
        assert int(row["expected_gir"]) != int(row["gir_under_wrong_variant"])


def test_exhaustive_against_the_independent_table() -> None:
    distribution = {g: 0 for g in range(1, 7)}
    for letters in itertools.product("ABC", repeat=8):
        expected = reference_gir(letters)
        assert gir(dict(zip(ALL, (*letters, "B", "C"), strict=True))) == expected, letters
        distribution[expected] += 1
    # The distribution over the 6561 combinations published with the oracles (domain reference §4.1).
    assert distribution == {1: 8, 2: 3208, 3: 2400, 4: 760, 5: 157, 6: 28}


@given(st.tuples(*[st.sampled_from("ABC")] * 10))
def test_the_two_unweighted_variables_never_change_the_gir(letters: tuple[str, ...]) -> None:
    scores = dict(zip(ALL, letters, strict=True))
    base = gir(scores)
    assert base == reference_gir(letters)
    for ext, alert in itertools.product("ABC", repeat=2):
        assert gir({**scores, "deplacement_exterieur": ext, "alerter": alert}) == base


@pytest.mark.parametrize(
    ("letters", "expected"),
    [
        ("AAAAAAAA", 6),
        ("CCCCCCCC", 1),
        ("CCAAAAAA", 2),
        ("AACCCCAA", 2),
        ("AABBAAAA", 4),
        ("AAAAAABA", 5),
        ("AAAAAACA", 6),
        ("BBAAAAAA", 6),
        ("BBBBBBBB", 4),
    ],
)
def test_hand_checked_cases(letters: str, expected: int) -> None:
    assert gir(dict(zip(ALL, (*letters, "A", "A"), strict=True))) == expected


def test_missing_and_bad_variables_are_named() -> None:
    scores = {name: "A" for name in ALL if name != "transferts"}
    scores["toilette"] = "D"
    scores["humeur"] = "A"
    with pytest.raises(DomainError) as raised:
        gir(scores)
    assert {(i.field, i.rule) for i in raised.value.issues} == {
        ("transferts", "aggir-variable-missing"),
        ("toilette", "aggir-modality"),
        ("humeur", "aggir-variable-unknown"),
    }


@pytest.mark.parametrize(
    ("adverbs", "expected"),
    [((True, True, True, True), "A"), ((False, False, False, False), "C")]
    + [(a, "B") for a in itertools.product((True, False), repeat=4) if 0 < sum(a) < 4],
)
def test_adverbs(adverbs: tuple[bool, bool, bool, bool], expected: str) -> None:
    s, t, c, h = adverbs
    assert adverbs_to_modality(spontanement=s, totalement=t, correctement=c, habituellement=h) == expected


SUBVARIABLE_TABLE = {
    # variable: {combination: modality} per aggir_subvariable_rules.csv (AC/CA of alimentation: the setting)
    "coherence": {"AA": "A", "AB": "B", "BA": "B", "BB": "B", "AC": "C", "CA": "C", "BC": "C", "CB": "C", "CC": "C"},
    "toilette": {"AA": "A", "AB": "B", "BA": "B", "BB": "B", "AC": "B", "CA": "B", "BC": "B", "CB": "B", "CC": "C"},
    "alimentation": {"AA": "A", "AB": "B", "BA": "B", "BB": "B", "BC": "C", "CB": "C", "CC": "C"},
}


@pytest.mark.parametrize("rule", list(AlimentationMixedRule))
def test_subvariable_combinations(rule: AlimentationMixedRule) -> None:
    for variable, table in SUBVARIABLE_TABLE.items():
        for same in (variable,) + (("orientation", "elimination") if variable == "coherence" else ()):
            for pair, expected in table.items():
                assert combine(same, tuple(pair), rule) == expected, (same, pair)
    assert combine("alimentation", ("A", "C"), rule) == rule.value
    assert combine("alimentation", ("C", "A"), rule) == rule.value
    for triple in itertools.product("ABC", repeat=3):
        expected = "A" if set(triple) == {"A"} else "C" if set(triple) == {"C"} else "B"
        assert combine("habillage", triple, rule) == expected


def test_the_grid_has_ten_discriminant_and_seven_illustrative_variables() -> None:
    assert aggir.discriminant_variables() == ALL
    assert len(aggir.illustrative_variables()) == 7
    assert aggir.variables()["habillage"].sub_variables == ("haut", "moyen", "bas")
    assert aggir.variables()["transferts"].sub_variables == ()
