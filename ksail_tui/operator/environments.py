"""Environments as a user sees them, from this machine: create one for a branch and commit, list
them, say how far each is, wait for one by watching it, ask for a new pass, delete it; and write
the Project of this repository from ksail.yaml.

The CLI (``ksail-tui env``, ``ksail-tui project``) and the dashboard's Environments pane are thin
callers of this module. It reads what the operator writes (``status.phase``, ``steps[]``,
``progress``, ``url``, conditions) generically, so steps added to the operator show up here
without changes.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ksail_tui.config import ClusterConfig, Workload, parse_duration
from ksail_tui.deadline import Deadline
from ksail_tui.errors import InvalidInput, OperationFailed
from ksail_tui.humanize import parse_time
from ksail_tui.kube.client import NAMESPACES, ApiError, KubeClient, Resource
from ksail_tui.kube.wait import Verdict, wait_for
from ksail_tui.operator import naming
from ksail_tui.operator.service import ENVIRONMENTS, PROJECTS, check_crds

# Setting it (to the time asked) changes the Environment, so the operator runs a pass at once.
RECONCILE_ANNOTATION = "catalyst.dev/reconcile-requested-at"
FLUX_RECONCILE_ANNOTATION = "reconcile.fluxcd.io/requestedAt"
# The Flux objects an Environment may own in its namespace (issue 14), reconciled on request.
FLUX_KINDS = (
    ("source.toolkit.fluxcd.io/v1", "OCIRepository"),
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
)
DEFAULT_SOURCE = "app"
READY, FAILED, DELETING = "Ready", "Failed", "Deleting"

StepReporter = Callable[["StepView"], None]


@dataclass(frozen=True)
class StepView:
    name: str
    state: str
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def from_status(cls, step: Mapping[str, Any]) -> StepView:
        return cls(
            name=str(step.get("name", "")),
            state=str(step.get("state", "Pending")),
            message=str(step.get("message") or ""),
            started_at=parse_time(step.get("startedAt")),
            finished_at=parse_time(step.get("finishedAt")),
        )

    def duration(self, now: datetime) -> float | None:
        if self.started_at is None:
            return None
        return ((self.finished_at or now) - self.started_at).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "message": self.message,
            "startedAt": self.started_at.isoformat() if self.started_at else None,
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
        }


@dataclass(frozen=True)
class EnvironmentView:
    """One Environment: its identity, what it asks for and what the operator last said."""

    name: str
    namespace: str
    project: str
    branch: str
    commit: str
    phase: str
    url: str
    target_namespace: str
    done: int
    total: int
    steps: tuple[StepView, ...]
    conditions: tuple[Mapping[str, Any], ...]
    created: datetime | None
    has_status: bool

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> EnvironmentView:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        sources = spec.get("sources") or [{}]
        progress = status.get("progress") or {}
        phase = str(status.get("phase") or "Pending")
        if meta.get("deletionTimestamp"):
            phase = DELETING
        return cls(
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "")),
            project=str((spec.get("projectRef") or {}).get("name", "")),
            branch=str(sources[0].get("branch") or ""),
            commit=str(sources[0].get("commitSha") or ""),
            phase=phase,
            url=str(status.get("url") or ""),
            target_namespace=str(status.get("namespace") or ""),
            done=int(progress.get("done") or 0),
            total=int(progress.get("total") or 0),
            steps=tuple(StepView.from_status(s) for s in status.get("steps") or []),
            conditions=tuple(status.get("conditions") or ()),
            created=parse_time(meta.get("creationTimestamp")),
            has_status=bool(status),
        )

    @property
    def revision(self) -> str:
        """``branch@commit7`` (git's short form) as the table shows it."""
        commit = self.commit[:7]
        return f"{self.branch}@{commit}" if self.branch and commit else self.branch or commit

    @property
    def message(self) -> str:
        """The Ready condition's message: why it is not Ready, or what it serves."""
        ready = next((c for c in self.conditions if c.get("type") == "Ready"), None)
        return str((ready or {}).get("message") or "")

    @property
    def exit_code(self) -> int:
        """0 Ready, 1 Failed, 3 anything else (still on its way)."""
        return 0 if self.phase == READY else 1 if self.phase == FAILED else 3

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "project": self.project,
            "branch": self.branch,
            "commit": self.commit,
            "phase": self.phase,
            "url": self.url or None,
            "targetNamespace": self.target_namespace or None,
            "progress": {"done": self.done, "total": self.total},
            "message": self.message,
            "steps": [s.to_json() for s in self.steps],
            "conditions": [dict(c) for c in self.conditions],
        }


def verdict(view: EnvironmentView | None) -> Verdict:
    if view is None:
        return Verdict.failed("the Environment was deleted")
    if view.phase == READY:
        return Verdict.done(view.url or "Ready")
    if view.phase == FAILED:
        return Verdict.failed(view.message or "Failed")
    return Verdict.pending(f"{view.phase} ({view.done}/{view.total})")


@dataclass(frozen=True)
class GitRevision:
    branch: str
    commit: str
    remote: str


def _git(folder: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InvalidInput(f"cannot run git in {folder}: {error}") from None
    if done.returncode != 0:
        raise InvalidInput(
            f"{folder} is not a git checkout with a commit: {done.stderr.strip()}",
            hint="pass --branch and --commit, or run it in the repository",
        )
    return done.stdout.strip()


def git_revision(folder: Path) -> GitRevision:
    """The branch and commit checked out in ``folder``, and where it came from."""
    commit = _git(folder, "rev-parse", "HEAD")
    branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    try:
        remote = _git(folder, "remote", "get-url", "origin")
    except InvalidInput:
        remote = folder.resolve().as_uri()
    return GitRevision(branch="" if branch == "HEAD" else branch, commit=commit, remote=remote)


def preview_name(branch: str, commit: str) -> str:
    """A name for a branch's preview: the branch sanitised, else the short commit."""
    base = naming.sanitize(branch)[:40].strip("-") or commit[:12]
    return f"preview-{base}"


def _check_name(name: str) -> None:
    if not name or naming.sanitize(name) != name or len(name) > naming.MAX_NAME_LENGTH:
        raise InvalidInput(
            f"{name!r} is not a valid Environment name",
            hint="use lower-case letters, digits and '-', e.g. pr-42",
        )


class Environments:
    """The Environments and Projects of one namespace."""

    def __init__(self, client: KubeClient, namespace: str = "default") -> None:
        self.client = client
        self.namespace = namespace

    def check_installed(self) -> None:
        """Unavailable (exit 4), saying how to install them, without the CRDs."""
        check_crds(self.client)

    def views(self) -> list[EnvironmentView]:
        self.check_installed()
        items = self.client.list(ENVIRONMENTS, self.namespace).get("items") or []
        return sorted((EnvironmentView.from_object(i) for i in items), key=lambda v: v.name)

    def projects(self) -> list[str]:
        self.check_installed()
        return sorted(
            p["metadata"]["name"] for p in self.client.list(PROJECTS, self.namespace).get("items") or []
        )

    def _get(self, name: str) -> dict[str, Any]:
        self.check_installed()
        found = self.client.get_or_none(ENVIRONMENTS, name, self.namespace)
        if found is None:
            raise InvalidInput(
                f"no Environment {name!r} in namespace {self.namespace}", hint="list them: ksail-tui env list"
            )
        return found

    def get(self, name: str) -> EnvironmentView:
        return EnvironmentView.from_object(self._get(name))

    def create(
        self,
        name: str,
        project: str,
        *,
        branch: str = "",
        commit: str = "",
        ttl: str | None = None,
        artifact_tag: str | None = None,
    ) -> EnvironmentView:
        _check_name(name)
        if not branch and not commit:
            raise InvalidInput("an Environment needs a branch or a commit", hint="pass --branch or --commit")
        if ttl is not None:
            try:
                parse_duration(ttl)
            except ValueError as error:
                raise InvalidInput(f"--ttl {ttl!r}: {error}") from None
        self.check_installed()
        found = self.client.get_or_none(PROJECTS, project, self.namespace)
        if found is None:
            raise InvalidInput(
                f"no Project {project!r} in namespace {self.namespace}",
                hint="write one for this repository: ksail-tui project init",
            )
        team = ((found.get("metadata") or {}).get("labels") or {}).get(naming.TEAM_LABEL) or "local"
        sources = (found.get("spec") or {}).get("sources") or [{"name": DEFAULT_SOURCE}]
        source: dict[str, Any] = {"name": sources[0].get("name", DEFAULT_SOURCE)}
        if branch:
            source["branch"] = branch
        if commit:
            source["commitSha"] = commit
        spec: dict[str, Any] = {"projectRef": {"name": project}, "sources": [source]}
        if ttl:
            spec["ttl"] = ttl
        if artifact_tag:
            spec["artifact"] = {"tag": artifact_tag}
        manifest = {
            "apiVersion": naming.API_VERSION,
            "kind": "Environment",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {
                    naming.TEAM_LABEL: team,
                    naming.PROJECT_LABEL: project,
                    naming.ENVIRONMENT_LABEL: name,
                },
            },
            "spec": spec,
        }
        try:
            created = self.client.create(ENVIRONMENTS, manifest, self.namespace)
        except ApiError as error:
            if error.status == 409:
                raise InvalidInput(
                    f"Environment {name!r} already exists in namespace {self.namespace}",
                    hint="pick another name, or ask for a new pass: ksail-tui env reconcile " + name,
                ) from None
            raise
        return EnvironmentView.from_object(created)

    def wait(
        self,
        name: str,
        timeout: float | Deadline,
        *,
        on_step: StepReporter | None = None,
        cancel: threading.Event | None = None,
    ) -> EnvironmentView:
        """Watch until Ready (returned) or Failed (OperationFailed, at once); TimedOut (exit 3)
        at the deadline. Each step's new state goes to ``on_step`` as it is seen."""
        initial = self._get(name)
        seen: dict[str, str] = {}

        def judge(obj: dict[str, Any] | None) -> Verdict:
            view = EnvironmentView.from_object(obj) if obj is not None else None
            for step in view.steps if view else ():
                if seen.get(step.name) != step.state:
                    seen[step.name] = step.state
                    if on_step is not None:
                        on_step(step)
            return verdict(view)

        outcome, last = wait_for(
            self.client,
            ENVIRONMENTS,
            name,
            self.namespace,
            judge,
            timeout=timeout,
            what=f"Environment {name}",
            initial=initial,
            cancel=cancel,
        )
        if outcome.state == "failed":
            raise OperationFailed(f"Environment {name} failed: {outcome.message}")
        assert last is not None  # done means an object was judged Ready
        return EnvironmentView.from_object(last)

    def reconcile(self, name: str, now: datetime | None = None) -> list[str]:
        """Ask the operator for a pass now and Flux for its objects' reconciliation; returns
        what was annotated."""
        current = self.get(name)
        moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        patch = {"metadata": {"annotations": {RECONCILE_ANNOTATION: moment}}}
        self.client.merge_patch(ENVIRONMENTS, name, patch, self.namespace)
        touched = [f"Environment/{name}"]
        if not current.target_namespace:
            return touched
        for api_version, kind in FLUX_KINDS:
            try:
                resource = self.client.resolve(api_version, kind)
                items = self.client.list(resource, current.target_namespace).get("items") or []
            except InvalidInput:  # Flux is not installed: there is nothing of its kind to nudge
                continue
            except ApiError as error:
                if error.status == 404:
                    continue
                raise
            for item in items:
                flux_patch = {"metadata": {"annotations": {FLUX_RECONCILE_ANNOTATION: moment}}}
                self.client.merge_patch(
                    resource, item["metadata"]["name"], flux_patch, current.target_namespace
                )
                touched.append(f"{kind}/{current.target_namespace}/{item['metadata']['name']}")
        return touched

    def delete(
        self,
        name: str,
        *,
        wait: bool = False,
        timeout: float | Deadline = 120.0,
        on_progress: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> EnvironmentView:
        """Delete the Environment; with ``wait``, until it and its namespace are gone."""
        view = self.get(name)
        self.client.delete(ENVIRONMENTS, name, self.namespace)
        if not wait:
            return view
        deadline = timeout if isinstance(timeout, Deadline) else Deadline.after(timeout)
        report = on_progress or (lambda _: None)
        report(f"deleting Environment {name}: the operator removes what it owns")

        def gone(obj: dict[str, Any] | None) -> Verdict:
            if obj is None:
                return Verdict.done("gone")
            step = EnvironmentView.from_object(obj).message
            return Verdict.pending(step or "finalizing")

        wait_for(
            self.client,
            ENVIRONMENTS,
            name,
            self.namespace,
            gone,
            timeout=deadline,
            what=f"Environment {name} to be deleted",
            on_progress=report,
            cancel=cancel,
        )
        if view.target_namespace:
            report(f"waiting for namespace {view.target_namespace} to be gone")
            wait_for(
                self.client,
                NAMESPACES,
                view.target_namespace,
                None,
                lambda obj: Verdict.done("gone") if obj is None else Verdict.pending("terminating"),
                timeout=deadline,
                what=f"namespace {view.target_namespace} to be deleted",
                on_progress=report,
                cancel=cancel,
            )
        return view

    def namespace_objects(self, view: EnvironmentView, resources: tuple[Resource, ...]) -> list[str]:
        """``Kind/name`` of what is in the Environment's namespace, for the details view."""
        if not view.target_namespace:
            return []
        found: list[str] = []
        for resource in resources:
            try:
                items = self.client.list(resource, view.target_namespace).get("items") or []
            except (ApiError, InvalidInput):  # a kind the cluster does not serve
                continue
            found.extend(f"{resource.kind}/{i['metadata']['name']}" for i in items)
        return found


def template_workload(config: ClusterConfig) -> Workload:
    """The workload whose artifact the Environments deploy: spec.environments.workload, else the first."""
    name = config.spec.environments.workload
    return config.workload(name) if name else config.workloads[0]


def project_manifest(config: ClusterConfig, revision: GitRevision) -> dict[str, Any]:
    """The Project of this repository, from ksail.yaml's ``spec.environments`` and workloads."""
    defaults = config.spec.environments
    workload = template_workload(config)
    name = defaults.project or config.name
    spec: dict[str, Any] = {
        "sources": [
            {"name": DEFAULT_SOURCE, "repositoryUrl": revision.remote, "branch": revision.branch or "main"}
        ],
        "templates": {
            "development": {
                "sourceRef": DEFAULT_SOURCE,
                "type": "kustomize",
                "path": workload.source_directory,
                "artifact": {"repository": config.repository_of(workload), "path": "./"},
                "builds": [
                    {"name": b.name, "sourceRef": DEFAULT_SOURCE, "path": b.path, "dockerfile": b.dockerfile}
                    for b in defaults.builds
                ],
            }
        },
    }
    if defaults.quota:
        spec["resources"] = {"defaultQuota": dict(defaults.quota)}
    return {
        "apiVersion": naming.API_VERSION,
        "kind": "Project",
        "metadata": {
            "name": name,
            "namespace": defaults.namespace,
            "labels": {naming.TEAM_LABEL: defaults.team},
        },
        "spec": spec,
    }


def init_project(client: KubeClient, config: ClusterConfig, revision: GitRevision) -> dict[str, Any]:
    """Write (create or update) the Project of this repository."""
    check_crds(client)
    return client.apply(project_manifest(config, revision), field_manager="ksail-tui")


def artifact_version(config: ClusterConfig, commit: str) -> str:
    """The workload version an Environment at ``commit`` deploys: ``<version>-g<commit12>``."""
    return f"{template_workload(config).version}-g{commit[:12]}"


def ensure_artifact(config: ClusterConfig, commit: str) -> tuple[str, bool]:
    """Push the workload's artifact for ``commit`` unless the registry has it; (tag, pushed)."""
    from ksail_tui.oci.service import push_workload

    result = push_workload(config, template_workload(config).name, version=artifact_version(config, commit))
    return result.artifact.tag, result.pushed


def install_crds(client: KubeClient) -> None:
    """Apply the Project and Environment CRDs (what ``operator manifests --crds-only`` prints)."""
    from ksail_tui.operator.crds import catalyst_crds

    for crd in catalyst_crds():
        client.apply(crd, field_manager="ksail-tui")
    client.forget_discovery()
