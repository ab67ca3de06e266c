"""One way to reach the Docker engine, with an error that says what needed it."""

from __future__ import annotations

import math

import docker
from docker.errors import DockerException

from ksail_tui.errors import Unavailable


def connect_to_docker(timeout: float, *, needed_for: str, hint: str) -> docker.DockerClient:
    """A client whose engine answered a ping; Unavailable (exit 4) naming ``needed_for`` otherwise."""
    client = None
    try:
        client = docker.from_env(timeout=math.ceil(timeout))  # docker-py takes whole seconds
        client.ping()
    except DockerException as error:
        if client is not None:
            client.close()
        raise Unavailable(f"Docker is not answering, so {needed_for}: {error}", hint=hint) from None
    return client
