"""The kopf shell around :mod:`.service`: the only module that imports kopf.

Handlers do nothing but hand the Environment to :class:`.service.EnvironmentService`:
create, update and resume converge it; a timer converges every Environment again each
``resync_seconds`` (drift, spec.ttl); an event on anything it owns (edited or deleted by hand)
converges the owner, and one on a Project its Environments; delete runs the cleanup behind a
finalizer.

kopf runs standalone (no peering objects) with both watch timeouts set: a watch request ends
server-side after ``watch_timeout`` seconds and client-side a little later, so a stream that
went silent without closing (kopf issues #585, #957, #1276) is replaced within that time.
A finalizer blocks deleting an Environment while the operator is down: start it again, or
remove the finalizer ``catalyst.dev/environment-cleanup`` by hand (and the namespace with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import kopf

from ksail_tui.kube.client import NAMESPACES, KubeClient
from ksail_tui.operator import heartbeat, naming
from ksail_tui.operator.objects import Obj
from ksail_tui.operator.reconcile import StepEvent
from ksail_tui.operator.service import (
    ENVIRONMENTS,
    OWNED,
    PROJECTS,
    EnvironmentService,
    NotConverged,
    owner_of,
)
from ksail_tui.operator.settings import Settings

RETRY_SECONDS = 1.0
CLEANUP_POLL_SECONDS = 1.0
_ENVIRONMENTS = (naming.GROUP, naming.VERSION, ENVIRONMENTS.plural)
_OWNED_LABELS = {naming.MANAGED_BY_LABEL: naming.MANAGED_BY}


@dataclass(frozen=True)
class WatchTimeouts:
    # timeoutSeconds of each watch request: whole seconds, kube-apiserver answers 400 to "60.0"
    # (kopf sends str() of the setting as it is).
    server: int = 60
    connect: float = 5.0

    @property
    def client(self) -> float:
        # The whole request, a little longer than the server's own end of it.
        return self.server + 5.0


def operator_settings(timeouts: WatchTimeouts) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.peering.standalone = True
    settings.peering.clusterwide = True
    settings.watching.server_timeout = timeouts.server
    settings.watching.client_timeout = timeouts.client
    settings.watching.connect_timeout = timeouts.connect
    settings.persistence.finalizer = naming.FINALIZER
    # kopf's bookkeeping in annotations of our group, not in a status.kopf the CRD does not know.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=naming.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=naming.GROUP)
    # Our step events say what happens; kopf's "Handler succeeded" events would only repeat it.
    settings.posting.level = logging.WARNING
    return settings


def _connection(client: KubeClient) -> kopf.ConnectionInfo:
    """kopf's credentials from the kubeconfig (and context) the KubeClient loaded."""
    config = client.configuration
    header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix("authorization")
    scheme, _, token = (header or "").rpartition(" ")
    return kopf.ConnectionInfo(
        server=client.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        scheme=scheme or None,
        token=token or None,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
    )


def _post_event(environment: Obj, event: StepEvent) -> None:
    kopf.event(
        kopf.Body(cast(kopf.RawBody, environment)),
        type=event.type,
        reason=event.reason,
        message=event.message,
    )


def build_registry(service: EnvironmentService) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return _connection(service.client)

    def converge(namespace: str, name: str) -> None:
        try:
            plan = service.converge(namespace, name)
        except NotConverged as error:
            raise kopf.TemporaryError(str(error), delay=RETRY_SECONDS) from None
        # A short wait (a Project to appear, a namespace to terminate) is a retry; anything
        # longer (spec.ttl) is left to the resync timer, so a spec change is never held back.
        requeue = plan.requeue_after if plan is not None and not plan.expired else None
        if requeue is not None and requeue <= service.settings.resync_seconds:
            raise kopf.TemporaryError("waiting before the next pass", delay=max(requeue, RETRY_SECONDS))

    @kopf.on.resume(*_ENVIRONMENTS, registry=registry)
    @kopf.on.create(*_ENVIRONMENTS, registry=registry)
    @kopf.on.update(*_ENVIRONMENTS, registry=registry)
    def environment_changed(name: str, namespace: str | None, **_: Any) -> None:
        converge(namespace or "", name)

    def converge_quietly(namespace: str, name: str) -> None:
        # For passes not started by the Environment's own handler: running out of passes is
        # left to its resync timer, and the status says which step is stuck.
        with contextlib.suppress(NotConverged):
            service.converge(namespace, name)

    resync_seconds = service.settings.resync_seconds

    @kopf.timer(*_ENVIRONMENTS, interval=resync_seconds, initial_delay=resync_seconds, registry=registry)
    def resync(name: str, namespace: str | None, **_: Any) -> None:
        converge_quietly(namespace or "", name)

    @kopf.on.delete(*_ENVIRONMENTS, registry=registry)
    def environment_deleted(body: kopf.Body, **_: Any) -> None:
        cleanup = service.clean_up(dict(body))
        if not cleanup.done:
            raise kopf.TemporaryError(cleanup.message, delay=CLEANUP_POLL_SECONDS)

    def child_changed(event: kopf.RawEvent, **_: Any) -> None:
        # Only hand edits and deletions matter; ADDED is our own apply, None the initial list.
        if event["type"] not in ("MODIFIED", "DELETED"):
            return
        owner = owner_of(dict(event["object"]))
        if owner is not None:
            converge_quietly(*owner)

    @kopf.on.event(PROJECTS.group, PROJECTS.version, PROJECTS.plural, registry=registry)
    def project_changed(event: kopf.RawEvent, **_: Any) -> None:
        # A Project created late or a defaultQuota changed reaches its Environments at once.
        if event["type"] in ("ADDED", "MODIFIED"):
            for owner in service.environments_of(dict(event["object"])):
                converge_quietly(*owner)

    _heartbeat(registry, service.client)
    for resource in (*OWNED, NAMESPACES):
        kopf.on.event(
            resource.group, resource.version, resource.plural, labels=_OWNED_LABELS, registry=registry
        )(child_changed)
    return registry


def _heartbeat(registry: kopf.OperatorRegistry, client: KubeClient) -> None:
    holder = heartbeat.holder_identity()
    beating: list[asyncio.Task[None]] = []

    async def beat() -> None:
        while True:
            try:
                await asyncio.to_thread(heartbeat.renew, client, holder, datetime.now(UTC))
            except Exception as error:  # the API server away for a moment: the next beat retries
                logging.getLogger(__name__).warning("cannot renew the heartbeat Lease: %s", error)
            await asyncio.sleep(heartbeat.RENEW_SECONDS)

    @kopf.on.startup(registry=registry)
    async def start_heartbeat(**_: Any) -> None:
        beating.append(asyncio.create_task(beat(), name="heartbeat"))

    @kopf.on.cleanup(registry=registry)
    async def stop_heartbeat(**_: Any) -> None:
        for task in beating:
            task.cancel()
        with contextlib.suppress(Exception):  # best effort: an unrenewed Lease expires anyway
            await asyncio.to_thread(heartbeat.release, client, holder)


# kopf warns that an operator in a thread cannot stop on SIGINT/SIGTERM; OperatorThread stops it with
# its stop flag, so the warning says nothing, and would reach the embedding program's terminal (the
# demo prints it on quit).
_SIGNALS_IN_A_THREAD = "OS signals are ignored: running not in the main thread."
_KOPF_REACTOR_LOGGER = "kopf._core.reactor.running"


def _not_the_thread_signal_warning(record: logging.LogRecord) -> bool:
    return record.getMessage() != _SIGNALS_IN_A_THREAD


class OperatorThread:
    """The operator in a thread of its own, with its own event loop (for tests, the benchmark
    and embedding); ``stop()`` ends it cleanly."""

    def __init__(
        self,
        client: KubeClient,
        settings: Settings | None = None,
        timeouts: WatchTimeouts | None = None,
    ) -> None:
        self.service = EnvironmentService(client, settings, _post_event)
        self._registry = build_registry(self.service)
        self._settings = operator_settings(timeouts or WatchTimeouts())
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="environment-operator", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(
                kopf.operator(
                    registry=self._registry,
                    settings=self._settings,
                    standalone=True,
                    clusterwide=True,
                    stop_flag=self._stop,
                    ready_flag=self._ready,
                )
            )
        except BaseException as error:  # reported to whoever started it, not lost in a thread
            self.error = error

    def start(self, timeout: float = 30.0) -> OperatorThread:
        reactor = logging.getLogger(_KOPF_REACTOR_LOGGER)
        if _not_the_thread_signal_warning not in reactor.filters:
            reactor.addFilter(_not_the_thread_signal_warning)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the operator did not start")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self.service.close()

    def __enter__(self) -> OperatorThread:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def run(
    client: KubeClient,
    settings: Settings | None = None,
    timeouts: WatchTimeouts | None = None,
    liveness_endpoint: str | None = None,
) -> None:
    """Run in the foreground until SIGINT/SIGTERM, as ``kopf run --standalone`` does."""
    service = EnvironmentService(client, settings, _post_event)
    kopf.run(
        registry=build_registry(service),
        settings=operator_settings(timeouts or WatchTimeouts()),
        standalone=True,
        clusterwide=True,
        liveness_endpoint=liveness_endpoint,
    )
