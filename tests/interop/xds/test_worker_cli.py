"""`dui worker` refuses to start without its certificates, naming the missing settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings


def test_worker_without_certificates_names_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DUI_DATA_DIR", str(tmp_path))
    for name in ("DUI_DMP_CLIENT_CERT", "DUI_DMP_CLIENT_KEY", "DUI_DMP_SIGN_CERT", "DUI_DMP_SIGN_KEY"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["worker", "--once"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "DUI_DMP_SIGN_CERT" in result.output
