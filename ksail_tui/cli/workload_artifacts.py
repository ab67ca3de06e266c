"""``ksail-tui workload build|push|list|diff|prune``: the workload's versions as OCI artifacts.

Everything heavy is imported inside the handlers: ``workload push`` of a small folder must finish in
under half a second, so this module and what it imports never load textual, kubernetes or docker.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ksail_tui.cli.common import (
    add_command,
    add_timeout,
    emit,
    load_config,
    progress,
    wants_json,
    within_registry_timeout,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ksail_tui.config import ClusterConfig, Workload
    from ksail_tui.models import OCIArtifact
    from ksail_tui.oci.build import BuiltArtifact
    from ksail_tui.oci.service import PruneResult, PushProgress


def register(subparsers: argparse._SubParsersAction) -> None:
    build = add_command(
        subparsers, "build", _build, "validate a workload's folder and build it into a Flux OCI artifact"
    )
    _add_name(build)
    _add_version(build)
    # -o is the global text|json switch, so the tarball goes to -O/--out.
    build.add_argument("-O", "--out", metavar="FILE", help="write the artifact's layer (tar.gz) to FILE")

    push = add_command(
        subparsers,
        "push",
        within_registry_timeout(_push),
        "build a workload and push it to the registry as a version",
    )
    _add_name(push)
    _add_version(push)
    push.add_argument("--force", action="store_true", help="overwrite a pushed version with other content")
    push.add_argument(
        "--also-tag",
        action="append",
        default=[],
        metavar="TAG",
        help="also point this moving tag (e.g. latest) at the pushed version; repeatable",
    )

    listing = add_command(
        subparsers, "list", within_registry_timeout(_list), "list workloads' pushed versions, newest first"
    )
    _add_names(listing)

    diff = add_command(
        subparsers,
        "diff",
        within_registry_timeout(_diff),
        "show which files differ between the folder and a pushed version",
    )
    _add_name(diff)
    _add_version(diff, what="the pushed version to compare with")

    prune = add_command(
        subparsers,
        "prune",
        within_registry_timeout(_prune),
        "delete old versions from the registry, keeping the newest of each workload",
    )
    _add_names(prune)
    prune.add_argument(
        "--keep", type=int, required=True, metavar="N", help="how many of the newest versions to keep"
    )
    prune.add_argument("--dry-run", action="store_true", help="show what would be deleted, delete nothing")
    prune.add_argument("--yes", action="store_true", help="delete without asking")
    prune.add_argument(
        "--ignore-cluster-references",
        action="store_true",
        help="prune even when the cluster cannot be asked which versions Flux uses: "
        "may delete a version the cluster runs",
    )
    for command in (push, listing, diff, prune):
        add_timeout(command, "60s", "the deadline of all the command's registry requests together")


def _add_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="the workload (default: the only one configured)")


def _add_names(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="workloads (default: all)")


def _add_version(parser: argparse.ArgumentParser, what: str = "the version to build") -> None:
    parser.add_argument("--version", help=f"{what} (default: the workload's version in ksail.yaml)")


# --- handlers --------------------------------------------------------------------------------------


def _build(args: argparse.Namespace) -> int:
    from ksail_tui.humanize import plural
    from ksail_tui.oci.build import build_workload

    config = load_config(args)
    out = Path(args.out).expanduser().resolve() if args.out else None
    if out is None:  # only the digests are wanted: the layer is not kept
        built = build_workload(config, args.name, version=args.version, layer_sink=len)
    else:
        built = _build_to_file(args, config, out)
    _warn_skipped(built.skipped_symlinks)
    data = {
        "workload": config.workload(args.name).name,
        "version": built.version,
        "source": str(built.source_path),
        "files": [file.path for file in built.files],
        "size": built.size,
        "layer_size": built.layer_size,
        "layer_digest": built.layer_digest,
        "manifest_digest": built.manifest_digest,
        "annotations": built.annotations,
        "skipped_symlinks": list(built.skipped_symlinks),
        "out": str(out) if out else None,
    }
    lines = [
        f"built {data['workload']} {built.version} from {built.source_path}: "
        f"{plural(len(built.files), 'file')}, {_size(built.size)}",
        f"  layer     {built.layer_digest}",
        f"  manifest  {built.manifest_digest}",
        f"  revision  {built.revision}",
    ]
    if out:
        lines.append(f"  wrote the layer to {out}")
    emit(args, data, "\n".join(lines))
    return 0


def _build_to_file(args: argparse.Namespace, config: ClusterConfig, out: Path) -> BuiltArtifact:
    """Build with the layer streamed to a file beside ``out``, renamed over it once the build passed:
    a failed build leaves ``out`` as it was."""
    import os

    from ksail_tui.errors import InvalidInput
    from ksail_tui.oci.build import build_workload

    source = Path(os.path.realpath(config.source_path(config.workload(args.name))))
    if out == source or source in out.parents:
        raise InvalidInput(
            f"{out} is inside the source folder {source}, which is never modified",
            hint="write the tarball somewhere else",
        )
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        with partial.open("xb") as handle:
            built = build_workload(config, args.name, version=args.version, layer_sink=handle.write)
        partial.replace(out)
    except OSError as error:
        raise InvalidInput(
            f"cannot write the layer to {out}: {error.strerror or error}",
            hint="give -O a file in a folder that exists and that you can write to",
        ) from None
    finally:
        partial.unlink(missing_ok=True)
    return built


def _push(args: argparse.Namespace) -> int:
    from ksail_tui.oci.service import push_workload

    config = load_config(args)
    result = push_workload(
        config,
        args.name,
        version=args.version,
        force=args.force,
        also_tags=args.also_tag,
        on_progress=_progress_printer(args),
    )
    _warn_skipped(result.skipped_symlinks)
    artifact = result.artifact
    if not result.pushed:
        text = f"{artifact.reference} already pushed with the same content ({artifact.digest}); nothing to do"
    else:
        verb = "overwrote" if result.overwritten else "pushed"
        text = f"{verb} {artifact.reference} ({artifact.digest}, {_size(artifact.size or 0)})"
    if result.also_tags:
        text += f"\n  also tagged {', '.join(result.also_tags)}"
    emit(args, result.to_json(), text)
    return 0


def _progress_printer(args: argparse.Namespace) -> Callable[[PushProgress], None]:
    """Print each phase once on stderr; the byte counts are for the dashboard's progress bar."""
    last_phase: list[str] = []

    def show(update: PushProgress) -> None:
        if last_phase[-1:] != [update.phase]:
            last_phase.append(update.phase)
            progress(args, update.message or str(update.phase))  # messages already start with the verb

    return show


def _list(args: argparse.Namespace) -> int:
    from ksail_tui.oci.service import list_versions

    config = load_config(args)
    rows = [(workload, list_versions(config, workload.name)) for workload in _selected(config, args.names)]

    def text() -> str:
        if len(rows) == 1 and rows[0][1]:
            return _version_table([("", artifact) for artifact in rows[0][1]], by_workload=False)
        tables = [(workload.name, artifact) for workload, artifacts in rows for artifact in artifacts]
        empty = [
            f"no versions of {workload.name} in {config.registry_endpoint}/{config.repository_of(workload)}"
            for workload, artifacts in rows
            if not artifacts
        ]
        return "\n".join(([_version_table(tables, by_workload=len(rows) > 1)] if tables else []) + empty)

    emit(
        args,
        [
            {"workload": workload.name, **artifact.model_dump(mode="json")}
            for workload, artifacts in rows
            for artifact in artifacts
        ],
        text,
    )
    return 0


def _selected(config: ClusterConfig, names: list[str]) -> list[Workload]:
    """The named workloads, or every configured one (as ``workload status`` does)."""
    return [config.workload(name) for name in names] if names else list(config.workloads)


def _version_table(artifacts: list[tuple[str, OCIArtifact]], *, by_workload: bool) -> str:
    from ksail_tui.humanize import short_digest

    rows: list[tuple[str, ...]] = [("WORKLOAD", "VERSION", "DIGEST", "CREATED", "SIZE", "REVISION")]
    for workload, artifact in artifacts:
        created = artifact.created.strftime("%Y-%m-%d %H:%M:%S") if artifact.created else "-"
        digest = short_digest(artifact.digest)
        size = _size(artifact.size or 0)
        rows.append((workload, artifact.tag, digest, created, size, artifact.revision or "-"))
    if not by_workload:
        rows = [row[1:] for row in rows]
    *padded, last = range(len(rows[0]))
    widths = [max(len(row[column]) for row in rows) for column in padded]
    return "\n".join(
        "  ".join(row[column].ljust(widths[column]) for column in padded) + "  " + row[last] for row in rows
    )


def _diff(args: argparse.Namespace) -> int:
    from ksail_tui.oci.service import diff_workload

    config = load_config(args)
    diff = diff_workload(config, args.name, version=args.version)

    def text() -> str:
        if diff.identical:
            how = "same layer digest" if diff.same_layer else "same files, layer built differently"
            return f"no differences between the folder and {diff.reference} ({how})"
        lines = [f"the folder differs from {diff.reference}:"]
        lines += [f"  added     {path}" for path in diff.added]
        lines += [f"  removed   {path}" for path in diff.removed]
        lines += [f"  modified  {path}" for path in diff.modified]
        return "\n".join(lines)

    emit(args, diff.to_json(), text)
    return 0 if diff.identical else 1  # as diff(1) does, so that scripts can test it


def _prune(args: argparse.Namespace) -> int:
    from ksail_tui.errors import InvalidInput

    config = load_config(args)
    workloads = _selected(config, args.names)
    if args.ignore_cluster_references:
        _warn("the cluster is not consulted: versions Flux uses are protected only by --keep")
    if not args.dry_run and not args.yes and (not sys.stdin.isatty() or wants_json(args)):
        raise InvalidInput("prune deletes versions: pass --yes to confirm, or --dry-run to preview")
    results = [_prune_one(args, config, workload) for workload in workloads]
    done = [result for result in results if result is not None]
    emit(
        args,
        [{"workload": workload, **result.to_json()} for workload, result in done],
        lambda: "\n".join(
            _pruned_text(workload, result, titled=len(workloads) > 1) for workload, result in done
        ),
    )
    return 0 if len(done) == len(results) else 1


def _prune_one(
    args: argparse.Namespace, config: ClusterConfig, workload: Workload
) -> tuple[str, PruneResult] | None:
    """Prune one workload, asking first unless --yes or --dry-run; None when the answer is no."""
    from ksail_tui.humanize import plural
    from ksail_tui.oci.service import prune_versions

    ignore = args.ignore_cluster_references
    dry_run = args.dry_run
    confirmed: tuple[str, ...] | None = None
    if not dry_run and not args.yes:
        preview = prune_versions(
            config, workload.name, keep=args.keep, dry_run=True, ignore_cluster_references=ignore
        )
        if not preview.deleted:
            dry_run = True
        else:
            tags = ", ".join(artifact.tag for artifact in preview.deleted)
            repository = config.repository_of(workload)
            try:
                answer = input(
                    f"delete {plural(len(preview.deleted), 'version')} of {repository} ({tags})? [y/N] "
                )
            except EOFError:  # Ctrl-D: no
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                print(f"nothing deleted in {repository}", file=sys.stderr)
                return None
            confirmed = preview.deleted_digests
    result = prune_versions(
        config,
        workload.name,
        keep=args.keep,
        dry_run=dry_run,
        confirmed_digests=confirmed,
        ignore_cluster_references=ignore,
    )
    return workload.name, result


def _pruned_text(workload: str, result: PruneResult, *, titled: bool) -> str:
    from ksail_tui.humanize import short_digest

    repository = result.repository
    verb = "would delete" if result.dry_run else "deleted"
    lines = [f"{workload} ({repository}):"] if titled else []
    lines += [f"{verb} {artifact.tag} ({short_digest(artifact.digest)})" for artifact in result.deleted]
    if not result.deleted:
        lines.append(f"nothing to prune in {repository}")
    lines.append(f"kept: {', '.join(result.kept) or 'none'}")
    lines += [f"kept {tag}: {why}" for tag, why in zip(result.protected, result.protected_by, strict=True)]
    if result.shared:
        lines.append(f"kept, same manifest as a kept tag: {', '.join(result.shared)}")
    if result.deleted:
        can = "could reclaim" if result.dry_run else "can now reclaim"
        lines.append(
            f"the registry's garbage collection {can} up to {_size(result.reclaimable_bytes)} "
            "(`ksail-tui registry gc`)"
        )
    return "\n".join(lines)


# --- output helpers --------------------------------------------------------------------------------


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _warn_skipped(symlinks: tuple[str, ...]) -> None:
    for link in symlinks:
        _warn(f"skipped the symlink {link}: Flux leaves symlinks out of artifacts")


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"
