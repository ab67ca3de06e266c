"""Shared test setup.

Fixture modules live in tests/fixtures/ and are loaded as plugins, so each area owns its fixtures.
Tests that need an outside program carry a ``needs_*`` marker: they skip with a reason on a developer
machine that lacks it, and fail under CI (CI=true), where .ci/run has installed it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def docker_available() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


# Where scripts/build-kube.sh caches the Kubernetes binaries of the needs_kube tier.
KUBE_VERSION = "v1.20.2"
KUBE_BIN_DIR = (
    Path(os.environ.get("KSAIL_TUI_CACHE") or Path.home() / ".cache" / "ksail-tui") / "kube" / KUBE_VERSION
)


def etcd_binary() -> str | None:
    return shutil.which("etcd") or next(
        (str(p) for p in (Path("/usr/bin/etcd"), Path("/usr/sbin/etcd")) if p.exists()), None
    )


def kube_binaries_available() -> bool:
    binaries = (KUBE_BIN_DIR / name for name in ("kube-apiserver", "kube-controller-manager"))
    return (
        etcd_binary() is not None
        and shutil.which("openssl") is not None
        and all(os.access(path, os.X_OK) for path in binaries)
    )


def registry_binary() -> str | None:
    return shutil.which("registry") or shutil.which("docker-registry")


REQUIREMENTS = {
    "needs_registry": (
        lambda: registry_binary() is not None,
        "the registry binary (apt-get install docker-registry)",
    ),
    "needs_docker": (docker_available, "a running Docker engine"),
    "needs_tmux": (lambda: shutil.which("tmux") is not None, "tmux (apt-get install tmux)"),
    "needs_skopeo": (lambda: shutil.which("skopeo") is not None, "skopeo (apt-get install skopeo)"),
    "needs_kube": (
        kube_binaries_available,
        f"kube-apiserver and kube-controller-manager {KUBE_VERSION} in {KUBE_BIN_DIR} "
        "(bash scripts/build-kube.sh), etcd and openssl",
    ),
}
_checked: dict[str, bool] = {}


def pytest_configure(config: pytest.Config) -> None:
    """The tests' builds keep their records of checked manifests in a cache folder of the run's own,
    not the user's (set in the environment, so that CLIs run as processes use it too)."""
    del config
    cache = tempfile.mkdtemp(prefix="ksail-tui-test-cache-")
    os.environ["XDG_CACHE_HOME"] = cache
    atexit.register(shutil.rmtree, cache, ignore_errors=True)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, (check, what) in REQUIREMENTS.items():
        if item.get_closest_marker(marker) is None:
            continue
        if marker not in _checked:
            _checked[marker] = check()
        if not _checked[marker]:
            if IN_CI:
                pytest.fail(f"CI requires {what}, but it is missing")
            pytest.skip(f"needs {what}")
    if item.get_closest_marker("e2e") and not os.environ.get("KSAIL_TUI_E2E"):
        pytest.skip("end-to-end test against a real cluster: set KSAIL_TUI_E2E=1 to run it")
