"""The dashboard's plain parts: the coalescing inbox, the model's rules, and how values are shown."""

from __future__ import annotations

from datetime import UTC, datetime

from ksail_tui.display import short_revision
from ksail_tui.live import ConnectionUpdate, FluxEventUpdate, FluxObjectUpdate, parse_flux_object
from ksail_tui.ui.format import age, human_size
from ksail_tui.ui.inbox import MAX_PENDING_EVENTS, LiveInbox
from ksail_tui.ui.model import DashboardModel
from tests.fixtures.ui import (
    DIGESTS,
    failing_scene,
    kustomization,
    oci_repository,
    scene_config,
)


def test_the_inbox_posts_once_per_burst_and_keeps_the_newest_state_per_object() -> None:
    posted: list[int] = []
    inbox = LiveInbox(lambda: posted.append(1))
    put = inbox.sender()
    old = parse_flux_object(kustomization("app", "0.1.0"))
    new = parse_flux_object(kustomization("app", "0.2.0"))
    event = failing_scene().events[0]
    put([FluxObjectUpdate("k", old), ConnectionUpdate(connected=False, reason="down")])
    put([FluxObjectUpdate("k", new), ConnectionUpdate(connected=True), FluxEventUpdate(event)])
    assert posted == [1]
    assert inbox.take() == [
        FluxObjectUpdate("k", new),
        ConnectionUpdate(connected=True),
        FluxEventUpdate(event),
    ]
    put([FluxObjectUpdate("k", None)])
    assert posted == [1, 1]


def test_a_new_sender_silences_the_one_before_and_drops_what_it_left() -> None:
    inbox = LiveInbox(lambda: None)
    old = inbox.sender()
    old([ConnectionUpdate(connected=True)])  # not taken yet when the watches restart
    new = inbox.sender()
    old([FluxObjectUpdate("k", None)])  # the last batch of a stopped watch thread
    assert inbox.take() == []
    new([ConnectionUpdate(connected=False, reason="down")])
    assert inbox.take() == [ConnectionUpdate(connected=False, reason="down")]


def test_the_inbox_drops_the_oldest_events_beyond_its_bound() -> None:
    inbox = LiveInbox(lambda: None)
    put = inbox.sender()
    events = [
        FluxEventUpdate(failing_scene().events[0].model_copy(update={"count": n}))
        for n in range(MAX_PENDING_EVENTS + 5)
    ]
    put(events)
    taken = inbox.take()
    assert len(taken) == MAX_PENDING_EVENTS and taken[0] == events[5]


def test_a_source_change_redraws_the_kustomizations_that_use_it() -> None:
    model = DashboardModel(scene_config())
    model.apply(
        [
            FluxObjectUpdate(
                "Kustomization/flux-system/app", parse_flux_object(kustomization("app", "0.1.0"))
            ),
            FluxObjectUpdate(
                "OCIRepository/flux-system/app", parse_flux_object(oci_repository("app", "0.1.0"))
            ),
        ]
    )
    changes = model.apply(
        [FluxObjectUpdate("OCIRepository/flux-system/app", parse_flux_object(oci_repository("app", "0.2.0")))]
    )
    assert changes.flux_keys == {"OCIRepository/flux-system/app", "Kustomization/flux-system/app"}
    status = model.status_of("app")
    assert not status.current and status.artifact_revision == "0.2.0@" + DIGESTS["app-0.2.0"]


def test_only_objects_named_after_a_workload_in_the_flux_namespace_are_workloads() -> None:
    model = DashboardModel(scene_config())
    assert model.workload_of("Kustomization/flux-system/app") is not None
    assert model.workload_of("Kustomization/other/app") is None
    assert model.workload_of("Kustomization/flux-system/infra") is None


def test_the_header_says_why_there_is_no_flux_version() -> None:
    model = DashboardModel(scene_config())
    assert model.flux_summary() == "connecting…"
    model.apply([ConnectionUpdate(connected=False, reason="refused")])
    assert model.flux_summary() == "unknown (cluster unreachable)"
    model.apply([ConnectionUpdate(connected=True, flux_api=None)])
    assert model.flux_summary() == "checking…"
    model.apply([ConnectionUpdate(connected=True, flux_api=False, flux_reason="404")])
    assert model.flux_summary() == "not installed"
    model.apply([ConnectionUpdate(connected=True, flux_api=True)])
    assert model.flux_summary() == "CRDs only, no controllers"


def test_values_are_shown_short() -> None:
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert short_revision("0.1.0@sha256:" + "a" * 64, 8) == "0.1.0@sha256:aaaaaaaa"
    assert short_revision("sha256:" + "b" * 64) == "sha256:bbbbbbbbbbbb"
    assert short_revision(None) == "-"
    assert [
        age(t, now) for t in ("2025-01-01T11:59:15Z", "2025-01-01T11:00:00Z", "2024-12-29T12:00:00Z")
    ] == [
        "45s",
        "1h",
        "3d",
    ]
    assert age("not a time", now) == "-"
    assert [human_size(n) for n in (512, 2048, 5 * 1024**2, 3 * 1024**3)] == [
        "512 B",
        "2.0 KB",
        "5.0 MB",
        "3.0 GB",
    ]
