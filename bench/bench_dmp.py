"""Generate, queue and deliver N CDA documents to the DMP sandbox (own process, mutual TLS) and report the
end-to-end rate, each phase's time and CPU, and the peak RSS of the workers.

    .venv/bin/python bench/bench_dmp.py [--count 10000] [--usagers 100] [--generators 2] [--workers 2]
                                        [--concurrency 4] [--database-url postgresql+asyncpg://…]
                                        [--failure-rate 0]

Setup (not timed): the sandbox (`dui dmp sandbox`, a throwaway PKI), a database (SQLite file, or a fresh
PostgreSQL database `dui_bench_dmp`), one organisme, one EHPAD, one professional and U usagers with a
qualified identity (INS), loaded through the fixture loader; G generating processes, each loading its own
validator (the compiled schematrons, about 1.2 GB) and rendering one PDF (fonts) before the clock starts.
Timed, everything at once as in production (`dui worker` is always on; the outbox row is written in the
document's transaction), from the start of generation to the last outbox row settled:
- generation: the G processes share the N documents (N1 with its PDF/A rendering), one at a time each, like
  G API processes: each document prepared through DocumentService.prepare (read, built, rendered, validated
  by the ANS XSD and every applicable schematron) outside the write transaction, then stored and queued in
  the outbox in one (DocumentService.store);
- delivery, meanwhile: W `dui worker` processes (C documents in flight each) deliver the outbox over mTLS
  (the stored validation checked against the document's bytes and the rules in force, VIHF and
  submission-set signatures, ITI-41 MTOM; the sandbox checks schema, signatures and hashes).
Each document is distinct (its own id, setId and time; the U usagers take turns): nothing is reused between
documents. Then every uniqueId is looked up through ITI-18: all registered, once. Reported: the wall time of
generation and of the delivery left after it, and the CPU of the generating processes, the workers (their
start included), the sandbox, the local PostgreSQL server and the rest of the (shared) machine.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.cli import fast_loop  # noqa: E402
from app.config import Settings  # noqa: E402
from app.domain.access import SYSTEM  # noqa: E402
from app.domain.documents import DocumentKind, DocumentRequest  # noqa: E402
from app.domain.finess import with_key  # noqa: E402
from app.domain.ins import OID_NIR, ins_key  # noqa: E402
from app.heap import freeze_long_lived  # noqa: E402
from app.interop.cda import shared_validator  # noqa: E402
from app.interop.cda.pdfa import Block, render_pdfa  # noqa: E402
from app.interop.cda.validation import PROFILES  # noqa: E402
from app.interop.xds import vihf  # noqa: E402
from app.jobs.dmp_worker import build_feeder  # noqa: E402
from app.services.documents import DocumentService  # noqa: E402
from app.services.fixtures import load  # noqa: E402
from app.store.db import Database, create_engine  # noqa: E402
from app.store.migrate import upgrade  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SCRATCH = RESULTS / "scratch"


def fixture(usagers: int) -> dict[str, Any]:
    people = []
    for index in range(usagers):
        number = f"2380575112{index + 1:03d}"
        people.append(
            {
                "key": f"u{index}",
                "nom_naissance": f"BENCH-{_letters(index)}",
                "premier_prenom": "Marie",
                "sexe": "F",
                "date_naissance": "1938-05-02",
                "lieu_naissance": "75112",
                "insi_verified": True,
                "high_trust_proof": True,
                "identifiant_local": f"B-{index}",
                "ins": {"matricule": number + ins_key(number), "oid": OID_NIR},
                "essms": "es",
            }
        )
    return {
        "organismes": [{"key": "og", "finess_ej": with_key("69100001"), "raison_sociale": "Association Bench"}],
        "essms": [
            {
                "key": "es",
                "organisme": "og",
                "finess_et": with_key("69100002"),
                "nom": "EHPAD Bench",
                "categorie": "500",
                "types_activite": ["11"],
            }
        ],
        "professionals": [
            {
                "key": "pro",
                "rpps": "99700000013",
                "civilite": "MME",
                "nom": "MOREAU",
                "prenom": "Claire",
                "profession": "G15_10",
                "affectations": [{"essms": "es"}],
            }
        ],
        "usagers": people,
    }


def _letters(index: int) -> str:
    word = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        word = chr(65 + rest) + word
    return word


def _own_code(env: dict[str, str]) -> dict[str, str]:
    """The `dui` script imports the installed package; the subprocesses run this checkout's code instead."""
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))}


def start_sandbox(folder: Path, failure_rate: float) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = _own_code({**os.environ, "DUI_DATA_DIR": str(folder)})
    command = [str(Path(sys.executable).parent / "dui"), "dmp", "sandbox", "--failure-rate", str(failure_rate)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    settings_file = Path(line.split("settings=", 1)[1])
    values = {}
    for entry in settings_file.read_text().splitlines():
        name, _, value = entry.partition("=")
        values[name] = value.strip("'")
    return process, values


async def fresh_postgres(url: str) -> str:
    import asyncpg
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin_url = target.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await admin.close()
    return url


def generator_process(
    index: int,
    database_url: str,
    usager_ids: list[uuid.UUID],
    count: int,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    """One generating process (like one API process): its own validator, its share of the documents, one at a
    time, each prepared (read, built, validated) outside the write transaction and stored in one. On uvloop when
    installed, as the API processes (uvicorn) and the workers run."""
    with asyncio.Runner(loop_factory=fast_loop()) as runner:
        runner.run(_generate_share(index, database_url, usager_ids, count, ready, go, results))


async def _generate_share(
    index: int,
    database_url: str,
    usager_ids: list[uuid.UUID],
    count: int,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    settings = Settings()
    validator = shared_validator(settings.resolved_cda_cache_dir())
    database = Database(create_engine(database_url, pool_size=2))
    request = DocumentRequest(kind=DocumentKind.N1_PDF, type_code="80788-3")
    # Not timed: the compiled schematrons loaded, the PDF fonts registered.
    validator.warm(PROFILES)
    render_pdfa("warm-up", [Block("warm-up", ["-"])])
    freeze_long_lived()  # as an API process does once started (app.main)
    ready.put(index)
    go.wait()
    started, cpu = time.perf_counter(), time.process_time()
    try:
        for number in range(count):
            usager_id = usager_ids[number % len(usager_ids)]
            async with database.read() as connection:
                service = DocumentService(connection, SYSTEM, validator, settings.software_name, None)
                prepared = await service.prepare(usager_id, request)
            async with database.write() as connection:
                await DocumentService(connection, SYSTEM, validator, settings.software_name, None).store(prepared)
    finally:
        await database.dispose()
    results.put((index, time.perf_counter() - started, time.process_time() - cpu))


def _hwm(pid: int) -> float | None:
    """Peak RSS (VmHWM, MiB) of a running process; counted from its exec, unlike wait4's ru_maxrss, which
    keeps the parent's peak from before the exec."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu() -> float:
    """CPU seconds used by the local PostgreSQL server: its live processes, and through the postmaster's
    children totals, the backends that have exited (0 when no server runs here)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, fields = text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1].split()
        if name == "postgres":
            total += sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (every process, ours or not) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


async def _outbox_left(database: Database) -> int:
    from sqlalchemy import text

    async with database.read() as connection:
        return int(
            await connection.scalar(text("SELECT count(*) FROM dmp_outbox WHERE status IN ('queued', 'sending')")) or 0
        )


@dataclass
class Run:
    generation: float = 0.0
    generation_cpu: float = 0.0
    end_to_end: float = 0.0
    drain: float = 0.0
    worker_cpu: list[float] = field(default_factory=list)
    worker_peaks: list[float] = field(default_factory=list)
    sandbox_cpu: float = 0.0
    database_cpu: float = 0.0
    machine_cpu: float = 0.0
    shares: list[tuple[int, float, float]] = field(default_factory=list)


def run_pipeline(
    env: dict[str, str], sandbox_pid: int, database_url: str, usager_ids: list[uuid.UUID], arguments: Any
) -> Run:
    """G generating processes and W `dui worker` processes at once, as in production (the workers are always
    on; the outbox is written in each document's transaction); the clock runs from the start of generation to
    the last outbox row settled."""
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    shares = [arguments.count // arguments.generators] * arguments.generators
    shares[0] += arguments.count - sum(shares)
    generators = [
        context.Process(target=generator_process, args=(index, database_url, usager_ids, share, ready, go, results))
        for index, share in enumerate(shares)
    ]
    for process in generators:
        process.start()
    for _ in generators:
        ready.get(timeout=600)
    command = [str(Path(sys.executable).parent / "dui"), "worker"]
    workers = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=ROOT)
        for _ in range(arguments.workers)
    ]
    run = Run(worker_peaks=[0.0] * len(workers), worker_cpu=[0.0] * len(workers))
    sandbox_cpu, database_cpu, machine = _cpu(sandbox_pid), _postgres_cpu(), _machine_busy()
    started = time.perf_counter()
    go.set()
    try:
        while len(run.shares) < len(generators):
            run.shares.append(results.get(timeout=3600))
        run.generation = time.perf_counter() - started
        # One loop and one connection for the whole wait (the watcher's CPU is the machine's too).
        with asyncio.Runner() as runner:
            database = Database(create_engine(database_url, pool_size=1))
            try:
                while runner.run(_outbox_left(database)):
                    for index, process in enumerate(workers):
                        run.worker_peaks[index] = max(run.worker_peaks[index], _hwm(process.pid) or 0.0)
                    time.sleep(0.2)
            finally:
                runner.run(database.dispose())
        run.end_to_end = time.perf_counter() - started
        run.drain = run.end_to_end - run.generation
        run.sandbox_cpu = _cpu(sandbox_pid) - sandbox_cpu
        run.database_cpu = _postgres_cpu() - database_cpu if database_url.startswith("postgresql") else 0.0
        run.machine_cpu = _machine_busy() - machine
        for index, process in enumerate(workers):
            run.worker_peaks[index] = max(run.worker_peaks[index], _hwm(process.pid) or 0.0)
            run.worker_cpu[index] = _cpu(process.pid)
    finally:
        for process in workers:
            process.terminate()
            process.wait(timeout=30)
        for generator in generators:
            generator.join(timeout=30)
    run.generation_cpu = sum(cpu for _, _, cpu in run.shares)
    return run


async def check_registered(settings: Settings) -> tuple[dict[str, int], int]:
    from sqlalchemy import text

    database = Database(create_engine(settings.resolved_database_url()))
    async with database.read() as connection:
        statuses = {
            str(r.status): int(r.n)
            for r in await connection.execute(text("SELECT status, count(*) AS n FROM dmp_outbox GROUP BY status"))
        }
        unique_ids = [str(r[0]) for r in await connection.execute(text("SELECT unique_id FROM dmp_outbox"))]
        patient = await connection.scalar(text("SELECT ins_matricule FROM usager LIMIT 1"))
    feeder = build_feeder(settings, database, shared_validator(settings.resolved_cda_cache_dir()))
    assertion = vihf.build(
        replace(feeder.vihf_context, patient_id=f"{patient}^^^&{OID_NIR}&ISO^NH"), feeder.client.signer
    )
    found: set[str] = set()
    try:
        for start in range(0, len(unique_ids), 200):
            entries = await feeder.client.find_by_unique_id(unique_ids[start : start + 200], assertion)
            found.update(e.unique_id for e in entries)
    finally:
        await feeder.client.aclose()
        await database.dispose()
    return statuses, len(found & set(unique_ids))


async def setup(database_url: str, usagers: int) -> list[uuid.UUID]:
    from sqlalchemy import text

    database = Database(create_engine(database_url))
    try:
        async with database.write() as connection:
            await load(connection, fixture(usagers))
        async with database.read() as connection:
            return [uuid.UUID(str(r[0])) for r in await connection.execute(text("SELECT id FROM usager ORDER BY id"))]
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--usagers", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="`dui worker` processes")
    parser.add_argument("--concurrency", type=int, default=4, help="documents in flight per worker")
    parser.add_argument("--generators", type=int, default=2, help="generating processes (one validator each)")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder")
    parser.add_argument("--failure-rate", type=float, default=0.0, help="the sandbox fails this share at random")
    arguments = parser.parse_args()

    SCRATCH.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-dmp-", dir=SCRATCH))
    sandbox, dmp_env = start_sandbox(folder, arguments.failure_rate)
    try:
        database_url = arguments.database_url or f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}"
        if database_url.startswith("postgresql"):
            asyncio.run(fresh_postgres(database_url))
        upgrade(database_url)
        usager_ids = asyncio.run(setup(database_url, arguments.usagers))
        env = _own_code(
            {
                **os.environ,
                **dmp_env,
                "DUI_DATABASE_URL": database_url,
                "DUI_DATA_DIR": str(folder),
                "DUI_CDA_CACHE_DIR": str(ROOT / "data" / "cda-cache"),
                "DUI_DMP_CONCURRENCY": str(arguments.concurrency),
                "DUI_DMP_BATCH": "50",
                "DUI_DMP_BACKOFF_INITIAL": "0.5",
                "DUI_DMP_BACKOFF_MAX": "2",
                "DUI_DMP_READ_TIMEOUT": "10",
                "DUI_DMP_POLL_SECONDS": "0.2",
            }
        )
        os.environ.update({k: v for k, v in env.items() if k.startswith("DUI_")})
        settings = Settings()
        run = run_pipeline(env, sandbox.pid, database_url, usager_ids, arguments)
        count = arguments.count
        print(f"generation: {count} documents in {run.generation:.1f} s; end to end {run.end_to_end:.1f} s")
        statuses, registered = asyncio.run(check_registered(settings))
        dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
        rate = count / run.end_to_end
        worker_cpu = sum(run.worker_cpu)
        ours = run.generation_cpu + worker_cpu + run.sandbox_cpu + run.database_cpu
        lines = [
            f"# DMP feeding bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"database {dialect}, {count} documents, {arguments.usagers} usagers, "
            f"{arguments.generators} generating process(es), {arguments.workers} worker(s) x "
            f"{arguments.concurrency} in flight, all running at once; sandbox failure rate {arguments.failure_rate}, "
            f"load average {os.getloadavg()[0]:.1f}",
            "",
            "| phase | wall time | rate | CPU | CPU per document |",
            "|---|---:|---:|---:|---:|",
            f"| generation (build + PDF/A + validate + store + queue), workers delivering meanwhile "
            f"| {run.generation:.1f} s | {count / run.generation:.1f}/s | {run.generation_cpu:.1f} s "
            f"| {1000 * run.generation_cpu / count:.1f} ms |",
            f"| delivery after the last document was generated | {run.drain:.1f} s | | | |",
            f"| workers (validation checked, VIHF + signature, ITI-41 over mTLS; their start included) | | "
            f"| {worker_cpu:.1f} s | {1000 * worker_cpu / count:.1f} ms |",
            f"| sandbox (schema, signatures, hashes, registry) | | | {run.sandbox_cpu:.1f} s "
            f"| {1000 * run.sandbox_cpu / count:.1f} ms |",
            f"| PostgreSQL server (SQLite runs inside the processes above) | | | {run.database_cpu:.1f} s "
            f"| {1000 * run.database_cpu / count:.1f} ms |",
            f"| the rest of the machine (other work on the shared machine) | | | {run.machine_cpu - ours:.1f} s "
            f"| {1000 * (run.machine_cpu - ours) / count:.1f} ms |",
            f"| end to end (first generation to last document registered) | {run.end_to_end:.1f} s "
            f"| **{rate:.1f}/s** (target >= 50: {'PASS' if rate >= 50 else 'FAIL'}, ratio {rate / 50:.2f}) "
            f"| {run.machine_cpu:.1f} s | {1000 * run.machine_cpu / count:.1f} ms |",
            "",
            f"outbox: {statuses}; registered in the sandbox (ITI-18): {registered} of {count}",
            f"peak RSS per worker: {', '.join(f'{p:.0f} MiB' for p in run.worker_peaks)} (target < 300 MiB: "
            f"{'PASS' if max(run.worker_peaks) < 300 else 'FAIL'})",
            "generating processes: "
            + ", ".join(f"{cpu:.1f} s CPU in {wall:.1f} s" for _, wall, cpu in sorted(run.shares)),
        ]
        text_out = "\n".join(lines)
        print(text_out)
        RESULTS.mkdir(parents=True, exist_ok=True)
        name = f"dmp-{dialect}-{datetime.now(UTC):%Y%m%d-%H%M%S}.md"
        (RESULTS / name).write_text(text_out + "\n")
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


if __name__ == "__main__":
    main()
