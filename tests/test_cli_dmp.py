"""`dui dmp feed` and the demo's DMP sandbox: the feed queues the documents of a structure, the worker
delivers them over mTLS to the sandbox `dui demo` starts, and a second feed makes nothing new."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from app.cli import DMP_ENV_FILE, cli, start_dmp_sandbox
from app.config import get_settings

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo.json"
ES8 = "2A0004463"  # es-8 of the demo (SSIAD): 12 usagers, one qualified with a plan in force and an AGGIR


@pytest.fixture
def demo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cda_cache_dir: Path) -> Iterator[Path]:
    monkeypatch.setenv("DUI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("DUI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DUI_CDA_CACHE_DIR", str(cda_cache_dir))
    saved = dict(os.environ)
    get_settings.cache_clear()
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def _es8_fixture(folder: Path) -> Path:
    demo = orjson.loads(DEMO.read_bytes())
    usagers = [u for u in demo["usagers"] if u["essms"] == "es-8"]
    keys = {u["key"] for u in usagers}
    subset = {name: demo[name] for name in ("organismes", "essms", "professionals")}
    subset["usagers"] = usagers
    for name in ("stays", "plans", "evaluations"):
        subset[name] = [r for r in demo[name] if r["usager"] in keys]
    path = folder / "es8.json"
    path.write_bytes(orjson.dumps(subset))
    return path


def test_feed_then_worker_deliver_to_the_demo_sandbox(demo_env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    assert runner.invoke(cli, ["load-fixtures", "--path", str(_es8_fixture(demo_env))]).exit_code == 0
    local = start_dmp_sandbox()
    try:
        assert (demo_env / DMP_ENV_FILE).read_text().count("DUI_DMP_") == 7
        fed = runner.invoke(cli, ["dmp", "feed", "--structure", ES8])
        assert fed.exit_code == 0, fed.output
        assert f"essms {ES8}: 1 ESSMS, 12 usagers seen" in fed.output
        assert "generated: AGGIR 1, PPA 1" in fed.output and "queued for the DMP: 2" in fed.output, fed.output
        assert "identity-not-qualified 11" in fed.output
        delivered = runner.invoke(cli, ["worker", "--once"])
        assert delivered.exit_code == 0, delivered.output
        assert "sent 2," in delivered.output
        assert len(local.sandbox.control.registered) == 2
        again = runner.invoke(cli, ["dmp", "feed", "--structure", ES8])
        assert (
            "generated: none" in again.output
            and "already generated for the same source version: AGGIR 1, PPA 1" in again.output
        )
    finally:
        local.stop()


def test_feed_of_an_unknown_finess_feeds_nothing(demo_env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    result = runner.invoke(cli, ["dmp", "feed", "--structure", "999999999"])
    assert result.exit_code == 1 and "No ESSMS nor organisme gestionnaire has the FINESS 999999999" in result.output
