"""A simulated kubelet and build container for Jobs (not Kubernetes, not kaniko).

It stands in for what a cluster without nodes cannot do: run a Job's Pod. For each new Job it
"runs" the containers from the Job's spec and writes what a kubelet would (the Pod's status,
with a failed container's last log lines as its termination message) and, where no
job-controller runs (the emulator), what the job-controller would (the Pod itself, then the
Job's final ``Complete`` or ``Failed`` condition). Everything it writes is marked
``ksail.io/simulated: "true"``.

What "running" means, read from the spec:

- an init container with ``REPOSITORY`` and ``REVISION`` in its env clones: for a repository on
  this machine (a path or ``file://``), the revision must exist, as ``git checkout`` needs;
- a container with ``--destination=IMAGE`` builds (kaniko's flags): for a local repository the
  ``--dockerfile`` must exist at the revision under ``--context``; then a tiny image is pushed
  to IMAGE in the real registry (``registry_hosts`` maps the in-cluster registry name to the
  address reachable from here), so the registry answers for it as after a real build.
"""

from __future__ import annotations

import gzip
import json
import queue
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ksail_sim.apiserver.store import now_rfc3339
from ksail_sim.flux.runtime import SIMULATED_LABEL, log
from ksail_tui.errors import KsailError
from ksail_tui.kube.client import ApiError, KubeClient, Resource
from ksail_tui.kube.watch import SYNC, Watcher, WatchEvent
from ksail_tui.oci.artifact_format import sha256_digest
from ksail_tui.oci.registry_client import RegistryClient

JOBS = Resource("batch", "v1", "jobs", "Job")
PODS = Resource("", "v1", "pods", "Pod")
JOB_NAME_LABEL = "job-name"
POD_WAIT_SECONDS = 10.0  # for the job-controller of a real control plane to create the Pod
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
MAX_MESSAGE_LINES = 80  # FallbackToLogsOnError keeps at most 80 lines (and 2048 bytes)


@dataclass(frozen=True)
class ContainerRun:
    name: str
    exit_code: int
    log: str = ""


class _Failed(Exception):
    def __init__(self, log: str, exit_code: int = 1) -> None:
        super().__init__(log)
        self.log = log
        self.exit_code = exit_code


def _flag(args: list[str], name: str) -> str | None:
    prefix = f"--{name}="
    return next((arg[len(prefix) :] for arg in args if arg.startswith(prefix)), None)


def _env(container: Mapping[str, Any]) -> dict[str, str]:
    return {str(e.get("name")): str(e["value"]) for e in container.get("env") or [] if "value" in e}


def _local_repository(url: str) -> Path | None:
    """The repository's folder when the URL names one on this machine, else None."""
    return Path(url.removeprefix("file://")) if url.startswith(("file://", "/")) else None


def _git(repository: Path, *args: str) -> bool:
    return (
        subprocess.run(["git", "-C", str(repository), *args], capture_output=True, check=False).returncode
        == 0
    )


def _tiny_image() -> tuple[bytes, bytes]:
    """(config, layer): an image with one empty layer."""
    layer = gzip.compress(b"\0" * 1024, mtime=0)  # an empty tar archive
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(gzip.decompress(layer))]},
            "config": {"Labels": {SIMULATED_LABEL: "true"}},
        },
        sort_keys=True,
    ).encode()
    return config, layer


class SimulatedJobRunner:
    """Runs each new Job once, in a worker thread; ``act_as_job_controller`` is False on a
    control plane whose job-controller creates the Pods and judges the Job itself."""

    def __init__(
        self,
        kube: KubeClient,
        registry_hosts: Mapping[str, str] | None = None,
        *,
        act_as_job_controller: bool = True,
        namespace: str | None = None,
    ) -> None:
        self.kube = kube
        self.registry_hosts = dict(registry_hosts or {})
        self.act_as_job_controller = act_as_job_controller
        self._queue: queue.SimpleQueue[Mapping[str, Any] | None] = queue.SimpleQueue()
        self._seen: set[str] = set()
        self._registries: dict[str, RegistryClient] = {}
        self._stopping = threading.Event()
        self._watcher = Watcher(kube, JOBS, self._on_event, namespace=namespace)
        self._worker = threading.Thread(target=self._work, name="sim-job-runner", daemon=True)

    def start(self) -> SimulatedJobRunner:
        self._worker.start()
        self._watcher.start(name="sim-job-runner-watch")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._watcher.stop()
        self._queue.put(None)
        self._watcher.join(timeout)
        self._worker.join(timeout)
        for registry in self._registries.values():
            registry.close()

    def __enter__(self) -> SimulatedJobRunner:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _on_event(self, event: WatchEvent) -> None:
        jobs = event.objects if event.type == SYNC else ((event.object,) if event.object else ())
        if event.type == "DELETED":
            return
        for job in jobs:
            uid = str(job["metadata"].get("uid", ""))
            finished = any(
                c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                for c in (job.get("status") or {}).get("conditions") or []
            )
            if uid not in self._seen and not finished:
                self._seen.add(uid)
                self._queue.put(job)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                self._run(job)
            except Exception:  # one broken Job must not stop the others
                log.exception("simulated job runner: Job %s failed to run", job["metadata"].get("name"))

    # --- running --------------------------------------------------------------------------------

    def _run(self, job: Mapping[str, Any]) -> None:
        started = now_rfc3339()
        pod_spec = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
        init_runs: list[ContainerRun] = []
        runs: list[ContainerRun] = []
        context: dict[str, Any] = {}
        for container in pod_spec.get("initContainers") or []:
            init_runs.append(self._run_container(container, context))
            if init_runs[-1].exit_code:
                break
        else:
            runs = [self._run_container(container, context) for container in pod_spec.get("containers") or []]
        failed = next((run for run in [*init_runs, *runs] if run.exit_code), None)
        self._report_pod(job, pod_spec, init_runs, runs, failed is None)
        if self.act_as_job_controller:
            self._report_job(job, started, failed is None)

    def _run_container(self, container: Mapping[str, Any], context: dict[str, Any]) -> ContainerRun:
        name = str(container.get("name", ""))
        env = _env(container)
        try:
            if "REPOSITORY" in env and "REVISION" in env:
                self._clone(env["REPOSITORY"], env["REVISION"], context)
            destination = _flag(list(container.get("args") or []), "destination")
            if destination:
                self._build(list(container.get("args") or []), destination, context)
        except _Failed as failure:
            return ContainerRun(name, failure.exit_code, failure.log)
        return ContainerRun(name, 0)

    def _clone(self, url: str, revision: str, context: dict[str, Any]) -> None:
        repository = _local_repository(url)
        if repository is None:
            return  # not on this machine: the clone is taken to work
        if not _git(repository, "rev-parse", "--git-dir"):
            raise _Failed(f"fatal: repository '{url}' does not exist", exit_code=128)
        if not _git(repository, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"):
            raise _Failed(
                f"error: pathspec '{revision}' did not match any file(s) known to git\n"
                f"fatal: cannot check out {revision} of {url}",
                exit_code=128,
            )
        context.update(repository=repository, revision=revision)

    def _build(self, args: list[str], destination: str, context: dict[str, Any]) -> None:
        repository = context.get("repository")
        if repository is not None:
            directory = (_flag(args, "context") or "dir:///workspace").removeprefix("dir:///workspace")
            dockerfile = _flag(args, "dockerfile") or "Dockerfile"
            path = "/".join(part for part in (directory.strip("/"), dockerfile) if part and part != ".")
            if not _git(repository, "cat-file", "-e", f"{context['revision']}:{path}"):
                raise _Failed(
                    "error resolving dockerfile path: please provide a valid path to a Dockerfile "
                    f"within the build context with --dockerfile (looked for {path})"
                )
        self._push(destination)

    def _push(self, destination: str) -> None:
        host, _, rest = destination.partition("/")
        name, _, tag = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
        endpoint = self.registry_hosts.get(host, host)
        registry = self._registries.setdefault(endpoint, RegistryClient(endpoint))
        config, layer = _tiny_image()
        try:
            for blob in (config, layer):
                registry.upload_blob(name, sha256_digest(blob), blob)
            manifest = {
                "schemaVersion": 2,
                "mediaType": MANIFEST_MEDIA_TYPE,
                "config": {
                    "mediaType": CONFIG_MEDIA_TYPE,
                    "digest": sha256_digest(config),
                    "size": len(config),
                },
                "layers": [
                    {"mediaType": LAYER_MEDIA_TYPE, "digest": sha256_digest(layer), "size": len(layer)}
                ],
            }
            registry.put_manifest(name, tag, json.dumps(manifest).encode())
        except KsailError as error:
            raise _Failed(
                f"error pushing image: failed to push to destination {destination}: {error.message}"
            ) from None

    # --- reporting, as kubelet and job-controller ---------------------------------------------

    def _pod(self, job: Mapping[str, Any], pod_spec: Mapping[str, Any]) -> dict[str, Any] | None:
        meta = job["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        selector = f"{JOB_NAME_LABEL}={name}"
        deadline = time.monotonic() + POD_WAIT_SECONDS
        while True:
            pods = self.kube.list(PODS, namespace, label_selector=selector).get("items") or []
            if pods:
                return dict(pods[0])
            if self.act_as_job_controller:
                break
            if time.monotonic() > deadline or self._stopping.wait(0.05):
                return None
        labels = {
            JOB_NAME_LABEL: name,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": str(meta.get("uid", "")),
            SIMULATED_LABEL: "true",
        }
        owner = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": name,
            "uid": meta.get("uid", ""),
            "controller": True,
            "blockOwnerDeletion": True,
        }
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{name[:57]}-{sha256_digest(name.encode())[7:12]}",
                "namespace": namespace,
                "labels": labels,
                "ownerReferences": [owner],
            },
            "spec": dict(pod_spec),
        }
        return dict(self.kube.create(PODS, pod, namespace))

    def _report_pod(
        self,
        job: Mapping[str, Any],
        pod_spec: Mapping[str, Any],
        init_runs: list[ContainerRun],
        runs: list[ContainerRun],
        succeeded: bool,
    ) -> None:
        pod = self._pod(job, pod_spec)
        if pod is None:
            log.warning("simulated job runner: no Pod appeared for Job %s", job["metadata"]["name"])
            return
        now = now_rfc3339()
        policies = {
            str(c.get("name")): c.get("terminationMessagePolicy")
            for c in [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]
        }

        def status_of(run: ContainerRun) -> dict[str, Any]:
            terminated: dict[str, Any] = {
                "exitCode": run.exit_code,
                "reason": "Error" if run.exit_code else "Completed",
                "startedAt": now,
                "finishedAt": now,
            }
            if run.exit_code and run.log and policies.get(run.name) == "FallbackToLogsOnError":
                terminated["message"] = "\n".join(run.log.splitlines()[-MAX_MESSAGE_LINES:])[-2048:]
            return {"name": run.name, "ready": False, "restartCount": 0, "state": {"terminated": terminated}}

        status = {
            "phase": "Succeeded" if succeeded else "Failed",
            "initContainerStatuses": [status_of(run) for run in init_runs],
            "containerStatuses": [status_of(run) for run in runs],
            "startTime": now,
        }
        try:
            self.kube.merge_patch(
                PODS,
                pod["metadata"]["name"],
                {"status": status},
                pod["metadata"]["namespace"],
                subresource="status",
            )
        except ApiError as error:
            log.warning(
                "simulated job runner: cannot write the status of Pod %s: %s", pod["metadata"]["name"], error
            )

    def _report_job(self, job: Mapping[str, Any], started: str, succeeded: bool) -> None:
        now = now_rfc3339()
        if succeeded:
            condition = {
                "type": "Complete",
                "status": "True",
                "lastProbeTime": now,
                "lastTransitionTime": now,
            }
            status = {"startTime": started, "completionTime": now, "succeeded": 1, "conditions": [condition]}
        else:
            condition = {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
                "lastProbeTime": now,
                "lastTransitionTime": now,
            }
            status = {"startTime": started, "failed": 1, "conditions": [condition]}
        meta = job["metadata"]
        self.kube.merge_patch(JOBS, meta["name"], {"status": status}, meta["namespace"], subresource="status")
