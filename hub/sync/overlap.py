"""Python's work on one part beside the database's work on the part before.

A run's writes alternate between building rows (Python, one core) and the database
taking them (PostgreSQL, the other core); done in turn, each core waits for the other
about half of the time. Here the rows of part k+1 are built in a worker thread while
part k's statements are awaited on the run's one connection, which stays with the event
loop: the builder must be pure (read what it is given, touch no connection).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

P = TypeVar("P")
T = TypeVar("T")


def in_thread(function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """`function(*args)` started in a worker thread now, awaited later."""
    return asyncio.ensure_future(asyncio.to_thread(function, *args))


async def overlapped(parts: Sequence[P], build: Callable[[P], T],
                     write: Callable[[P, T], Awaitable[None]]) -> None:
    """`write(part, build(part))` for each part in order, with `build` of the next part
    running in a thread meanwhile. An error in either stops the loop and is raised once
    the thread in flight has finished (a thread cannot be interrupted)."""
    if not parts:
        return
    ahead = in_thread(build, parts[0])
    try:
        for index, part in enumerate(parts):
            built = await ahead
            if index + 1 < len(parts):
                ahead = in_thread(build, parts[index + 1])
            await write(part, built)
    finally:
        if not ahead.done():  # write failed: let the build in flight finish first
            await asyncio.wait([ahead])
            if not ahead.cancelled():
                ahead.exception()  # retrieved: its error, if any, yields to write's
