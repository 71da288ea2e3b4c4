"""`slrt-hub`: the command line, at the edge of the package. It reads the settings and
hands them down; nothing below imports it."""

from hub.cli.main import app

__all__ = ["app"]
