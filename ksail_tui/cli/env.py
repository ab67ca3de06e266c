"""``ksail-tui env``: Environments of the operator, from this machine."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ksail_tui.cli.common import add_command, add_group, config_path, emit, load_config, progress
from ksail_tui.cli.env_lifecycle import add_lifecycle_commands

DEFAULT_REGISTRY_ENDPOINT = "local-registry:5000"


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = add_group(subparsers, "env", "Environments: previews of a Project, one namespace each")
    add_lifecycle_commands(commands)
    build = add_command(
        commands,
        "build",
        build_images,
        "build an Environment's images with the local Docker engine and push them to the local "
        "registry, so the operator deploys them without a build Job",
    )
    build.add_argument("name", metavar="NAME", help="the Environment")
    build.add_argument(
        "--namespace", default="default", help="the Environment's namespace (default: default)"
    )
    build.add_argument(
        "--source",
        default=".",
        metavar="DIR",
        help="the app's checkout, at the Environment's commit (default: .)",
    )
    build.add_argument("--kubeconfig", metavar="PATH", help="default: spec.cluster.connection of ksail.yaml")
    build.add_argument("--context", help="kubeconfig context (default: ksail.yaml's, else the current one)")
    build.add_argument(
        "--registry", metavar="HOST:PORT", help="where to push (default: ksail.yaml's localhost:<port>)"
    )
    build.add_argument(
        "--registry-endpoint",
        metavar="HOST:PORT",
        help="the registry as Pods name it, as the operator's --registry-endpoint "
        f"(default: ksail.yaml's clusterEndpoint, else {DEFAULT_REGISTRY_ENDPOINT})",
    )


def _settings(args: argparse.Namespace) -> tuple[Path, str | None, str, str]:
    """kubeconfig, context, the registry's address from here and its in-cluster name."""
    if config_path(args).is_file():
        config = load_config(args)
        connection = config.spec.cluster.connection
        return (
            Path(args.kubeconfig or connection.kubeconfig).expanduser(),
            args.context or (None if args.kubeconfig else connection.context),
            args.registry or config.registry_endpoint,
            args.registry_endpoint or config.registry_cluster_endpoint,
        )
    kubeconfig = args.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    return (
        Path(kubeconfig).expanduser(),
        args.context,
        args.registry or "localhost:5050",
        args.registry_endpoint or DEFAULT_REGISTRY_ENDPOINT,
    )


def build_images(args: argparse.Namespace) -> int:
    from ksail_tui.errors import InvalidInput
    from ksail_tui.kube.client import KubeClient
    from ksail_tui.operator.host_build import build_and_push

    source = Path(args.source).expanduser()
    if not source.is_dir():
        raise InvalidInput(f"--source {source}: no such directory", hint="pass the app's checkout")
    kubeconfig, context, registry, endpoint = _settings(args)
    built = build_and_push(
        KubeClient(kubeconfig, context),
        args.namespace,
        args.name,
        source,
        registry_access=registry,
        registry_endpoint=endpoint,
        report=lambda message: progress(args, message),
    )
    emit(
        args,
        [{"image": image.reference, "digest": image.digest} for image in built],
        "\n".join(f"pushed {image.reference}@{image.digest}" for image in built),
    )
    return 0
