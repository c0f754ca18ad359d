"""`dui ins verify`: the batch re-verification against the sandbox, its summary and its checkpoint."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.domain.access import SYSTEM
from app.domain.identity import UsagerIdentityInput
from app.sandbox.insi import InsiSandbox
from app.sandbox.pki import Pki
from app.services.identity import IdentityWorkflow
from app.services.usagers import UsagerService
from app.store.db import Database, create_engine
from app.store.migrate import upgrade

IDENTITIES = [
    ("ADRTROIS", "DOMINIQUE", "F", "1997-02-26", "2A020"),
    ("CORSE", "ANTHONY", "M", "1980-03-02", "2B020"),
    ("HERMANN", "GATIEN", "M", "1981-03-24", "63220"),
    ("ADRTROIS", "TOUSSAINT", "M", "1960-01-01", "2B020"),
]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, insi_pki: Pki, insi_sandbox: InsiSandbox) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'batch.sqlite3'}"
    values = {
        "DUI_DATABASE_URL": url,
        "DUI_DATA_DIR": str(tmp_path),
        "DUI_INSI_ENDPOINT": insi_sandbox.url,
        "DUI_INSI_CLIENT_CERT": str(insi_pki.client_cert),
        "DUI_INSI_CLIENT_KEY": str(insi_pki.client_key),
        "DUI_INSI_CA_BUNDLE": str(insi_pki.ca_cert),
        "DUI_INSI_READ_TIMEOUT": "0.5",
        "DUI_INSI_BACKOFF_INITIAL": "0.01",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    upgrade(url)
    yield url
    get_settings.cache_clear()


async def _qualified(url: str) -> list[uuid.UUID]:
    """Usagers whose INS was retrieved through INSi (the sandbox)."""
    from app.interop.insi.client import InsiClient
    from app.services.identity import insi_config

    settings = get_settings()
    database = Database(create_engine(url))
    client = InsiClient(insi_config(settings))
    ids = []
    try:
        for nom, prenom, sexe, born, lieu in IDENTITIES:
            async with database.write() as connection:
                row = await UsagerService(connection, SYSTEM).create(
                    UsagerIdentityInput(
                        nom_naissance=nom, premier_prenom=prenom, sexe=sexe, date_naissance=born, lieu_naissance=lieu
                    )
                )
            await IdentityWorkflow(database, SYSTEM, settings, client).search_ins(row.id, 1)
            ids.append(row.id)
    finally:
        await client.aclose()
        await database.dispose()
    return sorted(ids)


async def _verify_calls(url: str) -> int:
    database = Database(create_engine(url))
    try:
        calls = await IdentityWorkflow(database, SYSTEM, get_settings()).insi_calls(None, None, None, None, 500)
    finally:
        await database.dispose()
    return sum(1 for c in calls if c["purpose"] == "verify" and c["actor"] == "batch:ins-verify")


def test_batch_summary_and_resume(env: str, insi_sandbox: InsiSandbox, tmp_path: Path) -> None:
    ids = asyncio.run(_qualified(env))
    runner = CliRunner()
    first = runner.invoke(cli, ["ins", "verify", "--concurrency", "2"])
    assert first.exit_code == 0, first.output
    assert "unchanged 4, changed 0, not_found 0, several 0, refused 0, error 0 (total 4)" in first.output
    assert not (tmp_path / "ins-verify.checkpoint").exists()
    assert asyncio.run(_verify_calls(env)) == 4  # every batch call is journaled

    # An interrupted run left its checkpoint after the second usager: the next run does the rest only.
    (tmp_path / "ins-verify.checkpoint").write_text(str(ids[1]))
    insi_sandbox.control.inject("day-00")
    resumed = runner.invoke(cli, ["ins", "verify"])
    assert resumed.exit_code == 0, resumed.output
    assert "(total 2)" in resumed.output and "refused 1" in resumed.output

    insi_sandbox.control.inject("fault-idam")
    one = runner.invoke(cli, ["ins", "verify", "--usager", str(ids[0])])
    assert "error 1 (total 1)" in one.output
