"""`slrt-hub officers`: the people who sign in to the desk console."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from hub.access.clients import ClientStore
from hub.access.officers import DeskKind, OfficerError, OfficerStore
from hub.cli.access import _fail, _with_engine, console

officers_app = typer.Typer(
    rich_markup_mode="markdown", no_args_is_help=True,
    help="Console officers: create, list, reset a password, unlock, disable.")


def _store(engine: object) -> OfficerStore:
    return OfficerStore(engine, ClientStore(engine))  # type: ignore[arg-type]


def _password(from_stdin: bool) -> str:
    """From standard input (one line, for scripts) or asked twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@officers_app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="The sign-in name, e.g. siti.frontoffice.")],
    client: Annotated[str, typer.Option(help="The API client (office) whose role and "
                                        "regions the officer works with.")],
    desk: Annotated[DeskKind, typer.Option(case_sensitive=False,
                                           help="The desk the officer works.")],
    full_name: Annotated[str | None, typer.Option(help="As printed on tickets and in the "
                                                  "history; default the username.")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input.")] = False,
) -> None:
    """Create an officer (the password is asked for and stored as an argon2id hash)."""
    password = _password(password_stdin)
    try:
        officer = _with_engine(lambda engine: _store(engine).create(
            username, full_name or username, client, desk, password))
    except OfficerError as error:
        raise _fail(error) from None
    console.print(f"{officer.username}: {officer.desk.value} desk of {officer.client}")


@officers_app.command("list")
def list_officers() -> None:
    """Every officer, their client, desk and state (never the password)."""
    officers = _with_engine(lambda engine: _store(engine).list())
    table = Table("username", "full name", "client", "desk", "state")
    for o in officers:
        state = ("disabled" if not o.active else
                 f"locked until {o.locked_until:%Y-%m-%d %H:%M} UTC" if o.locked_until
                 else "active")
        table.add_row(o.username, o.full_name, o.client, o.desk.value, state)
    console.print(table)


@officers_app.command("password")
def password(
    username: Annotated[str, typer.Argument()],
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    """Set a new password (also lifts a lock-out)."""
    new = _password(password_stdin)
    try:
        _with_engine(lambda engine: _store(engine).set_password(username, new))
    except OfficerError as error:
        raise _fail(error) from None
    console.print(f"{username}: password changed")


@officers_app.command("unlock")
def unlock(username: Annotated[str, typer.Argument()]) -> None:
    """Lift a lock-out after too many wrong passwords."""
    try:
        _with_engine(lambda engine: _store(engine).unlock(username))
    except OfficerError as error:
        raise _fail(error) from None
    console.print(f"{username}: unlocked")


@officers_app.command("disable")
def disable(username: Annotated[str, typer.Argument()]) -> None:
    """No more sign-ins; the officer's open sessions end now."""
    try:
        _with_engine(lambda engine: _store(engine).disable(username))
    except OfficerError as error:
        raise _fail(error) from None
    console.print(f"{username}: disabled")
