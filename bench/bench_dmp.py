"""Generate, queue and deliver N CDA documents to the DMP sandbox (own process, mutual TLS) and report the
rates of each phase, end to end, and the peak RSS of the workers.

    .venv/bin/python bench/bench_dmp.py [--count 10000] [--usagers 100] [--workers 2] [--concurrency 4]
                                        [--database-url postgresql+asyncpg://…] [--failure-rate 0]

Setup (not timed): the sandbox (`dui dmp sandbox`, a throwaway PKI), a database (SQLite file, or a fresh
PostgreSQL database `dui_bench_dmp`), one organisme, one EHPAD, one professional and U usagers with a
qualified identity (INS), loaded through the fixture loader.
Timed:
1. generation: N documents (N1 with its PDF/A rendering), each built, validated by the ANS XSD and
   schematrons, stored and queued in the outbox in one transaction, through DocumentService;
2. delivery: W `dui worker --once` processes deliver the outbox over mTLS (the stored validation is checked
   against the document's bytes and the rules in force, VIHF and submission-set signatures, ITI-41 MTOM; the
   sandbox checks schema, signatures and hashes);
then every uniqueId is looked up through ITI-18: all registered, once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.domain.access import SYSTEM  # noqa: E402
from app.domain.documents import DocumentKind, DocumentRequest  # noqa: E402
from app.domain.finess import with_key  # noqa: E402
from app.domain.ins import OID_NIR, ins_key  # noqa: E402
from app.interop.cda import shared_validator  # noqa: E402
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


def start_sandbox(folder: Path, failure_rate: float) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {**os.environ, "DUI_DATA_DIR": str(folder)}
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


async def generate(
    database: Database, settings: Settings, usager_ids: list[uuid.UUID], count: int, parallel: int
) -> None:
    validator = shared_validator(settings.resolved_cda_cache_dir())
    request = DocumentRequest(kind=DocumentKind.N1_PDF, type_code="80788-3")
    queue: asyncio.Queue[uuid.UUID] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(usager_ids[index % len(usager_ids)])

    async def one_worker() -> None:
        while not queue.empty():
            usager_id = queue.get_nowait()
            async with database.write() as connection:
                service = DocumentService(connection, SYSTEM, validator, settings.software_name, None)
                await service.generate(usager_id, request)

    await asyncio.gather(*(one_worker() for _ in range(parallel)))


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


def deliver(env: dict[str, str], workers: int) -> tuple[list[str], list[float]]:
    """Run W `dui worker --once` until they stop; their last lines and peak RSS (MiB)."""
    command = [str(Path(sys.executable).parent / "dui"), "worker", "--once"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        for _ in range(workers)
    ]
    peaks = [0.0] * workers
    while any(p.poll() is None for p in processes):
        for index, process in enumerate(processes):
            peaks[index] = max(peaks[index], _hwm(process.pid) or 0.0)
        time.sleep(0.2)
    outputs = []
    for process in processes:
        assert process.stdout is not None
        output = process.stdout.read().strip()
        outputs.append(output.splitlines()[-1] if output else f"exit {process.returncode}")
    return outputs, peaks


async def generation_phase(
    database_url: str, settings: Settings, usager_ids: list[uuid.UUID], count: int, generators: int
) -> float:
    """Seconds to generate ``count`` documents, after one not timed (the validator loads its schematrons)."""
    database = Database(create_engine(database_url, pool_size=generators + 2))
    try:
        await generate(database, settings, usager_ids, 1, 1)
        started = time.perf_counter()
        await generate(database, settings, usager_ids, count, generators)
        return time.perf_counter() - started
    finally:
        await database.dispose()


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
    parser.add_argument("--generators", type=int, default=2, help="documents generated at once (PostgreSQL)")
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
        env = {
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
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("DUI_")})
        settings = Settings()
        generators = 1 if database_url.startswith("sqlite") else arguments.generators
        generation = asyncio.run(generation_phase(database_url, settings, usager_ids, arguments.count, generators))
        print(f"generation: {arguments.count} documents in {generation:.1f} s, {arguments.count / generation:.1f}/s")
        started = time.perf_counter()
        outputs, peaks = deliver(env, arguments.workers)
        delivery = time.perf_counter() - started
        delivered = arguments.count + 1  # with the warm-up document
        print(f"delivery: {delivered} in {delivery:.1f} s, {delivered / delivery:.1f}/s; workers: {'; '.join(outputs)}")
        statuses, registered = asyncio.run(check_registered(settings))
        dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
        total = generation + delivery
        rate = arguments.count / total
        lines = [
            f"# DMP feeding bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"database {dialect}, {arguments.count} documents, {arguments.usagers} usagers, "
            f"{generators} generator(s), {arguments.workers} worker(s) x {arguments.concurrency} in flight, "
            f"sandbox failure rate {arguments.failure_rate}, load average {os.getloadavg()[0]:.1f}",
            "",
            "| phase | time | rate |",
            "|---|---|---|",
            f"| generation (build + validate + store + queue) | {generation:.1f} s "
            f"| {arguments.count / generation:.1f}/s |",
            "| delivery (validation checked, VIHF + signature, ITI-41 over mTLS), workers' start included "
            f"| {delivery:.1f} s "
            f"| {delivered / delivery:.1f}/s |",
            f"| end to end | {total:.1f} s | {rate:.1f}/s (target >= 50: {'PASS' if rate >= 50 else 'FAIL'}, "
            f"ratio {rate / 50:.2f}) |",
            "",
            f"outbox: {statuses}; registered in the sandbox (ITI-18): {registered} of {delivered}",
            f"peak RSS per worker: {', '.join(f'{p:.0f} MiB' for p in peaks)} (target < 300 MiB: "
            f"{'PASS' if max(peaks) < 300 else 'FAIL'}); generating process "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB",
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
