"""Record linkage's libraries (Splink, DuckDB, PyArrow) are an extra, `slrt-hub[linkage]`:
a serve replica that only answers the API never loads them, and need not install them.
Where linkage runs without them, this says what to install instead of an ImportError
from deep inside a sync job."""

from __future__ import annotations

import importlib

LINKAGE_PACKAGES = ("splink", "duckdb", "pyarrow")


class LinkageNotInstalled(RuntimeError):
    """Reconciliation or `slrt-hub link` ran where the linkage extra is not installed."""


def require_linkage() -> None:
    missing = []
    for name in LINKAGE_PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise LinkageNotInstalled(
            f"record linkage needs {', '.join(missing)}, which this installation lacks: "
            "install the hub with its linkage extra (pip install 'slrt-hub[linkage]'). "
            "Only processes that reconcile or run `slrt-hub link` need it.")
