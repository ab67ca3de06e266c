"""``ksail-tui dashboard`` (also ``ksail-tui`` alone): the live dashboard of the configured cluster."""

from __future__ import annotations

import argparse

from ksail_tui.cli.common import add_command, config_path, load_config
from ksail_tui.registry import BACKEND_NAMES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "dashboard", run_dashboard, "open the live dashboard (the default without a command)"
    )
    parser.add_argument(
        "--registry-backend",
        choices=BACKEND_NAMES,
        default="auto",
        help="how the registry runs (default: auto, as `registry status` decides)",
    )
    parser.add_argument(
        "--settings-path",
        action="store_true",
        help="print where the dashboard's settings file (keymap, refresh pace) is read from, and exit",
    )


def run_dashboard(args: argparse.Namespace) -> int:
    from ksail_tui.ui.settings import load_settings, settings_path

    if args.settings_path:
        print(settings_path())
        return 0
    # Bad input fails here, before the terminal switches to the full-screen UI.
    config = load_config(args)
    settings = load_settings()

    from ksail_tui.ui.app import make_app
    from ksail_tui.ui.services import ClusterServices

    app = make_app(
        config,
        services=ClusterServices(config, registry_backend=args.registry_backend),
        config_path=config_path(args),
        settings=settings,
    )
    app.run()
    return app.return_code or 0
