"""The committed demo data set is what ``fixtures/generate.py`` produces, and holds what the demo shows."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from app.domain import text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_fixtures_generate", FIXTURES / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    return json.loads((FIXTURES / "demo.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_committed_file_is_the_generator_output(demo: dict[str, Any]) -> None:
    generator = _generator()
    built = generator.build()
    assert built == demo, "fixtures/demo.json is stale: run python fixtures/generate.py"
    assert generator.render(built) == (FIXTURES / "demo.json").read_text(encoding="utf-8")


def test_demo_content(demo: dict[str, Any]) -> None:
    usagers = demo["usagers"]
    assert 180 <= len(usagers) <= 220
    assert {"500", "183", "255", "354", "448"} <= {e["categorie"] for e in demo["essms"]}
    assert any(e["finess_et"].startswith(("2A", "2B")) for e in demo["essms"])

    helene = [u for u in usagers if u["nom_naissance"] == "D'ARGENT-LÉVÊQUE" and u["premier_prenom"] == "Hélène"]
    assert len(helene) == 1
    keys = {t for name in (helene[0]["nom_naissance"], helene[0]["premier_prenom"]) for t in text.name_keys(name)}
    assert set(text.tokens("helene dargent leveque")) <= keys

    places = [u.get("lieu_naissance") or "" for u in usagers]
    assert any(p.startswith(("2A", "2B")) for p in places)
    assert sum(p.startswith("99") for p in places) >= 10

    names = " ".join(u["nom_naissance"] + " " + " ".join(u.get("prenoms_naissance", [])) for u in usagers)
    for character in "ÉÈÊÏÇŒ'-":
        assert character in names

    assert len({u["identifiant_local"] for u in usagers}) == len(usagers)
    matricules = [u["ins"]["matricule"] for u in usagers if "ins" in u]
    assert len(set(matricules)) == len(matricules) >= 20
    nok = Counter(c["usager"] for c in demo["contacts"] if "NOK" in c["roles"])
    assert max(nok.values()) == 1


def test_demo_accompaniment(demo: dict[str, Any]) -> None:
    statuses = Counter(tuple(v["status"] for v in p["versions"]) for p in demo["plans"])
    assert statuses[("revised", "in_progress")] >= 5 and statuses[("in_progress", "draft")] >= 1
    assert {"draft", "submitted", "validated", "in_progress", "closed"} <= {
        v["status"] for p in demo["plans"] for v in p["versions"]
    }
    assert any(v.get("bilans_suivi") for p in demo["plans"] for v in p["versions"])
    grids = Counter(e["detail"]["grille"] for e in demo["evaluations"])
    assert grids["aggir"] >= 100 and grids["serafin"] >= 30
    assert sum("corrige" in t for t in demo["transmissions"]) >= 5
    assert {t["categorie"] for t in demo["transmissions"]} == {"narrative", "ciblee"}
