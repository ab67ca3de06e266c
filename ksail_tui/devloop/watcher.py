"""Watch a workload's source folder for changes that would change its artifact.

A change counts only when the file would go into the artifact: the same ignore rules as the build
(Flux's defaults, ``.sourceignore`` files, the workload's ``ignore`` list in ksail.yaml), plus the
scratch files editors write next to the file they save. Bursts are not grouped here: watchfiles
counts distinct (change, path) pairs, so twenty saves of one file look "quiet" to it after one
step. The dev loop debounces the batches this watcher hands over instead.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import watchfiles
from watchfiles import Change, DefaultFilter

from ksail_tui.errors import InvalidInput
from ksail_tui.oci.ignore import SOURCEIGNORE_FILE, IgnoreRules, PathParts

log = logging.getLogger(__name__)

# Swap, backup and lock files of vim, emacs, JetBrains IDEs and friends, as watchfiles lists them.
# Matched on the file name only: watchfiles' directory list would also match the folders *above*
# the source folder (a project under node_modules/ would never trigger).
_EDITOR_SCRATCH = tuple(re.compile(pattern) for pattern in DefaultFilter.ignore_entity_patterns)

# How long the Rust side waits without changes before handing a batch over, in ms. Short, because
# the dev loop's own debounce does the grouping.
WATCH_STEP_MS = 25
# How long each Rust call may wait for changes before coming back (empty-handed) to Python; the
# first return proves the OS watch is in place.
_RUST_TIMEOUT_MS = 100
_READY_TIMEOUT_SECONDS = 5.0
_RETRY_SECONDS = 1.0

Changes = set[tuple[Change, str]]


class SourceFilter:
    """watchfiles filter: True for a change to a path that goes into the artifact."""

    def __init__(self, root: Path, configured_ignore: Sequence[str] = ()) -> None:
        self.root = root
        self._configured = tuple(configured_ignore)
        self._rules: IgnoreRules | None = None  # built on first use, again after a .sourceignore changes

    def __call__(self, change: Change, path: str) -> bool:
        try:
            parts: PathParts = Path(path).relative_to(self.root).parts
        except ValueError:
            return False
        if not parts:
            return False  # the folder itself: its contents' own events follow
        name = parts[-1]
        if name == SOURCEIGNORE_FILE:
            self._rules = None  # which files go in may have changed: rebuild the rules and the artifact
            return True
        if any(pattern.search(name) for pattern in _EDITOR_SCRATCH):
            return False
        rules = self._current_rules()
        # As in the build, nothing inside an ignored folder counts, whatever a negation says.
        if any(rules.ignored(parts[:depth], is_dir=True) for depth in range(1, len(parts))):
            return False
        return not rules.ignored(parts, is_dir=os.path.isdir(path))

    def _current_rules(self) -> IgnoreRules:
        if self._rules is None:
            self._rules = _load_rules(self.root, self._configured)
        return self._rules


def _load_rules(root: Path, configured: Sequence[str]) -> IgnoreRules:
    """The rules with every .sourceignore of the folders the build would enter.

    When a pattern is broken every change but Flux's defaults counts: the build says what is wrong.
    """
    try:
        rules = IgnoreRules(configured)
        folders: list[tuple[Path, PathParts]] = [(root, ())]  # a stack, not recursion: any depth
        while folders:
            directory, parts = folders.pop()
            try:
                sourceignore = directory / SOURCEIGNORE_FILE
                if sourceignore.is_file():
                    rules.add_sourceignore(parts, sourceignore.read_text(encoding="utf-8", errors="replace"))
                with os.scandir(directory) as scan:
                    names = [entry.name for entry in scan if entry.is_dir(follow_symlinks=False)]
            except OSError:  # removed while we look: its events will follow
                continue
            for name in sorted(names, reverse=True):  # popped in name order, as the build walks
                if not rules.ignored((*parts, name), is_dir=True):
                    folders.append((directory / name, (*parts, name)))
    except InvalidInput:
        return IgnoreRules()
    return rules


class FolderWatcher:
    """A thread that hands each batch of relevant changes under ``root`` to ``on_change``.

    ``on_error`` hears when the OS watch fails (e.g. the folder was removed); the watcher retries
    every second until it is stopped, and reports an (empty) change once it watches again.
    """

    def __init__(
        self,
        root: Path,
        on_change: Callable[[Changes], None],
        *,
        ignore: Sequence[str] = (),
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.root = root
        self._on_change = on_change
        self._on_error = on_error
        self._ignore = tuple(ignore)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching; returns once the OS watch is in place, so no later save is missed."""
        self._thread = threading.Thread(target=self._run, name=f"devloop-watch-{self.root.name}", daemon=True)
        self._thread.start()
        self._ready.wait(_READY_TIMEOUT_SECONDS)

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failed = False
        reported: str | None = None
        while not self._stop.is_set():
            try:
                for changes in watchfiles.watch(
                    self.root,
                    watch_filter=SourceFilter(self.root, self._ignore),
                    step=WATCH_STEP_MS,
                    stop_event=self._stop,
                    rust_timeout=_RUST_TIMEOUT_MS,
                    yield_on_timeout=True,
                    raise_interrupt=False,
                    ignore_permission_denied=True,
                ):
                    self._ready.set()
                    # A removed folder ends the OS watch without an error: notice it ourselves.
                    if not self.root.is_dir():
                        raise FileNotFoundError(f"{self.root} was removed")
                    if changes or failed:  # after a failure, files may have changed unseen
                        failed, reported = False, None
                        self._on_change(changes)
            except Exception as error:  # the OS watch failed; say so (once) and try again
                failed = True
                log.debug("watching %s failed", self.root, exc_info=True)
                message = f"cannot watch {self.root}: {error}"
                if self._on_error is not None and message != reported:
                    self._on_error(message)
                reported = message
                self._ready.set()
                self._stop.wait(_RETRY_SECONDS)
