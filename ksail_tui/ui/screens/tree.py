"""Inventory tree (``enter`` on a Kustomization or HelmRelease): what it applied, each object's
health; ``enter`` on a node drills down (a Deployment's Pods, the reasons)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from ksail_tui.flux.inventory import InventoryNode
from ksail_tui.flux.status import Health
from ksail_tui.models import ObjectRef
from ksail_tui.ui.styled import DIM, HEALTH_STYLE, health_text


def node_label(node: InventoryNode) -> Text:
    label = health_text(node.health)
    label.append(f"  {node.label}  ")
    label.append(node.summary, style=DIM if node.health is Health.READY else HEALTH_STYLE[node.health])
    return label


def add_node(parent: TreeNode[InventoryNode], node: InventoryNode) -> None:
    leaf = not node.details and not node.children
    branch = parent.add(node_label(node), data=node, allow_expand=not leaf)
    for detail in node.details:
        branch.add_leaf(Text(detail, style=HEALTH_STYLE[node.health]))
    for child in node.children:
        add_node(branch, child)
    # What is wrong opens by itself; what is fine waits for enter.
    if node.health is not Health.READY and not leaf:
        branch.expand()


class TreeScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("j", "move('down')", "Down", show=False),
        Binding("k", "move('up')", "Up", show=False),
    ]

    def __init__(self, ref: ObjectRef, nodes: list[InventoryNode]) -> None:
        super().__init__()
        self._ref = ref
        self._inventory = nodes

    def compose(self) -> ComposeResult:
        with Vertical(id="tree-dialog", classes="dialog") as dialog:
            dialog.border_title = f"inventory of {self._ref}"
            dialog.border_subtitle = "enter expand · j/k move · esc close"
            failing = sum(1 for n in self._inventory if n.health is not Health.READY)
            yield Static(
                Text(f"{len(self._inventory)} objects applied, {failing} not ready", style=DIM)
                if self._inventory
                else Text("nothing in status.inventory (nothing applied yet, or not recorded)", style=DIM),
                id="tree-note",
            )
            tree: Tree[InventoryNode] = Tree(Text(str(self._ref), style="bold"), id="inventory-tree")
            tree.root.expand()
            for node in self._inventory:
                add_node(tree.root, node)
            yield tree

    def on_mount(self) -> None:
        self.query_one(Tree).focus()

    def action_move(self, direction: str) -> None:
        tree = self.query_one(Tree)
        if direction == "down":
            tree.action_cursor_down()
        else:
            tree.action_cursor_up()
