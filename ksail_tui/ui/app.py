"""The dashboard app: wiring, lifecycle, the configuration and the jobs that call services.

What the screen shows and every action live in :class:`~ksail_tui.ui.screens.dashboard.DashboardScreen`
and its action modules; ARCHITECTURE.md draws the data paths. Threads: LiveCluster's watchers report
on their own threads into a LiveInbox, which posts one message per burst; every service call runs as a
job (:mod:`ksail_tui.ui.jobs`) whose outcome comes back as a message. The UI thread only renders.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import get_current_worker

from ksail_tui.config import ClusterConfig, load_config
from ksail_tui.errors import KsailError
from ksail_tui.ui.actions import ActionSpec
from ksail_tui.ui.commands import ActionCommands
from ksail_tui.ui.dashboard_state import DashboardModel
from ksail_tui.ui.jobs import Jobs
from ksail_tui.ui.paths import stylesheet
from ksail_tui.ui.screens.confirm import ConfirmScreen
from ksail_tui.ui.screens.dashboard import DashboardScreen
from ksail_tui.ui.services import ClusterServices, DashboardServices
from ksail_tui.ui.settings import DashboardSettings

Clock = Callable[[], datetime]


class KsailApp(App[None]):
    TITLE = "ksail-tui"
    CSS_PATH = [stylesheet("app.tcss"), stylesheet("views.tcss"), stylesheet("environments.tcss")]
    COMMANDS = {ActionCommands}  # only ours: Textual's Keys, Theme, Screenshot, Maximize, Quit do not apply

    def __init__(
        self,
        services: DashboardServices,
        *,
        config_path: Path | None = None,
        simulated: bool = False,
        settings: DashboardSettings | None = None,
        clock: Clock | None = None,
        animations_enabled: bool = True,
        quit_notice: str = "",
    ) -> None:
        """``quit_notice``: what quitting loses (the demo's deleted folder); said on start, and
        quitting asks first."""
        super().__init__()
        self.quit_notice = quit_notice
        self.services = services
        self.settings = settings or DashboardSettings()
        self.config_path = config_path if config_path is not None else services.config.path
        self._clock = clock or (lambda: datetime.now(UTC))
        if not animations_enabled:
            self.animation_level = "none"
        self.jobs = Jobs()
        self.dashboard = DashboardScreen(
            DashboardModel(services.config, simulated=simulated), animations_enabled=animations_enabled
        )

    def get_default_screen(self) -> Screen[None]:
        return self.dashboard

    def now(self) -> datetime:
        return self._clock()

    def keys_of(self, spec: ActionSpec) -> str:
        """The keys of an action as the user sees them, after the keymap."""
        keys = self.settings.keymap.get(spec.id, spec.keys)
        return ", ".join(self.get_key_display(Binding(key.strip(), "")) for key in keys.split(","))

    def on_ready(self) -> None:
        """The screen is composed: start it, and follow the configuration files."""
        if self.settings.keymap:
            self.update_keymap(self.settings.keymap)
        self.dashboard.start()
        if self.quit_notice:
            self.dashboard.report(self.quit_notice, "warning", title="before you edit")
        if self.config_path is not None and self.config_path.is_file():
            kubeconfig = Path(self.dashboard.model.config.spec.cluster.connection.kubeconfig).expanduser()
            self.follow_config_files([self.config_path, kubeconfig])

    async def action_quit(self) -> None:
        if not self.quit_notice:
            self.exit()
            return
        question = ConfirmScreen("Quit?", self.quit_notice, confirm="Quit")
        self.push_screen(question, lambda yes: self.exit() if yes else None)

    def on_unmount(self) -> None:
        self.jobs.closing.set()
        self.dashboard.stop()

    def switch_config(self, config: ClusterConfig) -> None:
        """Show another configuration (e.g. a new kube context): forget the old cluster, watch anew."""
        self.services = self.services.with_config(config)
        self.dashboard.restart_live(config, "the configuration changed")

    @work(thread=True, group="config-files", exit_on_error=False)
    def follow_config_files(self, paths: list[Path]) -> None:
        """Reload when ksail.yaml or the kubeconfig changes (inotify, no polling)."""
        from watchfiles import watch

        worker = get_current_worker()
        folders = sorted({str(path.parent) for path in paths if path.parent.is_dir()})
        names = {path.resolve() for path in paths}
        # inotify underneath; watchfiles wakes every `step` ms to check the stop event, so keep it slow.
        for changes in watch(
            *folders, stop_event=self.jobs.closing, recursive=False, debounce=1500, step=500
        ):
            if worker.is_cancelled:
                return
            if any(Path(changed).resolve() in names for _, changed in changes):
                self._reload_config()

    def _reload_config(self) -> None:
        """Read ksail.yaml again, here on the file watch's thread, and show it (or what is wrong)."""
        if self.config_path is None:
            return
        try:
            config = load_config(self.config_path)
        except KsailError as error:
            self.call_from_thread(self.dashboard.report_error, error, "reloading the configuration")
            return
        self.call_from_thread(self._config_reloaded, config)

    def _config_reloaded(self, config: ClusterConfig) -> None:
        if self.dashboard.showing:
            self.switch_config(config)


def make_app(
    config: ClusterConfig,
    *,
    services: DashboardServices | None = None,
    config_path: Path | None = None,
    simulated: bool = False,
    settings: DashboardSettings | None = None,
    clock: Clock | None = None,
    animations_enabled: bool = True,
    quit_notice: str = "",
) -> KsailApp:
    """The dashboard of ``config``; the CLI and the tests both build it here.

    ``services`` defaults to the real cluster, registry and OCI services; tests pass scripted ones.
    ``clock`` and ``animations_enabled=False`` make the screen deterministic (fixed ages, no
    spinner, no blink).
    """
    return KsailApp(
        services or ClusterServices(config),
        config_path=config_path,
        simulated=simulated,
        settings=settings,
        clock=clock,
        animations_enabled=animations_enabled,
        quit_notice=quit_notice,
    )
