"""ksail.yaml: the cluster configuration, compatible with KSail's own file where they overlap.

Loading never raises anything but :class:`ConfigError`, which names the file, the field path and
the line, so the CLI can exit 2 with a message instead of a traceback.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import types
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import semver
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ksail_tui.errors import ConfigError, InvalidInput


def _skip_pydantic_plugin_lookup() -> None:
    """pydantic looks for plugins in the metadata of every installed package when it builds its first
    model: importing importlib.metadata for that is ~30 ms of every command's start, and this product
    uses no pydantic plugin. An empty loader stands in for pydantic's, unless something loaded it."""
    name = "pydantic.plugin._loader"
    if name not in sys.modules:
        loader = types.ModuleType(name, "no pydantic plugins (see ksail_tui.config)")
        loader.get_plugins = tuple  # type: ignore[attr-defined]  # returns (): no plugins
        sys.modules[name] = loader


_skip_pydantic_plugin_lookup()

API_VERSION: Final = "ksail.io/v1alpha1"
DEFAULT_FLUX_NAMESPACE = "flux-system"
DEFAULT_INTERVAL = "1m"

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_REPOSITORY = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
# Go's time.ParseDuration units as Flux accepts them in `interval` and `timeout`.
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_NANOSECONDS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
# Go's time.Duration is an int64 of nanoseconds: Flux refuses anything longer (about 2562047h).
_GO_MAX_DURATION_NS = 2**63 - 1
# OCI distribution spec: a tag is [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
_MAX_TAG_LENGTH = 128


def parse_duration(text: str) -> float:
    """Seconds in a Go duration such as ``1m30s``; raises ValueError on anything else."""
    if not isinstance(text, str) or not _DURATION.match(text):
        raise ValueError(f"{text!r} is not a duration; use a number with a unit, e.g. 30s, 1m, 1h30m")
    # Exact arithmetic, so the overflow check is Go's and not a float's.
    nanoseconds = sum(
        Fraction(value) * _UNIT_NANOSECONDS[unit] for value, unit in _DURATION_PART.findall(text)
    )
    if nanoseconds > _GO_MAX_DURATION_NS:
        raise ValueError(f"{text!r} is longer than the longest duration Flux accepts (2562047h)")
    return float(nanoseconds / 10**9)


def _positive_duration(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"{value!r} has no unit; write e.g. {value}s or {value}m")
    if parse_duration(value) <= 0:
        raise ValueError(f"{value!r} must be greater than zero")
    return value


def _dns1123_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > 63:
        raise ValueError(f"{value!r} is longer than 63 characters")
    if not _DNS1123_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid Kubernetes name: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


def _semver(value: Any) -> str:
    text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not semver.Version.is_valid(text):
        raise ValueError(f"{value!r} is not a semantic version; write MAJOR.MINOR.PATCH, e.g. 0.1.0")
    # The version becomes the artifact's tag, and an OCI tag cannot hold '+'.
    if semver.Version.parse(text).build is not None:
        raise ValueError(
            f"{text!r} has build metadata (+...), which an OCI tag cannot hold; "
            "use a pre-release instead, e.g. 0.1.0-build.1"
        )
    if len(text) > _MAX_TAG_LENGTH:
        raise ValueError(f"{text!r} is longer than the {_MAX_TAG_LENGTH} characters an OCI tag may have")
    return text


Duration = Annotated[str, BeforeValidator(_positive_duration)]
KubeName = Annotated[str, BeforeValidator(_dns1123_name)]
SemVer = Annotated[str, BeforeValidator(_semver)]


class Distribution(StrEnum):
    KIND = "Kind"
    K3D = "K3d"


class GitOpsEngine(StrEnum):
    KUBECTL = "Kubectl"
    FLUX = "Flux"


_DISTRIBUTION_ALIASES = {"Vanilla": Distribution.KIND, "K3s": Distribution.K3D}
_ENGINE_ALIASES = {"None": GitOpsEngine.KUBECTL}


class _FieldProblem(ValueError):
    """A problem found by a model-level validator that belongs to one field, for file:line."""

    def __init__(self, message: str, *, loc: tuple[Any, ...]) -> None:
        super().__init__(message)
        self.loc = loc


class _Model(BaseModel):
    # Strict: YAML's `port: true` or `prune: 1` is a mistake, not a 1 or a True. Tuples and enums
    # opt out per field, because YAML gives lists and strings for them.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, strict=True)


def _lax(default: Any = None, **options: Any) -> Any:
    """A field that converts YAML's list or string into its tuple or enum."""
    return Field(default, strict=False, **options)


class Connection(_Model):
    kubeconfig: str = "~/.kube/config"
    context: str | None = None
    timeout: Duration = "5m"

    @property
    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout)


class LocalRegistry(_Model):
    enabled: bool = True
    port: int = Field(default=5050, ge=1, le=65535)
    image: str = "registry:3"
    # How pods reach the registry: by container name on the cluster's Docker network, because
    # `localhost` inside a pod is the pod itself. Default: <metadata.name>-registry:5000.
    cluster_endpoint: str | None = Field(default=None, alias="clusterEndpoint")

    @model_validator(mode="before")
    @classmethod
    def _ksail_string_form(cls, data: Any) -> Any:
        # KSail writes `localRegistry: Enabled|Disabled`.
        if data in ("Enabled", "Disabled"):
            return {"enabled": data == "Enabled"}
        return data


class FluxSettings(_Model):
    interval: Duration = DEFAULT_INTERVAL
    namespace: KubeName = DEFAULT_FLUX_NAMESPACE


class ClusterSpec(_Model):
    distribution: Distribution = _lax(Distribution.KIND)
    git_ops_engine: GitOpsEngine = _lax(GitOpsEngine.FLUX, alias="gitOpsEngine")
    connection: Connection = Connection()
    local_registry: LocalRegistry = Field(default=LocalRegistry(), alias="localRegistry")
    flux: FluxSettings = FluxSettings()
    # KSail fields this tool accepts so that a KSail file loads, but does not act on.
    distribution_config: str | None = Field(default=None, alias="distributionConfig")
    cni: str | None = None
    csi: str | None = None
    metrics_server: str | None = Field(default=None, alias="metricsServer")
    cert_manager: str | None = Field(default=None, alias="certManager")
    policy_engine: str | None = Field(default=None, alias="policyEngine")
    load_balancer: str | None = Field(default=None, alias="loadBalancer")

    @field_validator("distribution", mode="before")
    @classmethod
    def _distribution_alias(cls, value: Any) -> Any:
        return _DISTRIBUTION_ALIASES.get(value, value) if isinstance(value, str) else value

    @field_validator("git_ops_engine", mode="before")
    @classmethod
    def _engine_alias(cls, value: Any) -> Any:
        return _ENGINE_ALIASES.get(value, value) if isinstance(value, str) else value


class Workload(_Model):
    name: KubeName
    source_directory: str = Field(alias="sourceDirectory")
    repository: str | None = None
    version: SemVer = "0.1.0"
    # A semver range (e.g. ">=0.1.0-0") makes the OCIRepository follow the newest matching tag.
    follow: str | None = None
    target_namespace: KubeName | None = Field(default=None, alias="targetNamespace")
    prune: bool = True
    wait: bool = True
    timeout: Duration = "2m"
    interval: Duration | None = None
    ignore: tuple[str, ...] = _lax(())

    @field_validator("repository")
    @classmethod
    def _repository_path(cls, value: str | None) -> str | None:
        if value is not None and not _REPOSITORY.match(value):
            raise ValueError(
                f"{value!r} is not a valid repository path: use lowercase path components "
                "separated by '/', e.g. local/app"
            )
        return value

    @field_validator("follow")
    @classmethod
    def _follow_range(cls, value: str | None) -> str | None:
        if value is None:
            return value
        # Every comparator of the range must hold a valid version.
        for part in re.split(r"[\s,|]+", value.strip()):
            version = part.lstrip("<>=!~^v")
            if not version or not semver.Version.is_valid(version):
                raise ValueError(f"{value!r} is not a semver range; write e.g. '>=0.1.0-0'")
        return value


class KsailWorkload(_Model):
    """KSail's single ``spec.workload`` block, used when ``spec.workloads`` is absent."""

    source_directory: str = Field(default="k8s", alias="sourceDirectory")
    validate_on_push: bool | None = Field(default=None, alias="validateOnPush")


class ImageBuild(_Model):
    """An image the operator builds per Environment from this repository (the Project's builds[])."""

    name: KubeName
    path: str = "."  # the build context, relative to the repository
    dockerfile: str = "Dockerfile"


class EnvironmentDefaults(_Model):
    """``spec.environments``: the Project this repository is, for preview Environments."""

    project: KubeName | None = None  # default: metadata.name
    namespace: KubeName = "default"  # where the Project and its Environments live
    team: KubeName = "local"
    workload: KubeName | None = None  # whose artifact the Environments deploy; default: the first
    ttl: Duration | None = None
    quota: dict[str, str] | None = None  # the Project's defaultQuota, e.g. {cpu: "2", memory: 4Gi}
    builds: tuple[ImageBuild, ...] = _lax(())


class Spec(_Model):
    cluster: ClusterSpec = ClusterSpec()
    workloads: tuple[Workload, ...] | None = _lax()
    workload: KsailWorkload | None = None
    editor: str | None = None
    environments: EnvironmentDefaults = EnvironmentDefaults()

    @field_validator("workloads")
    @classmethod
    def _unique_names(cls, value: tuple[Workload, ...] | None) -> tuple[Workload, ...] | None:
        if value is not None and not value:
            raise ValueError(
                "no workloads are configured; add one, or remove `workloads` for the single default"
            )
        seen: set[str] = set()
        for workload in value or ():
            if workload.name in seen:
                raise ValueError(f"workload name {workload.name!r} is used twice; names must be unique")
            seen.add(workload.name)
        return value


class Metadata(_Model):
    name: KubeName = "local"


class ClusterConfig(_Model):
    api_version: Literal["ksail.io/v1alpha1"] = Field(default=API_VERSION, alias="apiVersion")
    kind: Literal["Cluster"] = "Cluster"
    metadata: Metadata = Metadata()
    spec: Spec = Spec()

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_repository_per_workload(self) -> ClusterConfig:
        # Two workloads on one repository would overwrite each other's tags and prune each other's
        # versions; the default repository depends on metadata.name, so the check lives here.
        owners: dict[str, str] = {}
        for index, workload in enumerate(self.spec.workloads or ()):
            repository = self.repository_of(workload)
            if repository in owners:
                raise _FieldProblem(
                    f"workloads {owners[repository]!r} and {workload.name!r} both use repository "
                    f"{repository!r}; give each workload its own",
                    loc=("spec", "workloads", index, "repository" if workload.repository else "name"),
                )
            owners[repository] = workload.name
        return self

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def path(self) -> Path | None:
        """The file this configuration was loaded from, if any."""
        return self._path

    @property
    def base_dir(self) -> Path:
        """Relative source directories are resolved against the config file's folder."""
        return self._base_dir

    @property
    def flux_enabled(self) -> bool:
        return self.spec.cluster.git_ops_engine is GitOpsEngine.FLUX

    @property
    def registry(self) -> LocalRegistry:
        return self.spec.cluster.local_registry

    @property
    def registry_name(self) -> str:
        return f"{self.name}-registry"

    @property
    def registry_endpoint(self) -> str:
        """Where the workstation pushes: always loopback."""
        return f"localhost:{self.registry.port}"

    @property
    def registry_cluster_endpoint(self) -> str:
        """Where pods pull: the registry container's name on the cluster network."""
        return self.registry.cluster_endpoint or f"{self.registry_name}:5000"

    @property
    def flux_interval(self) -> str:
        return self.spec.cluster.flux.interval

    @property
    def flux_namespace(self) -> str:
        return self.spec.cluster.flux.namespace

    @property
    def workloads(self) -> tuple[Workload, ...]:
        if self.spec.workloads is not None:
            return self.spec.workloads
        source = (self.spec.workload or KsailWorkload()).source_directory
        return (Workload(name=self.name, sourceDirectory=source),)

    def workload(self, name: str | None) -> Workload:
        """The named workload, or the only one when ``name`` is None."""
        workloads = self.workloads
        if name is None:
            if len(workloads) == 1:
                return workloads[0]
            names = ", ".join(w.name for w in workloads)
            raise InvalidInput(f"several workloads are configured ({names}); name one")
        for workload in workloads:
            if workload.name == name:
                return workload
        names = ", ".join(w.name for w in workloads) or "none"
        raise InvalidInput(f"no workload named {name!r} in the configuration (configured: {names})")

    def repository_of(self, workload: Workload) -> str:
        return workload.repository or f"{self.name}/{workload.name}"

    def source_path(self, workload: Workload) -> Path:
        # realpath, not resolve(): resolve raises RuntimeError on a symlink loop; the build names it.
        return Path(os.path.realpath(self.base_dir / Path(workload.source_directory).expanduser()))

    def interval_of(self, workload: Workload) -> str:
        return workload.interval or self.flux_interval


# --- loading ---------------------------------------------------------------------------------

# A ksail.yaml is a few kilobytes; the limit only stops a runaway or hostile file before it is read.
MAX_CONFIG_BYTES = 1024 * 1024
# Deeper than any real ksail.yaml; stops a nesting bomb before the parser's recursion does.
_MAX_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"


class _Refused(Exception):
    """YAML that ksail.yaml never needs and that the strict loader refuses, at a line."""

    # ``mark`` is a yaml Mark, from the pure-Python or the C parser.
    def __init__(self, message: str, mark: Any, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = mark.line + 1 if mark else None
        self.field = field


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader minus what makes a small file huge: aliases, anchors, deep nesting.

    They are refused as the parser meets them, before anything is expanded: a billion-laughs file
    stays a few bytes and a recursive alias never recurses.
    """

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"YAML alias *{event.anchor} is not allowed in ksail.yaml", event.start_mark)
        if getattr(event, "anchor", None):
            raise _Refused(
                f"YAML anchor &{event.anchor} is not allowed in ksail.yaml; write the value out",
                event.start_mark,
            )
        if self._depth >= _MAX_DEPTH:
            raise _Refused(f"nested deeper than {_MAX_DEPTH} levels", event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_keys(node: yaml.Node, path: tuple[Any, ...] = ()) -> None:
    """Refuse duplicate keys at any depth (YAML lets the last one silently win) and keys that
    are not names: every key of ksail.yaml is a field name, and merge keys (<<) hide duplicates."""
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_keys(item, (*path, index))
    if not isinstance(node, yaml.MappingNode):
        return
    first_line: dict[str, int] = {}
    for key, value in node.value:
        where = _field_path(path) or None
        if key.tag == _MERGE_TAG:
            raise _Refused("YAML merge keys (<<) are not allowed in ksail.yaml", key.start_mark, where)
        if not isinstance(key, yaml.ScalarNode) or key.tag != _STR_TAG:
            raise _Refused("every key must be a field name", key.start_mark, where)
        child = (*path, key.value)
        if key.value in first_line:
            raise _Refused(
                f"duplicate key (first at line {first_line[key.value]}); the second would silently "
                "replace the first",
                key.start_mark,
                _field_path(child),
            )
        first_line[key.value] = key.start_mark.line + 1
        _check_keys(value, child)


def _load_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its data, from one strict pass."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_keys(node)
        return node, loader.construct_document(node)
    finally:
        loader.dispose()


def _line_index(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map every field path in a composed YAML document to its 1-based line."""
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            lines[child] = key.start_mark.line + 1
            lines.update({k: v for k, v in _line_index(value, child).items() if k != child})
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_line_index(item, (*path, index)))
    return lines


def _nearest_line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _field_path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _validation_problem(error: ValidationError) -> tuple[str, tuple[Any, ...]]:
    """The first problem's message and field path (and how many more there are)."""
    first = error.errors()[0]
    loc = tuple(first["loc"])
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, _FieldProblem):
        loc = cause.loc
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field; check its spelling against `ksail-tui init`'s starter file"
    elif first["type"] == "literal_error" and loc[-1:] == ("apiVersion",):
        message = f"must be {API_VERSION}"
    more = len(error.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return message, loc


def parse_config(text: str, *, path: Path | None = None, base_dir: Path | None = None) -> ClusterConfig:
    shown = str(path) if path else "<config>"
    try:
        node, data = _load_yaml(text)
    except _Refused as refused:
        raise ConfigError(refused.message, path=shown, field=refused.field, line=refused.line) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(
            f"not valid YAML: {error.problem or error}", path=shown, line=line, hint="fix the YAML syntax"
        ) from None
    except (yaml.YAMLError, ValueError, RecursionError) as error:
        raise ConfigError(f"not valid YAML: {error}", path=shown) from None
    if data is None:
        raise ConfigError(
            "the file is empty", path=shown, hint="run `ksail-tui init` to write a starter file"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping with apiVersion, kind and spec, found {type(data).__name__}",
            path=shown,
            line=1,
        )
    for required, value in (("apiVersion", API_VERSION), ("kind", "Cluster")):
        if required not in data:
            # Without them a file of another tool (a kind or k3d config, a manifest) would load.
            raise ConfigError(
                f"missing; a ksail.yaml starts with `apiVersion: {API_VERSION}` and `kind: Cluster`",
                path=shown,
                field=required,
                line=1,
                hint=f"add `{required}: {value}`",
            )
    try:
        config = ClusterConfig.model_validate(data)
    except ValidationError as error:
        message, loc = _validation_problem(error)
        lines = _line_index(node) if node is not None else {}
        raise ConfigError(
            message, path=shown, field=_field_path(loc), line=_nearest_line(lines, loc)
        ) from None
    config._base_dir = (base_dir or (path.parent if path else Path.cwd())).resolve()
    config._path = path
    return config


def _read_config_file(path: Path) -> str:
    """The file's text, refusing before reading anything that is not a small regular file."""
    try:
        # Non-blocking, so opening a FIFO returns at once instead of waiting for a writer.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(
            "no such file", path=str(path), hint="run `ksail-tui init` to write one, or pass --config PATH"
        ) from None
    except OSError as error:
        raise ConfigError(f"cannot read the file: {error.strerror or error}", path=str(path)) from None
    try:
        info = os.fstat(descriptor)  # of what was opened, so a swapped path cannot slip past
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                "not a regular file (a directory, a device or a pipe)",
                path=str(path),
                hint="pass --config with the path of a ksail.yaml file",
            )
        if info.st_size > MAX_CONFIG_BYTES:
            raise _too_large(path, info.st_size)
        data = _read_at_most(descriptor, MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read the file: {error.strerror or error}", path=str(path)) from None
    finally:
        os.close(descriptor)
    if len(data) > MAX_CONFIG_BYTES:  # it grew after the check
        raise _too_large(path, len(data))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"not UTF-8 text: {error.reason} at byte {error.start}", path=str(path)) from None


def _read_at_most(descriptor: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(descriptor, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _too_large(path: Path, size: int) -> ConfigError:
    return ConfigError(
        f"the file has {size} bytes or more; a ksail.yaml may have at most {MAX_CONFIG_BYTES} (1 MiB)",
        path=str(path),
    )


def load_config(path: Path) -> ClusterConfig:
    return parse_config(_read_config_file(path), path=path)


STARTER_FILE = """\
# ksail-tui cluster configuration (compatible with KSail's ksail.yaml where they overlap).
apiVersion: ksail.io/v1alpha1
kind: Cluster
metadata:
  name: {name}                      # cluster name; the registry container is <name>-registry
spec:
  cluster:
    distribution: Kind              # Kind | K3d
    gitOpsEngine: Flux              # Flux | Kubectl; Flux is installed only when this is Flux
    connection:
      kubeconfig: ~/.kube/config
      context: kind-{name}          # kind-<name> for Kind, k3d-<name> for K3d
      timeout: 5m                   # how long waits may take
    localRegistry:
      enabled: true
      port: 5050                    # published on 127.0.0.1 only; push to localhost:5050
    flux:
      interval: 1m                  # how often Flux checks the registry
  workloads:                        # several workloads share the one registry
    - name: app
      sourceDirectory: k8s/app      # manifests, relative to this file
      repository: {name}/app        # path in the registry
      version: 0.1.0                # semver; pushed versions are immutable
      targetNamespace: default
      prune: true                   # delete what is removed from the folder
"""


def starter_file(name: str = "local") -> str:
    return STARTER_FILE.format(name=_dns1123_name(name))
