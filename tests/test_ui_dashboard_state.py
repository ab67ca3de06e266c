"""The dashboard's plain parts: the coalescing inbox, the model's rules, and how values are shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ksail_tui.humanize import short_revision
from ksail_tui.live import ConnectionUpdate, FluxEventUpdate, FluxObjectUpdate, parse_flux_object
from ksail_tui.models import ObjectRef
from ksail_tui.ui.dashboard_state import DashboardModel
from ksail_tui.ui.inbox import MAX_PENDING_EVENTS, LiveInbox
from ksail_tui.ui.styled import age, age_changes_at, human_size
from tests.fixtures.ui import (
    DIGESTS,
    failing_scene,
    kustomization,
    oci_repository,
    scene_config,
)

K = ObjectRef(kind="Kustomization", namespace="flux-system", name="k")
KS_APP = ObjectRef(kind="Kustomization", namespace="flux-system", name="app")
SOURCE_APP = ObjectRef(kind="OCIRepository", namespace="flux-system", name="app")


def test_the_inbox_posts_once_per_burst_and_keeps_the_newest_state_per_object() -> None:
    posted: list[int] = []
    inbox = LiveInbox(lambda: posted.append(1))
    put = inbox.sender()
    old = parse_flux_object(kustomization("app", "0.1.0"))
    new = parse_flux_object(kustomization("app", "0.2.0"))
    event = failing_scene().events[0]
    put([FluxObjectUpdate(K, old), ConnectionUpdate(connected=False, reason="down")])
    put([FluxObjectUpdate(K, new), ConnectionUpdate(connected=True), FluxEventUpdate(event)])
    assert posted == [1]
    assert inbox.take() == [
        FluxObjectUpdate(K, new),
        ConnectionUpdate(connected=True),
        FluxEventUpdate(event),
    ]
    put([FluxObjectUpdate(K, None)])
    assert posted == [1, 1]


def test_a_new_sender_silences_the_one_before_and_drops_what_it_left() -> None:
    inbox = LiveInbox(lambda: None)
    old = inbox.sender()
    old([ConnectionUpdate(connected=True)])  # not taken yet when the watches restart
    new = inbox.sender()
    old([FluxObjectUpdate(K, None)])  # the last batch of a stopped watch thread
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
            FluxObjectUpdate(KS_APP, parse_flux_object(kustomization("app", "0.1.0"))),
            FluxObjectUpdate(SOURCE_APP, parse_flux_object(oci_repository("app", "0.1.0"))),
        ]
    )
    changes = model.apply([FluxObjectUpdate(SOURCE_APP, parse_flux_object(oci_repository("app", "0.2.0")))])
    assert changes.flux_refs == {SOURCE_APP, KS_APP}
    status = model.status_of("app")
    assert not status.current and status.artifact_revision == "0.2.0@" + DIGESTS["app-0.2.0"]


def test_a_kustomization_gone_or_moved_to_another_source_is_no_longer_its_dependent() -> None:
    model = DashboardModel(scene_config())
    model.apply([FluxObjectUpdate(KS_APP, parse_flux_object(kustomization("app", "0.1.0")))])
    assert model.dependents(SOURCE_APP) == {KS_APP}
    moved = kustomization("app", "0.1.0")
    moved["spec"]["sourceRef"]["name"] = "api"
    model.apply([FluxObjectUpdate(KS_APP, parse_flux_object(moved))])
    assert model.dependents(SOURCE_APP) == set()
    assert model.dependents(SOURCE_APP.model_copy(update={"name": "api"})) == {KS_APP}
    model.apply([FluxObjectUpdate(KS_APP, None)])
    assert model.dependents(SOURCE_APP.model_copy(update={"name": "api"})) == set()


def test_only_objects_named_after_a_workload_in_the_flux_namespace_are_workloads() -> None:
    model = DashboardModel(scene_config())
    assert model.workload_of(KS_APP) is not None
    assert model.workload_of(KS_APP.model_copy(update={"namespace": "other"})) is None
    assert model.workload_of(KS_APP.model_copy(update={"name": "infra"})) is None


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


@given(st.integers(min_value=0, max_value=40 * 86400), st.integers(min_value=0, max_value=3 * 86400))
def test_an_age_reads_the_same_until_the_moment_it_is_due_to_change(elapsed: int, later: int) -> None:
    since = datetime(2025, 1, 1, tzinfo=UTC)
    now = since + timedelta(seconds=elapsed)
    due = age_changes_at(since, now)
    assert due > now and age(since, due) != age(since, now)
    moment = now + timedelta(seconds=later)
    if moment < due:
        assert age(since, moment) == age(since, now)
