"""The ``dui`` command."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import uvicorn

from app.config import get_settings

if TYPE_CHECKING:
    from app.sandbox.insi import InsiSandbox

cli = typer.Typer(help="DUI backend: dossier usager informatisé for ESSMS.", no_args_is_help=True)

_SOURCE_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FIXTURES = (_SOURCE_ROOT if (_SOURCE_ROOT / "fixtures").is_dir() else Path.cwd()) / "fixtures" / "demo.json"


@cli.command()
def migrate(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Bring the database schema up to date (SQLite or PostgreSQL, from DUI_DATABASE_URL)."""
    from app.store.migrate import upgrade

    url = get_settings().resolved_database_url()
    upgrade(url, revision)
    typer.echo(f"Database at {revision}.")


@cli.command("load-fixtures")
def load_fixtures(
    path: Annotated[Path, typer.Option(help="Fixture file (JSON)")] = DEFAULT_FIXTURES,
) -> None:
    """Load the demo data set; records already present are left as they are (idempotent)."""
    from app.services.fixtures import FixtureError, load_file

    settings = get_settings()
    settings.apply_domain_tunables()
    try:
        report = asyncio.run(load_file(settings.resolved_database_url(), path))
    except FixtureError as error:
        typer.echo(f"Nothing loaded: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(report.summary())


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Run the REST API."""
    settings = get_settings()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level="info",
        proxy_headers=True,
    )


@cli.command()
def demo(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
) -> None:
    """Migrate, load the demo data set, start the INSi sandbox, then serve (http://127.0.0.1:8000/docs)."""
    sandbox = start_insi_sandbox()
    typer.echo(f"INSi sandbox at {sandbox.url} (mutual TLS; certificates in {sandbox.pki.ca_cert.parent}).")
    migrate("head")
    load_fixtures(DEFAULT_FIXTURES)
    try:
        serve(host, port, 1)
    finally:
        sandbox.stop()


def start_insi_sandbox(port: int = 0) -> InsiSandbox:
    """A throwaway CA and certificates under the data folder, the sandbox on an ephemeral loopback port,
    and the INSi settings of this process pointed at it."""
    from app.sandbox.insi import InsiSandbox
    from app.sandbox.pki import make_pki

    settings = get_settings()
    pki = make_pki(settings.data_dir / settings.insi_sandbox_pki_dir)
    sandbox = InsiSandbox(pki, port=port).start()
    os.environ.update(
        {
            "DUI_INSI_ENDPOINT": sandbox.url,
            "DUI_INSI_CLIENT_CERT": str(pki.client_cert),
            "DUI_INSI_CLIENT_KEY": str(pki.client_key),
            "DUI_INSI_CA_BUNDLE": str(pki.ca_cert),
        }
    )
    get_settings.cache_clear()
    return sandbox


ins_cli = typer.Typer(help="INS and the INSi téléservice.", no_args_is_help=True)
cli.add_typer(ins_cli, name="ins")


@ins_cli.command("verify")
def ins_verify(
    usager: Annotated[list[uuid.UUID] | None, typer.Option(help="Only this usager (repeatable)")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Parallel INSi calls")] = None,
    restart: Annotated[bool, typer.Option(help="Ignore the checkpoint of an interrupted run")] = False,
) -> None:
    """Re-verify the stored INS through INSi; resumable after an interruption; prints a summary."""
    from rich.progress import Progress

    from app.interop.insi.client import InsiClient
    from app.jobs.ins_verify import _read_checkpoint, count_to_verify, reverify
    from app.services.identity import insi_config
    from app.store.db import Database, create_engine

    settings = get_settings()
    settings.apply_domain_tunables()
    checkpoint = settings.data_dir / "ins-verify.checkpoint"
    if restart:
        checkpoint.unlink(missing_ok=True)

    async def run() -> str:
        database = Database(create_engine(settings.resolved_database_url(), pool_size=settings.db_pool_size))
        parallel = concurrency or settings.insi_batch_concurrency
        client = InsiClient(insi_config(settings), max_connections=parallel)
        try:
            total = len(usager) if usager else await count_to_verify(database, _read_checkpoint(checkpoint))
            with Progress(transient=False) as progress:
                task = progress.add_task("INS verification", total=total)
                summary = await reverify(
                    database,
                    settings,
                    client,
                    concurrency=parallel,
                    checkpoint=None if usager else checkpoint,
                    only=list(usager) if usager else None,
                    on_progress=lambda n: progress.advance(task, n),
                )
            for usager_id, error in sorted(summary.errors.items())[:20]:
                typer.echo(f"{usager_id}: {error}", err=True)
            return summary.line()
        finally:
            await client.aclose()
            await database.dispose()

    typer.echo(asyncio.run(run()))


@cli.command("insi-sandbox")
def insi_sandbox(
    port: Annotated[int, typer.Option(help="Port (0: any free port)")] = 0,
) -> None:
    """Run the INSi sandbox alone on loopback (its certificates go to the data folder)."""
    import time

    sandbox = start_insi_sandbox(port)
    typer.echo(f"{sandbox.url} ca={sandbox.pki.ca_cert} cert={sandbox.pki.client_cert} key={sandbox.pki.client_key}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sandbox.stop()


def main() -> None:
    cli()
