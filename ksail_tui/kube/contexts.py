"""The contexts of a kubeconfig, and a configuration pointed at another one (``:ctx``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubernetes import config as kube_config

from ksail_tui.config import ClusterConfig
from ksail_tui.errors import InvalidInput, Unavailable


@dataclass(frozen=True)
class KubeContext:
    name: str
    cluster: str
    current: bool  # the kubeconfig's current-context


def kube_contexts(kubeconfig: str | Path) -> list[KubeContext]:
    """Every context of the file, in its order; Unavailable when there is no such file."""
    path = Path(kubeconfig).expanduser()
    if not path.is_file():
        raise Unavailable(f"kubeconfig {path} does not exist", hint="create a cluster first")
    try:
        contexts, current = kube_config.list_kube_config_contexts(config_file=str(path))
    except kube_config.ConfigException as error:
        raise InvalidInput(f"kubeconfig {path}: {error}") from None
    except Exception as error:  # malformed YAML and the like: the loader raises many types
        raise InvalidInput(f"kubeconfig {path} cannot be read: {error}") from None
    current_name = (current or {}).get("name")
    return [
        KubeContext(
            name=str(c.get("name", "")),
            cluster=str((c.get("context") or {}).get("cluster", "")),
            current=c.get("name") == current_name,
        )
        for c in contexts or ()
    ]


def with_context(config: ClusterConfig, context: str) -> ClusterConfig:
    """``config`` watching another context of the same kubeconfig."""
    cluster = config.spec.cluster
    connection = cluster.connection.model_copy(update={"context": context})
    spec = config.spec.model_copy(update={"cluster": cluster.model_copy(update={"connection": connection})})
    return config.model_copy(update={"spec": spec})
