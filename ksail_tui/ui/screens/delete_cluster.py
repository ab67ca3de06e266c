"""Ask before deleting the cluster, and whether the registry's data goes with it (purge)."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Static

from ksail_tui.config import ClusterConfig


@dataclass(frozen=True)
class ClusterDeletion:
    """The user's yes: delete the cluster, and the registry's data too when ``purge``."""

    purge: bool


def deletion_message(config: ClusterConfig) -> str:
    """What goes and what stays, in the words of ClusterService.delete."""
    kind = config.spec.cluster.distribution.value
    message = (
        f"Delete the {kind} cluster {config.name}?\n"
        "Its nodes, everything running in them and its kube context are removed."
    )
    if config.registry.enabled:
        message += (
            f"\nThe registry container {config.registry_name} is removed too; its data (every pushed "
            "version) is kept for the next cluster unless you choose purge."
        )
    return message


class DeleteClusterScreen(ModalScreen[ClusterDeletion | None]):
    """Dismisses with the choice, or None for cancel. Starts on Cancel with the data kept."""

    BINDINGS = [
        Binding("y", "delete", "Delete", show=False),
        Binding("n,escape", "dismiss", "Cancel", show=False),
        Binding("p", "toggle_purge", "Purge", show=False),
    ]

    def __init__(self, config: ClusterConfig) -> None:
        super().__init__(classes="-destructive")
        self._config = config

    def compose(self) -> ComposeResult:
        kind = self._config.spec.cluster.distribution.value
        with Vertical(id="confirm-dialog", classes="dialog") as dialog:
            dialog.border_title = f"delete {kind} cluster {self._config.name}"
            yield Static(deletion_message(self._config), id="confirm-message")
            if self._config.registry.enabled:
                yield Checkbox("purge: also delete the registry's data (p)", id="purge")
            with Horizontal(id="confirm-buttons"):
                yield Button("Delete (y)", variant="error", id="confirm")
                yield Button("Cancel (n)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @property
    def purge(self) -> bool:
        return any(box.value for box in self.query("#purge").results(Checkbox))

    def action_toggle_purge(self) -> None:
        for box in self.query("#purge").results(Checkbox):
            box.toggle()

    def action_delete(self) -> None:
        self.dismiss(ClusterDeletion(purge=self.purge))

    @on(Checkbox.Changed, "#purge")
    def _purge_changed(self) -> None:
        self.query_one("#confirm", Button).label = "Delete with data (y)" if self.purge else "Delete (y)"

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm":
            self.action_delete()
        else:
            self.dismiss(None)
