"""The actions on a workload and its Flux objects: reconcile, build, push, suspend, delete, prune.

Each action checks what is selected, marks itself busy, runs its service call as a job and handles
the job's outcome message; following ``p`` means reading :meth:`WorkloadActions.action_push`,
its job and :meth:`WorkloadActions._pushed`.
"""

from __future__ import annotations

from textual import on
from textual.message import Message
from textual.notifications import SeverityLevel

from ksail_tui.flux.service import ReconcileOutcome
from ksail_tui.humanize import plural, short_digest, short_revision
from ksail_tui.models import KUSTOMIZATION_KIND, ObjectRef
from ksail_tui.oci.service import PushPhase, PushProgress
from ksail_tui.ui.screens.confirm import ConfirmScreen
from ksail_tui.ui.screens.dashboard_base import DashboardBase
from ksail_tui.ui.styled import human_size
from ksail_tui.ui.widgets.loop_status import LoopStatus


class ActionDone(Message):
    """An action finished: one report, titled."""

    def __init__(self, group: str, text: str, title: str, severity: SeverityLevel = "information") -> None:
        super().__init__()
        self.group, self.text, self.title, self.severity = group, text, title, severity


class Reconciled(Message):
    def __init__(self, group: str, outcomes: list[ReconcileOutcome]) -> None:
        super().__init__()
        self.group, self.outcomes = group, outcomes


class PushStep(Message):
    """Where a push is: a phase, and the bytes uploaded."""

    def __init__(self, workload: str, step: PushProgress) -> None:
        super().__init__()
        self.workload, self.step = workload, step


class Pushed(Message):
    """The artifact is in the registry; the reconcile comes next."""

    def __init__(self, workload: str, revision: str | None, pushed: bool) -> None:
        super().__init__()
        self.workload, self.revision, self.pushed = workload, revision, pushed


class PrunePlanned(Message):
    def __init__(self, workload: str, digests: tuple[str, ...], tags: list[str], reclaimable: int) -> None:
        super().__init__()
        self.workload, self.digests, self.tags, self.reclaimable = workload, digests, tags, reclaimable


class Pruned(Message):
    def __init__(self, workload: str, tags: list[str]) -> None:
        super().__init__()
        self.workload, self.tags = workload, tags


class WorkloadActions(DashboardBase):
    @on(ActionDone)
    def _action_done(self, message: ActionDone) -> None:
        if self.showing:
            self.finish(message.group)
            self.report(message.text, message.severity, title=message.title)

    # --- reconcile ------------------------------------------------------------------------

    def action_reconcile(self) -> None:
        workload = self.selected_workload("reconcile")
        if workload is not None and self.begin("reconcile", f"reconciling {workload}…"):
            self._reconcile([workload])

    def action_reconcile_all(self) -> None:
        names = [w.name for w in self.model.config.workloads]
        if self.begin("reconcile", f"reconciling {', '.join(names)}…"):
            self._reconcile(None)

    def _reconcile(self, names: list[str] | None) -> None:
        services, closing = self.services, self.ksail.jobs.closing

        def job() -> Reconciled:
            outcomes = services.reconcile(names, lambda text: self.progress("reconcile", text), closing)
            return Reconciled("reconcile", outcomes)

        self.run_job("reconcile", job)

    @on(Reconciled)
    def _reconciled(self, message: Reconciled) -> None:
        if not self.showing:
            return
        if message.group == "push":
            self.query_one(LoopStatus).hide_progress()
        self.finish(message.group)
        for outcome in message.outcomes:
            if outcome.ok:
                self.report(
                    f"{outcome.workload} applied {short_revision(outcome.applied_revision)}"
                    f" in {outcome.seconds:.1f}s",
                    "information",
                    title="reconciled",
                )
            else:
                self.report(f"{outcome.workload}: {outcome.message}", "error", title="reconcile failed")

    # --- build and push -------------------------------------------------------------------

    def action_build(self) -> None:
        workload = self.selected_workload("build")
        if workload is None or not self.begin("build", f"building {workload}…"):
            return
        services = self.services

        def job() -> ActionDone:
            built = services.build(workload)
            text = (
                f"{workload} {built.version}: {plural(len(built.files), 'file')}, {human_size(built.size)}, "
                f"layer {short_digest(built.layer_digest)}"
            )
            if built.skipped_symlinks:
                text += f"; skipped symlinks: {', '.join(built.skipped_symlinks)}"
            return ActionDone("build", text, "built")

        self.run_job("build", job)

    def action_push(self) -> None:
        workload = self.selected_workload("push")
        if workload is None or not self.begin("push", f"pushing {workload}…"):
            return
        services, closing = self.services, self.ksail.jobs.closing

        def job() -> Reconciled:
            result = services.push(workload, lambda step: self.post_from_job(PushStep(workload, step)))
            self.post_message(Pushed(workload, result.artifact.flux_revision, result.pushed))
            # The OCIRepository must ask for this version (a bumped version is a new tag) first.
            self.progress("push", f"{workload}: applying its Flux objects")
            services.apply(workload)
            outcomes = services.reconcile([workload], lambda text: self.progress("push", text), closing)
            return Reconciled("push", outcomes)

        self.run_job("push", job)

    @on(PushStep)
    def _push_step(self, message: PushStep) -> None:
        step = message.step
        if not self.showing or not self.ksail.jobs.progress(
            "push", f"push {message.workload}: {step.message or step.phase.value}"
        ):
            return
        loop_status = self.query_one(LoopStatus)
        loop_status.show_busy(self.ksail.jobs.busy["push"])
        if step.phase is PushPhase.UPLOADING and step.bytes_total:
            loop_status.show_progress(step.bytes_done, step.bytes_total)

    @on(Pushed)
    def _pushed(self, message: Pushed) -> None:
        if not self.showing:
            return
        if message.revision:
            self.model.pushed[message.workload] = message.revision
        self.query_one(LoopStatus).hide_progress()
        verb = "pushed" if message.pushed else "already in the registry:"
        self.report(
            f"{message.workload} {verb} {short_revision(message.revision)}; reconciling", title="pushed"
        )
        self.refresh_registry()
        self.refresh_artifacts(message.workload)

    # --- suspend, delete, prune -----------------------------------------------------------

    def action_toggle_suspend(self) -> None:
        workload = self.selected_workload("suspend or resume")
        if workload is None:
            return
        suspended = self.model.status_of(workload).suspended
        verb = "resume" if suspended else "suspend"
        message = (
            f"Resume {workload}? Flux reconciles its OCIRepository and Kustomization again."
            if suspended
            else f"Suspend {workload}? Flux stops pulling and applying it until you resume it."
        )
        services = self.services

        def job() -> ActionDone:
            services.set_suspended([workload], not suspended)
            return ActionDone("suspend", f"{workload} {'resumed' if suspended else 'suspended'}", "done")

        def answered(yes: bool | None) -> None:
            if yes and self.begin("suspend", f"{verb.rstrip('e')}ing {workload}…"):
                self.run_job("suspend", job)

        self.app.push_screen(
            ConfirmScreen(f"{verb} {workload}", message, confirm=verb.capitalize()), answered
        )

    def action_delete(self) -> None:
        ref = self.selected_ref("delete")
        if ref is None:
            return
        consequence = (
            "With prune enabled, Flux deletes everything it applied from it."
            if ref.kind == KUSTOMIZATION_KIND
            else "Kustomizations that use it stop getting new revisions."
        )
        services = self.services

        def job(ref: ObjectRef = ref) -> ActionDone:
            services.delete(ref)
            return ActionDone("delete", f"deleted {ref}", "deleted", "warning")

        def answered(yes: bool | None) -> None:
            if yes and self.begin("delete", f"deleting {ref}…"):
                self.run_job("delete", job)

        self.app.push_screen(
            ConfirmScreen(
                f"delete {ref.kind}", f"Delete {ref}?\n{consequence}", confirm="Delete", destructive=True
            ),
            answered,
        )

    def action_prune(self) -> None:
        workload = self.selected_workload("prune versions")
        if workload is None or not self.begin("prune", f"finding old versions of {workload}…"):
            return
        services, keep = self.services, self.ksail.settings.prune_keep

        def job() -> PrunePlanned:
            # The core spares every version the cluster can resolve to, or refuses when it cannot ask.
            plan = services.prune(workload, keep, True)
            tags = [artifact.tag for artifact in plan.deleted]
            return PrunePlanned(workload, plan.deleted_digests, tags, plan.reclaimable_bytes)

        self.run_job("prune", job)

    @on(PrunePlanned)
    def _confirm_prune(self, plan: PrunePlanned) -> None:
        if not self.showing:
            return
        self.finish("prune")
        workload, keep = plan.workload, self.ksail.settings.prune_keep
        if not plan.tags:
            self.report(f"{workload}: nothing to prune (keeping {keep})", title="prune")
            return
        services = self.services

        def job() -> Pruned:
            # Only what the user was shown, even if the registry changed meanwhile.
            result = services.prune(workload, keep, False, plan.digests)
            return Pruned(workload, [artifact.tag for artifact in result.deleted])

        def answered(yes: bool | None) -> None:
            if yes and self.begin("prune", f"pruning {workload}…"):
                self.run_job("prune", job)

        count = len(plan.tags)
        message = (
            f"Delete {count} version{'s' if count != 1 else ''} of {workload}: {', '.join(plan.tags)}?\n"
            f"Keeps the {keep} newest and every version the cluster can resolve to; "
            f"frees about {human_size(plan.reclaimable)} after garbage collection."
        )
        self.app.push_screen(
            ConfirmScreen(f"prune {workload}", message, confirm="Prune", destructive=True), answered
        )

    @on(Pruned)
    def _pruned(self, message: Pruned) -> None:
        if not self.showing:
            return
        self.finish("prune")
        self.report(f"{message.workload}: deleted {', '.join(message.tags) or 'nothing'}", title="pruned")
        self.refresh_artifacts(message.workload)
        self.refresh_registry()
