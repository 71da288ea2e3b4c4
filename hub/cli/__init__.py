"""`slrt-hub`: the command line, at the edge of the package. It reads the settings and
hands them down; nothing below imports it."""

from __future__ import annotations

import sys

from hub.cli.main import app

__all__ = ["app", "main"]

BUSY_EXIT = 4


def main() -> None:
    """The console script. A database that is busy (SQLite while another process
    writes: a reconciliation holds its one write lock for its whole run) or unreachable
    is said in a line with exit code 4, not a traceback of the driver."""
    from hub.db.outage import unavailable
    from hub.sync.extras import LinkageNotInstalled

    try:
        app()
    except LinkageNotInstalled as missing:
        print(f"slrt-hub: {missing}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as error:
        if not unavailable(error):
            raise
        reason = str(getattr(error, "orig", None) or error).splitlines()[0][:200]
        print(f"slrt-hub: the database is busy or unreachable ({reason}). Another process "
              "may be writing to it (a sync or a reconciliation); try again when it has "
              "finished.", file=sys.stderr)
        raise SystemExit(BUSY_EXIT) from None
