"""Simulated controllers for the Flux kinds beyond the OCI loop (not Flux: they write what Flux would).

They make nothing up. A source reaches only what is on this machine: a GitRepository whose
``spec.url`` is a ``file://`` path of a git repository (read with ``git ls-remote``), a
HelmRepository whose index is a local file or served on the loopback, a Bucket that is a local
folder. Anything else fails the way source-controller reports an unreachable source (Ready=False,
FetchFailed=True, e.g. ``GitOperationFailed``), never with a revision it did not see. The CRDs'
URL patterns refuse ``file://`` on a real API server; the emulator does not validate them, so the
demo and the tests can point sources at folders they create.

This module holds the shared reconcile and the GitRepository rule. Everything they write carries
the simulated marks of :mod:`ksail_sim.flux`.
"""

from __future__ import annotations

import copy
import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ksail_sim.apiserver.store import now_rfc3339
from ksail_sim.flux.runtime import (
    READY,
    RECONCILING,
    STALLED,
    Conditions,
    Controller,
    Failure,
    Key,
    interval_of,
    with_handled_request,
    write_status,
)
from ksail_sim.flux.source import STORAGE_HOST
from ksail_tui.flux.kinds import BY_KIND
from ksail_tui.flux.semver_range import SemverRangeError, highest_matching
from ksail_tui.kube.client import KubeClient, Resource

SUCCEEDED = "Succeeded"
ARTIFACT_IN_STORAGE = "ArtifactInStorage"
FETCH_FAILED = "FetchFailed"
BUILD_FAILED = "BuildFailed"
URL_INVALID = "URLInvalid"
GIT_FAILED = "GitOperationFailed"
GIT_REPOSITORIES = BY_KIND["GitRepository"].resource
# Flux's default when spec.ref is not set.
DEFAULT_BRANCH = "master"
GIT_TIMEOUT = 10.0


class StatusController(Controller):
    """Reconciles one kind by a rule (:meth:`settle`): Ready, or a Failure with its reason.

    Sources (``stores_artifact``) also carry ArtifactInStorage; a failure sets its negative
    condition (FetchFailed unless it names another) besides Ready=False, as Flux's do.
    """

    ready_reason = SUCCEEDED  # empty: the event's reason (helm-controller's InstallSucceeded...)
    stores_artifact = True

    def __init__(self, kube: KubeClient, resource: Resource, *, retry_interval: float) -> None:
        self.resource = resource
        super().__init__(kube, retry_interval=retry_interval)

    def settle(self, obj: dict[str, Any], status: dict[str, Any]) -> tuple[str, str]:
        """Fill ``status`` with what the controller stores; the message and the event reason."""
        raise NotImplementedError

    def reconcile(self, key: Key) -> float | None:
        obj = self.fetch(key)
        if obj is None or obj["metadata"].get("deletionTimestamp") or self.skip_suspended(obj):
            return None
        status = copy.deepcopy(obj.get("status") or {})
        generation = int(obj["metadata"].get("generation") or 0)
        conditions = Conditions(status.get("conditions"), generation)
        before = copy.deepcopy(status)
        try:
            message, event_reason = self.settle(obj, status)
        except Failure as failure:
            failed = failure.condition or (FETCH_FAILED if self.stores_artifact else "")
            conditions.delete(FETCH_FAILED, BUILD_FAILED)
            if failed:
                conditions.set(failed, "True", failure.reason, failure.message)
            conditions.set(READY, "False", failure.reason, failure.message)
            conditions.mark_retrying(failure.message)
            status["conditions"] = conditions.as_list()
            write_status(self.kube, self.resource, obj, with_handled_request(obj, status))
            if failure.event:
                self.events.record(obj, "Warning", failure.reason, failure.message)
            return min(interval_of(obj.get("spec") or {}), self.retry_interval)
        conditions.set(READY, "True", self.ready_reason or event_reason, message)
        if self.stores_artifact:
            conditions.set(ARTIFACT_IN_STORAGE, "True", SUCCEEDED, message)
        conditions.delete(RECONCILING, STALLED, FETCH_FAILED, BUILD_FAILED)
        status["conditions"] = conditions.as_list()
        status["observedGeneration"] = generation
        changed = {k: v for k, v in status.items() if k != "conditions"} != {
            k: v for k, v in before.items() if k != "conditions"
        }
        write_status(self.kube, self.resource, obj, with_handled_request(obj, status))
        if changed:
            self.events.record(obj, "Normal", event_reason, message)
        return interval_of(obj.get("spec") or {})


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def local_path(url: str) -> Path | None:
    """The folder a ``file://`` URL names; None for any other scheme."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    return Path(unquote(parts.path))


def artifact(
    kind: str, obj: dict[str, Any], revision: str, digest: str, previous: dict[str, Any]
) -> dict[str, Any]:
    """``status.artifact`` (the CRDs require its url: where source-controller would serve it;
    nothing serves it here); lastUpdateTime moves only with the revision."""
    metadata = obj["metadata"]
    kept = previous if previous.get("revision") == revision else {}
    path = f"{kind}/{metadata.get('namespace')}/{metadata['name']}/{digest.split(':')[-1]}.tar.gz"
    return {
        "revision": revision,
        "digest": digest,
        "lastUpdateTime": kept.get("lastUpdateTime") or now_rfc3339(),
        "path": path,
        "url": f"http://{STORAGE_HOST}/{path}",
    }


def _git(*args: str) -> bytes:
    environment = os.environ | {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, timeout=GIT_TIMEOUT, env=environment, check=False
        )
    except FileNotFoundError:
        raise Failure(
            GIT_FAILED, "git is not installed on this machine (the simulated source-controller runs it)"
        ) from None
    except subprocess.TimeoutExpired:
        raise Failure(GIT_FAILED, f"git {args[0]} did not finish within {GIT_TIMEOUT:g}s") from None
    if done.returncode != 0:
        raise Failure(GIT_FAILED, done.stderr.decode("utf-8", "replace").strip() or f"git {args[0]} failed")
    return done.stdout


def remote_refs(path: Path) -> dict[str, str]:
    """``git ls-remote``: ref name -> commit, annotated tags peeled to their commit."""
    refs: dict[str, str] = {}
    for entry in _git("ls-remote", str(path)).decode().splitlines():
        commit, _, name = entry.partition("\t")
        if name.endswith("^{}"):
            refs[name[:-3]] = commit  # the peeled commit wins over the tag object
        else:
            refs.setdefault(name, commit)
    return refs


def resolve_git_ref(url: str, path: Path, ref: dict[str, Any]) -> tuple[str, str]:
    """``spec.ref`` in the repository at ``path``: the commit and Flux's revision
    (``<branch|tag>@sha1:<commit>``). Raises Failure as a failed checkout."""
    prefix = f"failed to checkout and determine revision: unable to clone '{url}'"
    if not path.exists():
        raise Failure(GIT_FAILED, f"{prefix}: repository not found")
    try:
        refs = remote_refs(path)
    except Failure as failure:
        raise Failure(GIT_FAILED, f"{prefix}: {failure.message}") from None
    if ref.get("name"):
        name = str(ref["name"])
        if name not in refs:
            raise Failure(GIT_FAILED, f'{prefix}: couldn\'t find remote ref "{name}"')
        return refs[name], f"{name}@sha1:{refs[name]}"
    if ref.get("semver"):
        tags = [name.removeprefix("refs/tags/") for name in refs if name.startswith("refs/tags/")]
        try:
            tag = highest_matching(tags, str(ref["semver"]))
        except SemverRangeError as error:
            raise Failure(GIT_FAILED, f"{prefix}: semver parse error: {error}") from None
        if tag is None:
            raise Failure(GIT_FAILED, f"{prefix}: no match found for semver: {ref['semver']}")
        commit = refs[f"refs/tags/{tag}"]
        return commit, f"{tag}@sha1:{commit}"
    if ref.get("tag"):
        tag = str(ref["tag"])
        tagged = refs.get(f"refs/tags/{tag}")
        if tagged is None:
            raise Failure(GIT_FAILED, f'{prefix}: couldn\'t find remote ref "refs/tags/{tag}"')
        return tagged, f"{tag}@sha1:{tagged}"
    if ref.get("commit"):
        commit = str(ref["commit"])
        try:
            full = (
                _git("-C", str(path), "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
                .decode()
                .strip()
            )
        except Failure:
            raise Failure(GIT_FAILED, f"{prefix}: git commit '{commit}' not found") from None
        # A commit without a branch has no name in front of it (go-git's CheckoutCommit).
        return full, f"{ref['branch']}@sha1:{full}" if ref.get("branch") else f"sha1:{full}"
    branch = str(ref.get("branch") or DEFAULT_BRANCH)
    head = refs.get(f"refs/heads/{branch}")
    if head is None:
        raise Failure(GIT_FAILED, f'{prefix}: couldn\'t find remote ref "refs/heads/{branch}"')
    return head, f"{branch}@sha1:{head}"


class GitRepositoryController(StatusController):
    """source-controller for GitRepositories (simulated): the revision of a local repository."""

    component = "source-controller"

    def __init__(self, kube: KubeClient, *, retry_interval: float) -> None:
        super().__init__(kube, GIT_REPOSITORIES, retry_interval=retry_interval)

    def settle(self, obj: dict[str, Any], status: dict[str, Any]) -> tuple[str, str]:
        spec = obj.get("spec") or {}
        url = str(spec.get("url", ""))
        path = local_path(url)
        if path is None:
            if not url.startswith(("https://", "http://", "ssh://")):
                raise Failure(URL_INVALID, f"invalid URL '{url}': the scheme must be http, https or ssh")
            raise Failure(GIT_FAILED, f"cannot reach {url} from the simulated source-controller")
        commit, revision = resolve_git_ref(url, path, spec.get("ref") or {})
        # The digest of the tree it would store (git's own tar of the commit, not Flux's tarball).
        content = _git("-C", str(path), "archive", "--format=tar", commit)
        status["artifact"] = artifact(
            "gitrepository", obj, revision, digest_of(content), status.get("artifact") or {}
        )
        return f"stored artifact for revision '{revision}'", "NewArtifact"
