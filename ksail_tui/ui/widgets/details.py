"""Details panel: everything about the selected Flux object that the table row cannot hold."""

from __future__ import annotations

from datetime import datetime

from rich.console import Group, RenderableType
from rich.text import Text
from textual.signal import Signal

from ksail_tui.flux.status import FluxObject, Health, classify
from ksail_tui.humanize import short_revision
from ksail_tui.models import FluxKustomization, FluxOCIRepository, FluxResource, ObjectRef
from ksail_tui.ui.dashboard_state import DashboardModel, LiveChanged, SelectionChanged
from ksail_tui.ui.styled import DIM, HEALTH_STYLE, age, health_text
from ksail_tui.ui.widgets.pane import Pane

INVENTORY_SHOWN = 50
DIGEST_SHOWN = 16  # enough to tell revisions apart; describe (d) shows them whole
# Condition types whose True is bad news (the others' True is good news).
NEGATIVE_CONDITIONS = frozenset(
    {"Stalled", "Reconciling", "FetchFailed", "ArtifactOutdated", "StorageOperationFailed"}
)


def _field(label: str, value: str | None, style: str = "") -> Text:
    text = Text(f"{label:<18}", style=DIM)
    text.append(value or "-", style=style)
    return text


def _conditions(obj: FluxObject, now: datetime) -> list[Text]:
    """One line per condition (type, status, reason, age), its message indented below."""
    lines: list[Text] = []
    for condition in obj.conditions:
        good = (condition.status == "True") != (condition.type in NEGATIVE_CONDITIONS)
        style = HEALTH_STYLE[Health.READY] if good else HEALTH_STYLE[Health.FAILING]
        if condition.type == "Reconciling" and condition.status == "True":
            style = HEALTH_STYLE[Health.PROGRESSING]
        line = Text(f"{condition.type:<18}", style="bold")
        line.append(f"{condition.status:<6}", style=style)
        line.append(condition.reason)
        line.append(f"  {age(condition.last_transition_time, now)}", style=DIM)
        lines.append(line)
        if condition.message:
            lines.append(Text(f"  {condition.message}", style=DIM))
    return lines


def details_content(ref: ObjectRef | None, model: DashboardModel, now: datetime) -> RenderableType:
    obj = model.flux.get(ref) if ref else None
    if obj is None:
        return Text("select a row in the Flux table", style=DIM)
    health = classify(obj)
    title = Text(f"{obj.kind} {obj.namespace}/{obj.name}  ", style="bold")
    title.append_text(health_text(health.health))
    parts: list[RenderableType] = [title]
    if health.message:
        parts.append(Text(health.message, style=HEALTH_STYLE[health.health]))
    parts.append(Text(""))
    if isinstance(obj, FluxOCIRepository):
        if obj.ref_tag:
            pulls = f"tag {obj.ref_tag}"
        else:
            pulls = f"semver {obj.ref_semver}" if obj.ref_semver else "latest"
        parts += [
            _field("url", obj.url + ("  (insecure)" if obj.insecure else "")),
            _field("ref", pulls),
            _field("artifact", short_revision(obj.artifact_revision, DIGEST_SHOWN)),
        ]
        created = obj.artifact_metadata.get("org.opencontainers.image.created")
        if created:
            parts.append(_field("built", created))
    elif isinstance(obj, FluxResource):
        if obj.source is not None:
            parts.append(_field("source", str(obj.source)))
        if obj.artifact_revision:
            parts.append(_field("artifact", short_revision(obj.artifact_revision, DIGEST_SHOWN)))
        if obj.applied_revision:
            parts.append(_field("applied", obj.applied_revision))
    else:
        source = model.source_of(obj)
        artifact = source.artifact_revision if source else None
        applied = obj.last_applied_revision
        up_to_date = artifact is not None and artifact == applied
        parts += [
            _field("source", f"{obj.source_kind}/{obj.source_namespace}/{obj.source_name}"),
            _field("source artifact", short_revision(artifact, DIGEST_SHOWN)),
            _field(
                "applied",
                short_revision(applied, DIGEST_SHOWN) if applied else "nothing yet",
                HEALTH_STYLE[Health.READY] if up_to_date else HEALTH_STYLE[Health.PROGRESSING],
            ),
        ]
        if obj.last_attempted_revision and obj.last_attempted_revision != applied:
            attempted = short_revision(obj.last_attempted_revision, DIGEST_SHOWN)
            parts.append(_field("last attempted", attempted, HEALTH_STYLE[Health.FAILING]))
        if not up_to_date:
            parts.append(Text("the cluster does not run the source's artifact yet", style=DIM))
    parts += [
        _field(
            "generation",
            f"{obj.generation} (observed "
            f"{'none yet' if obj.observed_generation is None else obj.observed_generation})",
        ),
        _field("suspended", "yes" if obj.suspended else "no"),
        _field("reconcile asked", obj.requested_at),
        _field("reconcile handled", obj.last_handled_reconcile_at),
        Text(""),
        Text("Conditions", style="bold"),
        *(_conditions(obj, now) or [Text("none yet", style=DIM)]),
    ]
    if isinstance(obj, FluxKustomization):
        parts += [Text(""), Text(f"Inventory ({len(obj.inventory)})", style="bold")]
        for entry in obj.inventory[:INVENTORY_SHOWN]:
            parts.append(Text(_inventory_entry(entry)))
        if len(obj.inventory) > INVENTORY_SHOWN:
            parts.append(Text(f"… and {len(obj.inventory) - INVENTORY_SHOWN} more (d: describe)", style=DIM))
    return Group(*parts)


def _inventory_entry(entry: str) -> str:
    """``apps_web_apps_Deployment`` -> ``Deployment apps/web``."""
    parts = entry.split("_")
    if len(parts) < 4:
        return entry
    namespace, name, kind = parts[0], "_".join(parts[1:-2]), parts[-1]
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


class DetailsPanel(Pane):
    def __init__(self) -> None:
        super().__init__("Details", 5, id="details")
        self._selected: ObjectRef | None = None

    def follow(self, live: Signal[LiveChanged], selection: Signal[SelectionChanged]) -> None:
        """Draw the object ``selection`` publishes, and again when a batch that ``live`` publishes
        changed it (a Kustomization's batch includes its source's changes: its dependents)."""

        def selected(change: SelectionChanged) -> None:
            self.refresh_from(change.selected, change.model, change.now)

        def changed(batch: LiveChanged) -> None:
            if self._selected is not None and self._selected in batch.changes.flux_refs:
                self.refresh_from(self._selected, batch.model, batch.now)

        selection.subscribe(self, selected, immediate=True)
        live.subscribe(self, changed, immediate=True)

    def refresh_from(self, ref: ObjectRef | None, model: DashboardModel, now: datetime) -> None:
        self._selected = ref
        self.show(details_content(ref, model, now))
