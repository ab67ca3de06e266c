"""What an Environment runs: its images, its build Jobs, its Flux objects, its Deployment and
Ingress, built from the Environment, its Project's template and the settings (golden-tested).

Pure, like :mod:`.objects`; :mod:`.reconcile` decides when each is wanted. ``ksail-tui env
build`` names the images with :func:`wanted_images` too, so the host build satisfies the check.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ksail_tui.flux.sources import kustomization_object, oci_repository_object
from ksail_tui.operator import naming
from ksail_tui.operator.objects import Identity, Obj
from ksail_tui.operator.settings import Settings

APP_NAME = "app"  # the OCIRepository and the Kustomization in the Environment's namespace
WEB_NAME = "web"  # the Deployment, Service and Ingress
WEB_PORT = 80  # the port of Service web, which the Ingress routes to
DEPLOYMENT_TYPE = "deployment"  # a template without manifests: Deployment web runs config.image
NEWEST = ">=0.0.0"  # the semver range "the newest version" means
BUILD_LABEL = "catalyst.dev/build"
_TAG_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_.-]+")
_FLUX_VARIABLE = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")


class SpecError(ValueError):
    """The Environment or its Project's template cannot be deployed as written."""


@dataclass(frozen=True)
class SourceCheckout:
    repository_url: str
    commit: str | None
    branch: str | None
    secret: str | None  # a Secret with username and password, by name, in the Environment's namespace

    @property
    def tag(self) -> str:
        """The image tag: the commit's first 12 hex digits, else the branch."""
        if self.commit:
            return self.commit[:12]
        return _TAG_NOT_ALLOWED.sub("-", self.branch or "").strip(".-")[:128]


@dataclass(frozen=True)
class Image:
    build: str  # the builds[] entry's name: how manifests refer to the image
    repository: str  # in the registry: <project>/<build>-<env>
    tag: str
    checkout: SourceCheckout
    path: str  # the build context inside the source
    dockerfile: str

    def reference(self, settings: Settings) -> str:
        return f"{settings.registry_endpoint}/{self.repository}:{self.tag}"


def template_of(environment: Obj, project: Obj) -> Obj | None:
    """The Project's template for the Environment's type (development unless it says)."""
    kind = (environment.get("spec") or {}).get("type") or "development"
    template = ((project.get("spec") or {}).get("templates") or {}).get(kind)
    return template if isinstance(template, dict) else None


def config_of(environment: Obj, template: Obj) -> Obj:
    """The template's config with the Environment's over it."""
    return {**(template.get("config") or {}), **((environment.get("spec") or {}).get("config") or {})}


def _checkout(environment: Obj, project: Obj, source_name: str) -> SourceCheckout:
    sources = {s.get("name"): s for s in (project.get("spec") or {}).get("sources") or []}
    source = sources.get(source_name)
    if source is None:
        raise SpecError(f"the Project has no source {source_name!r}")
    wanted = {s.get("name"): s for s in (environment.get("spec") or {}).get("sources") or []}
    chosen = wanted.get(source_name) or {}
    checkout = SourceCheckout(
        repository_url=str(source.get("repositoryUrl", "")),
        commit=chosen.get("commitSha") or None,
        branch=chosen.get("branch") or source.get("branch") or None,
        secret=(source.get("secretRef") or {}).get("name"),
    )
    if not checkout.tag:
        raise SpecError(f"source {source_name!r} has neither a commitSha nor a branch to build")
    return checkout


def wanted_images(environment: Obj, project: Obj, environment_label: str) -> list[Image]:
    """One image per ``builds[]`` entry of the template; SpecError when one cannot be named."""
    template = template_of(environment, project)
    if template is None:
        return []
    project_name = naming.sanitize(project["metadata"]["name"])
    images = []
    for build in template.get("builds") or []:
        name = str(build.get("name", ""))
        source_name = build.get("sourceRef") or template.get("sourceRef")
        if not source_name:
            raise SpecError(f"build {name!r} names no sourceRef, and neither does the template")
        checkout = _checkout(environment, project, str(source_name))
        images.append(
            Image(
                build=name,
                repository=f"{project_name}/{naming.sanitize(name)}-{naming.sanitize(environment_label)}",
                tag=checkout.tag,
                checkout=checkout,
                path=str(build.get("path") or "."),
                dockerfile=str(build.get("dockerfile") or "Dockerfile"),
            )
        )
    return images


def pin_key(environment: Obj) -> str:
    """What the OCIRepository's pin is valid for: the commits asked for and the artifact ref;
    a new commit (or another spec.artifact) unpins it, so the newest artifact is taken again."""
    spec = environment.get("spec") or {}
    commits = ",".join(
        f"{s.get('name')}={s.get('commitSha') or s.get('branch') or ''}" for s in spec.get("sources") or []
    )
    artifact = spec.get("artifact") or {}
    text = f"{commits};{artifact.get('tag') or artifact.get('digest') or 'newest'}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def asked_artifact(environment: Obj) -> tuple[str, str | None]:
    """What the Environment asks of the artifact repository: ("digest", d), ("tag", t) or
    ("newest", None), the highest semver tag."""
    artifact = (environment.get("spec") or {}).get("artifact") or {}
    if artifact.get("digest"):
        return "digest", str(artifact["digest"])
    if artifact.get("tag"):
        return "tag", str(artifact["tag"])
    return "newest", None


def artifact_repository(template: Obj) -> str:
    repository = str((template.get("artifact") or {}).get("repository") or "").strip("/")
    if not repository:
        raise SpecError("the Project's template has no artifact.repository to deploy from")
    return repository


# -- objects ---------------------------------------------------------------------------------


def build_job(identity: Identity, image: Image, settings: Settings, template: Obj) -> Obj:
    """A Job that clones the source at its commit and builds and pushes the image; it runs
    once (backoffLimit 0), within a deadline, and goes away a while after it finished."""
    name = naming.bounded(naming.sanitize(f"build-{image.build}-{image.tag}"))
    workspace = {"name": "workspace", "mountPath": "/workspace"}
    checkout = image.checkout
    clone_env: list[Obj] = [
        {"name": "REPOSITORY", "value": checkout.repository_url},
        {"name": "REVISION", "value": checkout.commit or checkout.branch or ""},
    ]
    if checkout.secret:
        clone_env += [
            {"name": variable, "valueFrom": {"secretKeyRef": {"name": checkout.secret, "key": key}}}
            for variable, key in (("GIT_USERNAME", "username"), ("GIT_PASSWORD", "password"))
        ]
    clone_script = (
        # Credentials from the environment through a helper: never in the URL or the Job.
        'git -c credential.helper=\'!f() { echo "username=$GIT_USERNAME"; '
        'echo "password=$GIT_PASSWORD"; }; f\' '
        'clone --quiet "$REPOSITORY" /workspace && git -C /workspace checkout --quiet "$REVISION"'
    )
    builder_args = [
        f"--context=dir:///workspace/{image.path.strip('/') or '.'}",
        f"--dockerfile={image.dockerfile}",
        f"--destination={image.reference(settings)}",
    ]
    if settings.registry_insecure:
        builder_args.append("--insecure")
    resources = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "2Gi"}}
    metadata = identity.metadata(name, identity.target_namespace)
    metadata["labels"][BUILD_LABEL] = naming.sanitize(image.build)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": settings.build_deadline_seconds,
            "ttlSecondsAfterFinished": settings.build_ttl_seconds,
            "template": {
                "metadata": {"labels": {BUILD_LABEL: naming.sanitize(image.build)}},
                "spec": {
                    "restartPolicy": "Never",
                    "initContainers": [
                        {
                            "name": "clone",
                            "image": settings.git_image,
                            "command": ["sh", "-c", clone_script],
                            "env": clone_env,
                            "volumeMounts": [workspace],
                            "resources": resources,
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                        }
                    ],
                    "containers": [
                        {
                            "name": "build",
                            "image": (template.get("builder") or {}).get("image") or settings.builder_image,
                            "args": builder_args,
                            "volumeMounts": [workspace],
                            "resources": resources,
                            # The last lines of the log become the termination message on failure.
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                        }
                    ],
                    "volumes": [{"name": "workspace", "emptyDir": {}}],
                },
            },
        },
    }


def oci_repository(identity: Identity, template: Obj, settings: Settings, digest: str, pin: str) -> Obj:
    """The artifact pinned to its digest: Flux never moves it on its own; the operator does,
    for a new commit or another spec.artifact (``pin`` says which it was pinned for). The
    annotation keeps both, so a digest edited by hand in the spec is put back."""
    metadata = identity.metadata(APP_NAME, identity.target_namespace)
    metadata["annotations"][naming.PIN_ANNOTATION] = f"{pin}/{digest}"
    return oci_repository_object(
        metadata,
        url=f"oci://{settings.registry_endpoint}/{artifact_repository(template)}",
        ref={"digest": digest},
        interval=settings.flux_interval,
        insecure=settings.registry_insecure,
    )


def substitutions(config: Obj) -> dict[str, str]:
    """The Environment's variables (``config.env``, as a list of name/value or a mapping) that
    Flux can substitute; SpecError names one that it cannot."""
    env = config.get("env") or {}
    pairs = (
        [(str(e.get("name", "")), e.get("value", "")) for e in env]
        if isinstance(env, list)
        else list(env.items())
    )
    bad = [name for name, _ in pairs if not _FLUX_VARIABLE.match(name)]
    if bad:
        raise SpecError(f"config.env: {', '.join(bad)} cannot be substituted (letters, digits and _ only)")
    return {name: str(value) for name, value in pairs}


def kustomization(
    identity: Identity, template: Obj, settings: Settings, images: Mapping[Image, str], config: Obj
) -> Obj:
    """Deploys the pinned artifact into the Environment's namespace, with the built images'
    digests put in for the builds' names and the Environment's variables substituted."""
    extra: dict[str, Any] = {}
    if images:
        extra["images"] = [
            {
                "name": image.build,
                "newName": f"{settings.registry_endpoint}/{image.repository}",
                "digest": digest,
            }
            for image, digest in images.items()
        ]
    variables = substitutions(config)
    if variables:
        extra["postBuild"] = {"substitute": variables}
    return kustomization_object(
        identity.metadata(APP_NAME, identity.target_namespace),
        source={"name": APP_NAME},
        interval=settings.flux_interval,
        prune=True,
        wait=True,
        timeout=settings.deploy_timeout,
        path=str((template.get("artifact") or {}).get("path") or "./"),
        target_namespace=identity.target_namespace,
        **extra,
    )


def readiness_path(config: Obj) -> str | None:
    """``config.probes.readiness.path``: what must answer 2xx/3xx before the Environment is Ready."""
    path = ((config.get("probes") or {}).get("readiness") or {}).get("path")
    return str(path) if path else None


def _container_port(config: Obj) -> int:
    ports = config.get("ports") or []
    first = ports[0] if ports else 8080
    return int(first.get("containerPort", 8080) if isinstance(first, dict) else first)


def web_deployment(identity: Identity, config: Obj, image: str) -> Obj:
    """Deployment ``web`` for a template without manifests, as Catalyst's production mode runs."""
    port = _container_port(config)
    # protocol spelled out: server-side apply keys ports by (port, protocol) and kube-apiserver
    # before 1.21 refuses an entry without it.
    ports = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    container: Obj = {"name": WEB_NAME, "image": image, "ports": ports}
    env = config.get("env") or []
    if env:
        container["env"] = (
            [{"name": str(k), "value": str(v)} for k, v in env.items()]
            if isinstance(env, dict)
            else list(env)
        )
    if config.get("resources"):
        container["resources"] = config["resources"]
    path = readiness_path(config)
    if path:
        container["readinessProbe"] = {"httpGet": {"path": path, "port": "http"}}
    selector = {"app.kubernetes.io/name": WEB_NAME}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": identity.metadata(WEB_NAME, identity.target_namespace),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": selector}, "spec": {"containers": [container]}},
        },
    }


def web_service(identity: Identity, config: Obj) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": identity.metadata(WEB_NAME, identity.target_namespace),
        "spec": {
            "selector": {"app.kubernetes.io/name": WEB_NAME},
            "ports": [
                {"name": "http", "port": WEB_PORT, "targetPort": _container_port(config), "protocol": "TCP"}
            ],
        },
    }


def host(identity: Identity, settings: Settings) -> str:
    if settings.preview_domain:
        return f"{naming.sanitize(identity.environment)}.{settings.preview_domain}"
    return f"{identity.target_namespace}.localhost"


def ingress(identity: Identity, settings: Settings) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": identity.metadata(WEB_NAME, identity.target_namespace),
        "spec": {
            "ingressClassName": settings.ingress_class,
            "rules": [
                {
                    "host": host(identity, settings),
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": WEB_NAME, "port": {"number": WEB_PORT}}},
                            }
                        ]
                    },
                }
            ],
        },
    }
