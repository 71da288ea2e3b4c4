"""`slrt-hub`: the command line of SLRT Hub."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console
from rich.progress import Progress

from hub.cli.access import audit_app, clients_app, documents_app
from hub.cli.officers import officers_app
from hub.cli.progress import PlainProgress, progress
from hub.cli.settings import settings_or_exit, upgrade_database
from hub.config import HubSettings
from hub.sync.filelink import ROLES as FILE_LINK_ROLES

app = typer.Typer(
    rich_markup_mode="markdown",
    help="SLRT Hub: one audited GraphQL view of every agency's social-protection data.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(rich_markup_mode="markdown",
                     help="Database schema management (Alembic migrations).")
app.add_typer(db_app, name="db")
app.add_typer(clients_app, name="clients")
app.add_typer(officers_app, name="officers")
app.add_typer(documents_app, name="documents")
app.add_typer(audit_app, name="audit")
# A message is one line, however narrow the terminal; piped to a file, tables are not
# cut at 80 columns ("SUCCEE...").
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


class MatchingBackend(StrEnum):
    """Where `link` blocks and scores pairs ([matching] backend)."""

    duckdb = "duckdb"
    spark = "spark"


def _settings() -> HubSettings:
    return settings_or_exit()


def _progress() -> Progress | PlainProgress:
    return progress(console)


def _population_dir(settings: HubSettings, regency: str, households: int, seed: int,
                    noise: str) -> Path:
    return settings.population.out_dir / f"{regency}-{households}-{seed}-{noise}"


def _generate(out: Path, regency: str, households: int, seed: int, noise: str) -> dict:
    from hub.simulators.population_files import write_population

    with _progress() as bars:
        task = bars.add_task(f"Generating {regency}", total=households)
        manifest = write_population(
            out, regency, households, seed, noise,
            progress=lambda n: bars.advance(task, n),
        )
    return manifest


@app.command()
def generate(
    regency: Annotated[str | None, typer.Option(help="Regency code, e.g. 33.14 (Sragen).")] = None,
    households: Annotated[int | None, typer.Option(min=1, help="How many households.")] = None,
    seed: Annotated[int | None, typer.Option(help="Same seed, same population.")] = None,
    noise: Annotated[str, typer.Option(help="Agency noise profile: default or harsh.")] = "default",
    out: Annotated[Path | None, typer.Option(help="Output folder.")] = None,
) -> None:
    """Generate a synthetic district: the truth, each agency's noisy view, and the ground
    truth that says which agency record is which person."""
    settings = _settings()
    regency = regency or settings.population.regency
    households = households or settings.population.households
    seed = settings.population.seed if seed is None else seed
    out = out or _population_dir(settings, regency, households, seed, noise)
    try:
        manifest = _generate(out, regency, households, seed, noise)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"Wrote {out}: " + ", ".join(f"{k} {v:,}" for k, v in manifest["counts"].items()))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create or migrate the database schema (SQLite or PostgreSQL) to the latest version."""

    settings = _settings()
    upgrade_database(settings, revision)
    console.print(f"Database at {settings.database.url.split('@')[-1]} is at {revision}.")


def _forget_loaded_truth(settings: HubSettings) -> None:
    """A registry put in by `slrt-hub load` (the generator's truth, for benchmarks) is
    not what reconciliation would build: the demo starts its registry afresh."""
    from sqlalchemy import delete, func, select

    from hub.db.engine import create_engine
    from hub.db.models import Enrollment, Household, MatchKey, Person

    async def run() -> None:
        engine = create_engine(settings.database.url)
        try:
            async with engine.begin() as conn:
                persons = (await conn.execute(select(func.count()).select_from(Person)))
                keys = (await conn.execute(select(func.count()).select_from(MatchKey)))
                if persons.scalar_one() and not keys.scalar_one():
                    console.print("The database holds a loaded ground truth; the demo "
                                  "rebuilds the registry by reconciliation instead.")
                    for table in (Enrollment, Person, Household):
                        await conn.execute(delete(table))
        finally:
            await engine.dispose()

    asyncio.run(run())


def _load(settings: HubSettings, population: Path) -> dict[str, int]:
    from hub.db.engine import create_engine
    from hub.db.loader import load_population

    manifest = json.loads((population / "manifest.json").read_text())
    totals = manifest["counts"]

    async def run() -> dict[str, int]:
        engine = create_engine(settings.database.url)
        try:
            with _progress() as progress:
                tasks = {
                    name: progress.add_task(f"Loading {name}", total=totals.get(name, 0))
                    for name in ("households", "persons", "enrollments")
                }
                return await load_population(
                    engine, population,
                    progress=lambda name, n: progress.advance(tasks[name], n),
                    by_province=settings.database.by_province,
                )
        finally:
            await engine.dispose()

    return asyncio.run(run())


# The demo's desk officers: (username, desk, full name); the agency desk works for BPJS.
DEMO_OFFICERS = (("depan", "FRONT", "Sri Wahyuni (front office)"),
                 ("belakang", "BACK", "Agus Santoso (back office)"),
                 ("manajer", "MANAGER", "Dewi Lestari (manajer SLRT)"),
                 ("steward", "STEWARD", "Rudi Hartono (data steward)"),
                 ("bpjs", "AGENCY", "Nur Hidayah (BPJS Kesehatan)"))


def _demo_officers(settings: HubSettings, regency: str) -> str:
    """The console's demo officers, made once; each demo run gives them all one new
    password (stored as argon2 hashes, so an old one cannot be shown again)."""
    import secrets

    from hub.access.clients import ClientError, ClientStore
    from hub.access.officers import DeskKind, OfficerError, OfficerStore
    from hub.access.roles import Role
    from hub.db.engine import create_engine

    password = secrets.token_urlsafe(9)

    async def run() -> None:
        engine = create_engine(settings.database.url)
        clients = ClientStore(engine)
        officers = OfficerStore(engine, clients)
        try:
            with contextlib.suppress(ClientError):  # made by an earlier demo run
                await clients.create(DEMO_AGENCY_CLIENT, Role.AGENCY, regions=[regency],
                                     agency="bpjs", legal_basis="Permensos 15/2018 (SLRT)",
                                     purpose="demo with simulated data")
            for username, desk, full_name in DEMO_OFFICERS:
                client = DEMO_AGENCY_CLIENT if desk == "AGENCY" else DEMO_CLIENT
                try:
                    await officers.create(username, full_name, client, DeskKind(desk),
                                          password)
                except OfficerError:
                    await officers.set_password(username, password)
        finally:
            await engine.dispose()

    asyncio.run(run())
    return password


@app.command()
def load(
    population: Annotated[Path, typer.Argument(help="A folder written by `slrt-hub generate`.",
                                               exists=True, file_okay=False)],
) -> None:
    """Load a generated population's truth into the registry, replacing what was there."""

    settings = _settings()
    upgrade_database(settings)
    counts = _load(settings, population)
    console.print("Loaded " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from config).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from config).")] = None,
) -> None:
    """Serve GraphQL (GraphiQL in the browser) at /graphql, /healthz and /metrics, and
    run the sync scheduler ([schedule]; one replica leads, the others stand by)."""
    settings = _settings()
    _serve(settings, host, port)


def _serve(settings: HubSettings, host: str | None, port: int | None) -> None:
    from hub import logs
    from hub.app import create_app
    from hub.collector import settle_for_serving

    logs.configure(settings.log.format, settings.log.level)
    app = create_app(settings, scheduler=settings.schedule.enabled)
    settle_for_serving(settings.server)
    uvicorn.run(
        app,
        host=host or settings.server.host,
        port=port or settings.server.port,
        log_level=settings.log.level.lower(), access_log=False,
        log_config=None,  # our handler, our format (json on request)
    )


EXAMPLES = """\
query PersonByNik {{
  person(nik: "{nik}") {{
    name sex birthDate alive
    household {{ kk desil address members {{ name relation }} }}
    enrollments {{ program status cardNumber source }}
    lineage {{ field source sourceKey seenAt }}
  }}
}}

query KisBufferStock {{
  findingCounts(region: "{regency}") {{ regionCode kind open }}
  findings(kind: ELIGIBLE_NOT_COVERED, region: "{regency}", status: OPEN, first: 5) {{
    edges {{ node {{ kind ownerAgency regionCode evidence person {{ name nik }} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}

query PoorestHouseholds {{
  region(code: "{regency}") {{
    name
    statistics {{ households persons perDesil {{ desil households }}
                  coverage {{ program poorEnrolled poorPersons coverageOfPoor }} }}
  }}
  households(region: "{regency}", desil: 1, first: 3) {{
    totalCount
    edges {{ node {{ kk address head {{ name nik }} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""


def example_queries(population: Path, regency: str) -> str:
    from hub.jsontext import read_jsonl

    first = next(iter(read_jsonl(population / "persons.jsonl")))
    return EXAMPLES.format(nik=first["nik"], regency=regency)


def _ensure_population(settings: HubSettings, households: int | None = None) -> Path:
    from hub.simulators.population_files import is_current

    pop = settings.population
    households = households or pop.households
    population = _population_dir(settings, pop.regency, households, pop.seed, "default")
    if not is_current(population):
        _generate(population, pop.regency, households, pop.seed, "default")
    return population


@app.command()
def simulate(
    population: Annotated[Path | None, typer.Option(
        help="A folder from `slrt-hub generate` (default: the configured district).")] = None,
) -> None:
    """Serve the five agency simulators (DTKS, Dukcapil, BPJS, education, Baznas) on
    127.0.0.1, at the ports in [simulators], until Ctrl+C."""
    from hub.simulators.serve import running

    settings = _settings()
    population = population or _ensure_population(settings)

    async def serve_forever() -> None:
        sims = settings.simulators
        async with running(population, sims.host, sims.ports) as urls:
            for name, url in urls.items():
                console.print(f"{name:10s} {url}")
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever())


def _sync(settings: HubSettings, names: list[str] | None, full: bool, *,
          reconcile: bool = True, verbose: bool = False, tables: bool = True) -> list:

    from hub.connectors.registry import ConnectorConfigError, enabled_connectors
    from hub.db.engine import create_engine
    from hub.sync import jobs
    from hub.sync.leases import LeaseHeld

    try:
        connectors = enabled_connectors(settings, names)
    except ConnectorConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None

    async def run() -> jobs.SyncOutcome:
        engine = create_engine(settings.database.url)
        try:
            with _progress() as bars:
                # Agencies do not say how many records will come: the bars count
                # records fetched (and pulse) rather than show a share.
                tasks = {c.name: bars.add_task(f"Syncing {c.name}", total=None)
                         for c in connectors}
                outcome = jobs.SyncOutcome(await jobs.run_connectors(
                    engine, connectors, full=full,
                    on_page=lambda name, counts: bars.advance(tasks[name], counts.fetched)))
                for task in tasks.values():
                    bars.update(task, total=bars.tasks[task].completed)
                if reconcile:
                    step = bars.add_task("Reconciling", total=None)
                    try:
                        outcome.reconcile = await jobs.reconcile(
                            engine, settings, progress=lambda m: bars.update(
                                step, description=f"Reconciling: {m}"))
                    except LeaseHeld as busy:
                        busy.done = outcome.streams
                        raise
                    bars.update(step, total=1, completed=1)
            return outcome
        finally:
            await engine.dispose()

    try:
        outcome = asyncio.run(run())
    except LeaseHeld as busy:
        if busy.done:  # what was synced before the lease stopped us
            _print_streams(busy.done)
        console.print(f"[red]{busy}: try again when it has finished[/red]")
        raise typer.Exit(3) from None
    if tables:
        _print_streams(outcome.streams)
        if outcome.reconcile:
            _print_reconcile(outcome.reconcile, verbose)
    else:
        for r in outcome.streams:
            if r.error:  # a failure is never left to --verbose
                console.print(f"[red]{r.connector}/{r.stream}: {r.error}[/red]")
    return outcome.streams


def _print_streams(results: list[Any]) -> None:
    from rich.table import Table

    table = Table("connector", "stream", "status", "fetched", "new", "changed", "unchanged",
                  "quarantined", title="Sync")
    for r in results:
        c = r.counts
        table.add_row(r.connector, r.stream, r.status, *(f"{n:,}" for n in (
            c.fetched, c.new, c.changed, c.unchanged, c.quarantined)))
    console.print(table)
    for r in results:
        if r.error:
            console.print(f"[red]{r.connector}/{r.stream}: {r.error}[/red]")


def _print_reconcile(result: Any, verbose: bool = False) -> None:
    """What a run did; its step timings (`seconds_*`) only with --verbose: they are for
    whoever tunes the hub, not for the data manager reading the result."""
    from rich.table import Table

    table = Table("step", "count", title=f"Reconciliation ({result.seconds:.1f} s)")
    for key, value in result.counts.items():
        if verbose or not key.startswith("seconds_"):
            table.add_row(key, f"{value:,}")
    console.print(table)


@app.command()
def link(
    left: Annotated[Path, typer.Argument(help="A CSV or XLSX file.")],
    right: Annotated[Path | None, typer.Argument(
        help="A second file to link to the first; without it, duplicates in the first.")]
    = None,
    field: Annotated[list[str], typer.Option(
        "--field", "-f", help="ROLE=COLUMN (ROLE=LEFT:RIGHT when the files differ), "
        "e.g. name=nama, birth_date=tgl_lahir, id=nik, key=no_urut; join columns with +. "
        "Roles: " + ", ".join(FILE_LINK_ROLES))] = [],  # noqa: B006
    out: Annotated[Path, typer.Option(help="Where to write the pairs (CSV).")]
    = Path("pairs.csv"),
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0,
                                             help="Smallest match probability written.")]
    = 0.5,
    month_first: Annotated[bool, typer.Option(
        help="Read ambiguous dates like 03/04/1980 as month first (default: day first).")]
    = False,
    clusters: Annotated[Path | None, typer.Option(
        help="Also write each record's cluster (the records taken for one person, grouped "
        "as reconciliation groups them) to this CSV.")] = None,
    explain: Annotated[bool, typer.Option(
        help="Say which candidate-pair rules ran and how many pairs each found first.")]
    = False,
    backend: Annotated[MatchingBackend | None, typer.Option(
        help="Where pairs are blocked and scored (default: [matching] backend); spark "
        "runs at [matching.spark] master and needs the spark extra and Java.")] = None,
) -> None:
    """Match any lists an office was given, with the hub's own engine: probabilistic
    record linkage (Fellegi-Sunter, trained on the files themselves). Writes every pair
    above the threshold with its probability and per-field evidence."""
    from hub.sync.backends import scorer_for
    from hub.sync.filelink import (
        FieldMap,
        LinkInputError,
        link_files,
        read_table,
        write_clusters,
        write_pairs,
    )

    try:
        tables = [read_table(left)] + ([read_table(right)] if right else [])
        mapping = FieldMap.parse(field, tables)
        settings = _settings()
        if backend is not None:
            settings = settings.model_copy(update={"matching": settings.matching.model_copy(
                update={"backend": backend.value})})
        try:
            scorer = scorer_for(settings)
        except ImportError as missing:  # the spark extra (LinkageNotInstalled goes up)
            raise LinkInputError(str(missing)) from None
        with console.status("Training the model and scoring pairs..."):
            result = link_files(tables[0], tables[1] if right else None, mapping,
                                threshold=threshold, day_first=not month_first,
                                clusters=clusters is not None, scorer=scorer)
    except LinkInputError as exc:  # markup off: "slrt-hub[spark]" is not a style
        console.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    write_pairs(result, out)
    for key, value in result.counts.items():
        console.print(f"{key:18s} {value:,}")
    console.print(f"pairs written to {out}")
    if clusters is not None:
        write_clusters(result, clusters)
        console.print(f"clusters written to {clusters}")
    if explain:
        console.print("pairs above the threshold, by the rule that found them first:")
        for rule, found in result.rules:
            console.print(f"{found:>9,}  {rule}", markup=False, highlight=False)


@app.command()
def doctor() -> None:
    """Check a deployment: the configuration, secrets left at their shipped values, the
    database and its migrations, each enabled agency and the clock against it. One line
    per check with what to fix; exit 1 when any check fails."""
    from hub.cli.doctor import diagnose

    checks = asyncio.run(diagnose(_settings()))
    for check in checks:
        colour = {"OK": "green", "WARN": "yellow", "FAIL": "red"}[check.status]
        console.print(f"[{colour}]{check.status:4}[/{colour}] {check.what}: {check.detail}",
                      markup=True, highlight=False)
    failed = sum(c.status == "FAIL" for c in checks)
    warned = sum(c.status == "WARN" for c in checks)
    console.print(f"{failed} failed, {warned} to look at, {len(checks) - failed - warned} ok")
    if failed:
        raise typer.Exit(1)


@app.command()
def schedule() -> None:
    """Run only the sync scheduler, without serving HTTP: a dedicated worker. Several
    may run against one database; one leads, the others take over if it dies."""

    from hub.app import scheduler_for
    from hub.db.engine import create_engine

    settings = _settings()
    upgrade_database(settings)
    from hub import logs

    logs.configure(settings.log.format, settings.log.level)

    async def run_forever() -> None:
        engine = create_engine(settings.database.url)
        scheduler = scheduler_for(engine, settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):  # systemd and containers send TERM
            loop.add_signal_handler(signum, stop.set)
        scheduler.start()
        console.print(f"scheduler {scheduler.holder} running (Ctrl+C to stop)")
        try:
            await stop.wait()
        finally:
            await scheduler.stop()  # releases the leader lease: a standby takes over now
            await engine.dispose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_forever())


@app.command()
def sync(
    connectors: Annotated[list[str] | None, typer.Argument(
        help="Connectors to run (default: every enabled one).")] = None,
    full: Annotated[bool, typer.Option(help="Re-read everything, not only what changed.")]
    = False,
    reconcile: Annotated[bool, typer.Option(
        help="Match, merge and raise findings after pulling.")] = True,
    verbose: Annotated[bool, typer.Option(help="Also print each step's timings.")] = False,
) -> None:
    """Pull each agency's records into staging from where the last run stopped (new and
    changed records stored, malformed ones quarantined with their reason), then
    reconcile: link records to persons, rebuild the golden records they touch and
    raise or close findings."""

    settings = _settings()
    upgrade_database(settings)
    results = _sync(settings, connectors or None, full, reconcile=reconcile, verbose=verbose)
    if any(r.status != "SUCCEEDED" for r in results):
        raise typer.Exit(1)


DEMO_CLIENT = "demo-dinsos"
DEMO_AGENCY_CLIENT = "demo-bpjs-desk"


def _demo_key(settings: HubSettings, regency: str) -> str:
    """A DISTRICT key for the demo's regency: the client is made once, and each demo
    run rotates its key (keys are stored hashed, so an old one cannot be shown again).
    The trusted documents in config/documents are registered on the way."""
    from hub.access.clients import ClientError, ClientStore
    from hub.access.documents import DocumentStore
    from hub.access.roles import Role
    from hub.db.engine import create_engine

    # The partners' operations, so that a PARTNER client can run them at once.
    texts = [path.read_text(encoding="utf-8")
             for path in sorted(Path("config/documents").glob("*.graphql"))]

    async def run() -> str:
        engine = create_engine(settings.database.url)
        store = ClientStore(engine)
        try:
            for text in texts:
                await DocumentStore(engine).register(text)
            try:
                return await store.rotate(DEMO_CLIENT)
            except ClientError:
                _, key = await store.create(
                    DEMO_CLIENT, Role.DISTRICT, regions=[regency],
                    legal_basis="Permensos 15/2018 (SLRT)", purpose="demo with simulated data")
                return key
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _registry_summary(url: str, streams: list[Any]) -> str:
    """What the demo built, in a few lines: what the sync read, the registry, its open
    findings and the stewards' review queue."""
    from sqlalchemy import func, select

    from hub.db.engine import create_engine
    from hub.db.models import Finding, Household, Person, ReviewTask

    async def counts() -> tuple[int, int, int, list[tuple[str, int]]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                persons = (await conn.execute(select(func.count()).select_from(Person))
                           ).scalar_one()
                households = (await conn.execute(
                    select(func.count()).select_from(Household))).scalar_one()
                kinds = (await conn.execute(
                    select(Finding.kind, func.count()).where(Finding.status == "OPEN")
                    .group_by(Finding.kind).order_by(func.count().desc()))).all()
                reviews = (await conn.execute(select(func.count()).select_from(ReviewTask)
                                              .where(ReviewTask.status == "OPEN"))).scalar_one()
        finally:
            await engine.dispose()
        return persons, households, reviews, [(k, n) for k, n in kinds]

    persons, households, reviews, kinds = asyncio.run(counts())
    failed = [f"{r.connector}/{r.stream}" for r in streams if r.status != "SUCCEEDED"]
    lines = [f"Sync: {len(streams) - len(failed)} of {len(streams)} streams succeeded"
             + (f" (failed: {', '.join(failed)})" if failed else "")
             + f"; {sum(r.counts.fetched for r in streams):,} records read, "
             f"{sum(r.counts.quarantined for r in streams):,} quarantined",
             f"Registry: {persons:,} persons in {households:,} households; "
             f"{sum(n for _, n in kinds):,} open findings; {reviews:,} pairs for review"]
    lines += [f"  {kind:32s} {n:>8,}" for kind, n in kinds]
    return "\n".join(lines)


@app.command()
def demo(
    households: Annotated[int | None, typer.Option(min=1, help="Size of the district.")] = None,
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    verbose: Annotated[bool, typer.Option(
        "--verbose", help="Also print each stream's and the reconciliation's tables.")] = False,
) -> None:
    """The whole hub on one laptop: generate a district, start the five simulated
    agencies, sync every connector into staging, reconcile them into one registry
    (persons, households, enrolments, findings) in the embedded database, and serve
    GraphQL with GraphiQL; the scheduler keeps syncing while it runs."""
    from hub.simulators.serve import BackgroundSimulators

    settings = _settings()
    pop = settings.population
    population = _ensure_population(settings, households)
    upgrade_database(settings)
    _forget_loaded_truth(settings)
    simulators = BackgroundSimulators(
        population, settings.simulators.host, settings.simulators.ports
    )
    simulators.start()
    # The demo's agencies are the simulators it just started, wherever they listen.
    simulated = {
        name: conf.model_copy(update={"base_url": simulators.urls[name]})
        for name, conf in settings.connectors.items() if name in simulators.urls
    }
    # ... and the agencies receiving referrals too, calling back to this demo's hub.
    url = f"http://{host or settings.server.host}:{port or settings.server.port}"
    agencies = {
        name: endpoint.model_copy(update={"webhook_url": f"{simulators.urls[name]}"
                                          "/slrt/referrals"})
        for name, endpoint in settings.desk.agencies.items() if name in simulators.urls
    }
    desk = settings.desk.model_copy(update={"agencies": agencies, "callback_base_url": url})
    settings = settings.model_copy(update={"connectors": simulated, "desk": desk})
    streams = _sync(settings, None, full=False, tables=verbose, verbose=verbose)
    key = _demo_key(settings, pop.regency)
    password = _demo_officers(settings, pop.regency)
    url = f"http://{host or settings.server.host}:{port or settings.server.port}/graphql"
    console.rule("SLRT Hub demo")
    console.print(_registry_summary(settings.database.url, streams), highlight=False,
                  markup=False, soft_wrap=True)
    console.print(f"\nGraphQL: {url}  (Ctrl+C to stop)", highlight=False, markup=False)
    console.print(f"GraphiQL with the district's key (DISTRICT, {pop.regency}) already in it:"
                  f"\n  {url}#key={key}", highlight=False, markup=False, soft_wrap=True)
    console.print("Other clients send it as a header:", highlight=False, markup=False)
    console.print(f'{{"Authorization": "Bearer {key}"}}\n', highlight=False, markup=False,
                  soft_wrap=True)
    officers = ", ".join(f"{username} ({desk})" for username, desk, _ in DEMO_OFFICERS)
    console.print(f"Desk console (Bahasa Indonesia): {url.removesuffix('/graphql')}/console"
                  f"\n  officers {officers}; password for all of them this run: "
                  f"{password}\n", highlight=False, markup=False, soft_wrap=True)
    console.print("Try these in GraphiQL:\n", style="dim")
    console.print(example_queries(population, pop.regency), highlight=False, markup=False)
    try:
        _serve(settings, host, port)
    finally:
        simulators.stop()


@app.command()
def federation(
    households: Annotated[int, typer.Option(min=1, help="Size of the district.")] = 200,
) -> None:
    """Two hubs on 127.0.0.1 speaking DCI: a district hub syncs its simulated agencies;
    a national hub pulls its households through DCI search, subscribes, and is notified
    when the district's civil registry reports a death. Each step is printed; both
    registries live in a temporary folder that is removed at the end."""
    import tempfile

    from hub.cli.federation import demonstrate
    from hub.db.engine import create_engine
    from hub.db.migrate import upgrade
    from hub.ports import free_ports
    from hub.simulators.serve import SIMULATORS, running

    settings = _settings()
    population = _ensure_population(settings, households)

    async def main(work: Path) -> None:
        ports = dict(zip(SIMULATORS, free_ports(len(SIMULATORS)), strict=True))
        async with running(population, "127.0.0.1", ports) as urls:
            district_url = f"sqlite+aiosqlite:///{work / 'district.db'}"
            connectors = {name: conf.model_copy(update={"base_url": urls[name]})
                          for name, conf in settings.connectors.items() if name in urls}
            district = settings.model_copy(update={
                "connectors": connectors,
                "database": settings.database.model_copy(update={"url": district_url})})
            await asyncio.to_thread(upgrade, district_url)
            engine = create_engine(district_url)
            try:
                await demonstrate(district, engine, urls, population,
                                  f"sqlite+aiosqlite:///{work / 'national.db'}",
                                  console.print)
            finally:
                await engine.dispose()

    with tempfile.TemporaryDirectory(prefix="slrt-federation-") as work:
        asyncio.run(main(Path(work)))
