"""``ksail-tui operator``: the Environment operator (Project and Environment custom resources)."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from ksail_tui.cli.common import add_command, add_group, config_path, load_config, progress
from ksail_tui.errors import InvalidInput, Unavailable
from ksail_tui.operator.settings import Settings

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = add_group(subparsers, "operator", "the Environment operator: a namespace per Environment")
    run = add_command(
        commands,
        "run",
        run_operator,
        "run the operator in the foreground against the configured cluster until Ctrl-C",
    )
    where = run.add_mutually_exclusive_group()
    where.add_argument("--kubeconfig", metavar="PATH", help="default: spec.cluster.connection of ksail.yaml")
    where.add_argument("--in-cluster", action="store_true", help="use the Pod's service account")
    run.add_argument("--context", help="kubeconfig context (default: ksail.yaml's, else the current one)")
    run.add_argument(
        "--ingress-namespace", default="ingress-nginx", help="namespace of the ingress controller"
    )
    run.add_argument("--registry-port", type=int, default=5000, help="the registry's port as Pods reach it")
    run.add_argument(
        "--registry-endpoint",
        default=Settings.registry_endpoint,
        metavar="HOST:PORT",
        help="the registry as Pods and Flux name it, in image and artifact URLs "
        f"(default: {Settings.registry_endpoint})",
    )
    run.add_argument(
        "--registry-access",
        metavar="HOST:PORT",
        help="the same registry as the operator reaches it, e.g. localhost:5050 "
        "(default: --registry-endpoint)",
    )
    run.add_argument(
        "--builder-image",
        default=Settings.builder_image,
        help="the build Jobs' image (a Project may name another)",
    )
    run.add_argument(
        "--ingress-class", default=Settings.ingress_class, help="the Environments' Ingress class"
    )
    run.add_argument(
        "--preview-domain", help="hosts <env>.<domain>; default <namespace>.localhost (local routing)"
    )
    run.add_argument(
        "--ingress-address",
        metavar="HOST:PORT",
        help="where readiness probes go, with the Environment's host as Host (default: the URL itself)",
    )
    run.add_argument(
        "--resync", type=float, default=60.0, metavar="SECONDS", help="reconcile everything this often"
    )
    run.add_argument(
        "--watch-timeout",
        type=int,
        default=60,
        metavar="SECONDS",
        help="end and renew each watch this often",
    )
    run.add_argument(
        "--liveness", metavar="URL", help="serve kopf's liveness probe here, e.g. http://0.0.0.0:8080/healthz"
    )
    manifests = add_command(
        commands, "manifests", print_manifests, "print the CRDs, RBAC and a Deployment for in-cluster use"
    )
    manifests.add_argument(
        "--namespace", default=None, help="where the operator runs (default: catalyst-system)"
    )
    manifests.add_argument(
        "--image", default=None, help="the ksail-tui image to run (default: ksail-tui:latest)"
    )
    manifests.add_argument(
        "--crds-only", action="store_true", help="print only the CustomResourceDefinitions"
    )


def _connection(args: argparse.Namespace) -> tuple[Path, str | None]:
    if args.in_cluster:
        return _in_cluster_kubeconfig(), None
    if args.kubeconfig:
        return Path(args.kubeconfig).expanduser(), args.context
    if not config_path(args).is_file():
        return Path(os.environ.get("KUBECONFIG") or "~/.kube/config").expanduser(), args.context
    connection = load_config(args).spec.cluster.connection
    return Path(connection.kubeconfig).expanduser(), args.context or connection.context


def _in_cluster_kubeconfig() -> Path:
    """A kubeconfig for the Pod's service account; tokenFile keeps a rotated token current."""
    import yaml

    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port or not (SERVICE_ACCOUNT / "token").is_file():
        raise Unavailable(
            "--in-cluster: no service account here", hint="run it in a Pod, or pass --kubeconfig instead"
        )
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "in-cluster",
                "cluster": {"server": server, "certificate-authority": str(SERVICE_ACCOUNT / "ca.crt")},
            }
        ],
        "users": [{"name": "in-cluster", "user": {"tokenFile": str(SERVICE_ACCOUNT / "token")}}],
        "contexts": [{"name": "in-cluster", "context": {"cluster": "in-cluster", "user": "in-cluster"}}],
        "current-context": "in-cluster",
    }
    path = Path(tempfile.mkdtemp(prefix="ksail-operator-")) / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def run_operator(args: argparse.Namespace) -> int:
    if args.resync <= 0 or args.watch_timeout <= 0:
        raise InvalidInput("--resync and --watch-timeout must be greater than zero")
    if not 0 < args.registry_port < 65536:
        raise InvalidInput(f"--registry-port {args.registry_port} is not a port number")
    from ksail_tui.kube.client import KubeClient
    from ksail_tui.operator import kopf_app
    from ksail_tui.operator.service import check_crds

    kubeconfig, context = _connection(args)
    client = KubeClient(kubeconfig, context)
    check_crds(client)
    progress(
        args, f"operator: watching Environments on {client.host} (context {client.context}); Ctrl-C stops"
    )
    kopf_app.run(
        client,
        Settings(
            ingress_namespace=args.ingress_namespace,
            registry_port=args.registry_port,
            resync_seconds=args.resync,
            registry_endpoint=args.registry_endpoint,
            registry_access=args.registry_access,
            builder_image=args.builder_image,
            ingress_class=args.ingress_class,
            preview_domain=args.preview_domain,
            ingress_address=args.ingress_address,
        ),
        kopf_app.WatchTimeouts(server=args.watch_timeout),
        args.liveness,
    )
    return 0


def print_manifests(args: argparse.Namespace) -> int:
    from ksail_tui.operator import manifests
    from ksail_tui.operator.crds import catalyst_crds

    if args.crds_only:
        documents = catalyst_crds()
    else:
        documents = manifests.all_manifests(
            args.namespace or manifests.DEFAULT_NAMESPACE, args.image or manifests.DEFAULT_IMAGE
        )
    print(manifests.to_yaml(documents), end="")
    return 0
