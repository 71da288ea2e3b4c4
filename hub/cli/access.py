"""`slrt-hub clients`, `slrt-hub documents` and `slrt-hub audit`: the register of API
clients, the trusted documents partners may run, and the audit log's checks."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from hub import jsontext
from hub.access.clients import ClientError, ClientStore
from hub.access.roles import Role
from hub.cli.settings import settings_or_exit, upgrade_database

# Help text is Markdown, not rich markup: a bracketed word ("[simulators]") stays a word.
clients_app = typer.Typer(
    rich_markup_mode="markdown", no_args_is_help=True,
    help="API clients: create, list, rotate and revoke their keys.")
documents_app = typer.Typer(
    rich_markup_mode="markdown", no_args_is_help=True,
    help="Trusted documents: the operations PARTNER clients may run.")
audit_app = typer.Typer(
    rich_markup_mode="markdown", no_args_is_help=True,
    help="The audit log: verify its hash chain, export a person's trail.")
console = Console(soft_wrap=True)  # a message is one line, however narrow the terminal
T = TypeVar("T")


def _with_engine(work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    from hub.db.engine import create_engine

    settings = settings_or_exit()
    upgrade_database(settings)

    async def run() -> T:
        engine = create_engine(settings.database.url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _fail(error: Exception) -> typer.Exit:
    console.print(f"[red]{error}[/red]")
    return typer.Exit(2)


def _show_key(name: str, key: str) -> None:
    console.print(f"API key for [bold]{name}[/bold] (shown once; store it now):")
    # The key alone on stdout, so that scripts can capture it.
    typer.echo(key)


@clients_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A unique name, e.g. bpjs-kc-sragen.")],
    role: Annotated[Role, typer.Option(case_sensitive=False, help="What the client may do.")],
    legal_basis: Annotated[str, typer.Option(
        help="UU PDP art. 20 legal basis, e.g. 'Permensos 15/2018 (SLRT)'.")],
    purpose: Annotated[str, typer.Option(help="Why the client processes the data.")],
    region: Annotated[list[str] | None, typer.Option(
        "--region", help="A region code it may see (repeat for several). Not for NATIONAL.")
    ] = None,
    agency: Annotated[str | None, typer.Option(
        help="For AGENCY clients: the connector whose programme it acts for (bpjs, ...).")
    ] = None,
    rate_per_minute: Annotated[int | None, typer.Option(
        min=1, help="Its request limit; default [access] rate_per_minute.")] = None,
) -> None:
    """Register a client and print its key (stored only as a hash)."""
    async def work(engine: AsyncEngine) -> str:
        _, key = await ClientStore(engine).create(
            name, role, regions=region or (), agency=agency, legal_basis=legal_basis,
            purpose=purpose, rate_per_minute=rate_per_minute)
        return key

    try:
        key = _with_engine(work)
    except ClientError as error:
        raise _fail(error) from None
    _show_key(name, key)


@clients_app.command("list")
def list_clients() -> None:
    """Every client with its role, regions, legal basis and state (never the key)."""
    clients = _with_engine(lambda engine: ClientStore(engine).list())
    table = Table("name", "role", "regions", "agency", "legal basis", "purpose", "state")
    for c in clients:
        state = "revoked" if c.revoked_at else ("rotated" if c.rotated_at else "active")
        table.add_row(c.name, c.role.value, " ".join(c.regions) or "all", c.agency or "",
                      c.legal_basis, c.purpose, state)
    console.print(table)


@clients_app.command("rotate")
def rotate(name: Annotated[str, typer.Argument()]) -> None:
    """Issue a new key; the old one stops working."""
    try:
        key = _with_engine(lambda engine: ClientStore(engine).rotate(name))
    except ClientError as error:
        raise _fail(error) from None
    _show_key(name, key)


@clients_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument()]) -> None:
    """Revoke the client's key for good (the client stays in the register and audit)."""
    try:
        _with_engine(lambda engine: ClientStore(engine).revoke(name))
    except ClientError as error:
        raise _fail(error) from None
    console.print(f"{name}: revoked")


@documents_app.command("add")
def add_documents(files: Annotated[list[Path], typer.Argument(
        exists=True, dir_okay=False, help=".graphql files, one operation each.")]) -> None:
    """Register operations as trusted documents; prints each one's documentId."""
    from hub.access.documents import DocumentStore

    texts = [path.read_text(encoding="utf-8") for path in files]

    async def work(engine: AsyncEngine) -> list[Any]:
        store = DocumentStore(engine)
        return [await store.register(text) for text in texts]

    try:
        registered = _with_engine(work)
    except ValueError as error:
        raise _fail(error) from None
    for path, doc in zip(files, registered, strict=True):
        typer.echo(f"sha256:{doc.hash}  {doc.name}  ({path})")


@documents_app.command("list")
def list_documents() -> None:
    from hub.access.documents import DocumentStore

    for doc in _with_engine(lambda engine: DocumentStore(engine).list()):
        typer.echo(f"sha256:{doc.hash}  {doc.name}")


@audit_app.command("verify")
def verify(
    checkpoints: Annotated[Path | None, typer.Option(
        help="A file of checkpoints (`audit checkpoint --out`) the chain must still pass "
        "through.")] = None,
) -> None:
    """Recompute the hash chain from the first entry, check every column and the
    subject index against it, and that it still passes through each checkpoint; exit 1
    at the first break."""
    from hub.access.audit import Checkpoint
    from hub.access.audit import verify as verify_chain
    from hub.access.keystore import KeyStore

    marks: list[Checkpoint] = []
    if checkpoints is not None:
        try:
            lines = checkpoints.read_text(encoding="utf-8").splitlines()
            marks = [Checkpoint.from_json(jsontext.loads(line)) for line in lines if line.strip()]
        except (OSError, ValueError) as error:
            raise _fail(ValueError(f"cannot read the checkpoints in {checkpoints}: {error}")
                        ) from None

    async def work(engine: AsyncEngine) -> Any:
        keys = await KeyStore(engine).public_keys(True)
        return await verify_chain(engine, marks), [m for m in marks if not m.signed_by(keys)]

    result, unsigned = _with_engine(work)
    if not result.ok:
        console.print(f"[red]audit log BROKEN: {result.problem}[/red]")
        raise typer.Exit(1)
    if unsigned:
        console.print(f"[red]audit log BROKEN: the checkpoint of entry {unsigned[0].entry} "
                      "is not signed by a key this hub holds (its keys were replaced, or "
                      "the checkpoint is forged)[/red]")
        raise typer.Exit(1)
    console.print(f"audit log intact: {result.entries} entries, head {result.head}"
                  + (f", through {len(marks)} checkpoints" if marks else ""))


@audit_app.command("checkpoint")
def checkpoint(
    out: Annotated[Path | None, typer.Option(
        help="Append the checkpoint to this file (keep it off the database's server).")
    ] = None,
) -> None:
    """Sign the chain's head now, to be kept outside the database: `audit verify
    --checkpoints` then notices a chain rewritten after it, even with every hash
    recomputed."""
    from hub.access.audit import checkpoint as make_checkpoint
    from hub.access.keystore import KeyStore

    async def work(engine: AsyncEngine) -> Any:
        return await make_checkpoint(engine, await KeyStore(engine).current())

    line = json.dumps(_with_engine(work).as_json(), separators=(",", ":"))
    if out is None:
        typer.echo(line)
        return
    with out.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    console.print(f"checkpoint appended to {out}")


@audit_app.command("trail")
def trail(
    nik: Annotated[str, typer.Argument(help="The data subject's NIK.")],
    format: Annotated[str, typer.Option(help="json or csv.")] = "json",
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Who has seen this person's data, when and why: the export for a citizen's
    access request (UU PDP; due within 3x24 hours)."""
    from hub.access.audit import trail as audit_trail
    from hub.domain.nik import InvalidNik, parse_nik

    try:
        number = parse_nik(nik).nik
    except InvalidNik as error:
        raise _fail(error) from None
    if format not in ("json", "csv"):
        raise _fail(ValueError("--format is json or csv"))
    accesses = _with_engine(lambda engine: audit_trail(engine, number))
    handle = out.open("w", newline="", encoding="utf-8") if out else sys.stdout
    try:
        if format == "json":
            json.dump({"nik": number, "accesses": accesses}, handle, ensure_ascii=False,
                      indent=2)
            handle.write("\n")
        else:
            columns = ["id", "at", "client", "role", "legal_basis", "purpose",
                       "operation_type", "operation", "fields", "outcome"]
            writer = csv.DictWriter(handle, columns)
            writer.writeheader()
            for access in accesses:
                writer.writerow({**access, "fields": " ".join(access["fields"] or ())})
    finally:
        if out:
            handle.close()
    if out:
        console.print(f"{len(accesses)} accesses written to {out}")
