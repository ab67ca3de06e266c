"""Send a layer into a registry upload session while it is built, so that a push costs about the
longer of the build and the upload rather than their sum (issue 18).

FR-017 holds: the bytes go into an upload session (``POST .../blobs/uploads/``, then ``PATCH``
chunks), which is not a blob until it is committed with its digest (``PUT ?digest=``). The session is
committed, and the manifest pushed, only after the build has validated every document; a build that
fails cancels it (``DELETE``), and nothing of it becomes addressable in the registry.

A layer smaller than one chunk never opens a session while it is built: it goes whole, after the
build, as before. A layer the registry already has (the same content pushed before) is not
committed again. Which manifest the tag holds is asked at the start, beside the build: a version
that already exists is not uploaded at all unless it is forced.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from dataclasses import dataclass

from ksail_tui.oci.registry_client import RegistryClient, RemoteManifest

# A chunk is sent once this much of the layer is compressed; at most a few wait to be sent, so the
# memory of a push does not grow with the layer, and a slow registry slows the build down to its pace.
CHUNK_BYTES = 1 << 20
_CHUNKS_AHEAD = 4
# How long a failed build waits for the upload to be cancelled before it reports: a registry that
# hangs must not hold up the error that names a broken manifest (its session is purged anyway).
_CANCEL_GRACE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class _Commit:
    digest: str
    last: bytes


class _Cancel:
    """Sent to the uploading thread when the build failed or the version needs no upload."""


_CANCEL = _Cancel()


class LayerUpload:
    """The layer sink of a push: :meth:`write` takes the compressed layer as it is produced.

    Then exactly one of :meth:`commit` (the build passed) or :meth:`cancel` (anything else). Errors of
    the registry are kept and raised by :meth:`existing` or :meth:`commit`, after the build, so that
    a folder with invalid manifests is named as such even when the registry is down.
    """

    def __init__(self, client: RegistryClient, repository: str, tag: str, *, force: bool) -> None:
        self._client = client
        self._repository = repository
        self._tag = tag
        self._force = force
        self._chunks: queue.Queue[bytes | _Commit | _Cancel] = queue.Queue(maxsize=_CHUNKS_AHEAD)
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._existing: RemoteManifest | None = None
        self._checked = threading.Event()
        self._wanted = False  # set with _checked: the version is to be uploaded
        self._discarding = False
        self._cancelled = False
        self._error: BaseException | None = None
        self._location: str | None = None
        self.streamed_bytes = 0  # sent while the build ran
        self._thread = threading.Thread(target=self._run, name="layer-upload", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        if self._discarding:
            return
        self._pending.append(data)
        self._pending_bytes += len(data)
        # Kept until the registry said whether it wants the layer: a registry that is slow to answer
        # then holds up nothing (it holds the layer in memory, as a push did before it streamed).
        if self._pending_bytes >= CHUNK_BYTES and self._checked.is_set():
            if not self._wanted:
                self._discarding = True
                self._pending.clear()
                return
            self._chunks.put(self._take_pending())

    def existing(self) -> RemoteManifest | None:
        """The manifest the tag held when the push began (None: a new version)."""
        self._checked.wait()
        if self._error is not None:
            raise self._error
        return self._existing

    def commit(self, digest: str) -> None:
        """The build passed: make the layer the blob ``digest`` unless the registry has it."""
        self._chunks.put(_Commit(digest, self._take_pending()))
        self._thread.join()
        if self._error is not None:
            raise self._error

    def cancel(self) -> None:
        """Discard what was sent; nothing of this layer stays in the registry."""
        self._cancelled = True
        self._pending.clear()
        with contextlib.suppress(queue.Full):  # else the thread sees _cancelled at its next item
            self._chunks.put_nowait(_CANCEL)
        self._thread.join(_CANCEL_GRACE_SECONDS)

    def _take_pending(self) -> bytes:
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        return data

    def _run(self) -> None:
        try:
            self._existing = self._client.get_manifest(self._repository, self._tag)
        except BaseException as error:  # raised in the building thread, after the build
            self._error = error
        self._wanted = self._error is None and (self._existing is None or self._force)
        self._checked.set()
        while True:
            # Every item is taken, whatever happened, so that the build never waits on a full queue.
            item = self._chunks.get()
            if self._cancelled or isinstance(item, _Cancel):
                self._discard()
                return
            if isinstance(item, _Commit):
                self._finish(item)
                return
            if self._error is not None:
                continue
            try:
                if self._location is None:
                    self._location = self._client.start_upload(self._repository, "the layer")
                self._location = self._client.upload_chunk(self._location, self.streamed_bytes, item)
                self.streamed_bytes += len(item)
            except BaseException as error:
                self._error = error

    def _finish(self, commit: _Commit) -> None:
        if self._error is not None:
            self._discard()
            return
        try:
            if self._client.blob_exists(self._repository, commit.digest):
                self._discard()  # the same content was pushed before: its blob is there
            elif self._location is None:
                self._client.upload_blob(self._repository, commit.digest, commit.last)
            else:
                self._client.finish_upload(self._location, commit.digest, commit.last)
                self._location = None
        except BaseException as error:
            self._error = error
            self._discard()

    def _discard(self) -> None:
        if self._location is not None:
            self._client.cancel_upload(self._location)
            self._location = None
