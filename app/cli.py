"""The ``dui`` command."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from app.config import get_settings

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
    """Migrate, load the demo data set, then serve (http://127.0.0.1:8000/docs)."""
    migrate("head")
    load_fixtures(DEFAULT_FIXTURES)
    serve(host, port, 1)


cda = typer.Typer(help="CI-SIS CDA documents: validate and generate.", no_args_is_help=True)
cli.add_typer(cda, name="cda")


@cda.command("validate")
def cda_validate(
    files: Annotated[list[Path], typer.Argument(help="CDA XML files", exists=True, dir_okay=False)],
) -> None:
    """Run the ANS XSD and schematrons on each file; exit 1 when one is invalid."""
    from app.interop.cda import shared_validator

    validator = shared_validator(get_settings().resolved_cda_cache_dir())
    failed = 0
    for path in files:
        report = validator.validate(path.read_bytes())
        typer.echo(report.render(str(path)))
        failed += not report.valid
    if failed:
        raise typer.Exit(1)


@cda.command("generate")
def cda_generate(
    usager: Annotated[str, typer.Option("--usager", help="Usager id")],
    type_code: Annotated[str, typer.Option("--type", help="DLU, or the JDV_J66 type of an N1 document (e.g. 80788-3)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File the CDA XML is written to")],
    essms: Annotated[str | None, typer.Option(help="Custodian ESSMS id (default: the usager's)")] = None,
    professional: Annotated[str | None, typer.Option(help="Responsible professional id")] = None,
    software_author: Annotated[bool, typer.Option(help="The DUI software is the author (device)")] = False,
    data: Annotated[Path | None, typer.Option(help="JSON file of the volet's data (DLU sections)")] = None,
) -> None:
    """Generate, validate and store one document for a usager, and write its CDA XML to a file."""
    import uuid

    import orjson
    from pydantic import ValidationError

    from app.domain.access import SYSTEM
    from app.domain.documents import DocumentKind, DocumentRequest
    from app.domain.errors import DomainError
    from app.interop.cda import shared_validator
    from app.services.documents import DocumentService
    from app.store.db import Database, create_engine

    settings = get_settings()
    settings.apply_domain_tunables()
    structured = type_code.upper() in DocumentKind.__members__ and type_code.upper() != DocumentKind.N1_PDF.name
    try:
        request = DocumentRequest(
            kind=DocumentKind[type_code.upper()] if structured else DocumentKind.N1_PDF,
            type_code=None if structured else type_code,
            data=orjson.loads(data.read_bytes()) if data else None,
            essms_id=uuid.UUID(essms) if essms else None,
            professional_id=uuid.UUID(professional) if professional else None,
            author_is_software=software_author,
        )
        usager_id = uuid.UUID(usager)
    except (ValueError, ValidationError, OSError) as error:
        typer.echo(f"Nothing generated: {error}", err=True)
        raise typer.Exit(2) from error

    async def run() -> bytes:
        database = Database(create_engine(settings.resolved_database_url()))
        validator = shared_validator(settings.resolved_cda_cache_dir())
        try:
            async with database.write() as connection:
                service = DocumentService(connection, SYSTEM, validator, settings.software_name)
                stored = await service.generate(usager_id, request)
                assert stored.generated is not None
                return stored.generated.xml
        finally:
            await database.dispose()

    try:
        xml = asyncio.run(run())
    except DomainError as error:
        details = "; ".join(f"{i.field}: {i.rule}: {i.message}" for i in error.issues[:10])
        typer.echo(f"Nothing generated: {error.message} {details}", err=True)
        raise typer.Exit(1) from error
    output.write_bytes(xml)
    typer.echo(f"{output}: {len(xml)} bytes, valid CDA ({type_code}).")


def main() -> None:
    cli()
