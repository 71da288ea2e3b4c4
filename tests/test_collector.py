"""The garbage-collector settings a serving process applies (hub/collector.py)."""

from __future__ import annotations

import gc

from hub.collector import settle_for_serving
from hub.config import ServerSettings


def test_serving_freezes_the_startup_heap_and_collects_young_objects_less_often() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    try:
        settle_for_serving(ServerSettings(gc_young_threshold=12_345))
        assert gc.get_threshold() == (12_345, before[1], before[2])
        assert gc.get_freeze_count() > 10_000  # the modules, schema and settings loaded
        gc.unfreeze()
        settle_for_serving(ServerSettings(freeze_startup_heap=False, gc_young_threshold=None))
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == (12_345, before[1], before[2])  # None leaves it
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_shipped_configuration_tunes_the_collector() -> None:
    server = ServerSettings()
    assert server.freeze_startup_heap
    assert server.gc_young_threshold == 10_000
