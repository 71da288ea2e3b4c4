"""Building the next part while the current one is written: order, overlap, errors."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from hub.sync.overlap import overlapped


async def test_each_part_is_written_in_order_with_its_own_build() -> None:
    loop_thread = threading.get_ident()
    builders: list[int] = []
    written: list[tuple[int, str]] = []

    def build(part: int) -> str:
        builders.append(threading.get_ident())
        return f"rows of {part}"

    async def write(part: int, built: str) -> None:
        written.append((part, built))

    await overlapped([3, 1, 2], build, write)
    assert written == [(3, "rows of 3"), (1, "rows of 1"), (2, "rows of 2")]
    assert loop_thread not in builders  # the builds ran off the event loop


async def test_the_next_build_runs_while_a_part_is_being_written() -> None:
    started = {part: threading.Event() for part in range(4)}

    def build(part: int) -> int:
        started[part].set()
        return part

    async def write(part: int, _built: int) -> None:
        if part + 1 < 4:  # would wait forever if builds and writes took turns
            for _ in range(500):
                if started[part + 1].is_set():
                    break
                await asyncio.sleep(0.01)
            assert started[part + 1].is_set(), f"build {part + 1} did not start during write {part}"

    await overlapped(list(range(4)), build, write)


async def test_a_failed_write_waits_for_the_build_in_flight_then_raises() -> None:
    finished: list[int] = []

    def build(part: int) -> int:
        if part == 1:
            time.sleep(0.2)
        finished.append(part)
        return part

    async def write(part: int, _built: int) -> None:
        raise RuntimeError(f"database refused part {part}")

    with pytest.raises(RuntimeError, match="refused part 0"):
        await overlapped([0, 1, 2], build, write)
    assert finished == [0, 1]  # part 1's thread was done before the error came out


async def test_a_failed_build_stops_before_its_part_is_written() -> None:
    written: list[int] = []

    def build(part: int) -> int:
        if part == 2:
            raise ValueError("bad record in part 2")
        return part

    async def write(part: int, _built: int) -> None:
        written.append(part)

    with pytest.raises(ValueError, match="part 2"):
        await overlapped([0, 1, 2, 3], build, write)
    assert written == [0, 1]


async def test_no_parts_no_calls() -> None:
    def build(_part: int) -> int:
        raise AssertionError("nothing to build")

    async def write(_part: int, _built: int) -> None:
        raise AssertionError("nothing to write")

    await overlapped([], build, write)
