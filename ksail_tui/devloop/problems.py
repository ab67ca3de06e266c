"""Turn the failures of a cycle into a ``LoopProblem`` the dashboard can point at (file:line)."""

from __future__ import annotations

from pathlib import Path

from ksail_tui.config import ClusterConfig
from ksail_tui.devloop.state import LoopProblem
from ksail_tui.errors import InvalidInput, KsailError, Unavailable
from ksail_tui.oci.build import build_workload
from ksail_tui.oci.manifests import ManifestProblem, check_manifest, is_manifest


def problem_of(error: KsailError, config: ClusterConfig, workload: str) -> LoopProblem:
    if isinstance(error, Unavailable):
        return LoopProblem("unavailable", error.message, hint=error.hint)
    if isinstance(error, InvalidInput):
        return _invalid(error, config, workload)
    return LoopProblem("failed", error.message, hint=error.hint)


def _invalid(error: InvalidInput, config: ClusterConfig, workload: str) -> LoopProblem:
    """The first bad manifest with its line, when the build refused the folder for its manifests.

    The build reports every problem in one message; rather than parse it, the files that went
    into an unvalidated build are checked again (only on this error path, so the cost is moot).
    """
    problems = _manifest_problems(config, workload)
    if not problems:  # refused for another reason: no manifests, an escaping symlink, ...
        return LoopProblem("invalid", error.message, hint=error.hint)
    first = problems[0]
    source = config.source_path(config.workload(workload))
    message = first.message + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else "")
    return LoopProblem("invalid", message, file=str(source / first.path), line=first.line, hint=error.hint)


def _manifest_problems(config: ClusterConfig, workload: str) -> list[ManifestProblem]:
    try:
        built = build_workload(config, workload, validate_manifests=False)
    except KsailError:
        return []
    problems: list[ManifestProblem] = []
    for file in built.files:
        if not is_manifest(file.path.rsplit("/", 1)[-1]):
            continue
        try:
            data = (Path(built.source_path) / file.path).read_bytes()
        except OSError:  # removed since: the next save event covers it
            continue
        problems.extend(check_manifest(file.path, data)[1])
    return problems
