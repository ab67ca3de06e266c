"""The main screen: its state (:mod:`.dashboard_base`) and every action bound to its keys.

The bindings come from the table in :mod:`ksail_tui.ui.actions`; the actions themselves live in
the workload, cluster, devloop, environment and object action modules.
"""

from __future__ import annotations

from ksail_tui.ui.actions import bindings
from ksail_tui.ui.cluster_actions import ClusterActions
from ksail_tui.ui.devloop_actions import DevloopActions
from ksail_tui.ui.environment_actions import EnvironmentActions
from ksail_tui.ui.object_actions import ObjectActions
from ksail_tui.ui.workload_actions import WorkloadActions


class DashboardScreen(WorkloadActions, ClusterActions, DevloopActions, EnvironmentActions, ObjectActions):
    BINDINGS = bindings()
