"""Python's cycle collector and bulk loads of long-lived objects.

A first list of 10,000 Flux objects builds about a million containers (the raw objects, the parsed
ones, the table's cells) that live as long as the watch. While they are built, each full collection
traverses all of them again (six collections of 0.1-0.5 s in a 10,000-object render, about half of
it), and later every full collection still does, stopping every thread that long (the tail of the
watch latency). :func:`bulk_load` pauses the collector while such a batch is built, then freezes
what is alive (``gc.freeze``: later collections skip it). Reference counting still frees those
objects when they are dropped; only garbage in reference cycles not yet collected when the load
ends is never collected, which is why only loads of at least :data:`BULK_OBJECTS` objects pause.

The collector is one per process: loads on several threads (two watches listing at once, the UI
drawing the first) share one pause, and a collector someone else disabled stays disabled.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BULK_OBJECTS = 1000

_lock = threading.Lock()
_loads = 0  # loads running now
_resume = False  # whether the collector was on when the first of them began


@contextmanager
def bulk_load(count: int) -> Iterator[None]:
    """Build ``count`` long-lived objects without the collector; a small count changes nothing."""
    if count < BULK_OBJECTS:
        yield
        return
    global _loads, _resume
    with _lock:
        if _loads == 0:
            _resume = gc.isenabled()
            gc.disable()
        _loads += 1
    try:
        yield
    finally:
        with _lock:
            _loads -= 1
            if _loads == 0 and _resume:
                gc.freeze()
                gc.enable()
