"""Telling "the database cannot be reached right now" apart from every other fault.

During a restart or an outage, a request fails in whatever resolver first touches the
database; answered as a field error, the client would get HTTP 200 with partial data
("household": null beside a real person). An outage is instead a 503 with Retry-After
and no data, as the authentication path already answers, so that clients retry
rather than trust a half answer.
"""

from __future__ import annotations

import sqlite3

import asyncpg
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# asyncpg's own words for a server that is gone, restarting or refusing connections.
_POSTGRES_AWAY = (asyncpg.exceptions.PostgresConnectionError,
                  asyncpg.exceptions.CannotConnectNowError,
                  asyncpg.exceptions.AdminShutdownError,
                  asyncpg.exceptions.CrashShutdownError,
                  asyncpg.exceptions.TooManyConnectionsError,
                  asyncpg.exceptions.ConnectionDoesNotExistError,
                  asyncpg.exceptions.InterfaceError)


def _refused(error: BaseException) -> bool:
    """A database that takes no connections for now (`ALLOW_CONNECTIONS false`, during
    maintenance) says so with a generic state: known by its words."""
    return (isinstance(error, asyncpg.exceptions.ObjectNotInPrerequisiteStateError)
            and "accepting connections" in str(error))


def unavailable(error: BaseException | None) -> bool:
    """Whether `error` (or what it wraps) means the database is unreachable now."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, DisconnectionError | InterfaceError | PoolTimeout):
            return True
        if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
            return True  # another process is writing: busy for now, not broken
        if isinstance(error, (*_POSTGRES_AWAY, ConnectionError, TimeoutError)) \
                or _refused(error):
            return True
        if isinstance(error, OSError) and not isinstance(error, FileNotFoundError):
            return True
        if isinstance(error, DBAPIError):
            error = error.orig
            continue
        error = error.__cause__ or error.__context__
    return False
