"""Read benchmark: GET /usagers/{id} and trait search on PostgreSQL, against a bare Starlette + asyncpg floor.

Steps: (1) create a database and load N synthetic usagers through UsagerService (the rows, search tokens and
history the API writes); (2) pick random ids and trait queries, and capture the SQL our service runs for each
query; (3) start our service, then the floor (never both at once), each pinned to CPU 0, and drive them from
CPU 1 with wrk (or a Python load generator); (4) print a Markdown table (median of the repeats, ours/floor
ratio, PASS/FAIL against the targets) and write it to bench/results/reads-<date>.md.

Run ``python bench/bench_reads.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVER_CPU, LOAD_CPU = "0", "1"

# Targets of the issue: reads >= 0.6 x the floor's throughput with p99 < 50 ms; trait search p99 < 50 ms.
READ_RATIO_TARGET = 0.6
P99_TARGET_MS = 50.0


# -- synthetic people ----------------------------------------------------------------------------------------

SURNAMES = """
MARTIN BERNARD THOMAS PETIT ROBERT RICHARD DURAND DUBOIS MOREAU LAURENT SIMON MICHEL LEFÈVRE LEROY ROUX DAVID
BERTRAND MOREL FOURNIER GIRARD BONNET DUPONT LAMBERT FONTAINE ROUSSEAU VINCENT MÜLLER LEFEBVRE FAURE ANDRÉ
MERCIER BLANC GUÉRIN BOYER GARNIER CHEVALIER FRANÇOIS LEGRAND GAUTHIER GARCIA PERRIN ROBIN CLÉMENT MORIN
NICOLAS HENRY ROUSSEL MATHIEU GAUTIER MASSON MARCHAND DUVAL DENIS DUMONT MARIE LEMAIRE NOËL MEYER DUFOUR
MEUNIER BRUN BLANCHARD GIRAUD JOLY RIVIÈRE LUCAS BRUNET GAILLARD BARBIER ARNAUD MARTINEZ GÉRARD ROCHE RENARD
SCHMITT ROY LEROUX COLIN VIDAL CARON PICARD ROGER FABRE AUBERT LEMOINE RENAUD DUMAS LACROIX OLIVIER PHILIPPE
BOURGEOIS PIERRE BENOÎT REY LECLERC PAYET ROLLAND LECLERCQ GUILLAUME LECOMTE LOPEZ JEAN DUPUY GUILLOT HUBERT
BERGER CARPENTIER SANCHEZ DUPUIS MOULIN LOUIS DESCHAMPS HUET VASSEUR PEREZ BOUCHER FLEURY ROYER KLEIN JACQUET
ADAM PARIS POIRIER MARTY AUBRY GUYOT CARRÉ CHARLES RENAULT CHARPENTIER MÉNARD MAILLARD BARON BERTIN BAILLY
HERVÉ SCHNEIDER FERNANDEZ COLLET LÉGER BOUVIER JULIEN PRÉVOST MILLET PERROT DANIEL COUSIN GERMAIN BRETON
BESSON LANGLOIS RÉMY PELLETIER LÉVÊQUE PERRIER LEBLANC BARRÉ LEBRUN MARCHAL WEBER MALLET HAMON BOULANGER
JACOB MONNIER MICHAUD RODRIGUEZ GUICHARD GILLET ÉTIENNE GRONDIN POULAIN TESSIER CHEVALLIER COLLIN CHAUVIN
BOUCHET GAY LEMAÎTRE BÉNARD MARÉCHAL HUMBERT REYNAUD ANTOINE HOARAU PERRET BARTHÉLEMY CORDIER PICHON LEJEUNE
GILBERT LAMY DELAUNAY PASQUIER CARLIER LAPORTE DIALLO NGUYEN TRAORÉ BENAÏSSA KERGOAT QUÉMÉNEUR HOUËL
"""
# Names with particles, apostrophes and ligatures: the cases the token rules exist for.
SURNAMES_WITH_SEPARATORS = [
    "LE GALL",
    "LE ROUX",
    "LE GOFF",
    "LE BIHAN",
    "LE CŒUR",
    "DA SILVA",
    "DOS SANTOS",
    "DE SOUSA",
    "DE LA FONTAINE",
    "DU PONT",
    "D'ARGENT",
    "D'ALMEIDA",
    "N'DIAYE",
    "L'HERMITE",
    "D'ANGELO",
    "SAINT-MARTIN",
    "SAINT-JUST",
]
# Heads and tails combine into plausible surnames (Beaumont, Chardet...): the long tail of a real population.
SURNAME_HEADS = """
Beau Bel Ber Bou Bour Bru Cha Chau Cour Del Des Du Fa Fon Gau Gi Gre La Lan Ma Mar Mon Pel Pi Ra Ro Sau Ta Va Ver Vil
Lé Fé Bé Ché Mé Ré Tré Gué
"""
SURNAME_TAILS = """
chard det gnon lard lin mont net quet rand rieux teau ville zac court lier mard nier reau ssot vel vière zière gès
çon lès thès nel moux rac tin guet rot nard baud champ ssac roux bert gueux hal
"""
FEMALE = """
Marie Jeanne Françoise Monique Catherine Nathalie Isabelle Sylvie Anne Martine Christine Nicole Jacqueline Sophie
Sandrine Valérie Véronique Céline Chantal Stéphanie Christiane Michèle Denise Madeleine Suzanne Hélène Brigitte
Aurélie Camille Julie Émilie Léa Chloé Manon Inès Zoé Maëlys Anaïs Agnès Thérèse Geneviève Andrée Odette Yvette
Renée Germaine Simone Paulette Gisèle Huguette Colette Ginette Marcelle Lucienne Raymonde Josiane Danièle Éliane
Joëlle Noëlle Gaëlle Maïté Clémence Éloïse Léonie Célestine Bérénice Océane Laëtitia Séverine Mélanie Élodie
Claire Lucie Pauline Margaux Juliette Louise Alice Jade Lina Rose Ambre Mila Anna Eva Élise Agathe Capucine Romane
Yvonne Lucette Georgette Marthe Berthe Henriette Mireille Arlette Évelyne Annick Dominique Patricia Laurence
Corinne Florence Karine Virginie Audrey Émeline Fatima Aïcha Khadija Mariam Awa Fatoumata Thi Linh Ophélie Noémie
"""
MALE = """
Jean Pierre Michel André Philippe René Louis Alain Jacques Bernard Marcel Daniel Roger Robert Paul Claude
Christian Henri Georges Nicolas François Patrick Gérard Christophe Joseph Julien Maurice Raymond Thierry
Frédéric Éric Stéphane David Pascal Olivier Laurent Sébastien Guy Yves Lucien Gilbert Dominique Hervé Bruno
Didier Benoît Jérôme Mathieu Thomas Hugo Lucas Théo Noé Raphaël Gaël Loïc Léon Émile Étienne Aimé Honoré Noël
Joël Mickaël Anthony Kévin Mohamed Ahmed Karim Youssef Mamadou Moussa Gabriel Arthur Jules Adam Nathan Ethan
Maxime Antoine Alexandre Romain Vincent Guillaume Florian Quentin Clément Baptiste Matthieu Cédric Fabrice
Fernand Albert Roland Gaston Armand Édouard Félix Victor Marius Augustin Célestin Anatole Ferdinand Grégoire
Jérémy Yannick Gwenaël Erwan Killian Enzo Timothée Côme Anh Minh
"""
COMPOUND_HEADS = {"F": ["Marie", "Anne", "Marie", "Rose"], "M": ["Jean", "Jean", "Pierre", "Louis"]}
STREETS = [
    "rue de la Paix",
    "avenue Jean-Jaurès",
    "rue Victor-Hugo",
    "place de l'Église",
    "chemin des Vignes",
    "boulevard Gambetta",
    "rue du Moulin",
    "impasse des Lilas",
    "allée des Érables",
    "route de Lyon",
]
CITIES = [
    ("75011", "Paris"),
    ("69003", "Lyon"),
    ("13005", "Marseille"),
    ("31000", "Toulouse"),
    ("59000", "Lille"),
    ("33000", "Bordeaux"),
    ("44000", "Nantes"),
    ("35000", "Rennes"),
    ("29200", "Brest"),
    ("97400", "Saint-Denis"),
]
BIRTH_PLACES = [
    "75056",
    "69123",
    "13055",
    "31555",
    "59350",
    "33063",
    "44109",
    "67482",
    "35238",
    "2A004",
    "97411",
    "99350",
    "99139",
    "99352",
]


def _zipf_cumulative(count: int, exponent: float) -> list[float]:
    """Cumulative weights 1/rank^exponent: a few frequent names and a long tail, as in a real population."""
    total, cumulative = 0.0, []
    for rank in range(1, count + 1):
        total += rank**-exponent
        cumulative.append(total)
    return cumulative


class People:
    """Deterministic synthetic usagers (the JSON a client would POST)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        generated = [head + tail for head in SURNAME_HEADS.split() for tail in SURNAME_TAILS.split()]
        self.rng.shuffle(generated)
        real = SURNAMES.split() + SURNAMES_WITH_SEPARATORS
        self.surnames = list(dict.fromkeys([*real, *(g.upper() for g in generated)]))  # unique, in order
        self.surname_weights = _zipf_cumulative(len(self.surnames), 0.5)
        self.first_names = {"F": FEMALE.split(), "M": MALE.split()}
        self.first_weights = {sex: _zipf_cumulative(len(names), 0.6) for sex, names in self.first_names.items()}

    def surname(self) -> str:
        name = self.rng.choices(self.surnames, cum_weights=self.surname_weights)[0]
        if self.rng.random() < 0.08:  # double-barrelled names
            other = self.rng.choices(self.surnames, cum_weights=self.surname_weights)[0]
            if other != name and " " not in name + other:
                name = f"{name}-{other}"
        return name

    def first_name(self, sex: str) -> str:
        pool = "F" if sex == "UN" else sex
        name = self.rng.choices(self.first_names[pool], cum_weights=self.first_weights[pool])[0]
        if self.rng.random() < 0.12:
            head = self.rng.choice(COMPOUND_HEADS[pool])
            if head != name:
                name = f"{head}-{name}"
        return name

    def usager(self, index: int, essms_ids: list[uuid.UUID]) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        sexe = "F" if roll < 0.52 else "M" if roll < 0.999 else "UN"
        premier = self.first_name(sexe)
        others = [self.first_name(sexe) for _ in range(rng.choice((0, 0, 1, 1, 2)))]
        born = date(1925, 1, 1) + timedelta(days=rng.randrange(96 * 365))
        data: dict[str, Any] = {
            "nom_naissance": self.surname(),
            "premier_prenom": premier,
            "prenoms_naissance": [premier, *(o for o in others if o != premier)],
            "sexe": sexe,
            "date_naissance": born.isoformat(),
            "identifiant_local": f"IPP{index:08d}",
            "essms_id": str(rng.choice(essms_ids)),
        }
        if sexe == "F" and born.year < 1995 and rng.random() < 0.4:
            data["nom_utilise"] = self.surname()
        if rng.random() < 0.03:
            data["prenom_utilise"] = self.first_name(sexe)
        if sexe != "UN" and rng.random() < 0.8:
            data["civilite"] = "MME" if sexe == "F" else "M"
        if rng.random() < 0.8:
            data["lieu_naissance"] = rng.choice(BIRTH_PLACES)
        if rng.random() < 0.01:
            data["attributes"] = ["DOUT"]
        if rng.random() < 0.85:
            postal_code, city = rng.choice(CITIES)
            data["adresse"] = {
                "lines": [f"{rng.randint(1, 120)} {rng.choice(STREETS)}"],
                "postal_code": postal_code,
                "city": city,
            }
        if rng.random() < 0.7:
            digits = " ".join(f"{rng.randint(0, 99):02d}" for _ in range(4))
            data["telecoms"] = [{"system": "phone", "value": f"06 {digits}", "use": "mobile"}]
        return data


# -- database ------------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    database_url: str  # SQLAlchemy form, for our service
    dsn: str  # asyncpg form, for the floor
    usagers: int
    tokens: int
    load_seconds: float | None = None


def database_urls(admin_url: str, name: str) -> tuple[str, str]:
    from sqlalchemy.engine import make_url

    server = make_url(admin_url).set(database=name)
    return (
        server.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False),
        server.set(drivername="postgresql").render_as_string(hide_password=False),
    )


async def prepare_database(args: argparse.Namespace) -> Dataset:
    """Create (or reuse) the database, migrate it and load the usagers through the services."""
    import asyncpg  # type: ignore[import-untyped]

    from app.store.migrate import upgrade_async

    url, dsn = database_urls(args.postgres_url, args.database)
    admin = await asyncpg.connect(args.postgres_url)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", args.database)
        if exists and args.reuse:
            existing = await _count_usagers(dsn)
            if existing == args.usagers:
                await upgrade_async(url)
                print(f"Reusing database {args.database} ({existing:,} usagers).")
                return Dataset(url, dsn, existing, await _count_tokens(dsn))
            print(f"Database {args.database} holds {existing:,} usagers, not {args.usagers:,}: reloading.")
        if exists:
            await admin.execute(f'DROP DATABASE "{args.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{args.database}"')
    finally:
        await admin.close()
    await upgrade_async(url)
    seconds = await load_usagers(url, args)
    connection = await asyncpg.connect(dsn)
    try:
        # A settled database: statistics for the planner and a visibility map for index-only scans.
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return Dataset(url, dsn, await _count_usagers(dsn), await _count_tokens(dsn), seconds)


async def _count_usagers(dsn: str) -> int:
    return int(await _scalar(dsn, "SELECT count(*) FROM usager") or 0)


async def _count_tokens(dsn: str) -> int:
    return int(await _scalar(dsn, "SELECT count(*) FROM usager_search_token") or 0)


async def _scalar(dsn: str, sql: str) -> Any:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval(sql)
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await connection.close()


async def create_structures(database: Any, count: int) -> list[uuid.UUID]:
    """One organisme gestionnaire and ``count`` EHPAD, so usagers carry an ESSMS as in real use."""
    from app.domain.access import SYSTEM
    from app.domain.finess import with_key
    from app.domain.structures import EssmsInput, OrganismeInput
    from app.services.structures import EssmsService, OrganismeService

    async with database.write() as connection:
        organisme = await OrganismeService(connection, SYSTEM).create(
            OrganismeInput(finess_ej=with_key("75900000"), raison_sociale="Association Bench")
        )
        essms = EssmsService(connection, SYSTEM)
        return [
            (
                await essms.create(
                    EssmsInput(
                        finess_et=with_key(f"75{900001 + i:06d}"),
                        organisme_id=organisme.id,
                        nom=f"EHPAD Bench {i + 1}",
                        categorie="500",
                        types_activite=["11", "21", "40"],
                    )
                )
            ).id
            for i in range(count)
        ]


async def load_usagers(url: str, args: argparse.Namespace) -> float:
    """Create the usagers with UsagerService, ``--batch`` per transaction, ``--load-workers`` at once."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from app.config import Settings
    from app.domain.access import SYSTEM
    from app.domain.identity import UsagerIdentityInput
    from app.services.usagers import UsagerService
    from app.store.db import Database, create_engine

    Settings().apply_domain_tunables()
    database = Database(create_engine(url, pool_size=args.load_workers + 1))
    try:
        essms_ids = await create_structures(database, 10)
        people = People(args.seed)
        documents = [people.usager(i, essms_ids) for i in range(args.usagers)]
        batches = iter(range(0, args.usagers, args.batch))
        columns = (
            TextColumn("Loading usagers"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        started = time.perf_counter()
        with Progress(*columns) as progress:
            task = progress.add_task("load", total=args.usagers, rate="")
            loaded = 0

            async def worker() -> None:
                nonlocal loaded
                for start in batches:
                    async with database.write() as connection:
                        service = UsagerService(connection, SYSTEM)
                        for document in documents[start : start + args.batch]:
                            # As the API does: validate the posted JSON into the input model, then create.
                            await service.create(UsagerIdentityInput.model_validate(document))
                    loaded += min(args.batch, args.usagers - start)
                    rate = loaded / (time.perf_counter() - started)
                    progress.update(task, completed=loaded, rate=f"{rate:,.0f} usagers/s")
                    if not progress.console.is_terminal and loaded % (10 * args.batch) < args.batch:
                        # rich draws no bar into a pipe or a file: leave a line every few batches instead.
                        print(f"  {loaded:,}/{args.usagers:,} usagers, {rate:,.0f}/s", flush=True)

            await asyncio.gather(*(worker() for _ in range(args.load_workers)))
            seconds = time.perf_counter() - started
    finally:
        await database.dispose()
    print(
        f"Loaded {args.usagers:,} usagers through UsagerService.create in {seconds:.0f} s "
        f"({args.usagers / seconds:,.0f} usagers/s, {args.load_workers} concurrent transactions of {args.batch})."
    )
    return seconds


# -- targets and the captured search SQL ---------------------------------------------------------------------


@dataclass
class Search:
    q: str
    date_naissance: str | None
    sql: str
    args: list[Any]
    expected_ids: list[str]


@dataclass
class Targets:
    ids: list[str]
    searches: dict[str, list[Search]]  # scenario -> queries
    bodies: dict[str, tuple[str, int]] = field(default_factory=dict)  # a sample of id -> (body, version)
    page_size: int = 50


def _encode_argument(value: Any) -> Any:
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


async def build_targets(dataset: Dataset, args: argparse.Namespace) -> Targets:
    """Every usager id, and trait queries from random usagers with the statement our service runs for each."""
    import asyncpg
    from sqlalchemy import event

    from app.api.schemas import UsagerFilters
    from app.config import Settings
    from app.domain.access import SYSTEM
    from app.services.usagers import UsagerService
    from app.store.db import Database, create_engine

    connection = await asyncpg.connect(dataset.dsn)
    try:
        ids = [str(r["id"]) for r in await connection.fetch("SELECT id FROM usager WHERE archived_at IS NULL")]
        await connection.execute("SELECT setseed($1)", (args.seed % 1000) / 1000)
        picked = await connection.fetch(
            "SELECT body FROM usager WHERE archived_at IS NULL ORDER BY random() LIMIT $1", args.queries
        )
        sample = await connection.fetch("SELECT id::text, body, version FROM usager ORDER BY random() LIMIT 20")
    finally:
        await connection.close()
    people = [json.loads(r["body"]) for r in picked]

    settings = Settings()
    page_size = settings.page_size_default
    database = Database(create_engine(dataset.database_url, pool_size=2))
    statements: list[tuple[str, tuple[Any, ...]]] = []

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        # The floor replays the search itself; the identity traces the service writes after it are ours alone.
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, tuple(parameters or ())))

    def capture_driver(query: Any) -> None:  # statements the repositories send to asyncpg themselves
        # (asyncpg's own type introspection, once per connection, does not read usager)
        if query.query.lstrip().upper().startswith("SELECT") and "FROM usager" in query.query:
            statements.append((query.query, tuple(query.args or ())))

    searches: dict[str, list[Search]] = {"search": [], "search_dob": []}
    try:
        async with database.read() as read:
            (await read.get_raw_connection()).driver_connection.add_query_logger(capture_driver)
            service = UsagerService(read, SYSTEM)
            for person in people:
                q = f"{person['nom_naissance']} {person['premier_prenom']}"
                for scenario, born in (("search", None), ("search_dob", person["date_naissance"])):
                    filters = UsagerFilters(q=q, date_naissance=born)
                    statements.clear()
                    # The list endpoint's call (app/api/crud.py): the default page, no cursor, no sort.
                    page = await service.list_page(
                        where=service.conditions(filters),
                        after=None,
                        limit=page_size,
                        sort=None,
                        include_archived=False,
                    )
                    if len(statements) != 1:
                        raise SystemExit(
                            f"The trait search now runs {len(statements)} statements; "
                            "bench/floor_app.py replays exactly one: update it."
                        )
                    sql, parameters = statements[0]
                    searches[scenario].append(
                        Search(q, born, sql, [_encode_argument(p) for p in parameters], [str(r.id) for r in page.rows])
                    )
    finally:
        await database.dispose()
    bodies = {r["id"]: (r["body"], r["version"]) for r in sample}
    return Targets(ids, searches, bodies, page_size)


def search_path(prefix: str, search: Search) -> str:
    params = {"q": search.q}
    if search.date_naissance:
        params["date_naissance"] = search.date_naissance
    return f"{prefix}?{urlencode(params)}"


# -- servers -------------------------------------------------------------------------------------------------


@dataclass
class ServerSpec:
    name: str  # "ours" or "floor"
    command: list[str]
    env: dict[str, str]
    get_prefix: str
    search_prefix: str


def _uvicorn_flags() -> list[str]:
    flags = ["--host", HOST, "--no-access-log", "--log-level", "warning"]
    try:
        import uvloop  # noqa: F401

        flags += ["--loop", "uvloop"]
    except ImportError:
        flags += ["--loop", "asyncio"]
    try:
        import httptools  # noqa: F401

        flags += ["--http", "httptools"]
    except ImportError:
        flags += ["--http", "h11"]
    return flags


def server_specs(dataset: Dataset, args: argparse.Namespace, search_file: Path) -> list[ServerSpec]:
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("DUI_", "FLOOR_"))}
    pin = ["taskset", "-c", SERVER_CPU]
    ours = ServerSpec(
        "ours",
        [
            *pin,
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:create_app",
            "--factory",
            "--port",
            str(args.port),
            *_uvicorn_flags(),
        ],
        {
            **base_env,
            "DUI_DATABASE_URL": dataset.database_url,
            "DUI_DB_POOL_SIZE": str(args.pool_size),
            "DUI_CDA_WARM_ON_START": "false",  # reads need no schematron; keep CPU 0 for the measure
        },
        "/usagers",
        "/usagers",
    )
    floor = ServerSpec(
        "floor",
        [
            *pin,
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(BENCH_DIR),
            "floor_app:create_app",
            "--factory",
            "--port",
            str(args.port),
            *_uvicorn_flags(),
        ],
        {
            **base_env,
            "FLOOR_DSN": dataset.dsn,
            "FLOOR_POOL_SIZE": str(args.pool_size),
            "FLOOR_SEARCH_FILE": str(search_file),
        },
        "/usagers",
        "/search",
    )
    return [ours, floor]


async def bench_token(database_url: str) -> str:
    """A superuser API token for the benchmark (the floor ignores it)."""
    from app.services.admin_jobs import ensure_account, issue_token
    from app.store.db import Database, create_engine

    database = Database(create_engine(database_url))
    try:
        await ensure_account(database, "bench", idnps=None, superuser=True, grants=[])
        return (await issue_token(database, "bench", "bench", None, 1))[1]
    finally:
        await database.dispose()


def _auth_headers() -> dict[str, str]:
    value = os.environ.get("BENCH_AUTHORIZATION")
    return {"Authorization": value} if value else {}


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://{HOST}:{port}{path}", headers=_auth_headers())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@contextmanager
def running(spec: ServerSpec, port: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start the server in its own session, wait for /health, and always stop it (also on Ctrl-C)."""
    with socket.socket() as probe:
        if probe.connect_ex((HOST, port)) == 0:
            raise SystemExit(f"Port {port} is already in use: stop that server or pass --port")
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            spec.command, cwd=ROOT, env=spec.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{spec.name} server exited with {process.returncode}; see {log_path}")
            try:
                if http_get(port, "/health", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{spec.name} server did not answer /health within 120 s; see {log_path}")
            time.sleep(0.2)
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # The server leads its own process group (start_new_session): signal that group only.
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def check_answers(spec: ServerSpec, port: int, targets: Targets) -> None:
    """Both servers must serve the same documents before their speeds are compared."""
    for usager_id, (body, version) in targets.bodies.items():
        status, headers, content = http_get(port, f"{spec.get_prefix}/{usager_id}")
        if status != 200 or content.decode() != body or headers.get("etag") != f'"{version}"':
            raise SystemExit(f"{spec.name}: GET {usager_id} answered {status} with another body or ETag")
    for scenario, searches in targets.searches.items():
        for search in searches[:20]:
            status, _headers, content = http_get(port, search_path(spec.search_prefix, search))
            found = [item["id"] for item in json.loads(content)["items"]] if status == 200 else None
            if found != search.expected_ids:
                raise SystemExit(
                    f"{spec.name}: {scenario} {search.q!r} answered {status}, ids {found}, "
                    f"expected {search.expected_ids}"
                )


# -- load generation -----------------------------------------------------------------------------------------


@dataclass
class Measure:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_load(tool: str, port: int, paths_file: Path, seconds: float, connections: int) -> Measure:
    """One bounded run from CPU 1 against 127.0.0.1."""
    if tool == "wrk":
        command = [
            "taskset",
            "-c",
            LOAD_CPU,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "5s",
            "-s",
            str(BENCH_DIR / "reads.lua"),
            f"http://{HOST}:{port}",
            "--",
            str(paths_file),
        ]
    else:
        command = [
            "taskset",
            "-c",
            LOAD_CPU,
            sys.executable,
            str(Path(__file__).resolve()),
            "--loadgen-worker",
            "--port",
            str(port),
            "--duration",
            str(seconds),
            "--connections",
            str(connections),
            "--paths-file",
            str(paths_file),
        ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if completed.returncode != 0 or line is None:
        raise SystemExit(f"load generator failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(v for k, v in data.items() if k.startswith("errors_"))
    return Measure(data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1000, data["p99_us"] / 1000, errors)


def loadgen_worker(port: int, paths_file: Path, duration: float, connections: int) -> None:
    """Fallback load generator (no wrk): keep-alive HTTP/1.1 on raw asyncio streams, bounded by ``duration``."""
    paths = [line for line in paths_file.read_text().splitlines() if line]
    latencies: list[float] = []
    errors = Counter[str]()

    auth = "".join(f"{k}: {v}\r\n" for k, v in _auth_headers().items())

    async def client(deadline: float) -> None:
        rng = random.Random()
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while time.perf_counter() < deadline:
                request = f"GET {rng.choice(paths)} HTTP/1.1\r\nHost: {HOST}:{port}\r\n{auth}\r\n".encode()
                started = time.perf_counter()
                writer.write(request)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                length = 0
                for header in head.split(b"\r\n")[1:]:
                    name, _, value = header.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await asyncio.wait_for(reader.readexactly(length), 5)
                latencies.append(time.perf_counter() - started)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors["errors_status"] += 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            errors["errors_read"] += 1
        finally:
            writer.close()

    async def main() -> float:
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(client(started + duration) for _ in range(connections))), duration + 30)
        return time.perf_counter() - started

    try:
        import uvloop

        elapsed = uvloop.run(main())
    except ImportError:
        elapsed = asyncio.run(main())
    latencies.sort()

    def percentile(p: float) -> int:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1e6) if latencies else 0

    print(
        "BENCH_JSON "
        + json.dumps(
            {
                "requests": len(latencies),
                "duration_us": round(elapsed * 1e6),
                "p50_us": percentile(0.50),
                "p99_us": percentile(0.99),
                **errors,
            }
        )
    )


# -- profile -------------------------------------------------------------------------------------------------

# Where a sampled frame's file lives -> the layer it is counted in.
LAYERS = (
    ("uvicorn/", "uvicorn (HTTP server)"),
    ("httptools", "uvicorn (HTTP server)"),
    ("fastapi/", "fastapi"),
    ("starlette/", "starlette"),
    ("anyio/", "thread pool (anyio, threading)"),
    ("threading.py", "thread pool (anyio, threading)"),
    ("queue.py", "thread pool (anyio, threading)"),
    ("sqlalchemy/", "sqlalchemy"),
    ("greenlet", "sqlalchemy"),
    ("asyncpg/", "asyncpg"),
    ("pydantic", "pydantic"),
    ("app/", "app"),
    ("asyncio/", "event loop (asyncio, uvloop)"),
    ("uvloop", "event loop (asyncio, uvloop)"),
    ("contextlib", "contextlib"),
)


def profile_ours(
    spec: ServerSpec, args: argparse.Namespace, paths: dict[str, Path], tool: str, results_dir: Path, log_path: Path
) -> list[str]:
    """py-spy samples our server under load, one scenario at a time (a separate pass, not in the figures)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        return ["(py-spy is not installed: pip install py-spy)"]
    lines = [
        "## Where our server's time goes",
        "",
        "py-spy, only samples holding the GIL (Python CPU time of the server), one extra run per scenario.",
        "",
    ]
    with running(spec, args.port, log_path) as process:
        for scenario in args.scenarios:
            run_load(tool, args.port, paths[f"ours-{scenario}"], args.warmup, args.connections)
            raw = results_dir / f"profile-{scenario}.txt"
            raw.unlink(missing_ok=True)
            # Blocking sampling: exact stacks; the pause it costs does not matter in this uncounted pass.
            sampler = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(process.pid),
                    "--duration",
                    str(max(1, round(args.duration) - 2)),
                    "--rate",
                    "200",
                    "--gil",
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            run_load(tool, args.port, paths[f"ours-{scenario}"], args.duration, args.connections)
            sampler.wait(timeout=args.duration + 30)
            lines += [
                f"### {SCENARIO_LABELS[scenario]} (raw stacks: bench/results/{raw.name})",
                "",
                *summarise_profile(raw),
                "",
            ]
    return lines


def summarise_profile(raw: Path, top: int = 15) -> list[str]:
    """Share of samples per layer (by the file of the running function) and the functions with most own time.

    Inclusive times are left out: SQLAlchemy runs its calls in greenlets, whose stacks py-spy sees without
    their callers, so a caller's total would be understated."""
    if not raw.exists():
        return ["(no samples)"]
    layers: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[_short_frame(frames[-1])] += count
        layers[_layer(frames[-1])] += count
    if not total:
        return ["(no samples)"]
    lines = [f"{total:,} samples.", "", "| layer | own time |", "|---|---:|"]
    lines += [f"| {layer} | {100 * count / total:.1f}% |" for layer, count in layers.most_common()]
    lines += ["", "| function | own time |", "|---|---:|"]
    lines += [f"| `{frame}` | {100 * count / total:.1f}% |" for frame, count in own.most_common(top)]
    return lines


def _layer(frame: str) -> str:
    where = frame.rpartition(" (")[2]
    return next((layer for marker, layer in LAYERS if marker in where), "other")


def _short_frame(frame: str) -> str:
    # "name (/long/path/pkg/module.py:123)" -> "name (pkg/module.py)", so the lines of one function add up.
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", str(ROOT) + "/", "/lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    if path.startswith(("1", "2")) and "/" in path:  # "11/asyncio/x.py" left by the python3. marker
        path = path.split("/", 1)[1]
    return f"{name} ({path})"


# -- report --------------------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def verdict(scenario: str, ours: list[Measure], floor: list[Measure]) -> tuple[float, str, str]:
    ratio = _median([m.rps for m in ours]) / (_median([m.rps for m in floor]) or 1)
    p99 = _median([m.p99_ms for m in ours])
    errors = sum(m.errors for m in ours)
    if scenario == "get":
        target = f"≥ {READ_RATIO_TARGET}x floor, p99 < {P99_TARGET_MS:.0f} ms"
        ok = ratio >= READ_RATIO_TARGET and p99 < P99_TARGET_MS
    else:
        target = f"p99 < {P99_TARGET_MS:.0f} ms"
        ok = p99 < P99_TARGET_MS
    return ratio, target, ("PASS" if ok and not errors else "FAIL" + (f" ({errors} errors)" if errors else ""))


SCENARIO_LABELS = {
    "get": "GET /usagers/{id}",
    "search": "GET /usagers?q=nom+prénom",
    "search_dob": "GET /usagers?q=nom+prénom&date_naissance=…",
}


def report(
    results: dict[tuple[str, str], list[Measure]],
    args: argparse.Namespace,
    dataset: Dataset,
    targets: Targets,
    tool: str,
) -> list[str]:
    lines = [
        f"# Read benchmark, {datetime.now().strftime('%Y-%m-%d %H:%M')}",
        "",
        f"PostgreSQL, {dataset.usagers:,} usagers ({dataset.tokens:,} search tokens); {args.connections} "
        f"connections; {args.warmup:g} s warm-up then {args.duration:g} s measured, {args.repeats} run(s) per server "
        f"alternating ours/floor (medians shown); servers pinned to CPU {SERVER_CPU}, load generator "
        f"**{tool}** on CPU {LOAD_CPU}; pool size {args.pool_size} on both sides.",
        "",
        "| Scenario | Ours req/s | Ours p50 ms | Ours p99 ms | Floor req/s | Floor p50 ms | Floor p99 ms "
        "| Ours/floor | Target | Result |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for scenario in args.scenarios:
        ours, floor = results[(scenario, "ours")], results[(scenario, "floor")]
        ratio, target, result = verdict(scenario, ours, floor)
        lines.append(
            f"| {SCENARIO_LABELS[scenario]} | {_median([m.rps for m in ours]):,.0f} "
            f"| {_median([m.p50_ms for m in ours]):.1f} | {_median([m.p99_ms for m in ours]):.1f} "
            f"| {_median([m.rps for m in floor]):,.0f} | {_median([m.p50_ms for m in floor]):.1f} "
            f"| {_median([m.p99_ms for m in floor]):.1f} | {ratio:.2f}x | {target} | **{result}** |"
        )
    lines += [
        "",
        "Every run:",
        "",
        "| Scenario | Server | Run | req/s | p50 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (scenario, server), measures in results.items():
        for run, m in enumerate(measures, 1):
            lines.append(
                f"| {scenario} | {server} | {run} | {m.rps:,.0f} | {m.p50_ms:.2f} | {m.p99_ms:.2f} | {m.errors} |"
            )
    for scenario, searches in targets.searches.items():
        hits = sorted(len(s.expected_ids) for s in searches)
        if scenario in args.scenarios and hits:
            lines += [
                "",
                f"{scenario}: {len(hits):,} queries from random usagers (`nom_naissance premier_prenom`"
                f"{' + date_naissance' if scenario == 'search_dob' else ''}); rows returned per query: median "
                f"{_median([float(h) for h in hits]):.0f}, p90 {hits[int(0.9 * len(hits))]}, max {hits[-1]} "
                f"(page size {targets.page_size}).",
            ]
    if dataset.load_seconds:
        lines.append(
            f"Load: {dataset.usagers:,} usagers through UsagerService.create in {dataset.load_seconds:.0f} s "
            f"({dataset.usagers / dataset.load_seconds:,.0f}/s)."
        )
    lines += ["", f"Environment: {_environment()}."]
    return lines


def _environment() -> str:
    commit = (
        subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
        or "unknown"
    )
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return f"commit {commit}, Python {platform.python_version()}, {os.cpu_count()} × {cpu}"


# -- main ----------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from app.config import Settings

    parser = argparse.ArgumentParser(
        description="Benchmark GET /usagers/{id} and the trait search against a bare Starlette + asyncpg floor "
        "on PostgreSQL.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("DUI_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL),
        help="server to use, as a URL to a database we may CREATE DATABASE from (env DUI_BENCH_POSTGRES_URL)",
    )
    parser.add_argument("--database", default="dui_bench", help="database to create (dropped first)")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database when it already holds --usagers usagers (skip the load)"
    )
    parser.add_argument("--usagers", type=int, default=100_000, help="usagers to load")
    parser.add_argument("--batch", type=int, default=1000, help="usagers per load transaction")
    parser.add_argument("--load-workers", type=int, default=2, help="load transactions running at once")
    parser.add_argument("--seed", type=int, default=42, help="seed of the synthetic data and of the samples")
    parser.add_argument("--queries", type=int, default=2000, help="distinct trait queries to cycle through")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIO_LABELS), choices=list(SCENARIO_LABELS))
    parser.add_argument("--connections", type=int, default=32, help="concurrent client connections")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up before each measure")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per scenario and server, alternating")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=Settings.model_fields["db_pool_size"].default,
        help="database pool size of both servers (the service's default)",
    )
    parser.add_argument("--port", type=int, default=8765, help="port of the server under test")
    parser.add_argument(
        "--loadgen",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator: wrk when installed, else a Python one",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="afterwards, sample our server with py-spy under each scenario and print where the time goes",
    )
    parser.add_argument("--load-only", action="store_true", help="prepare the database and stop")
    # Internal: the Python load generator runs as a child process pinned to the load CPU.
    parser.add_argument("--loadgen-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--paths-file", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _exit_on_sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.loadgen_worker:
        loadgen_worker(args.port, args.paths_file, args.duration, args.connections)
        return 0
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # stop the servers on kill as on Ctrl-C
    if shutil.which("taskset") is None:
        raise SystemExit("taskset (util-linux) is required to pin the servers and the load generator")
    tool = "wrk" if args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk")) else "python"
    if tool == "wrk" and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk), or use --loadgen python")

    dataset = asyncio.run(prepare_database(args))
    if args.load_only:
        return 0
    # Our service authenticates every request: an API token of a superuser, sent by every load generator.
    os.environ["BENCH_AUTHORIZATION"] = f"Bearer {asyncio.run(bench_token(dataset.database_url))}"
    print(f"Sampling targets and capturing the search SQL of {args.queries:,} trait queries...")
    targets = asyncio.run(build_targets(dataset, args))

    results_dir = BENCH_DIR / "results"
    work_dir = results_dir / "scratch"
    work_dir.mkdir(parents=True, exist_ok=True)
    search_file = work_dir / "floor-searches.json"
    search_file.write_text(
        json.dumps(
            [
                {"q": s.q, "date_naissance": s.date_naissance, "sql": s.sql, "args": s.args}
                for searches in targets.searches.values()
                for s in searches
            ]
        )
    )
    specs = server_specs(dataset, args, search_file)
    paths: dict[str, Path] = {}
    for spec in specs:
        for scenario in args.scenarios:
            if scenario == "get":
                lines = [f"{spec.get_prefix}/{i}" for i in targets.ids]
            else:
                lines = [search_path(spec.search_prefix, s) for s in targets.searches[scenario]]
            paths[f"{spec.name}-{scenario}"] = work_dir / f"paths-{spec.name}-{scenario}.txt"
            paths[f"{spec.name}-{scenario}"].write_text("\n".join(lines) + "\n")

    log_path = work_dir / "servers.log"
    results: dict[tuple[str, str], list[Measure]] = {(sc, sp.name): [] for sc in args.scenarios for sp in specs}
    for repeat in range(args.repeats):
        for spec in specs if repeat % 2 == 0 else reversed(specs):
            with running(spec, args.port, log_path):
                if repeat == 0:
                    check_answers(spec, args.port, targets)
                for scenario in args.scenarios:
                    run_load(tool, args.port, paths[f"{spec.name}-{scenario}"], args.warmup, args.connections)
                    measure = run_load(
                        tool, args.port, paths[f"{spec.name}-{scenario}"], args.duration, args.connections
                    )
                    results[(scenario, spec.name)].append(measure)
                    print(
                        f"  run {repeat + 1}/{args.repeats} {spec.name:5} {scenario:10} {measure.rps:8,.0f} req/s"
                        f"  p50 {measure.p50_ms:6.2f} ms  p99 {measure.p99_ms:6.2f} ms  errors {measure.errors}",
                        flush=True,
                    )

    lines = report(results, args, dataset, targets, tool)
    if args.profile:
        lines += ["", *profile_ours(specs[0], args, paths, tool, results_dir, log_path)]
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    output = results_dir / f"reads-{date.today().isoformat()}.md"
    output.write_text(text)
    print(f"Written to {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("Interrupted; servers stopped.", file=sys.stderr)
        sys.exit(130)
