"""An agency's records as a feed with sequence numbers, served from its export file.

Line n of the file is record n. Changes made later (a death registered, a card
deactivated) are appended with the next numbers, so "everything after sequence s"
is both the first full pull and every incremental one. Only byte offsets are kept in
memory (8 bytes a record), so a simulator serves a million records in a few MB.
"""

from __future__ import annotations

import json
from array import array
from pathlib import Path
from typing import Any


class RecordFeed:
    def __init__(self, path: Path | None = None) -> None:
        self._offsets = array("q")
        self._path = path
        self._appended: list[dict[str, Any]] = []
        if path is not None:
            with path.open("rb") as handle:
                position = 0
                for line in handle:
                    if line.strip():
                        self._offsets.append(position)
                    position += len(line)

    def __len__(self) -> int:
        return len(self._offsets) + len(self._appended)

    @property
    def last_sequence(self) -> int:
        return len(self)

    def append(self, record: dict[str, Any]) -> int:
        """A change at the agency; returns its sequence number."""
        self._appended.append(record)
        return len(self)

    def after(self, sequence: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Up to `limit` records with a sequence number above `sequence`, in order."""
        start = max(0, sequence)
        end = min(len(self), start + max(0, limit))
        out: list[tuple[int, dict[str, Any]]] = []
        in_file = min(end, len(self._offsets))
        if start < in_file and self._path is not None:
            with self._path.open("rb") as handle:
                handle.seek(self._offsets[start])
                for index in range(start, in_file):
                    out.append((index + 1, json.loads(handle.readline())))
        for index in range(max(start, len(self._offsets)), end):
            out.append((index + 1, self._appended[index - len(self._offsets)]))
        return out

    def records(self) -> Any:
        """Every current record in order (for look-up indexes)."""
        sequence = 0
        while batch := self.after(sequence, 10_000):
            yield from batch
            sequence = batch[-1][0]
