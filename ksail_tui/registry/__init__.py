"""The local OCI registry: a Docker container or a plain process, bound to loopback only."""

from typing import Literal

# Here rather than in service.py so the CLI can offer the choices without importing the service.
BackendName = Literal["auto", "docker", "process"]
BACKEND_NAMES: tuple[BackendName, ...] = ("auto", "docker", "process")
