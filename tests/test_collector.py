"""The cycle collector is paused during bulk loads and what they built is frozen (ksail_tui/collector.py)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from ksail_tui.collector import BULK_OBJECTS, bulk_load


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()  # give the test process's objects back to the collector
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_a_small_load_leaves_the_collector_alone() -> None:
    gc.enable()
    frozen = gc.get_freeze_count()
    with bulk_load(BULK_OBJECTS - 1):
        assert gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_a_bulk_load_pauses_the_collector_then_freezes_what_it_built() -> None:
    gc.enable()
    with bulk_load(BULK_OBJECTS):
        assert not gc.isenabled()
        built = [{"index": index} for index in range(BULK_OBJECTS)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(built)


def test_loads_on_two_threads_share_one_pause() -> None:
    gc.enable()
    first_in, second_done = threading.Event(), threading.Event()
    seen: list[bool] = []

    def second() -> None:
        first_in.wait(5)
        with bulk_load(BULK_OBJECTS):
            pass
        seen.append(gc.isenabled())  # the first load still runs: still paused
        second_done.set()

    thread = threading.Thread(target=second)
    thread.start()
    with bulk_load(BULK_OBJECTS):
        first_in.set()
        assert second_done.wait(5)
    thread.join(5)
    assert seen == [False] and gc.isenabled()


def test_a_collector_disabled_by_someone_else_stays_disabled() -> None:
    gc.disable()
    with bulk_load(BULK_OBJECTS):
        pass
    assert not gc.isenabled()
