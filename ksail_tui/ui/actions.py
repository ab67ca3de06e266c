"""Every dashboard action, once: its binding id, default keys, title and help.

Key bindings, the help screen and the command palette are all made from this table, so they cannot
disagree. The binding id is what a user's keymap names (see :mod:`ksail_tui.ui.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class ActionSpec:
    id: str  # the binding id, used in the keymap
    keys: str  # Textual key names, comma-separated
    action: str  # the dashboard screen's action (``app.`` ones are the app's)
    title: str
    help: str
    footer: bool = True
    in_palette: bool = True
    screen: str = "dashboard"  # the screen whose bindings carry it, or a pane of it ("environments")


# The Environments pane (key 7) has keys of its own: bound on the pane, they win over the
# dashboard's while it has the focus, so r and ctrl+d act on the selected Environment there.
ENVIRONMENT_ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        "environments",
        "7",
        "focus_pane('environments')",
        "Go to Environments",
        "preview Environments: one per branch",
        False,
    ),
    ActionSpec(
        "env-new",
        "n",
        "env_new",
        "New preview",
        "a preview Environment of the checked-out branch and commit (pushes its artifact first)",
        screen="environments",
    ),
    ActionSpec(
        "env-reconcile",
        "r",
        "env_reconcile",
        "Reconcile env",
        "the operator re-runs the selected Environment and Flux reconciles its objects",
        screen="environments",
    ),
    ActionSpec(
        "env-delete",
        "ctrl+d",
        "env_delete",
        "Delete env",
        "delete the selected Environment and its namespace (asks first)",
        screen="environments",
    ),
    ActionSpec(
        "env-open",
        "o",
        "env_open",
        "Open URL",
        "open the selected Environment's URL in the browser, and copy it",
        screen="environments",
    ),
    ActionSpec(
        "env-details",
        "enter",
        "env_details",
        "Env details",
        "steps, conditions and namespace objects",
        screen="environments",
    ),
    ActionSpec(
        "env-flux-rows",
        "f",
        "env_flux_rows",
        "Its Flux rows",
        "the Flux table filtered to the selected Environment's namespace",
        footer=False,
        screen="environments",
    ),
    ActionSpec(
        "env-install-crds",
        "i",
        "env_install_crds",
        "Install CRDs",
        "install the Project and Environment CRDs when the cluster lacks them",
        footer=False,
        screen="environments",
    ),
    ActionSpec(
        "env-back",
        "escape",
        "focus_pane('flux')",
        "Back",
        "back to the Flux table",
        footer=False,
        screen="environments",
        in_palette=False,
    ),
)

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        "reconcile", "r", "reconcile", "Reconcile", "reconcile the selected workload now, source first"
    ),
    ActionSpec(
        "reconcile-object",
        "R",
        "reconcile_object",
        "Reconcile object",
        "reconcile the selected Flux object of any kind, its source first (flux reconcile --with-source)",
        footer=False,
    ),
    ActionSpec(
        "reconcile-all",
        "A",
        "reconcile_all",
        "Reconcile all",
        "reconcile every configured workload now",
        footer=False,
    ),
    ActionSpec(
        "build", "b", "build", "Build", "build the selected workload's artifact (no push)", footer=False
    ),
    ActionSpec("push", "p", "push", "Push", "build and push the selected workload, then reconcile it"),
    ActionSpec(
        "watch", "w", "toggle_devloop", "Watch", "watch mode for the selected workload: every save is applied"
    ),
    ActionSpec("suspend", "s", "toggle_suspend", "Suspend", "suspend or resume the selected workload"),
    ActionSpec(
        "suspend-object",
        "T",
        "toggle_suspend_object",
        "Suspend object",
        "suspend or resume the selected Flux object of any kind (no question asked)",
        footer=False,
    ),
    ActionSpec("describe", "d", "describe", "Describe", "YAML and conditions of the selected object"),
    ActionSpec(
        "yaml", "y", "yaml", "YAML", "the selected object's YAML, as the API server holds it", footer=False
    ),
    ActionSpec("events", "e", "events", "Events", "Kubernetes events of the selected object"),
    ActionSpec(
        "logs",
        "l",
        "logs",
        "Logs",
        "the Flux controllers' log lines about the selected object, streamed (f: follow)",
        footer=False,
    ),
    ActionSpec("filter", "slash", "filter", "Filter", "filter the Flux table"),
    ActionSpec(
        "refresh",
        "ctrl+r",
        "refresh",
        "Refresh",
        "refresh the registry, the artifacts and the list of clusters now",
        footer=False,
    ),
    ActionSpec(
        "prune",
        "P",
        "prune",
        "Prune versions",
        "delete old artifact versions of the selected workload (asks first)",
        footer=False,
    ),
    ActionSpec(
        "delete",
        "ctrl+d",
        "delete",
        "Delete object",
        "delete the selected Flux object from the cluster (asks first)",
        footer=False,
    ),
    # Capitals for the heavy actions (like R and P); ctrl+d already deletes a Flux object.
    ActionSpec(
        "create-cluster",
        "C",
        "create_cluster",
        "Create cluster",
        "create (or reuse) the cluster of ksail.yaml with its registry, Flux and sources",
        footer=False,
    ),
    ActionSpec(
        "delete-cluster",
        "X",
        "delete_cluster",
        "Delete cluster",
        "delete the cluster and its registry container (asks first; purge: the data too)",
        footer=False,
    ),
    ActionSpec("help", "question_mark", "help", "Help", "keys, colours and settings"),
    ActionSpec("palette", "ctrl+p", "app.command_palette", "Commands", "search every action"),
    ActionSpec(
        "command-line",
        "colon",
        "command_line",
        "Jump to",
        "`:` and a kind alias (ks, ocirepo, gitrepo, hr…) shows only that kind; `:ctx` switches context",
        footer=False,
    ),
    ActionSpec("cursor-down", "j", "cursor(1)", "Down", "move down", footer=False, in_palette=False),
    ActionSpec("cursor-up", "k", "cursor(-1)", "Up", "move up", footer=False, in_palette=False),
    ActionSpec("quit", "q", "app.quit", "Quit", "leave the dashboard", in_palette=False),
    ActionSpec(
        "focus-cluster",
        "1",
        "focus_pane('cluster')",
        "Go to Cluster",
        "nodes, Flux controllers and the clusters in Docker",
        False,
    ),
    ActionSpec(
        "focus-registry", "2", "focus_pane('registry')", "Go to Registry", "the local registry", False
    ),
    ActionSpec(
        "focus-artifacts",
        "3",
        "focus_pane('artifacts')",
        "Go to Artifacts",
        "versions of the selected workload",
        False,
    ),
    ActionSpec(
        "focus-flux", "4", "focus_pane('flux')", "Go to Flux", "every OCIRepository and Kustomization", False
    ),
    ActionSpec(
        "focus-details", "5", "focus_pane('details')", "Go to Details", "the selected Flux object", False
    ),
    ActionSpec(
        "focus-activity", "6", "focus_pane('activity')", "Go to Activity", "actions and Flux events", False
    ),
    *ENVIRONMENT_ACTIONS,
)


def bindings(screen: str = "dashboard") -> list[BindingType]:
    """The bindings of the dashboard screen, or of a pane in it (whose actions are the screen's)."""
    prefix = "" if screen == "dashboard" else "screen."
    return [
        Binding(
            spec.keys,
            prefix + spec.action,
            spec.title,
            show=spec.footer,
            id=spec.id,
        )
        for spec in ACTIONS
        if spec.screen == screen
    ]


def action_ids() -> set[str]:
    return {spec.id for spec in ACTIONS}


def action_spec(action_id: str) -> ActionSpec:
    return next(spec for spec in ACTIONS if spec.id == action_id)
