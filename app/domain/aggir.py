"""The AGGIR grid: adverbs to modalities, sub-variables to variables, and the GIR by the legal algorithm.

The algorithm is CASF annexe 2-2 (décret 97-427, annexe II), read from the official table shipped in
``app/data/aggir`` (see NOTICE.md); nothing of it is re-typed here.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from app.domain.errors import DomainError, FieldIssue

MODALITIES = ("A", "B", "C")


class AlimentationMixedRule(StrEnum):
    """How alimentation combines when one sub-variable is A and the other C (AC or CA).

    The public sources disagree (aggir_subvariable_rules.csv: two implementations return C, the text quoted
    in one of them says "BC=C, CB=C, CC=C, sinon B", i.e. B). UNVERIFIED until the 2008 guide is read:
    a setting, ``DUI_AGGIR_ALIMENTATION_AC``.
    """

    C = "C"
    B = "B"


def _data(name: str) -> Path:
    return Path(str(resources.files("app").joinpath("data", "aggir", name)))


@dataclass(frozen=True)
class Algorithm:
    """CASF annexe 2-2 as data: per group, the value of each modality; thresholds; rank to GIR."""

    order: tuple[str, ...]
    groups: tuple[tuple[str, dict[str, dict[str, int]]], ...]
    thresholds: dict[str, tuple[tuple[int | None, int], ...]]
    rank_to_gir: dict[int, int]


@cache
def algorithm() -> Algorithm:
    raw: dict[str, Any] = json.loads(_data("aggir_algorithm_casf_annexe_2_2.json").read_text(encoding="utf-8"))
    thresholds = {
        group: tuple((None if t.get("otherwise") else int(t["min_inclusive"]), int(t["rank"])) for t in items)
        for group, items in raw["thresholds"].items()
    }
    return Algorithm(
        order=tuple(raw["variables_order"]),
        groups=tuple((name, table) for name, table in raw["groups"].items()),
        thresholds=thresholds,
        rank_to_gir={int(rank): int(gir) for rank, gir in raw["rank_to_gir"].items()},
    )


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    sub_variables: tuple[str, ...]
    discriminant: bool
    icf_pa: tuple[str, ...]


@cache
def variables() -> dict[str, Variable]:
    """The 10 discriminant and 7 illustrative variables with their sub-variables (aggir_variables.csv)."""
    with _data("aggir_variables.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    legal_labels: dict[str, str] = json.loads(
        _data("aggir_algorithm_casf_annexe_2_2.json").read_text(encoding="utf-8")
    )["variable_labels_in_legal_text"]
    result: dict[str, Variable] = {}
    for row in rows:
        name = row["variable"]
        known = result.get(name)
        subs = (*known.sub_variables, row["sub_variable"]) if known else (row["sub_variable"],)
        icf = row["tddui_aggir_pa_item_icf"].split(" ")[0]
        result[name] = Variable(
            name=name,
            label=legal_labels.get(name) or row["label_fr"].split(" (")[0],
            sub_variables=tuple(s for s in subs if s),
            discriminant=row["discriminant"].startswith("yes"),
            icf_pa=(*(known.icf_pa if known else ()), icf) if icf else (known.icf_pa if known else ()),
        )
    return result


def discriminant_variables() -> tuple[str, ...]:
    return algorithm().order


def illustrative_variables() -> tuple[str, ...]:
    return tuple(v.name for v in variables().values() if not v.discriminant)


class AggirInputError(DomainError):
    code = "aggir-invalid"
    title = "Invalid AGGIR grid"
    status = 422


def adverbs_to_modality(*, spontanement: bool, totalement: bool, correctement: bool, habituellement: bool) -> str:
    """S, T, C, H all met -> A; none met (ne fait pas) -> C; otherwise B (guide de remplissage, 2008)."""
    met = sum((spontanement, totalement, correctement, habituellement))
    return "A" if met == 4 else "C" if met == 0 else "B"


def combine(variable: str, letters: tuple[str, ...], alimentation_mixed: AlimentationMixedRule) -> str:
    """The variable's modality from its sub-variables' (aggir_subvariable_rules.csv)."""
    if all(letter == "A" for letter in letters):
        return "A"
    if variable in ("coherence", "orientation", "elimination"):
        return "C" if "C" in letters else "B"
    if variable in ("toilette", "habillage"):
        return "C" if all(letter == "C" for letter in letters) else "B"
    if variable == "alimentation":
        if set(letters) == {"A", "C"}:
            return alimentation_mixed.value
        return "C" if "C" in letters and ("B" in letters or set(letters) == {"C"}) else "B"
    raise ValueError(f"{variable} has no sub-variables")


def gir(scores: Mapping[str, str]) -> int:
    """The GIR (1-6) of one person by CASF annexe 2-2, from the modality A/B/C of each discriminant variable.

    Groups A..H are tried in order; the first whose sum reaches one of its thresholds (inclusive, highest
    first) gives the rank; group H always concludes; the rank gives the GIR.
    """
    table = algorithm()
    issues = [
        FieldIssue(name, "aggir-variable-missing", f"No modality for {name}")
        for name in table.order
        if name not in scores
    ]
    issues += [
        FieldIssue(name, "aggir-modality", f"{name} is {scores[name]!r}, not A, B or C")
        for name in table.order
        if name in scores and scores[name] not in MODALITIES
    ]
    issues += [
        FieldIssue(name, "aggir-variable-unknown", f"{name} is not a discriminant AGGIR variable")
        for name in scores
        if name not in table.order
    ]
    if issues:
        raise AggirInputError("The AGGIR modalities are incomplete or invalid", issues=issues)
    for group, values in table.groups:
        total = sum(values[name][scores[name]] for name in table.order)
        for minimum, rank in table.thresholds[group]:
            if minimum is None or total >= minimum:
                return table.rank_to_gir[rank]
    raise AssertionError("group H always concludes")  # pragma: no cover
