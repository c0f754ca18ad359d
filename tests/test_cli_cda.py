"""``dui cda validate`` and ``dui cda generate`` on a throw-away SQLite database."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import orjson
import pytest
from lxml import etree
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.domain.finess import with_key


@pytest.fixture
def cda_env(tmp_path: Path, cda_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DUI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("DUI_CDA_CACHE_DIR", str(cda_cache_dir))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_validate_reports_each_file(cda_env: Path, shared_specs: Path) -> None:
    good = shared_specs / "cda/TestContenuCDA-3-0/ExemplesCDA/DOC_NON_STRUCTURE_CDA-R2-N1.xml"
    broken = shared_specs / "cda/test-fixtures/DLU-EHPAD-DLU_2022.01_BROKEN.xml"
    runner = CliRunner()
    ok = runner.invoke(cli, ["cda", "validate", str(good)])
    assert ok.exit_code == 0, ok.output
    assert "VALID" in ok.output
    bad = runner.invoke(cli, ["cda", "validate", str(good), str(broken)])
    assert bad.exit_code == 1
    assert "INVALID" in bad.output and "[error] xsd" in bad.output and "Traitements" in bad.output
    assert "at /ClinicalDocument[1]" in bad.output


def test_generate_writes_a_valid_document(cda_env: Path) -> None:
    fixture = cda_env / "small.json"
    fixture.write_bytes(
        orjson.dumps(
            {
                "organismes": [{"key": "og", "finess_ej": with_key("13000001"), "raison_sociale": "APF"}],
                "essms": [
                    {
                        "key": "es",
                        "organisme": "og",
                        "finess_et": with_key("13000002"),
                        "nom": "MAS du Pin",
                        "categorie": "255",
                        "types_activite": ["11"],
                    }
                ],
                "professionals": [
                    {
                        "key": "p",
                        "identifiant_local": "AES-7",
                        "nom": "ROUX",
                        "prenom": "Lina",
                        "profession": "328",
                        "affectations": [{"essms": "es"}],
                    }
                ],
                "usagers": [
                    {
                        "key": "u",
                        "essms": "es",
                        "identifiant_local": "U1",
                        "nom_naissance": "N'DIAYE",
                        "premier_prenom": "Awa",
                        "sexe": "F",
                        "date_naissance": "1984-07-01",
                    }
                ],
            }
        )
    )
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    assert runner.invoke(cli, ["load-fixtures", "--path", str(fixture)]).exit_code == 0
    with sqlite3.connect(cda_env / "cli.sqlite3") as db:
        usager_id = str(uuid.UUID(db.execute("SELECT id FROM usager").fetchone()[0]))
    output = cda_env / "ppa.xml"
    result = runner.invoke(
        cli, ["cda", "generate", "--usager", usager_id, "--type", "80788-3", "-o", str(output), "--software-author"]
    )
    assert result.exit_code == 0, result.output
    root = etree.parse(str(output)).getroot()
    ns = {"c": "urn:hl7-org:v3"}
    assert root.find("c:code", ns).get("code") == "80788-3"
    assert root.xpath("//c:healthCareFacility/c:code/@code", namespaces=ns) == ["SA16"]
    assert root.xpath("//c:assignedAuthor/c:code/@code", namespaces=ns) == ["LOGICIEL_DUI"]
    refused = runner.invoke(cli, ["cda", "generate", "--usager", usager_id, "--type", "1-8", "-o", str(output)])
    assert refused.exit_code == 1 and "code-JDV_J07" in refused.output
    from tests.api.test_documents import DLU_DATA

    data = cda_env / "dlu.json"
    data.write_bytes(orjson.dumps(DLU_DATA))
    dlu = cda_env / "dlu.xml"
    result = runner.invoke(
        cli, ["cda", "generate", "--usager", usager_id, "--type", "DLU", "--data", str(data), "-o", str(dlu)]
    )
    assert result.exit_code == 0, result.output
    assert etree.parse(str(dlu)).getroot().xpath("c:templateId/@root", namespaces=ns)[-1] == "1.2.250.1.213.1.1.1.22"
    missing = runner.invoke(cli, ["cda", "generate", "--usager", usager_id, "--type", "DLU", "-o", str(dlu)])
    assert missing.exit_code == 1 and "data" in missing.output


def test_generate_ppa_and_aggir_report_from_their_records(cda_env: Path) -> None:
    from tests.api.test_documents_volets import _volet_fixture

    fixture = cda_env / "volets.json"
    fixture.write_bytes(orjson.dumps(_volet_fixture()))
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    loaded = runner.invoke(cli, ["load-fixtures", "--path", str(fixture)])
    assert loaded.exit_code == 0, loaded.output
    with sqlite3.connect(cda_env / "cli.sqlite3") as db:
        plan = str(uuid.UUID(db.execute("SELECT id FROM plan WHERE status = 'in_progress'").fetchone()[0]))
        draft = str(uuid.UUID(db.execute("SELECT id FROM plan WHERE status = 'draft'").fetchone()[0]))
        aggir = str(uuid.UUID(db.execute("SELECT id FROM evaluation WHERE grille = 'aggir'").fetchone()[0]))
        serafin = str(uuid.UUID(db.execute("SELECT id FROM evaluation WHERE grille = 'serafin'").fetchone()[0]))
    ns = {"c": "urn:hl7-org:v3"}
    ppa = cda_env / "ppa.xml"
    result = runner.invoke(cli, ["cda", "generate", "--type", "PPA", "--plan", plan, "-o", str(ppa)])
    assert result.exit_code == 0, result.output
    assert etree.parse(str(ppa)).getroot().find("c:code", ns).get("code") == "80788-3"
    report = cda_env / "aggir.xml"
    result = runner.invoke(cli, ["cda", "generate", "--type", "AGGIR", "--evaluation", aggir, "-o", str(report)])
    assert result.exit_code == 0, result.output
    assert etree.parse(str(report)).getroot().find("c:code", ns).get("code") == "BIL_AUTO"
    for args, rule in (
        (["--type", "PPA", "--plan", draft], "plan-in-force"),
        (["--type", "AGGIR", "--evaluation", serafin], "evaluation-aggir"),
        (["--type", "AGGIR", "--evaluation", str(uuid.UUID(int=9))], "evaluation-exists"),
    ):
        refused = runner.invoke(cli, ["cda", "generate", *args, "-o", str(cda_env / "no.xml")])
        assert refused.exit_code == 1 and rule in refused.output, refused.output
        assert not (cda_env / "no.xml").exists()
    with sqlite3.connect(cda_env / "cli.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM cda_document").fetchone()[0] == 2
