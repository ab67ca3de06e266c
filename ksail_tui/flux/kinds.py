"""Every Flux kind the dashboard and the CLI know: its API resource, its controller, its aliases.

OCIRepository and Kustomization are the OCI loop's own; the rest are watched when the cluster
serves them (API discovery), so a cluster without helm-controller simply has no HelmReleases.
"""

from __future__ import annotations

from dataclasses import dataclass

from ksail_tui.kube.client import KUSTOMIZATIONS, OCI_REPOSITORIES, Resource

SOURCE_GROUP = "source.toolkit.fluxcd.io"
IMAGE_GROUP = "image.toolkit.fluxcd.io"


@dataclass(frozen=True)
class FluxKind:
    resource: Resource
    controller: str  # the Deployment in the Flux namespace that reconciles it
    aliases: tuple[str, ...]  # what `:alias` accepts, k9s style

    @property
    def kind(self) -> str:
        return self.resource.kind


FLUX_KINDS: tuple[FluxKind, ...] = (
    FluxKind(OCI_REPOSITORIES, "source-controller", ("ocirepo", "ocirepository", "ocirepositories", "oci")),
    FluxKind(
        Resource(SOURCE_GROUP, "v1", "gitrepositories", "GitRepository"),
        "source-controller",
        ("gitrepo", "gitrepository", "gitrepositories", "git"),
    ),
    FluxKind(
        Resource(SOURCE_GROUP, "v1", "helmrepositories", "HelmRepository"),
        "source-controller",
        ("helmrepo", "helmrepository", "helmrepositories"),
    ),
    FluxKind(
        Resource(SOURCE_GROUP, "v1", "helmcharts", "HelmChart"),
        "source-controller",
        ("hc", "helmchart", "helmcharts"),
    ),
    FluxKind(Resource(SOURCE_GROUP, "v1", "buckets", "Bucket"), "source-controller", ("bucket", "buckets")),
    FluxKind(KUSTOMIZATIONS, "kustomize-controller", ("ks", "kustomization", "kustomizations")),
    FluxKind(
        Resource("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease"),
        "helm-controller",
        ("hr", "helmrelease", "helmreleases"),
    ),
    FluxKind(
        Resource(IMAGE_GROUP, "v1", "imagerepositories", "ImageRepository"),
        "image-reflector-controller",
        ("imagerepo", "imagerepository", "imagerepositories"),
    ),
    FluxKind(
        Resource(IMAGE_GROUP, "v1", "imagepolicies", "ImagePolicy"),
        "image-reflector-controller",
        ("imagepolicy", "imagepolicies"),
    ),
    FluxKind(
        Resource(IMAGE_GROUP, "v1", "imageupdateautomations", "ImageUpdateAutomation"),
        "image-automation-controller",
        ("iua", "imageupdateautomation", "imageupdateautomations"),
    ),
)

BY_KIND = {flux_kind.kind: flux_kind for flux_kind in FLUX_KINDS}
# Watched whether or not discovery answers: the OCI loop needs them, their absence is news.
CORE_KINDS = frozenset({OCI_REPOSITORIES.kind, KUSTOMIZATIONS.kind})


def kind_of_alias(alias: str) -> FluxKind | None:
    """The kind ``alias`` names (case-insensitive, the kind itself too), or None."""
    wanted = alias.strip().lower()
    return next(
        (k for k in FLUX_KINDS if wanted == k.kind.lower() or wanted in k.aliases),
        None,
    )
