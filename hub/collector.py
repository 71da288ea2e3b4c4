"""Python's cyclic garbage collector, set for a long-running server.

A request that builds many objects (an `eligibilityBatch` of 10,000 answers is some
100,000) sets off the collector's young generations a couple of hundred times and its
oldest once or twice; each full collection walks every object alive in the process,
most of them made at start-up (the schema, the ORM's tables, the settings) and alive
until it exits. Measured on a 10,000-NIK batch (`bench/eligibility.py`'s batches, a
garbage-collector callback summing pauses): 0.26–0.66 s of collection per batch with
Python's defaults, 0.07–0.28 s with the start-up heap frozen, 0.04–0.10 s frozen and
with young collections every 10,000 allocations instead of 700.

So, once the app is built: collect, freeze what is left (`gc.freeze()`: those objects
are never walked again; a cycle among them is never freed, which for start-up objects
costs nothing), and let the young generation grow larger before it is collected. This
is a process-wide setting, made where a server process starts (`slrt-hub serve`), not
in the app factory, which tests call many times in one process.
"""

from __future__ import annotations

import gc

from hub.config import ServerSettings


def settle_for_serving(server: ServerSettings) -> None:
    """Apply `[server] freeze_startup_heap` and `gc_young_threshold` to this process."""
    if server.freeze_startup_heap:
        gc.collect()
        gc.freeze()
    if server.gc_young_threshold is not None:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(server.gc_young_threshold, middle, old)
