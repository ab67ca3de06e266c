"""``ksail-tui sim``: simulators for tests and demos."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import Any

from ksail_tui.cli.common import add_command, add_group, emit, progress, wait_for_ctrl_c
from ksail_tui.errors import InvalidInput


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = add_group(subparsers, "sim", "simulators for tests and demos")
    parser = add_command(
        commands,
        "apiserver",
        run_apiserver,
        "run an emulated Kubernetes API server in the foreground until Ctrl-C",
    )
    parser.add_argument("--kubeconfig", required=True, metavar="PATH", help="write a kubeconfig for it here")
    parser.add_argument("--port", type=_port, default=0, help="port to listen on (default: any free port)")
    parser.add_argument(
        "--crds",
        nargs="+",
        action="extend",
        default=[],
        metavar="PATH",
        help="CustomResourceDefinition manifests, or directories of them, to register at start",
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    return port


def _manifest_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json")))
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInput(
                f"{path}: no such file or directory", hint="--crds takes CRD files or directories of them"
            )
    return files


def read_crds(paths: list[str]) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions in ``paths``; anything else in them is an input error."""
    import yaml

    from ksail_sim.apiserver.server import load_manifests

    crds = []
    for path in _manifest_files(paths):
        try:
            objects = load_manifests(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
            raise InvalidInput(f"{path}: cannot read the manifest: {error}") from None
        for obj in objects:
            if obj.get("kind") != "CustomResourceDefinition":
                kind = obj.get("kind") or "an object without kind"
                raise InvalidInput(
                    f"{path}: {kind} is not a CustomResourceDefinition",
                    hint="--crds only registers CRDs; create other objects with kubectl once it runs",
                )
            crds.append(obj)
    return crds


def run_apiserver(args: argparse.Namespace) -> int:
    from ksail_sim.apiserver.server import ApiServer

    crds = read_crds(args.crds)  # bad input fails before anything listens
    server = ApiServer(port=args.port)
    server.start()
    # SIGTERM stops it as cleanly as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        names = [server.apply(crd)["metadata"]["name"] for crd in crds]
        kubeconfig = server.write_kubeconfig(args.kubeconfig)
        emit(
            args,
            {"url": server.url, "kubeconfig": str(kubeconfig), "crds": names},
            f"{server.url}\nkubeconfig: {kubeconfig}" + "".join(f"\nregistered CRD {name}" for name in names),
        )
        progress(args, "emulated Kubernetes API server running; Ctrl-C stops it")
        # Not Event().wait(): the server's threads may take the SIGINT, and a main thread
        # asleep on a lock would never run the handler (the server then ran until killed).
        wait_for_ctrl_c()
    except KeyboardInterrupt:
        pass  # Ctrl-C is the normal way to stop it
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt
