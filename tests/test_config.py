"""ksail.yaml: every rule, with the error text the user sees."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ksail_tui.cli.main import main
from ksail_tui.config import (
    ClusterConfig,
    Distribution,
    GitOpsEngine,
    load_config,
    parse_config,
    parse_duration,
    starter_file,
)
from ksail_tui.errors import ConfigError

FULL = """\
apiVersion: ksail.io/v1alpha1
kind: Cluster
metadata: {name: local}
spec:
  cluster:
    distribution: Kind
    gitOpsEngine: Flux
    connection: {kubeconfig: ~/.kube/config, context: kind-local, timeout: 5m}
    localRegistry: {enabled: true, port: 5050}
    flux: {interval: 1m}
  workloads:
    - name: app
      sourceDirectory: k8s/app
      repository: local/app
      version: 0.1.0
      targetNamespace: default
      prune: true
"""


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, path=Path("/p/ksail.yaml"))
    return caught.value


def test_issue_example_loads_with_derived_values() -> None:
    config = parse_config(FULL, path=Path("/p/ksail.yaml"))
    assert config.spec.cluster.distribution is Distribution.KIND
    assert config.flux_enabled
    assert config.registry_endpoint == "localhost:5050"
    assert config.registry_cluster_endpoint == "local-registry:5000"
    (workload,) = config.workloads
    assert (workload.name, workload.version, workload.target_namespace) == ("app", "0.1.0", "default")
    assert config.repository_of(workload) == "local/app"
    assert config.source_path(workload) == Path("/p/k8s/app")
    assert config.interval_of(workload) == "1m"
    assert config.spec.cluster.connection.timeout_seconds == 300


def test_defaults_and_ksail_single_workload() -> None:
    config = parse_config(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\nspec: {workload: {sourceDirectory: manifests}}"
    )
    (workload,) = config.workloads
    assert workload.source_directory == "manifests"
    assert config.repository_of(workload) == "local/local"
    assert config.flux_interval == "1m"
    default = parse_config("kind: Cluster\n")
    assert default.workloads[0].source_directory == "k8s"


def test_ksail_aliases_are_accepted() -> None:
    text = (
        "spec:\n  cluster:\n    distribution: K3s\n    gitOpsEngine: None\n"
        "    localRegistry: Disabled\n    cni: Cilium\n"
    )
    config = parse_config(text)
    assert config.spec.cluster.distribution is Distribution.K3D
    assert config.spec.cluster.git_ops_engine is GitOpsEngine.KUBECTL
    assert not config.flux_enabled
    assert not config.registry.enabled
    assert (
        parse_config("spec: {cluster: {distribution: Vanilla}}").spec.cluster.distribution
        is Distribution.KIND
    )


@pytest.mark.parametrize(
    ("text", "field", "line", "words"),
    [
        (
            "spec:\n  cluster:\n    distribution: Minikube\n",
            "spec.cluster.distribution",
            3,
            "'Kind' or 'K3d'",
        ),
        (
            "spec:\n  cluster:\n    gitOpsEngine: Argo\n",
            "spec.cluster.gitOpsEngine",
            3,
            "'Kubectl' or 'Flux'",
        ),
        (
            "spec:\n  cluster:\n    flux: {interval: 0s}\n",
            "spec.cluster.flux.interval",
            3,
            "greater than zero",
        ),
        (
            "spec:\n  cluster:\n    flux:\n      interval: soon\n",
            "spec.cluster.flux.interval",
            4,
            "not a duration",
        ),
        (
            "spec:\n  cluster:\n    flux:\n      interval: 60\n",
            "spec.cluster.flux.interval",
            4,
            "has no unit",
        ),
        (
            "spec:\n  cluster:\n    connection: {timeout: -1m}\n",
            "spec.cluster.connection.timeout",
            3,
            "duration",
        ),
        (
            "spec:\n  cluster:\n    localRegistry: {port: 70000}\n",
            "spec.cluster.localRegistry.port",
            3,
            "65535",
        ),
        ("metadata:\n  name: My_Cluster\n", "metadata.name", 2, "not a valid Kubernetes name"),
        ("metadata:\n  name: " + "a" * 64 + "\n", "metadata.name", 2, "longer than 63"),
        (
            "spec:\n  workloads:\n    - name: app\n      sourceDirectory: k8s\n      version: 1.2\n",
            "spec.workloads[0].version",
            5,
            "not a semantic version",
        ),
        (
            "spec:\n  workloads:\n    - name: app\n      sourceDirectory: k8s\n"
            "    - name: -bad\n      sourceDirectory: x\n",
            "spec.workloads[1].name",
            5,
            "not a valid Kubernetes name",
        ),
        ("spec:\n  workloads:\n    - name: app\n", "spec.workloads[0].sourceDirectory", 3, "Field required"),
        (
            "spec:\n  workloads:\n    - {name: a, sourceDirectory: x, repository: Bad/Repo}\n",
            "spec.workloads[0].repository",
            3,
            "not a valid repository path",
        ),
        (
            "spec:\n  workloads:\n    - {name: a, sourceDirectory: x}\n    - {name: a, sourceDirectory: y}\n",
            "spec.workloads",
            2,
            "used twice",
        ),
        ("spec:\n  clustr: {}\n", "spec.clustr", 2, "unknown field"),
        ("apiVersion: ksail.io/v2\n", "apiVersion", 1, "must be ksail.io/v1alpha1"),
        ("kind: Pod\n", "kind", 1, "'Cluster'"),
    ],
)
def test_bad_field_names_file_field_and_line(text: str, field: str, line: int, words: str) -> None:
    error = error_of(text)
    assert error.path == "/p/ksail.yaml"
    assert error.field == field
    assert error.line == line
    assert words in str(error)
    assert str(error).startswith(f"/p/ksail.yaml:{line}: {field}: ")


def test_yaml_syntax_error_names_the_line() -> None:
    error = error_of("spec:\n  cluster:\n    distribution: [Kind\n")
    assert error.line is not None and error.line >= 3
    assert "not valid YAML" in str(error)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text"])
def test_not_a_mapping(text: str) -> None:
    assert error_of(text).path == "/p/ksail.yaml"


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file") as caught:
        load_config(tmp_path / "ksail.yaml")
    assert "ksail-tui init" in str(caught.value)


def test_durations() -> None:
    assert parse_duration("1m30s") == 90
    assert parse_duration("500ms") == 0.5
    assert parse_duration("1h") == 3600
    for bad in ("", "1", "m", "1d", "1 m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_workload_lookup_errors() -> None:
    config = parse_config(
        "spec:\n  workloads:\n    - {name: a, sourceDirectory: x}\n    - {name: b, sourceDirectory: y}\n"
    )
    assert config.workload("b").source_directory == "y"
    with pytest.raises(Exception, match="several workloads"):
        config.workload(None)
    with pytest.raises(Exception, match=r"no workload named 'c'.*a, b"):
        config.workload("c")


def test_init_writes_a_starter_that_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "ksail.yaml"
    assert main(["init", "-c", str(target), "--name", "dev"]) == 0
    config = load_config(target)
    assert config.name == "dev"
    assert "# " in target.read_text()  # commented
    assert main(["init", "-c", str(target)]) == 2  # never overwrites silently
    assert "already exists" in capsys.readouterr().err
    assert load_config(target).name == "dev"


def test_cli_reports_bad_config_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "ksail.yaml"
    target.write_text("spec:\n  cluster:\n    distribution: Minikube\n")
    assert main(["-c", str(target), "workload", "gen"]) in (2,)
    err = capsys.readouterr().err
    assert f"{target}:3: spec.cluster.distribution" in err
    assert "Traceback" not in err


yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "apiVersion",
                    "kind",
                    "metadata",
                    "name",
                    "spec",
                    "cluster",
                    "workloads",
                    "workload",
                    "localRegistry",
                    "port",
                    "flux",
                    "interval",
                    "version",
                    "sourceDirectory",
                    "x",
                ]
            ),
            children,
            max_size=5,
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_values)
def test_fuzz_structured_input_only_raises_config_error(data: object) -> None:
    try:
        text = yaml.safe_dump(data)
    except yaml.YAMLError:
        return
    with contextlib.suppress(ConfigError):
        assert isinstance(parse_config(text), ClusterConfig)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_raw_text_only_raises_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_config(text)


def test_starter_file_is_valid() -> None:
    assert parse_config(starter_file("x")).name == "x"
