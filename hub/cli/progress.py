"""Progress that suits where the output goes: Rich's live bars on a terminal, and one
plain line per step when the output is a file or a pipe (a log, `make demo | tee`),
where live bars print nothing until the end and then a redrawn mess."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class PlainProgress:
    """The part of Rich's `Progress` the CLI uses, writing a line when a step starts,
    when its description changes, and when it ends (with its count and seconds)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.tasks: dict[int, _Step] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        for step in self.tasks.values():
            if not step.finished:
                self._finish(step)

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        number = len(self.tasks)
        self.tasks[number] = _Step(description, total)
        self._line(f"{description} ...")
        return number

    def advance(self, task: int, amount: float = 1) -> None:
        self.tasks[task].completed += amount

    def update(self, task: int, *, description: str | None = None, total: float | None = None,
               completed: float | None = None, advance: float | None = None,
               **_: Any) -> None:
        step = self.tasks[task]
        if advance:
            step.completed += advance
        if completed is not None:
            step.completed = completed
        if total is not None:
            step.total = total
        if description is not None and description != step.description:
            step.description = description
            self._line(description)
        if step.total is not None and step.completed >= step.total and not step.finished:
            self._finish(step)

    def _finish(self, step: _Step) -> None:
        step.finished = True
        seconds = time.monotonic() - step.started
        if step.total == 1:  # a step, not a count of records
            self._line(f"{step.first} done in {seconds:.1f} s")
        else:
            self._line(f"{step.first} done: {step.completed:,.0f} in {seconds:.1f} s")


class _Step:
    def __init__(self, description: str, total: float | None) -> None:
        self.first = description
        self.description = description
        self.total = total
        self.completed = 0.0
        self.started = time.monotonic()
        self.finished = False


def progress(console: Console) -> Progress | PlainProgress:
    if not console.is_terminal:
        return PlainProgress(console)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)
