"""What the ``:`` line understands: every Flux kind's aliases (filter the table to that kind) and
the named views registered here (``ctx``; other modules add theirs, e.g. ``env``).

A view is the name of an action of the dashboard screen, so ``:ctx`` runs the same code as its key.
"""

from __future__ import annotations

from dataclasses import dataclass

from ksail_tui.flux.kinds import FLUX_KINDS, FluxKind, kind_of_alias


@dataclass(frozen=True)
class View:
    name: str
    action: str  # an action of the dashboard screen, e.g. "switch_context"
    help: str


VIEWS: dict[str, View] = {}


def register_view(view: View) -> None:
    """Make ``:<view.name>`` run ``view.action``; a name taken twice is a programming error."""
    if view.name in VIEWS or kind_of_alias(view.name) is not None:
        raise ValueError(f"':{view.name}' is taken")
    VIEWS[view.name] = view


register_view(View("ctx", "switch_context", "switch the kube context; the watches restart"))


def resolve(line: str) -> FluxKind | View | None:
    """What ``line`` (without the colon) names: a view, a Flux kind, or nothing."""
    word = line.strip().lower()
    return VIEWS.get(word) or kind_of_alias(word)


def suggestions() -> list[str]:
    """The first (k9s) alias of each kind, and every view: what the line's placeholder shows."""
    return [k.aliases[0] for k in FLUX_KINDS] + sorted(VIEWS)
