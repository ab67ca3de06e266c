"""Flux failures the user has not seen yet: objects that went from not failed to failed
(:func:`ksail_tui.flux.status.is_failed`) while the user looked elsewhere. Plain Python; the
dashboard counts them in the header and highlights the Activity pane until the user looks."""

from __future__ import annotations

from ksail_tui.flux.status import FluxObject, is_failed
from ksail_tui.models import ObjectRef


class UnseenFailures:
    def __init__(self) -> None:
        self.unseen: set[ObjectRef] = set()
        self._known: set[ObjectRef] = set()
        self._failed: set[ObjectRef] = set()

    def observe(self, ref: ObjectRef, obj: FluxObject | None, *, looking: bool) -> None:
        """Note ``ref``'s new state; a failure the user did not see happen joins ``unseen``.

        An object first seen failing (the first listing) is no news: the table shows it so from
        the start. One that recovers or goes is no longer counted."""
        failed = obj is not None and is_failed(obj)
        news = failed and ref in self._known and ref not in self._failed and not looking
        if obj is None:
            self._known.discard(ref)
        else:
            self._known.add(ref)
        if failed:
            self._failed.add(ref)
        else:
            self._failed.discard(ref)
            self.unseen.discard(ref)
        if news:
            self.unseen.add(ref)

    def seen(self) -> bool:
        """The user looked; True when there was something to clear."""
        had = bool(self.unseen)
        self.unseen.clear()
        return had

    def forget(self) -> None:
        """Another cluster: nothing known of it yet."""
        self.unseen.clear()
        self._known.clear()
        self._failed.clear()
