"""Run a blocking service call off the UI thread and hand its outcome back as a message.

A job runs on a daemon thread of its own, not in a Textual worker: a reconcile can wait minutes
for Flux and a cluster create minutes for kind, and quitting the dashboard must wait for neither
(the thread is abandoned with the process). What a job waits on that can stop early (a reconcile)
gets :attr:`Jobs.closing`, set when the app closes.

A job returns the message that reports its outcome; it is posted to the node that started it and
handled there with ``@on``. A job that raises posts :class:`JobFailed` instead. ``busy`` holds the
actions the user started (one per group at a time), for the status line.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from textual.message import Message
from textual.message_pump import MessagePump


class JobProgress(Message):
    """A running action says what it does now (shown in the status line; ``logged``: in the log too)."""

    def __init__(self, group: str, text: str, *, logged: bool = False) -> None:
        super().__init__()
        self.group = group
        self.text = text
        self.logged = logged


class JobFailed(Message):
    """A job of ``group`` raised ``error``."""

    def __init__(self, group: str, error: BaseException) -> None:
        super().__init__()
        self.group = group
        self.error = error


Job = Callable[[], Message | None]


class Jobs:
    def __init__(self) -> None:
        self.busy: dict[str, str] = {}  # group -> what it does, for the user's actions
        self.closing = threading.Event()
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()

    def begin(self, group: str, label: str) -> bool:
        """Mark an action of ``group`` as running; False when one already runs."""
        if group in self.busy:
            return False
        self.busy[group] = label
        return True

    def progress(self, group: str, text: str) -> bool:
        """Note what a running action does now; False when it is not running (any more)."""
        if group not in self.busy:
            return False
        self.busy[group] = text
        return True

    def finish(self, group: str) -> None:
        self.busy.pop(group, None)

    def running(self, *prefixes: str) -> bool:
        """Whether a job of a group starting with one of ``prefixes`` runs or its outcome waits to be
        handled."""
        with self._lock:
            return any(group.startswith(prefixes) for group, count in self._in_flight.items() if count)

    def _done(self, group: str) -> None:
        with self._lock:
            self._in_flight[group] -= 1

    def run(self, group: str, job: Job, reply_to: MessagePump) -> None:
        """Call ``job`` on its own thread; post what it returns (or :class:`JobFailed`) to ``reply_to``."""

        def call() -> None:
            try:
                message = job()
            except Exception as error:  # reported on the UI thread, never a crash
                message = JobFailed(group, error)
            if message is not None and not self.closing.is_set():
                reply_to.post_message(message)
            # Counted as running until its outcome is handled: queued after it, on the same node.
            if self.closing.is_set() or not reply_to.call_later(self._done, group):
                self._done(group)

        with self._lock:
            self._in_flight[group] += 1
        threading.Thread(target=call, name=f"ksail-{group}", daemon=True).start()
