"""How values look on screen: one colour per Health everywhere, short revisions, ages and sizes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.text import Text

from ksail_tui.flux.status import Health
from ksail_tui.humanize import AGE_UNITS
from ksail_tui.humanize import age as age  # the widgets take it from here with the other formats

# The same colour for a Health in the table, the panes, the details and the status line.
HEALTH_STYLE: dict[Health, str] = {
    Health.READY: "#4ec9b0",
    Health.PROGRESSING: "#e5c07b",
    Health.FAILING: "bold #f14c4c",
    Health.STALLED: "bold #ff6ac1",
    Health.SUSPENDED: "#a78bfa",
    Health.UNKNOWN: "#8b949e",
}
HEALTH_ICON: dict[Health, str] = {
    Health.READY: "●",
    Health.PROGRESSING: "◐",
    Health.FAILING: "✗",
    Health.STALLED: "▲",
    Health.SUSPENDED: "‖",
    Health.UNKNOWN: "?",
}
DIM = "#8b949e"


def health_text(health: Health, label: str | None = None) -> Text:
    """``● Ready`` in the Health's colour."""
    return Text(f"{HEALTH_ICON[health]} {label or health.value}", style=HEALTH_STYLE[health])


def ok_text(ok: bool, label: str) -> Text:
    """Ready-or-not things (nodes, controllers, the registry) in the Health colours."""
    return health_text(Health.READY if ok else Health.FAILING, label)


NEVER = datetime.max.replace(tzinfo=UTC)


def age_changes_at(since: datetime | None, now: datetime) -> datetime:
    """The first moment after ``now`` at which :func:`age` of ``since`` reads differently."""
    if since is None:
        return NEVER
    seconds = max(0, int((now - since).total_seconds()))
    size = next((size for _, size in AGE_UNITS if seconds >= size), 1)
    return since + timedelta(seconds=(seconds // size + 1) * size)


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
