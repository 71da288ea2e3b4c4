import gc
import weakref

import pytest

from hub.sync.collector import PATIENT, patient_collector


def test_collections_are_rare_during_a_run_and_as_before_after_it() -> None:
    before = gc.get_threshold()
    with patient_collector():
        assert gc.get_threshold() == PATIENT
    assert gc.get_threshold() == before


def test_the_thresholds_come_back_when_a_run_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), patient_collector():
        raise RuntimeError("the run crashed")
    assert gc.get_threshold() == before


def test_overlapping_runs_keep_them_rare_until_the_last_ends() -> None:
    before = gc.get_threshold()
    outer = patient_collector()
    outer.__enter__()
    with patient_collector():
        assert gc.get_threshold() == PATIENT
    assert gc.get_threshold() == PATIENT  # the outer run is still going
    outer.__exit__(None, None, None)
    assert gc.get_threshold() == before


def test_cycles_made_during_a_run_are_freed_at_its_end() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    gc.collect()
    with patient_collector():
        node = Node()
        ref = weakref.ref(node)
        del node  # only the collector can free it now
        assert ref() is not None
    assert ref() is None
