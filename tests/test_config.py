"""ksail.yaml: every rule, with the error text the user sees."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
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


HEADER = "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"


def headed(text: str) -> str:
    """``text`` as a ksail.yaml: after the two lines every file must start with."""
    return HEADER + text


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
    default = parse_config(HEADER)
    assert default.workloads[0].source_directory == "k8s"


def test_ksail_aliases_are_accepted() -> None:
    text = (
        "spec:\n  cluster:\n    distribution: K3s\n    gitOpsEngine: None\n"
        "    localRegistry: Disabled\n    cni: Cilium\n"
    )
    config = parse_config(headed(text))
    assert config.spec.cluster.distribution is Distribution.K3D
    assert config.spec.cluster.git_ops_engine is GitOpsEngine.KUBECTL
    assert not config.flux_enabled
    assert not config.registry.enabled
    assert (
        parse_config(headed("spec: {cluster: {distribution: Vanilla}}")).spec.cluster.distribution
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
    ],
)
def test_bad_field_names_file_field_and_line(text: str, field: str, line: int, words: str) -> None:
    error = error_of(headed(text))
    line += HEADER.count("\n")
    assert error.path == "/p/ksail.yaml"
    assert error.field == field
    assert error.line == line
    assert words in str(error)
    assert str(error).startswith(f"/p/ksail.yaml:{line}: {field}: ")


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("apiVersion: ksail.io/v2\nkind: Cluster\n", "apiVersion", "must be ksail.io/v1alpha1"),
        ("apiVersion: ksail.io/v1alpha1\nkind: Pod\n", "kind", "'Cluster'"),
        ("kind: Cluster\nspec: {}\n", "apiVersion", "missing"),
        ("apiVersion: ksail.io/v1alpha1\nspec: {}\n", "kind", "missing"),
        # A kind cluster config is not a ksail.yaml, although every field it shares would load.
        ("metadata: {name: dev}\n", "apiVersion", "missing"),
    ],
)
def test_header_must_say_ksail_cluster(text: str, field: str, words: str) -> None:
    error = error_of(text)
    assert (error.field, error.line) == (field, 1 if words == "missing" else error.line)
    assert words in str(error)
    assert str(error).startswith(f"/p/ksail.yaml:{error.line}: {field}: ")


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
        headed(
            "spec:\n  workloads:\n    - {name: a, sourceDirectory: x}\n    - {name: b, sourceDirectory: y}\n"
        )
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
    target.write_text(headed("spec:\n  cluster:\n    distribution: Minikube\n"))
    assert main(["-c", str(target), "workload", "gen"]) in (2,)
    err = capsys.readouterr().err
    assert f"{target}:5: spec.cluster.distribution" in err
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


# --- hostile files (issue 11, items 5, 6 and 12) ---------------------------------------------

BILLION_LAUGHS = headed(
    "metadata: {name: x}\n"
    "spec:\n"
    "  editor: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"  l{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]\n" for n in range(1, 5))
)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (BILLION_LAUGHS, 5, "anchor &a0"),
        # A recursive alias: the anchor is refused before the alias could recurse.
        (headed("spec: &loop\n  workload: *loop\n"), 3, "anchor &loop"),
        (headed("spec:\n  workload: *nowhere\n"), 4, "alias *nowhere"),
        (headed("spec:\n  cluster:\n    connection: {timeout: &t 5m}\n"), 5, "anchor &t"),
        (headed("spec:\n  cluster:\n    <<: {cni: x}\n"), 5, "merge keys"),
        (headed("spec:\n  editor: " + "[" * 200 + "]" * 200 + "\n"), 4, "nested deeper"),
    ],
    ids=["billion-laughs", "recursive", "alias", "anchor", "merge", "nesting"],
)
def test_aliases_anchors_and_bombs_are_refused_before_expansion(text: str, line: int, words: str) -> None:
    error = error_of(text)
    assert error.line == line
    assert words in str(error)


def test_duplicate_keys_are_refused_at_any_depth() -> None:
    # A second `spec:` used to replace the first, silently dropping every workload.
    error = error_of(headed("spec:\n  workloads:\n    - {name: a, sourceDirectory: x}\nspec: {}\n"))
    assert (error.field, error.line) == ("spec", 6)
    assert "duplicate key (first at line 3)" in str(error)
    nested = error_of(headed("spec:\n  cluster:\n    localRegistry: {port: 1, 'port': 2}\n"))
    assert (nested.field, nested.line) == ("spec.cluster.localRegistry.port", 5)
    in_list = error_of(headed("spec:\n  workloads:\n    - {name: a, name: b, sourceDirectory: x}\n"))
    assert in_list.field == "spec.workloads[0].name"


@pytest.mark.parametrize(
    ("text", "field", "line", "words"),
    [
        ("spec:\n  cluster:\n    localRegistry: {port: true}\n", "spec.cluster.localRegistry.port", 3, ""),
        ("spec:\n  cluster:\n    localRegistry: {port: '5050'}\n", "spec.cluster.localRegistry.port", 3, ""),
        ("spec:\n  cluster:\n    localRegistry: {enabled: 1}\n", "spec.cluster.localRegistry.enabled", 3, ""),
        (
            "spec:\n  workloads:\n    - {name: a, sourceDirectory: x, prune: 'no'}\n",
            "spec.workloads[0].prune",
            3,
            "",
        ),
        (
            "spec:\n  workloads:\n    - {name: a, sourceDirectory: x, version: 1.0.0+build.5}\n",
            "spec.workloads[0].version",
            3,
            "an OCI tag cannot hold",
        ),
        (
            "spec:\n  workloads:\n    - {name: a, sourceDirectory: x, version: 1.0.0-" + "a" * 130 + "}\n",
            "spec.workloads[0].version",
            3,
            "128 characters",
        ),
        ("spec:\n  cluster:\n    flux: {interval: 2562048h}\n", "spec.cluster.flux.interval", 3, "2562047h"),
        (
            "spec:\n  workloads:\n    - {name: a, sourceDirectory: x, timeout: 9999999999999999999s}\n",
            "spec.workloads[0].timeout",
            3,
            "longest duration",
        ),
        ("spec:\n  workloads: []\n", "spec.workloads", 2, "no workloads are configured"),
        (
            "spec:\n  workloads:\n    - {name: a, sourceDirectory: x, repository: r/app}\n"
            "    - {name: b, sourceDirectory: y, repository: r/app}\n",
            "spec.workloads[1].repository",
            4,
            "'a' and 'b' both use repository 'r/app'",
        ),
        (
            # b's explicit repository is a's default one (<metadata.name>/<workload>).
            "metadata: {name: t}\nspec:\n  workloads:\n    - {name: a, sourceDirectory: x}\n"
            "    - {name: b, sourceDirectory: y, repository: t/a}\n",
            "spec.workloads[1].repository",
            5,
            "both use repository 't/a'",
        ),
    ],
)
def test_values_that_must_be_refused(text: str, field: str, line: int, words: str) -> None:
    error = error_of(headed(text))
    assert (error.field, error.line) == (field, line + HEADER.count("\n"))
    assert words in str(error)


def test_longest_go_duration_is_accepted() -> None:
    assert parse_duration("2562047h") == 2562047 * 3600
    config = parse_config(headed("spec:\n  cluster:\n    flux: {interval: 2562047h}\n"))
    assert config.flux_interval == "2562047h"


def run_cli_on(config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["-c", str(config), "workload", "gen"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    assert f"error: {config}" in err
    return err


def test_oversized_file_is_refused_before_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "ksail.yaml"
    config.write_text(HEADER + "#" * (1024 * 1024) + "\n")
    assert "at most 1048576 (1 MiB)" in run_cli_on(config, capsys)


def _limit_memory() -> None:
    # A regression that reads /dev/zero whole must fail this test, not exhaust the machine.
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.mark.parametrize("kind", ["directory", "device", "fifo", "symlink to a device"])
def test_only_a_regular_file_is_read(kind: str, tmp_path: Path) -> None:
    config = tmp_path / "ksail.yaml"
    if kind == "directory":
        config.mkdir()
    elif kind == "device":
        config = Path("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(config)  # opening it for reading used to block until a writer came
    else:
        config.symlink_to("/dev/zero")
    result = subprocess.run(
        [sys.executable, "-m", "ksail_tui", "-c", str(config), "workload", "gen"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_memory,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {config}: not a regular file")


def test_file_that_is_not_utf8_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "ksail.yaml"
    config.write_bytes(HEADER.encode() + b"metadata: {name: \xff}\n")
    assert "not UTF-8" in run_cli_on(config, capsys)
