"""Build an Environment's images on this machine with the local Docker engine and push them to
the local registry, under the names the operator looks for (:func:`.deploy.wanted_images`), so
its image check finds them and no build Job runs. Faster on a laptop than a Job in the cluster.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from docker.errors import APIError, BuildError, DockerException

from ksail_tui.docker_engine import connect_to_docker
from ksail_tui.errors import InvalidInput, OperationFailed
from ksail_tui.kube.client import KubeClient
from ksail_tui.oci.registry_client import RegistryClient
from ksail_tui.operator import naming
from ksail_tui.operator.deploy import Image, SpecError, wanted_images
from ksail_tui.operator.service import ENVIRONMENTS, PROJECTS
from ksail_tui.operator.settings import Settings

DOCKER_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class BuiltImage:
    reference: str  # as Pods and the operator name it (the in-cluster registry)
    digest: str


def _images_of(client: KubeClient, namespace: str, name: str) -> list[Image]:
    environment = client.get_or_none(ENVIRONMENTS, name, namespace)
    if environment is None:
        raise InvalidInput(
            f"no Environment {name} in namespace {namespace}", hint="kubectl get environments -A"
        )
    project_name = ((environment.get("spec") or {}).get("projectRef") or {}).get("name", "")
    project = client.get_or_none(PROJECTS, project_name, namespace)
    if project is None:
        raise InvalidInput(f"Environment {name} names Project {project_name!r}, which is not in {namespace}")
    label = (environment["metadata"].get("labels") or {}).get(naming.ENVIRONMENT_LABEL, "")
    try:
        images = wanted_images(environment, project, label)
    except SpecError as error:
        raise InvalidInput(f"Environment {name}: {error}") from None
    if not images:
        raise InvalidInput(f"the template of Project {project_name} for Environment {name} builds no image")
    return images


def _check_checkout(source: Path, image: Image) -> None:
    """The working tree must be the commit the image is named after (its tag says so)."""
    commit = image.checkout.commit
    if not commit:
        return
    head = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0 and not head.stdout.strip().startswith(commit):
        raise InvalidInput(
            f"{source} is at {head.stdout.strip()[:12]}, the Environment asks for {commit[:12]}",
            hint=f"git -C {source} checkout {commit}",
        )


def build_and_push(
    client: KubeClient,
    namespace: str,
    name: str,
    source: Path,
    *,
    registry_access: str,
    registry_endpoint: str,
    report: Callable[[str], None] = lambda _: None,
) -> list[BuiltImage]:
    """Build each of the Environment's images from ``source`` (the app's checkout) and push it
    to the registry at ``registry_access`` (``localhost:<port>``)."""
    images = _images_of(client, namespace, name)
    for image in images:
        _check_checkout(source, image)
        if not (source / image.path / image.dockerfile).is_file():
            raise InvalidInput(f"no {image.dockerfile} in {source / image.path} for build {image.build}")
    docker = connect_to_docker(
        DOCKER_TIMEOUT_SECONDS,
        needed_for="images cannot be built here",
        hint="start Docker, or let the operator build",
    )
    built = []
    try:
        with RegistryClient(registry_access) as registry:
            for image in images:
                local = f"{registry_access}/{image.repository}"
                report(f"building {image.build} from {source / image.path} as {local}:{image.tag}")
                try:
                    docker.images.build(
                        path=str(source / image.path),
                        dockerfile=image.dockerfile,
                        tag=f"{local}:{image.tag}",
                        rm=True,
                    )
                    for line in docker.images.push(local, tag=image.tag, stream=True, decode=True):
                        if "error" in line:
                            raise OperationFailed(f"pushing {local}:{image.tag} failed: {line['error']}")
                except BuildError as error:
                    raise OperationFailed(f"building {image.build} failed: {error.msg}") from None
                except (APIError, DockerException) as error:
                    raise OperationFailed(f"building or pushing {image.build} failed: {error}") from None
                digest = registry.manifest_digest(image.repository, image.tag)
                if digest is None:
                    raise OperationFailed(f"{local}:{image.tag} was pushed but the registry does not have it")
                built.append(
                    BuiltImage(image.reference(Settings(registry_endpoint=registry_endpoint)), digest)
                )
    finally:
        docker.close()
    return built
