"""The dui command on a throw-away SQLite database."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.domain.finess import with_key


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DUI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_migrate_and_load_fixtures_twice(sqlite_env: Path) -> None:
    fixture = sqlite_env / "small.json"
    fixture.write_bytes(
        orjson.dumps(
            {
                "organismes": [{"key": "og", "finess_ej": with_key("69000001"), "raison_sociale": "CCAS de Lyon"}],
                "essms": [
                    {
                        "key": "es",
                        "organisme": "og",
                        "finess_et": with_key("69000002"),
                        "nom": "EHPAD du Parc",
                        "categorie": "500",
                        "types_activite": ["11"],
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
                        "date_naissance": "1944-07-01",
                    }
                ],
                "stays": [{"usager": "u", "essms": "es", "date_entree": "2023-05-02", "type_activite": "11"}],
            }
        )
    )
    runner = CliRunner()
    migrated = runner.invoke(cli, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    first = runner.invoke(cli, ["load-fixtures", "--path", str(fixture)])
    assert first.exit_code == 0, first.output
    assert "usager: 1 created" in first.output and "stay: 1 created" in first.output
    second = runner.invoke(cli, ["load-fixtures", "--path", str(fixture)])
    assert "usager: 0 created, 1 already present" in second.output
    assert "stay: 0 created, 1 already present" in second.output


def test_bad_fixture_loads_nothing(sqlite_env: Path) -> None:
    good = with_key("69000012")
    bad_key = good[:-1] + str((int(good[-1]) + 1) % 10)
    fixture = sqlite_env / "bad.json"
    fixture.write_bytes(
        orjson.dumps(
            {
                "organismes": [{"key": "og", "finess_ej": with_key("69000011"), "raison_sociale": "CCAS"}],
                "essms": [{"key": "es", "organisme": "og", "finess_et": bad_key, "nom": "X", "categorie": "500"}],
            }
        )
    )
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    result = runner.invoke(cli, ["load-fixtures", "--path", str(fixture)])
    assert result.exit_code == 1
    assert "Nothing loaded: essms es: finess_et" in result.output and "finess-key" in result.output
    ok = sqlite_env / "ok.json"
    ok.write_bytes(
        orjson.dumps({"organismes": [{"key": "og", "finess_ej": with_key("69000011"), "raison_sociale": "CCAS"}]})
    )
    assert "organisme: 1 created" in runner.invoke(cli, ["load-fixtures", "--path", str(ok)]).output


def test_accounts_tokens_and_audit_verify(sqlite_env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    created = runner.invoke(cli, ["accounts", "create", "batch-dmp", "--superuser"])
    assert created.exit_code == 0, created.output
    bad_role = runner.invoke(cli, ["accounts", "create", "x1", "--role", "chef:690045711"])
    assert bad_role.exit_code == 1 and "unknown role" in bad_role.output
    issued = runner.invoke(cli, ["tokens", "create", "--account", "batch-dmp", "--name", "dmp", "--days", "7"])
    assert issued.exit_code == 0, issued.output
    token_id, token = issued.output.split(":")[0].split()[1], issued.output.strip().splitlines()[-1]
    assert token.startswith("dui_at_")
    verified = runner.invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0 and "intact" in verified.output
    assert runner.invoke(cli, ["tokens", "revoke", token_id]).exit_code == 0
    assert runner.invoke(cli, ["tokens", "revoke", "nope"]).exit_code == 1
    assert runner.invoke(cli, ["documents", "purge"]).exit_code == 0
    assert runner.invoke(cli, ["audit", "purge"]).exit_code == 0


def test_audit_verify_reports_a_modified_row(sqlite_env: Path) -> None:
    import asyncio
    import sqlite3
    from datetime import UTC, datetime

    from app.domain.audit import AuditEvent
    from app.services.audit import AuditSink
    from app.store.db import Database, create_engine

    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    url = f"sqlite+aiosqlite:///{sqlite_env / 'cli.sqlite3'}"

    async def record() -> None:
        database = Database(create_engine(url))
        sink = AuditSink(database)
        for outcome in (200, 200, 404):
            await sink.record(
                AuditEvent(datetime.now(UTC), "pro-a", "api-token", "read", "read_usager", outcome, resource_id="x")
            )
        await database.dispose()

    asyncio.run(record())
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0
    with sqlite3.connect(sqlite_env / "cli.sqlite3") as connection:
        connection.execute("DROP TRIGGER audit_event_no_update")
        connection.execute("UPDATE audit_event SET outcome = 200 WHERE id = 3")
    broken = runner.invoke(cli, ["audit", "verify"])
    assert broken.exit_code == 1 and "event 3" in broken.output and "BROKEN" in broken.output
