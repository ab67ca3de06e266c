"""Actions on the selected Flux object of any kind, the k9s way: Shift-R reconciles it with its
source, Shift-T toggles its suspension, ``y`` shows its YAML, ``:`` jumps to a kind or a view,
``j``/``k`` move, and ``:ctx`` switches the kube context.
"""

from __future__ import annotations

from functools import partial

from textual import on
from textual.message import Message
from textual.widgets import DataTable, Input

from ksail_tui.errors import KsailError
from ksail_tui.flux.inventory import InventoryNode
from ksail_tui.flux.kinds import FluxKind
from ksail_tui.flux.objects import ObjectReconciled
from ksail_tui.kube.contexts import KubeContext, with_context
from ksail_tui.models import ObjectRef
from ksail_tui.ui import command_line
from ksail_tui.ui.screens.command_line import CommandLineScreen
from ksail_tui.ui.screens.contexts import ContextsScreen
from ksail_tui.ui.screens.dashboard_base import DashboardBase
from ksail_tui.ui.screens.logs import LogsScreen
from ksail_tui.ui.screens.tree import TreeScreen
from ksail_tui.ui.screens.yaml_view import YamlScreen
from ksail_tui.ui.workload_actions import ActionDone

INVENTORY_KINDS = frozenset({"Kustomization", "HelmRelease"})


class ObjectReconcileDone(Message):
    def __init__(self, outcome: ObjectReconciled) -> None:
        super().__init__()
        self.outcome = outcome


class ContextsLoaded(Message):
    def __init__(self, contexts: list[KubeContext], error: str = "") -> None:
        super().__init__()
        self.contexts, self.error = contexts, error


class InventoryLoaded(Message):
    def __init__(self, ref: ObjectRef, nodes: list[InventoryNode]) -> None:
        super().__init__()
        self.ref, self.nodes = ref, nodes


class ObjectActions(DashboardBase):
    # --- reconcile and suspend the selected object -----------------------------------------

    def action_reconcile_object(self) -> None:
        ref = self.selected_ref("reconcile")
        if ref is None or not self.begin("reconcile", f"reconciling {ref.kind} {ref.name} with its source…"):
            return
        services, closing = self.services, self.ksail.jobs.closing

        def job() -> ObjectReconcileDone:
            progress = partial(self.progress, "reconcile")
            return ObjectReconcileDone(services.reconcile_object(ref, progress, closing))

        self.run_job("reconcile", job)

    @on(ObjectReconcileDone)
    def _object_reconciled(self, message: ObjectReconcileDone) -> None:
        if not self.showing:
            return
        self.finish("reconcile")
        outcome = message.outcome
        what = f"{outcome.ref.kind} {outcome.ref.namespace}/{outcome.ref.name}"
        if outcome.ok:
            self.report(f"{what} {outcome.message} in {outcome.seconds:.1f}s", title="reconciled")
        else:
            self.report(f"{what}: {outcome.message}", "error", title="reconcile failed")

    def action_toggle_suspend_object(self) -> None:
        ref = self.selected_ref("suspend or resume")
        if ref is None:
            return
        suspended = not self.model.flux[ref].suspended
        verb = "suspend" if suspended else "resume"
        if not self.begin("suspend", f"{verb.rstrip('e')}ing {ref.kind} {ref.name}…"):
            return
        services = self.services

        def job() -> ActionDone:
            services.set_object_suspended(ref, suspended)
            return ActionDone("suspend", f"{ref.kind} {ref.namespace}/{ref.name} {verb}d", "done")

        self.run_job("suspend", job)

    # --- views ------------------------------------------------------------------------------

    def action_yaml(self) -> None:
        ref = self.selected_ref("see its YAML")
        if ref is not None and self._live is not None:
            self.app.push_screen(YamlScreen(ref, self._live.raw(ref)))

    @on(DataTable.RowSelected, "#flux-table")
    def _drill_down(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_tree()

    def action_tree(self) -> None:
        ref = self.selected_ref("see what it applied")
        if ref is None:
            return
        if ref.kind not in INVENTORY_KINDS:
            self.notify(f"a {ref.kind} applies nothing; enter drills into Kustomizations and HelmReleases")
            return
        services = self.services
        self.run_job("tree", lambda: InventoryLoaded(ref, services.inventory(ref)))

    @on(InventoryLoaded)
    def _inventory_loaded(self, message: InventoryLoaded) -> None:
        if self.showing:
            self.app.push_screen(TreeScreen(message.ref, message.nodes))

    def action_logs(self) -> None:
        ref = self.selected_ref("see its controller logs")
        if ref is not None:
            self.app.push_screen(LogsScreen(ref, self.services.follow_logs))

    def action_cursor(self, step: int) -> None:
        """j/k: move the focused table's cursor, as the arrows do."""
        focused = self.focused
        if isinstance(focused, DataTable):
            focused.move_cursor(row=focused.cursor_row + step)

    def action_command_line(self) -> None:
        self.app.push_screen(CommandLineScreen(command_line.suggestions()), self._run_command_line)

    def _run_command_line(self, line: str | None) -> None:
        if not line:
            return
        target = command_line.resolve(line)
        if target is None:
            self.notify(
                f":{line} is neither a Flux kind nor a view; try {', '.join(command_line.suggestions())}",
                severity="warning",
            )
        elif isinstance(target, FluxKind):
            self.show_kind(target)
        else:
            self.call_later(self.run_action, target.action)

    def show_kind(self, kind: FluxKind) -> None:
        """Filter the Flux table to one kind (esc clears it, as any filter)."""
        self.reveal("flux")
        field = self.query_one("#flux-filter", Input)
        field.remove_class("-hidden")
        field.value = kind.kind
        self.query_one("#flux-table", DataTable).focus()

    # --- contexts ---------------------------------------------------------------------------

    def action_switch_context(self) -> None:
        services = self.services

        def job() -> ContextsLoaded:
            try:
                return ContextsLoaded(services.contexts())
            except KsailError as error:
                return ContextsLoaded([], error.message)

        self.run_job("contexts", job)

    @on(ContextsLoaded)
    def _contexts_loaded(self, message: ContextsLoaded) -> None:
        if not self.showing:
            return
        if message.error or not message.contexts:
            self.notify(message.error or "the kubeconfig has no contexts", severity="warning")
            return
        watched = self.model.config.spec.cluster.connection.context or next(
            (c.name for c in message.contexts if c.current), ""
        )

        def picked(name: str | None) -> None:
            if name and name != watched:
                config = with_context(self.model.config, name)
                self.ksail.services = self.ksail.services.with_config(config)
                self.restart_live(config, f"switched to context {name}")

        self.app.push_screen(ContextsScreen(message.contexts, watched), picked)
