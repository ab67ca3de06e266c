"""``ksail-tui project init``: the Project of this repository, from ksail.yaml."""

from __future__ import annotations

import argparse
from pathlib import Path

from ksail_tui.cli.common import add_command, add_group, emit, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = add_group(subparsers, "project", "the Project of this repository, for its Environments")
    init = add_command(
        commands,
        "init",
        init_project,
        "write (create or update) a Project for this repository from ksail.yaml",
    )
    init.add_argument("--dry-run", action="store_true", help="print the Project instead of writing it")


def init_project(args: argparse.Namespace) -> int:
    from ksail_tui.kube.client import KubeClient
    from ksail_tui.operator import environments

    config = load_config(args)
    revision = environments.git_revision(config.base_dir)
    if args.dry_run:
        manifest = environments.project_manifest(config, revision)
        emit(args, manifest, lambda: _yaml(manifest))
        return 0
    connection = config.spec.cluster.connection
    client = KubeClient(Path(connection.kubeconfig).expanduser(), connection.context)
    written = environments.init_project(client, config, revision)
    meta = written["metadata"]
    emit(args, written, f"wrote Project {meta['namespace']}/{meta['name']} (source {revision.remote})")
    return 0


def _yaml(document: dict) -> str:
    import yaml

    return yaml.safe_dump(document, sort_keys=False)
