"""The ``dui`` command."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import uvicorn

from app.config import get_settings

if TYPE_CHECKING:
    from app.sandbox.dmp_local import LocalDmp
    from app.sandbox.insi import InsiSandbox

T = TypeVar("T")
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


def _database() -> Any:
    from app.store.db import Database, create_engine

    settings = get_settings()
    return Database(create_engine(settings.resolved_database_url()))


def _run(job: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``job(database)`` and dispose of the engine; job errors end the command with status 1."""
    from app.services.admin_jobs import JobError

    async def main() -> T:
        database = _database()
        try:
            return await job(database)
        finally:
            await database.dispose()

    try:
        return asyncio.run(main())
    except JobError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(1) from error


accounts_cli = typer.Typer(help="Accounts and their roles per ESSMS.", no_args_is_help=True)
tokens_cli = typer.Typer(help="API tokens for staff applications and batch jobs.", no_args_is_help=True)
audit_cli = typer.Typer(help="The audit trail.", no_args_is_help=True)
documents_cli = typer.Typer(help="Identity-document scans.", no_args_is_help=True)
cli.add_typer(accounts_cli, name="accounts")
cli.add_typer(tokens_cli, name="tokens")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(documents_cli, name="documents")


@accounts_cli.command("create")
def accounts_create(
    username: Annotated[str, typer.Argument()],
    role: Annotated[list[str] | None, typer.Option(help="role:FINESS (ESSMS FINESS ET or organisme FINESS EJ)")] = None,
    idnps: Annotated[str | None, typer.Option(help="IDNPS for Pro Santé Connect logins")] = None,
    superuser: Annotated[bool, typer.Option(help="Every permission in every ESSMS")] = False,
    password_stdin: Annotated[bool, typer.Option(help="Read a password for local login from stdin")] = False,
) -> None:
    """Create an account."""
    from app.services.admin_jobs import create_account

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    account_id = _run(
        lambda db: create_account(
            db, username, password=password, idnps=idnps, superuser=superuser, grants=list(role or [])
        )
    )
    typer.echo(f"Account {username} created ({account_id}).")


@tokens_cli.command("create")
def tokens_create(
    account: Annotated[str, typer.Option(help="Username the token acts for")],
    name: Annotated[str, typer.Option(help="What the token is for")],
    permission: Annotated[list[str] | None, typer.Option(help="Narrow to these permissions")] = None,
    days: Annotated[int, typer.Option(help="Lifetime in days")] = 90,
) -> None:
    """Issue an API token; it is printed once (only its hash is stored)."""
    from app.services.admin_jobs import issue_token

    token_id, token = _run(lambda db: issue_token(db, account, name, list(permission or []) or None, days))
    typer.echo(f"Token {token_id}:")
    typer.echo(token)


@tokens_cli.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument()]) -> None:
    """Revoke an API token (servers stop accepting it within DUI_AUTH_CACHE_SECONDS)."""
    from app.services.admin_jobs import revoke_token

    _run(lambda db: revoke_token(db, token_id))
    typer.echo(f"Token {token_id} revoked.")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain of the audit trail; exit 1 when a row was changed, removed or inserted."""
    from app.services.audit import verify

    report = _run(verify)
    for chain_break in report.breaks:
        typer.echo(f"event {chain_break.event_id}: {chain_break.reason}", err=True)
    if report.breaks:
        typer.echo(f"Audit trail BROKEN: {len(report.breaks)} problem(s) in {report.events} events.", err=True)
        raise typer.Exit(1)
    typer.echo(f"Audit trail intact: {report.events} events; head {report.head or '-'}.")


@audit_cli.command("purge")
def audit_purge() -> None:
    """Delete the events older than DUI_AUDIT_RETENTION_DAYS."""
    from app.services.audit import purge

    days = get_settings().audit_retention_days
    removed = _run(lambda db: purge(db, days))
    typer.echo(f"{removed} audit events older than {days} days removed.")


@documents_cli.command("purge")
def documents_purge() -> None:
    """Delete the identity-document scans of usagers without activity for DUI_DOCUMENT_RETENTION_YEARS."""
    from app.services.identity_documents import purge

    years = get_settings().document_retention_years
    removed = _run(lambda db: purge(db, years))
    typer.echo(f"{len(removed)} identity-document scans purged (no activity for {years} years).")


@documents_cli.command("rotate-keys")
def documents_rotate() -> None:
    """Re-encrypt every scan with DUI_DOCUMENT_ACTIVE_KEY; then the old keys can be removed."""
    from app.services.identity_documents import rotate

    keyring = get_settings().document_keyring()
    done = _run(lambda db: rotate(db, keyring))
    typer.echo(f"{done} scans re-encrypted with key {keyring[0]}.")


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
    """Migrate, load the demo data set, start the INSi and PSC sandboxes, create a demo token, then serve."""
    from app.sandbox.psc import PscSandbox
    from app.sandbox.server import BackgroundServer
    from app.services.admin_jobs import ensure_account, issue_token

    insi = start_insi_sandbox()
    typer.echo(f"INSi sandbox at {insi.url} (mutual TLS; certificates in {insi.pki.ca_cert.parent}).")
    dmp = start_dmp_sandbox()
    typer.echo(
        f"DMP sandbox at {dmp.sandbox.base_url} (mutual TLS; the worker settings are in "
        f"{get_settings().data_dir / DMP_ENV_FILE}: `set -a; . {get_settings().data_dir / DMP_ENV_FILE}; dui worker`)."
    )
    migrate("head")
    load_fixtures(DEFAULT_FIXTURES)
    settings = get_settings()
    bind_host, bind_port = host or settings.host, port or settings.port
    redirect = f"http://{bind_host}:{bind_port}/auth/psc/callback"
    psc = PscSandbox(clients={"dui-demo": ("demo-secret", [redirect])})
    sandbox = BackgroundServer(psc.app()).start()
    psc.base_url = sandbox.url
    os.environ.update(
        DUI_PSC_DISCOVERY_URL=psc.discovery_url(),
        DUI_PSC_CLIENT_ID="dui-demo",
        DUI_PSC_CLIENT_SECRET="demo-secret",
        DUI_PSC_REDIRECT_URI=redirect,
        DUI_PSC_POST_LOGOUT_REDIRECT_URI=f"http://{bind_host}:{bind_port}/auth/psc/login",
    )
    get_settings.cache_clear()

    async def accounts(database: Any) -> str:
        await ensure_account(database, "demo-admin", idnps=None, superuser=True, grants=[])
        # The sandbox's first test professional logs in through PSC as director of the first organisme.
        first_organisme = _first_organisme_finess()
        grants = [f"direction:{first_organisme}"] if first_organisme else []
        await ensure_account(database, "psc-demo", idnps="899700218896", superuser=False, grants=grants)
        return (await issue_token(database, "demo-admin", "demo", None, 30))[1]

    token = _run(accounts)
    token_file = settings.data_dir / "demo-token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    typer.echo(f"PSC sandbox at {psc.discovery_url()} (log in: http://{bind_host}:{bind_port}/auth/psc/login)")
    typer.echo(f"Demo API token (superuser, 30 days), also in {token_file}:\n{token}")
    try:
        serve(bind_host, bind_port, 1)
    finally:
        sandbox.stop()
        dmp.stop()
        insi.stop()


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


DMP_ENV_FILE = "dmp-sandbox.env"


def start_dmp_sandbox(port: int = 0, failure_rate: float | None = None, seed: int | None = None) -> LocalDmp:
    """The DMP sandbox on loopback (throwaway certificates under the data folder), this process's DMP settings
    pointed at it, and those settings written to ``DUI_DATA_DIR/dmp-sandbox.env`` for a worker to source."""
    from app.sandbox.dmp_local import start_local_dmp

    settings = get_settings()
    rate = settings.dmp_sandbox_failure_rate if failure_rate is None else failure_rate
    local = start_local_dmp(settings.data_dir / settings.dmp_sandbox_pki_dir, port=port, failure_rate=rate, seed=seed)
    environment = local.environment()
    os.environ.update(environment)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / DMP_ENV_FILE).write_text("".join(f"{k}='{v}'\n" for k, v in environment.items()))
    get_settings.cache_clear()
    return local


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


def _first_organisme_finess() -> str | None:
    import orjson

    try:
        data = orjson.loads(DEFAULT_FIXTURES.read_bytes())
        return str(data["organismes"][0]["finess_ej"])
    except (OSError, KeyError, IndexError, orjson.JSONDecodeError):
        return None


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
    type_code: Annotated[
        str,
        typer.Option("--type", help="PPA, AGGIR, DLU, FLUDT, or the JDV_J66 type of an N1 document (e.g. 80788-3)"),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="File the CDA XML is written to")],
    usager: Annotated[
        str | None, typer.Option("--usager", help="Usager id (default: the plan's or the evaluation's)")
    ] = None,
    plan: Annotated[str | None, typer.Option("--plan", help="PPA: the plan version (validated or in progress)")] = None,
    evaluation: Annotated[str | None, typer.Option("--evaluation", help="AGGIR: the AGGIR evaluation")] = None,
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
    kind = DocumentKind[type_code.upper()] if structured else DocumentKind.N1_PDF
    if kind is DocumentKind.N1_PDF and (plan or evaluation):
        kind = DocumentKind.PPA if plan else DocumentKind.AGGIR
    try:
        request = DocumentRequest(
            kind=kind,
            type_code=None if kind is not DocumentKind.N1_PDF else type_code,
            plan_id=uuid.UUID(plan) if plan else None,
            evaluation_id=uuid.UUID(evaluation) if evaluation else None,
            data=orjson.loads(data.read_bytes()) if data else None,
            essms_id=uuid.UUID(essms) if essms else None,
            professional_id=uuid.UUID(professional) if professional else None,
            author_is_software=software_author,
        )
        usager_id = uuid.UUID(usager) if usager else None
    except (ValueError, ValidationError, OSError) as error:
        typer.echo(f"Nothing generated: {error}", err=True)
        raise typer.Exit(2) from error

    async def run() -> bytes:
        database = Database(create_engine(settings.resolved_database_url()))
        validator = shared_validator(settings.resolved_cda_cache_dir())
        try:
            async with database.write() as connection:
                service = DocumentService(
                    connection, SYSTEM, validator, settings.software_name, settings.dmp_feed_types
                )
                stored = await service.generate(usager_id or await service.usager_of(request), request)
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
    typer.echo(
        f"{output}: {len(xml)} bytes, valid CDA ({kind.value if kind is not DocumentKind.N1_PDF else type_code})."
    )


def fast_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


@cli.command("worker")
def worker(
    once: Annotated[bool, typer.Option(help="Stop when nothing is due (batch runs)")] = False,
) -> None:
    """Deliver the DMP outbox (ITI-41) until interrupted; several workers may run at once."""
    from app.interop.cda import shared_validator
    from app.jobs.dmp_worker import NotConfigured, build_feeder, run_worker
    from app.store.db import Database, create_engine

    settings = get_settings()

    async def run() -> str:
        database = Database(create_engine(settings.resolved_database_url()))
        try:
            feeder = build_feeder(settings, database, shared_validator(settings.resolved_cda_cache_dir()))
            try:
                report = await run_worker(
                    feeder, poll=settings.dmp_poll_seconds, once=once, gather=settings.dmp_gather_seconds
                )
            finally:
                await feeder.client.aclose()
            return (
                f"sent {report.sent}, reconciled {report.reconciled}, retried {report.retried}, failed {report.failed}"
            )
        finally:
            await database.dispose()

    try:
        # uvloop (installed with uvicorn[standard]) when present: its event loop costs less CPU per delivery.
        with asyncio.Runner(loop_factory=fast_loop()) as runner:
            typer.echo(runner.run(run()))
    except NotConfigured as error:
        typer.echo(f"DMP worker not started: {error}", err=True)
        raise typer.Exit(2) from error


dmp_cli = typer.Typer(help="DMP feeding (Mon espace santé).", no_args_is_help=True)
cli.add_typer(dmp_cli, name="dmp")


@dmp_cli.command("feed")
def dmp_feed(
    structure: Annotated[
        str,
        typer.Option(help="FINESS géographique of an ESSMS, or FINESS juridique of an organisme (all its ESSMS)"),
    ],
    since: Annotated[
        datetime | None, typer.Option(help="Only sources (plans, evaluations) changed since this date or moment")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=16, help="Usagers worked on at once")] = 2,
) -> None:
    """Generate, validate and queue for the DMP the current plan in force, the latest AGGIR report (and check
    the DLU in EHPAD) of every usager of the structure; documents already made from the same source version are
    skipped, so an interrupted run is resumed by running it again. Prints a report."""
    from rich.progress import Progress

    from app.domain.moments import as_utc
    from app.interop.cda import shared_validator
    from app.services.dmp_feed import DmpBatchFeeder, UnknownStructure
    from app.store.db import Database, create_engine

    settings = get_settings()
    settings.apply_domain_tunables()
    moment = as_utc(since) if since else None

    async def run() -> list[str]:
        database = Database(create_engine(settings.resolved_database_url(), pool_size=settings.db_pool_size))
        feeder = DmpBatchFeeder(
            database,
            shared_validator(settings.resolved_cda_cache_dir()),
            software=settings.software_name,
            feed_types=settings.dmp_feed_types,
            concurrency=concurrency,
        )
        try:
            with Progress(transient=False) as progress:
                task = progress.add_task(f"DMP feed {structure}", total=None)
                report = await feeder.feed(
                    structure,
                    since=moment,
                    on_start=lambda n: progress.update(task, total=n),
                    on_progress=lambda n: progress.advance(task, n),
                )
            return report.lines()
        finally:
            await database.dispose()

    try:
        lines = asyncio.run(run())
    except UnknownStructure as error:
        typer.echo(f"Nothing fed: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo("\n".join(lines))


@dmp_cli.command("sandbox")
def dmp_sandbox(
    port: Annotated[int, typer.Option(help="Port (0: any free port)")] = 0,
    failure_rate: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Share of requests failed at random (DUI_DMP_SANDBOX_FAILURE_RATE)"),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the random failures")] = None,
) -> None:
    """Run the DMP sandbox alone on loopback; prints its URL and writes the worker settings to a file."""
    import time

    from app.heap import freeze_long_lived

    local = start_dmp_sandbox(port, failure_rate, seed)
    freeze_long_lived()
    typer.echo(f"{local.sandbox.base_url} settings={get_settings().data_dir / DMP_ENV_FILE}", color=False)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        local.stop()


def main() -> None:
    cli()
