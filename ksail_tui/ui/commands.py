"""The command palette's provider: every dashboard action, searchable by name (`:` or ctrl+p)."""

from __future__ import annotations

from collections.abc import Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from ksail_tui.ui.actions import ACTIONS, ActionSpec

if TYPE_CHECKING:
    from ksail_tui.ui.app import KsailApp


class ActionCommands(Provider):
    def _commands(self) -> list[tuple[str, ActionSpec]]:
        app = cast("KsailApp", self.app)
        return [
            (f"{spec.title} ({app.keys_of(spec)})", spec)
            for spec in ACTIONS
            if spec.in_palette and self._target(spec) is not None
        ]

    def _target(self, spec: ActionSpec) -> Screen[Any] | None:
        # The dashboard's actions (and its panes') run on it whichever screen is on top; another
        # screen's only there.
        app = cast("KsailApp", self.app)
        if spec.screen in ("dashboard", "environments"):
            return app.dashboard
        return next((s for s in app.screen_stack if s.id == spec.screen), None)

    def _runner(self, spec: ActionSpec) -> partial[Coroutine[Any, Any, bool]]:
        return partial(self.app.run_action, spec.action, self._target(spec))

    async def discover(self) -> Hits:
        for name, spec in self._commands():
            yield DiscoveryHit(name, self._runner(spec), help=spec.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, spec in self._commands():
            score = max(matcher.match(name), matcher.match(spec.help) * 0.5)
            if score > 0:
                yield Hit(score, matcher.highlight(name), self._runner(spec), help=spec.help)
