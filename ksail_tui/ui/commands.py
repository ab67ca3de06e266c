"""The command palette's provider: every dashboard action, searchable by name (`:` or ctrl+p)."""

from __future__ import annotations

from collections.abc import Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ksail_tui.ui.actions import ACTIONS, ActionSpec

if TYPE_CHECKING:
    from ksail_tui.ui.app import KsailApp


class ActionCommands(Provider):
    def _commands(self) -> list[tuple[str, ActionSpec]]:
        app = cast("KsailApp", self.app)
        return [(f"{spec.title} ({app.keys_of(spec)})", spec) for spec in ACTIONS if spec.in_palette]

    def _runner(self, spec: ActionSpec) -> partial[Coroutine[Any, Any, bool]]:
        # The actions are the dashboard screen's, whichever screen is on top when the palette closes.
        return partial(self.app.run_action, spec.action, cast("KsailApp", self.app).dashboard)

    async def discover(self) -> Hits:
        for name, spec in self._commands():
            yield DiscoveryHit(name, self._runner(spec), help=spec.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, spec in self._commands():
            score = max(matcher.match(name), matcher.match(spec.help) * 0.5)
            if score > 0:
                yield Hit(score, matcher.highlight(name), self._runner(spec), help=spec.help)
