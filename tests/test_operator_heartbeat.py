"""The operator's heartbeat Lease against the emulator: renewed while it runs, gone on a clean
stop, and read as "not running" when absent or expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ksail_tui.kube.client import KubeClient
from ksail_tui.operator import heartbeat
from tests.fixtures.operator import OperatorFactory, wait_until


def test_a_running_operator_renews_its_lease_and_deletes_it_on_stop(
    operator_client: KubeClient, start_operator: OperatorFactory
) -> None:
    assert heartbeat.read(operator_client, datetime.now(UTC)) == heartbeat.Heartbeat(False)
    operator = start_operator()
    beat = wait_until(
        lambda: (b := heartbeat.read(operator_client, datetime.now(UTC))).running and b, "a beat"
    )
    assert beat.holder == heartbeat.holder_identity()
    lease = operator_client.get(heartbeat.LEASES, heartbeat.LEASE_NAME, heartbeat.NAMESPACE)
    assert lease["spec"]["leaseDurationSeconds"] == heartbeat.LEASE_SECONDS
    operator.stop()
    assert operator_client.get_or_none(heartbeat.LEASES, heartbeat.LEASE_NAME, heartbeat.NAMESPACE) is None


def test_a_lease_not_renewed_within_its_duration_is_not_running(operator_client: KubeClient) -> None:
    now = datetime.now(UTC)
    heartbeat.renew(operator_client, "laptop/1", now - timedelta(seconds=heartbeat.LEASE_SECONDS + 1))
    expired = heartbeat.read(operator_client, now)
    assert not expired.running and expired.renewed is not None
    assert "last heard of" in expired.summary and "ksail-tui operator run" in expired.summary
    heartbeat.renew(operator_client, "laptop/1", now)
    assert heartbeat.read(operator_client, now).running


def test_release_leaves_another_operators_lease(operator_client: KubeClient) -> None:
    heartbeat.renew(operator_client, "other/2", datetime.now(UTC))
    heartbeat.release(operator_client, "laptop/1")
    assert heartbeat.read(operator_client, datetime.now(UTC)).holder == "other/2"
