"""Our widgets never overwrite a name Textual owns: ``self.animate = …`` made ``animate()`` raise."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.app import App
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget

from ksail_tui.ui.app import KsailApp
from ksail_tui.ui.screens.dashboard import DashboardScreen
from ksail_tui.ui.services import DashboardServices
from ksail_tui.ui.widgets.loop_status import LoopStatus
from ksail_tui.ui.widgets.spinner import Spinner
from tests.fixtures.ui import Scene, failing_scene

pytestmark = pytest.mark.anyio

UI = Path(__file__).resolve().parents[1] / "ksail_tui" / "ui"


def textual_names() -> dict[str, str]:
    """Methods and read-only properties of Textual's App, Screen and Widget, and their private
    instance attributes. Reactives, settable properties and public settings (animation_level)
    are ours to set."""
    owned: dict[str, str] = {}
    for instance in (App[None](), Screen[None](), Widget()):
        for name in vars(instance):
            if name.startswith("_"):
                owned.setdefault(name, f"{type(instance).__name__}'s own {name}")
        for klass in type(instance).__mro__:
            for name, value in vars(klass).items():
                settable = isinstance(value, Reactive) or (isinstance(value, property) and value.fset)
                if not settable and (callable(value) or isinstance(value, property)):
                    owned.setdefault(name, f"{klass.__name__}.{name}")
    return owned


def test_no_ui_class_assigns_an_attribute_textual_owns() -> None:
    owned = textual_names()
    offenders = []
    for path in sorted(UI.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                    and target.attr in owned
                ):
                    offenders.append(
                        f"{path.relative_to(UI)}:{node.lineno} self.{target.attr} ({owned[target.attr]})"
                    )
    assert offenders == []


async def test_textual_animate_works_on_the_app_the_screen_and_the_loop_widgets(
    scripted: Callable[[Scene], tuple[KsailApp, DashboardServices]],
) -> None:
    app, _ = scripted(failing_scene())
    app.scroll_probe = 0.0  # type: ignore[attr-defined]  # something for the app's own animator to move
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        animated: list[Widget] = [app.query_one(LoopStatus), app.query_one(Spinner)]
        animated.append(next(screen for screen in app.screen_stack if isinstance(screen, DashboardScreen)))
        # Each raised TypeError ('bool' object is not callable) while we shadowed animate or _animate.
        app.animate("scroll_probe", 1.0, duration=0.01)
        for node in animated:
            node.animate("scroll_x", 0.0, duration=0.01)
        await pilot.pause()
        assert app.scroll_probe == 1.0  # type: ignore[attr-defined]
