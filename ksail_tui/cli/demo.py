"""``ksail-tui demo``: the dashboard on an embedded, simulated cluster and a real local registry."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from ksail_tui.cli.common import add_command, progress, wait_for_ctrl_c


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "demo",
        run_demo,
        "open the dashboard on an embedded demo: a simulated cluster and Flux, and a real registry",
    )
    parser.add_argument("--workdir", type=Path, help="keep the demo's files (ksail.yaml, manifests) in DIR")
    parser.add_argument(
        "--headless",
        action="store_true",
        help="start the demo without the dashboard until Ctrl-C; use its ksail.yaml with other commands",
    )
    parser.add_argument(
        "--registry-backend", choices=("docker", "process"), help="default: docker if it has the image"
    )


def run_demo(args: argparse.Namespace) -> int:
    from ksail_tui.demo import start_demo

    env = start_demo(
        args.workdir,
        on_progress=lambda message: progress(args, message),
        registry_backend=args.registry_backend,
    )
    if args.workdir is None and args.headless:
        progress(args, _deleted_on_quit(env.workdir))
    try:
        if args.headless:
            return _wait_for_interrupt(args, env.config.path)
        from ksail_tui.flux.logs import IN_PROCESS
        from ksail_tui.ui.app import make_app
        from ksail_tui.ui.services import ClusterServices
        from ksail_tui.ui.settings import load_settings

        app = make_app(
            env.config,
            services=ClusterServices(
                env.config,
                registry_backend=env.registry_backend,
                registry_data_dir=env.registry_data_dir,
                log_sink=IN_PROCESS,  # the simulated controllers run in this process
            ),
            config_path=env.config.path,
            simulated=True,
            settings=load_settings(),
            # Said in the dashboard at start, and asked again on q.
            quit_notice=_deleted_on_quit(env.workdir) if args.workdir is None else "",
        )

        def hang_up(*_: object) -> None:
            # The terminal is gone: Textual's shutdown would block writing to it, so clean up
            # (stop the registry, remove the demo's files) and leave at once.
            env.stop()
            os._exit(128 + signal.SIGHUP)

        # TERM ends the app like q does, so the finally below still cleans up.
        previous = {
            signal.SIGHUP: signal.signal(signal.SIGHUP, hang_up),
            signal.SIGTERM: signal.signal(signal.SIGTERM, lambda *_: app.exit()),
        }
        try:
            app.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return app.return_code or 0
    finally:
        env.stop()
        if args.workdir is None and not args.headless:  # in the terminal's scrollback too
            progress(args, _deleted_on_quit(env.workdir))


def _deleted_on_quit(workdir: Path) -> str:
    return (
        f"the demo's files (ksail.yaml, k8s/) are in {workdir} and are deleted on quit; "
        "to keep your edits, run `ksail-tui demo --workdir DIR`"
    )


def _wait_for_interrupt(args: argparse.Namespace, config_path: Path | None) -> int:
    progress(args, f"demo running; try: ksail-tui -c {config_path} workload status   (Ctrl-C stops it)")
    print(config_path, flush=True)
    # TERM and a closed terminal (HUP) tear down as cleanly as Ctrl-C.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGHUP, signal.SIGTERM)}
    try:
        wait_for_ctrl_c()
    except KeyboardInterrupt:
        print("demo stopped", file=sys.stderr)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt
