"""What the operator is told about the cluster it runs in."""

from __future__ import annotations

from dataclasses import dataclass

# Kaniko's upstream repository was archived in 2025; the community fork carries it on.
DEFAULT_BUILDER_IMAGE = "ghcr.io/osscontainertools/kaniko:v1.26.3"
DEFAULT_GIT_IMAGE = "alpine/git:v2.47.2"


@dataclass(frozen=True)
class Settings:
    # Where the ingress controller runs: the only other namespace allowed to reach a Pod.
    ingress_namespace: str = "ingress-nginx"
    # The registry's port as Pods reach it (the container's port on the cluster network).
    registry_port: int = 5000
    dns_namespace: str = "kube-system"
    # How often every Environment is reconciled even when nothing was seen to change.
    resync_seconds: float = 60.0
    # The registry as Pods and Flux name it: in image references and OCIRepository URLs.
    registry_endpoint: str = "local-registry:5000"
    # The same registry as the operator reaches it (from a laptop: localhost:<port>); None: as Pods do.
    registry_access: str | None = None
    registry_insecure: bool = True  # plain HTTP, as the local registry speaks
    builder_image: str = DEFAULT_BUILDER_IMAGE  # a Project's template may name another
    git_image: str = DEFAULT_GIT_IMAGE
    build_deadline_seconds: int = 1800  # activeDeadlineSeconds of a build Job
    build_ttl_seconds: int = 3600  # ttlSecondsAfterFinished: long enough to read a failure
    ingress_class: str = "nginx"
    # Hosts are <env>.<preview_domain> when set, else <namespace>.localhost (local routing).
    preview_domain: str | None = None
    # Where the operator sends its readiness probes (the ingress controller, with the Host header);
    # None: to the URL's own host.
    ingress_address: str | None = None
    flux_interval: str = "10m"  # Flux's own resync; the operator asks for new revisions itself
    deploy_timeout: str = "5m"  # the Kustomization's timeout (its health checks)

    @property
    def registry_reachable_at(self) -> str:
        return self.registry_access or self.registry_endpoint
