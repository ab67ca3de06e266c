"""Artifacts pane: the pushed versions of the selected workload, and which one the cluster runs."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.signal import Signal
from textual.widgets import DataTable, Static

from ksail_tui.flux.status import Health
from ksail_tui.humanize import short_digest, short_revision
from ksail_tui.models import KUSTOMIZATION_KIND, OCI_REPOSITORY_KIND, OCIArtifact
from ksail_tui.ui.dashboard_state import ArtifactsChanged, DashboardModel, LiveChanged, SelectionChanged
from ksail_tui.ui.styled import DIM, HEALTH_STYLE, age, human_size
from ksail_tui.ui.widgets.table_sync import Cell, same_cell, sync_rows

# The state first: a narrow pane cuts the last columns, and which version runs must always show.
COLUMNS = (("state", ""), ("tag", "Tag"), ("digest", "Digest"), ("created", "Created"), ("size", "Size"))
RUNNING_MARK = "▶"
FETCHED_MARK = "◐"


def artifact_row(
    artifact: OCIArtifact, running: str | None, fetched: str | None, now: datetime
) -> list[Cell]:
    revision = artifact.flux_revision
    if revision is not None and revision == running:
        state = Text(RUNNING_MARK, style=HEALTH_STYLE[Health.READY])
    elif revision is not None and revision == fetched:
        state = Text(FETCHED_MARK, style=HEALTH_STYLE[Health.PROGRESSING])
    else:
        state = Text("")
    return [
        state,
        artifact.tag,
        short_digest(artifact.digest),
        age(artifact.created, now) + " ago" if artifact.created else "-",
        human_size(artifact.size),
    ]


def runs_line(artifacts: list[OCIArtifact], running: str | None, fetched: str | None) -> Text:
    """Which listed version the cluster runs, and one fetched but not applied, in words."""
    tags = {artifact.flux_revision: artifact.tag for artifact in artifacts}
    line = Text()
    if running is not None:
        line.append(f"{RUNNING_MARK} runs ", style=HEALTH_STYLE[Health.READY])
        line.append(tags.get(running) or short_revision(running, 8), style="bold")
    if fetched is not None and fetched != running:
        line.append(f"  {FETCHED_MARK} fetched, not applied: ", style=HEALTH_STYLE[Health.PROGRESSING])
        line.append(tags.get(fetched) or short_revision(fetched, 8))
    return line


class ArtifactsPane(Vertical):
    def __init__(self) -> None:
        super().__init__(id="artifacts", classes="pane")
        self.border_title = "[3] Artifacts"
        self._note: Text | None = None  # what the note shows, so that an unchanged one is not redrawn
        self._workload: str | None = None  # whose versions it shows
        self._drawn = False

    def follow(
        self,
        live: Signal[LiveChanged],
        selection: Signal[SelectionChanged],
        artifacts: Signal[ArtifactsChanged],
    ) -> None:
        """Draw the selected workload's versions: when ``selection`` publishes another workload,
        when ``artifacts`` publishes its listing, and when a batch that ``live`` publishes changed
        one of its two Flux objects (which version runs, which was fetched)."""

        def selected(change: SelectionChanged) -> None:
            workload = change.model.workload_of(change.selected)
            name = workload.name if workload else None
            if name != self._workload or not self._drawn:
                self.refresh_from(change.model, name, change.now)

        def changed(batch: LiveChanged) -> None:
            workload = self._workload
            if workload is not None and any(
                batch.model.workload_ref(kind, workload) in batch.changes.flux_refs
                for kind in (OCI_REPOSITORY_KIND, KUSTOMIZATION_KIND)
            ):
                self.refresh_from(batch.model, workload, batch.now)

        def listed(change: ArtifactsChanged) -> None:
            if change.workload == self._workload:
                self.refresh_from(change.model, change.workload, change.now)

        selection.subscribe(self, selected, immediate=True)
        live.subscribe(self, changed, immediate=True)
        artifacts.subscribe(self, listed, immediate=True)

    def compose(self) -> ComposeResult:
        yield Static(id="artifacts-note")
        table: DataTable[Cell] = DataTable(id="artifacts-table", cursor_type="row", zebra_stripes=False)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table

    def _show_note(self, note: Static, text: Text) -> None:
        if self._note is None or not same_cell(self._note, text):
            self._note = text
            note.update(text)

    def refresh_ages(self, model: DashboardModel, now: datetime) -> None:
        """The Created column counts from now (unchanged cells are not written)."""
        self.refresh_from(model, self._workload, now)

    def refresh_from(self, model: DashboardModel, workload: str | None, now: datetime) -> None:
        self._workload, self._drawn = workload, True
        note = self.query_one("#artifacts-note", Static)
        table = self.query_one("#artifacts-table", DataTable)
        artifacts = model.artifacts.get(workload or "", [])
        status = model.status_of(workload) if workload else None
        running = status.applied_revision if status else None
        fetched = status.artifact_revision if status else None
        if workload is None:
            self._show_note(note, Text("select a workload's row in the Flux table", style=DIM))
        else:
            configured = model.config.workload(workload)
            repository = f"{model.config.registry_endpoint}/{model.config.repository_of(configured)}"
            text = Text(repository, style="bold")
            error = model.artifacts_error.get(workload)
            if error:
                text.append(f"\n{error}", style=HEALTH_STYLE[Health.FAILING])
            elif workload not in model.artifacts:
                text.append("  listing…", style=DIM)
            elif not artifacts:
                text.append("  nothing pushed yet: press p to push", style=DIM)
            runs = runs_line(artifacts, running, fetched)
            if runs.plain:
                text.append("\n").append_text(runs)
            self._show_note(note, text)
        order = {artifact.tag: index for index, artifact in enumerate(artifacts)}
        if sync_rows(table, {a.tag: artifact_row(a, running, fetched, now) for a in artifacts}):
            table.sort("tag", key=lambda tag: order.get(tag, 0))  # newest version first
