"""Python's cyclic garbage collector, made patient for the length of a reconciliation.

A run keeps millions of live objects (the records of a batch, the links, the persons of
a chunk) and creates millions more that reference counting alone frees. CPython's
collector runs a full collection, which visits every live object, each time enough
allocations have piled up: at 100,000 persons 55 full collections took 9.3 s of a 64 s
run. The run itself makes few reference cycles, so for its duration collections are
made rare (the youngest generation collects every 100,000 net allocations instead of
700, a full collection waits for a hundred of those), and one full collection runs at
the end to free whatever cycles did pile up.

The thresholds are process-wide: the API served by the same process collects as rarely
while a run lasts, which costs it some memory and no correctness. Nested or concurrent
runs in one process keep the patient thresholds until the last one ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

PATIENT = (100_000, 50, 100)

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def patient_collector() -> Iterator[None]:
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(*PATIENT)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            last = _depth == 0
            if last and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
        if last:
            gc.collect()
