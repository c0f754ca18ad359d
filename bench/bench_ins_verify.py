"""Re-verify N identities through INSi against the sandbox (separate process, mutual TLS) and report the
rate and the peak RSS of the batch process.

    .venv/bin/python bench/bench_ins_verify.py [--count 10000] [--concurrency 16] [--database-url URL]

Setup (not timed): N synthetic identities with valid INS keys are written to a file the sandbox serves,
and N usagers carrying those INS (as retrieved through INSi) are stored through UsagerService. Then the
batch job of `dui ins verify` runs over all of them; each verification is an INSi call over TLS, an
entry in the INSi journal, and a new version of the usager with its trace.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.domain.access import SYSTEM  # noqa: E402
from app.domain.identity import Ins, UsagerIdentityInput  # noqa: E402
from app.domain.ins import OID_NIR, ins_key  # noqa: E402
from app.interop.insi.client import InsiClient  # noqa: E402
from app.jobs.ins_verify import reverify  # noqa: E402
from app.sandbox.pki import Pki  # noqa: E402
from app.services.identity import insi_config  # noqa: E402
from app.services.usagers import UsagerService  # noqa: E402
from app.store.db import Database, create_engine  # noqa: E402
from app.store.migrate import upgrade  # noqa: E402

NAMES = ["MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY", "MOREAU"]
FIRST = ["JEANNE", "MARIE", "LOUIS", "PAUL", "CAMILLE", "LUCIE", "HUGO", "EMMA", "JULES", "ALICE"]


def identities(count: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    people = []
    for index in range(count):
        sexe = rng.choice("FM")
        born = date(1930, 1, 1) + timedelta(days=rng.randrange(30_000))
        number = f"{1 if sexe == 'M' else 2}{born:%y%m}75{index % 1000:03d}{index // 1000:03d}"[:13].ljust(13, "0")
        people.append(
            {
                "nom_naissance": f"{rng.choice(NAMES)}-{_letters(index)}",
                "prenoms": [rng.choice(FIRST)],
                "sexe": sexe,
                "date_naissance": born.isoformat(),
                "lieu_naissance": "75056",
                "ins": {"num": number, "cle": ins_key(number), "oid": OID_NIR},
                "history": [],
            }
        )
    return people


def _letters(index: int) -> str:
    word = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        word = chr(65 + rest) + word
    return word


async def load(database: Database, people: list[dict[str, object]]) -> None:
    for start in range(0, len(people), 500):
        async with database.write() as connection:
            service = UsagerService(connection, SYSTEM)
            for person in people[start : start + 500]:
                ins = person["ins"]
                assert isinstance(ins, dict)
                prenoms = person["prenoms"]
                assert isinstance(prenoms, list)
                row = await service.create(
                    UsagerIdentityInput(
                        nom_naissance=str(person["nom_naissance"]),
                        premier_prenom=prenoms[0],
                        sexe=str(person["sexe"]),
                        date_naissance=date.fromisoformat(str(person["date_naissance"])),
                        lieu_naissance=str(person["lieu_naissance"]),
                    )
                )
                _, record = await service.get_record(row.id)
                retrieved = record.model_copy(
                    update={
                        "ins": Ins(matricule=ins["num"] + ins["cle"], oid=ins["oid"]),
                        "insi_verified": True,
                        "ins_source": "insi",
                    }
                )
                await service.write_workflow(row, record, retrieved, "bench-setup")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder")
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-insi-"))
    people = identities(arguments.count, arguments.seed)
    extra = folder / "identities.json"
    extra.write_text(json.dumps({"identities": people}))
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "app.sandbox.insi", "--pki", str(folder / "pki"), "--identities", str(extra)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sandbox.stdout is not None
        url = sandbox.stdout.readline().strip()
        pki_dir = folder / "pki"
        pki = Pki(
            pki_dir / "ca.pem",
            pki_dir / "server.pem",
            pki_dir / "server.key",
            pki_dir / "client.pem",
            pki_dir / "client.key",
        )
        database_url = arguments.database_url or f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}"
        upgrade(database_url)
        settings = Settings(
            database_url=database_url,
            data_dir=folder,
            insi_endpoint=url,
            insi_client_cert=pki.client_cert,
            insi_client_key=pki.client_key,
            insi_ca_bundle=pki.ca_cert,
        )
        asyncio.run(run(settings, people, arguments.concurrency, sandbox.pid))
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def _cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of this process, or of ``pid`` (Linux /proc)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(settings: Settings, people: list[dict[str, object]], concurrency: int, sandbox_pid: int) -> None:
    database = Database(create_engine(settings.resolved_database_url(), pool_size=concurrency + 2))
    started = time.perf_counter()
    await load(database, people)
    print(f"setup: {len(people)} usagers in {time.perf_counter() - started:.1f} s", flush=True)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    client = InsiClient(insi_config(settings), max_connections=concurrency)
    started = time.perf_counter()
    cpu_self, cpu_sandbox = _cpu_seconds(), _cpu_seconds(sandbox_pid)
    summary = await reverify(database, settings, client, concurrency=concurrency)
    elapsed = time.perf_counter() - started
    cpu_self, cpu_sandbox = _cpu_seconds() - cpu_self, _cpu_seconds(sandbox_pid) - cpu_sandbox
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    await client.aclose()
    await database.dispose()
    rate = summary.total / elapsed
    print(f"database: {database.dialect}, concurrency {concurrency}")
    print(f"verified: {summary.line()}")
    print(f"time: {elapsed:.1f} s, rate: {rate:.0f} identities/s (target >= 200: {'PASS' if rate >= 200 else 'FAIL'})")
    per_self, per_sandbox = cpu_self / summary.total * 1000, cpu_sandbox / summary.total * 1000
    print(
        f"CPU per identity: batch {per_self:.2f} ms, sandbox {per_sandbox:.2f} ms"
        f" (load average {os.getloadavg()[0]:.1f})"
    )
    print(f"peak RSS of the batch process: {rss_before:.0f} MiB after setup, {rss_after:.0f} MiB at the end")


if __name__ == "__main__":
    main()
