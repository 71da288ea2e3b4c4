"""The settings every command starts from, with a clear exit when they are wrong."""

from __future__ import annotations

import typer
from rich.console import Console

from hub.config import HubSettings, SettingsError, load_settings

console = Console(soft_wrap=True)  # a message is one line, however narrow the terminal


def settings_or_exit() -> HubSettings:
    try:
        return load_settings()
    except SettingsError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def upgrade_database(settings: HubSettings, revision: str = "head") -> None:
    """Migrate the configured database, in the layout its settings choose (a registry
    partitioned by province is laid out here): every command that upgrades goes
    through this one, so none can forget the layout."""
    from hub.db.migrate import upgrade  # Alembic loads only for commands that need it

    upgrade(settings.database.url, revision, partitions=settings.database.partitions)
