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

    from ksail_tui.config import ClusterConfig
    from ksail_tui.models import OCIArtifact
    from ksail_tui.oci.build import BuiltArtifact
    from ksail_tui.oci.service import PushProgress


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
        subparsers, "list", within_registry_timeout(_list), "list a workload's pushed versions, newest first"
    )
    _add_name(listing)

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
        "delete old versions from the registry, keeping the newest",
    )
    _add_name(prune)
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


def _add_version(parser: argparse.ArgumentParser, what: str = "the version to build") -> None:
    parser.add_argument("--version", help=f"{what} (default: the workload's version in ksail.yaml)")


# --- handlers --------------------------------------------------------------------------------------


def _build(args: argparse.Namespace) -> int:
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
        f"{len(built.files)} files, {_size(built.size)}",
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
    workload = config.workload(args.name)
    artifacts = list_versions(config, workload.name)
    empty = f"no versions of {workload.name} in {config.registry_endpoint}/{config.repository_of(workload)}"
    emit(
        args,
        [artifact.model_dump(mode="json") for artifact in artifacts],
        lambda: _version_table(artifacts) if artifacts else empty,
    )
    return 0


def _version_table(artifacts: list[OCIArtifact]) -> str:
    from ksail_tui.display import short_digest

    rows = [("VERSION", "DIGEST", "CREATED", "SIZE", "REVISION")]
    for artifact in artifacts:
        created = artifact.created.strftime("%Y-%m-%d %H:%M:%S") if artifact.created else "-"
        digest = short_digest(artifact.digest)
        rows.append((artifact.tag, digest, created, _size(artifact.size or 0), artifact.revision or "-"))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
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
    return 0


def _prune(args: argparse.Namespace) -> int:
    from ksail_tui.display import short_digest
    from ksail_tui.errors import InvalidInput
    from ksail_tui.oci.service import prune_versions

    config = load_config(args)
    repository = config.repository_of(config.workload(args.name))
    ignore = args.ignore_cluster_references
    if ignore:
        _warn("the cluster is not consulted: versions Flux uses are protected only by --keep")
    dry_run = args.dry_run
    confirmed: tuple[str, ...] | None = None
    if not dry_run and not args.yes:
        if not sys.stdin.isatty() or wants_json(args):
            raise InvalidInput("prune deletes versions: pass --yes to confirm, or --dry-run to preview")
        preview = prune_versions(
            config, args.name, keep=args.keep, dry_run=True, ignore_cluster_references=ignore
        )
        if not preview.deleted:
            dry_run = True
        else:
            tags = ", ".join(artifact.tag for artifact in preview.deleted)
            try:
                answer = input(f"delete {len(preview.deleted)} version(s) of {repository} ({tags})? [y/N] ")
            except EOFError:  # Ctrl-D: no
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing deleted", file=sys.stderr)
                return 1
            confirmed = preview.deleted_digests
    result = prune_versions(
        config,
        args.name,
        keep=args.keep,
        dry_run=dry_run,
        confirmed_digests=confirmed,
        ignore_cluster_references=ignore,
    )

    def text() -> str:
        verb = "would delete" if result.dry_run else "deleted"
        lines = [f"{verb} {artifact.tag} ({short_digest(artifact.digest)})" for artifact in result.deleted]
        if not result.deleted:
            lines.append(f"nothing to prune in {repository}")
        lines.append(f"kept: {', '.join(result.kept) or 'none'}")
        lines += [
            f"kept {tag}: {why}" for tag, why in zip(result.protected, result.protected_by, strict=True)
        ]
        if result.shared:
            lines.append(f"kept, same manifest as a kept tag: {', '.join(result.shared)}")
        if result.deleted:
            can = "could reclaim" if result.dry_run else "can now reclaim"
            lines.append(
                f"the registry's garbage collection {can} up to {_size(result.reclaimable_bytes)} "
                "(`ksail-tui registry gc`)"
            )
        return "\n".join(lines)

    emit(args, result.to_json(), text)
    return 0


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
