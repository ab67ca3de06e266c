"""Activity log: what the user did, what came of it, and what Flux reported (its Events)."""

from __future__ import annotations

import re
from datetime import datetime

from rich.text import Text
from textual.widgets import RichLog

from ksail_tui.flux.service import FluxEvent
from ksail_tui.flux.status import Health
from ksail_tui.humanize import parse_time
from ksail_tui.ui.styled import DIM, HEALTH_STYLE

MAX_LINES = 1000
# Go durations ("1.2s", "350ms", "1m30s"): two reconciles of one revision (the source's new artifact,
# then the requested reconcile) differ only in how long they took, which is not news.
_DURATION = re.compile(r"\b\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)(?:\d+(?:\.\d+)?(?:ms|s|m))*\b")
_SEVERITY_STYLE = {
    "information": "",
    "success": HEALTH_STYLE[Health.READY],
    "warning": HEALTH_STYLE[Health.PROGRESSING],
    "error": HEALTH_STYLE[Health.FAILING],
}


class ActivityLog(RichLog):
    def __init__(self) -> None:
        super().__init__(id="activity", classes="pane", max_lines=MAX_LINES, wrap=True, min_width=20)
        self.border_title = "[6] Activity"
        # The last reason and message logged per object: a retrying failure repeats its Event
        # (count 2, 3, ...) every few seconds; it is logged again only when it says something new.
        self._last_said: dict[str, tuple[str, str]] = {}

    def alert(self, failures: int) -> None:
        """Highlighted while Flux failures wait to be seen (the dashboard clears it when looked at)."""
        self.set_class(failures > 0, "-alert")
        noun = "failure" if failures == 1 else "failures"
        self.border_title = f"[6] Activity · ⚠ {failures} new {noun}" if failures else "[6] Activity"

    def action(self, when: datetime, message: str, severity: str = "information") -> None:
        """Something the dashboard did, or its outcome."""
        line = Text(when.strftime("%H:%M:%S "), style=DIM)
        line.append("you   ", style="bold")
        line.append(message, style=_SEVERITY_STYLE.get(severity, ""))
        self._write(line)

    def flux_event(self, event: FluxEvent) -> None:
        said = (event.reason, _DURATION.sub("…", event.message))
        if self._last_said.get(event.object) == said:
            return
        self._last_said[event.object] = said
        moment = parse_time(event.timestamp)
        line = Text(moment.strftime("%H:%M:%S ") if moment else "--:--:-- ", style=DIM)
        line.append("flux  ", style="bold #61afef")
        kind, _, rest = event.object.partition("/")
        line.append(f"{kind} {rest.split('/', 1)[-1]} ", style="bold")
        style = HEALTH_STYLE[Health.FAILING] if event.type == "Warning" else ""
        line.append(f"{event.reason}: ", style=style)
        line.append(event.message, style=style)
        self._write(line)

    def _write(self, line: Text) -> None:
        """Wrap at the pane's width; while hidden (compact layout), at the width it will have."""
        if self.scrollable_content_region.width > 0:
            self.write(line, expand=True)
        else:
            self.write(line, width=max(self.min_width, self.app.size.width - 6))
