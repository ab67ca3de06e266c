"""The Flux controllers' pod logs about one object, followed (``flux logs --kind --name
--namespace --follow`` semantics).

The object's controller (``BY_KIND[kind].controller``: source-, kustomize-, helm-controller...)
runs as Pods labelled ``app=<controller>`` in the Flux namespace, as ``flux install`` labels them.
Each Pod's log is streamed (``GET .../pods/{pod}/log?follow=true&tailLines=N``), its JSON lines
parsed (:func:`ksail_tui.flux.logs.parse_line`) and those about the object handed on.

A stream that drops is opened again, after a growing pause, and the lines the new stream replays
(its tail) that were already shown are skipped; a Pod that is gone (a rollout) is replaced by the
controller's new Pod. What the user should know (no controller Pods, a 403, a reconnect) comes as
a :class:`LogNotice`; ``final`` ones end the following.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from ksail_tui.errors import InvalidInput, KsailError, OperationFailed, TimedOut, Unavailable
from ksail_tui.flux.kinds import BY_KIND
from ksail_tui.flux.logs import MAX_LINES, LogNotice, OnLine, OnNotice, parse_line
from ksail_tui.kube.client import PODS, ApiError, KubeClient, LogStream
from ksail_tui.models import ObjectRef

# The controllers' container in Flux's Deployments; asked for by name when a Pod has several.
CONTAINER = "manager"
INSTALL_HINT = (
    "install Flux (`ksail-tui flux install`, or `flux install`), or set spec.cluster.flux.namespace "
    "to the namespace Flux runs in"
)


def controller_label(ref: ObjectRef) -> str:
    """The label selector of the Pods of the controller that reconciles ``ref``'s kind."""
    flux_kind = BY_KIND.get(ref.kind)
    if flux_kind is None:
        raise InvalidInput(f"{ref.kind} is not a Flux kind: no controller logs about it")
    return f"app={flux_kind.controller}"


def controller_pods(kube: KubeClient, selector: str, flux_namespace: str) -> list[dict[str, Any]]:
    """The Pods matching ``selector`` in the Flux namespace; a clear error when there are none or
    the user may not list them."""
    try:
        pods = kube.list(PODS, flux_namespace, label_selector=selector).get("items") or []
    except ApiError as error:
        if error.status == 403:
            raise OperationFailed(
                f"not allowed to list pods in {flux_namespace} (403): {error.api_message}",
                hint=f"reading controller logs needs list on pods and get on pods/log in {flux_namespace} "
                f"(check with `kubectl auth can-i get pods/log -n {flux_namespace}`)",
            ) from None
        if error.status != 404:  # 404: the namespace itself does not exist
            raise
        pods = []
    pods = [pod for pod in pods if not pod["metadata"].get("deletionTimestamp")]
    if not pods:
        raise Unavailable(
            f"no controller pods in namespace {flux_namespace}: none is labelled {selector}",
            hint=INSTALL_HINT,
        )
    return sorted(pods, key=lambda pod: str(pod["metadata"]["name"]))


def _container(pod: dict[str, Any]) -> str | None:
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or () if isinstance(c, dict)]
    return CONTAINER if len(names) > 1 and CONTAINER in names else None


class _Seen:
    """The last lines a Pod's stream delivered, to skip them when a new stream replays its tail."""

    def __init__(self, size: int) -> None:
        self._order: deque[str] = deque()
        self._count: Counter[str] = Counter()
        self._size = size

    def __contains__(self, text: str) -> bool:
        return self._count[text] > 0

    def add(self, text: str) -> None:
        self._order.append(text)
        self._count[text] += 1
        if len(self._order) > self._size:
            self._count[self._order.popleft()] -= 1


class ControllerLogs:
    """Follows the logs of ``ref``'s controller Pods on background threads until :meth:`stop`.

    ``on_line`` gets each line about ``ref`` (first the kept ones, up to ``tail_lines`` per Pod),
    ``on_notice`` what the user should know; both run on those threads and must not block.
    """

    def __init__(
        self,
        kube: KubeClient,
        ref: ObjectRef,
        on_line: OnLine,
        on_notice: OnNotice,
        *,
        flux_namespace: str,
        tail_lines: int = MAX_LINES,
        retry_delay: float = 1.0,
        max_retry_delay: float = 30.0,
        idle_timeout: float = 300.0,
    ) -> None:
        self.kube = kube
        self.ref = ref
        self.selector = controller_label(ref)
        self.controller = self.selector.removeprefix("app=")
        self.flux_namespace = flux_namespace
        self._on_line = on_line
        self._on_notice = on_notice
        self._tail_lines = tail_lines
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._idle_timeout = idle_timeout
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._following: set[str] = set()
        self._streams: dict[str, LogStream] = {}
        self._threads: list[threading.Thread] = []

    def start(self) -> Callable[[], None]:
        """Start following (nothing blocks here); returns :meth:`stop`."""
        self._spawn(self._discover, "logs-discover")
        return self.stop

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            streams = list(self._streams.values())
        for stream in streams:
            stream.close()

    def join(self, timeout: float) -> None:
        for thread in list(self._threads):
            thread.join(timeout)

    # --- threads --------------------------------------------------------------------------

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _notice(self, message: str, hint: str = "", *, final: bool = False) -> None:
        if not self._stopping.is_set():
            self._on_notice(LogNotice(message, hint, final))

    def _discover(self) -> None:
        try:
            pods = controller_pods(self.kube, self.selector, self.flux_namespace)
        except KsailError as error:
            self._notice(error.message, error.hint or "", final=True)
            return
        for pod in pods:
            self._take(pod)

    def _take(self, pod: dict[str, Any]) -> bool:
        """Follow ``pod`` on a thread of its own, unless another thread follows it already."""
        name = str(pod["metadata"]["name"])
        with self._lock:
            if name in self._following or self._stopping.is_set():
                return False
            self._following.add(name)
        container = _container(pod)
        self._spawn(lambda: self._follow(name, container), f"logs-{name}")
        return True

    def _pause(self, delay: float) -> float:
        """Wait ``delay`` (or until stopped); the next, longer delay."""
        self._stopping.wait(delay)
        return min(delay * 2, self._max_retry_delay)

    def _follow(self, pod: str, container: str | None) -> None:
        seen = _Seen(self._tail_lines)
        delay = self._retry_delay
        replaying = False
        try:
            while not self._stopping.is_set():
                try:
                    stream = self.kube.pod_log(
                        self.flux_namespace,
                        pod,
                        container=container,
                        follow=True,
                        tail_lines=self._tail_lines,
                        idle_timeout=self._idle_timeout,
                    )
                except ApiError as error:
                    if error.status == 403:
                        self._notice(
                            f"not allowed to read the logs of pod {self.flux_namespace}/{pod} (403): "
                            f"{error.api_message}",
                            f"reading controller logs needs get on pods/log in {self.flux_namespace}",
                            final=True,
                        )
                        return
                    if error.status == 404:
                        self._replace(pod)
                        return
                    self._notice(f"pod {pod}: {error.api_message or error.message}; trying again")
                    delay = self._pause(delay)
                    continue
                except KsailError as error:
                    if self.kube.deadline is not None and self.kube.deadline.expired:
                        self._notice(error.message, error.hint or "", final=True)  # no retry can succeed
                        return
                    self._notice(f"{error.message}; trying again in {delay:g}s")
                    delay = self._pause(delay)
                    continue
                with self._lock:
                    self._streams[pod] = stream
                if self._stopping.is_set():
                    stream.close()
                    return
                dropped, delivered = self._read(stream, seen, replaying)
                if delivered:
                    delay = self._retry_delay
                with self._lock:
                    self._streams.pop(pod, None)
                if self._stopping.is_set():
                    return
                replaying = True
                if dropped is None:  # silent past the idle timeout: open it again at once
                    continue
                try:
                    gone = self.kube.get_or_none(PODS, pod, self.flux_namespace) is None
                except KsailError:
                    gone = False  # the API server is away too: try the stream again after a pause
                if gone:
                    self._replace(pod)
                    return
                if dropped:
                    self._notice(f"the log stream of pod {pod} dropped; reconnecting in {delay:g}s")
                delay = self._pause(delay)
        except KsailError as error:  # the API server went away while looking for the Pod
            self._notice(f"{error.message}; following pod {pod} stopped", error.hint or "", final=True)
        finally:
            with self._lock:
                self._following.discard(pod)

    def _read(self, stream: LogStream, seen: _Seen, replaying: bool) -> tuple[bool | None, bool]:
        """Hand on the stream's lines about ``ref``. Returns True when the stream broke, False when
        it ended, None when it was idle too long; and whether it brought a new line.
        ``replaying``: skip the lines a reconnect replays."""
        delivered = False
        try:
            for text in stream:
                if replaying and text in seen:
                    continue
                replaying, delivered = False, True
                seen.add(text)
                line = parse_line(self.controller, text)
                if line is not None and line.about(self.ref):
                    self._on_line(line)
        except TimedOut:
            return None, delivered
        except KsailError:
            return True, delivered
        return False, delivered

    def _replace(self, pod: str) -> None:
        """``pod`` is gone: follow the controller's Pods that nobody follows yet, once they exist."""
        self._notice(f"pod {pod} is gone; waiting for the new {self.controller} pod")
        with self._lock:
            self._following.discard(pod)
        delay = self._retry_delay
        while not self._stopping.is_set():
            try:
                pods = controller_pods(self.kube, self.selector, self.flux_namespace)
            except Unavailable:
                delay = self._pause(delay)
                continue
            except KsailError as error:
                self._notice(error.message, error.hint or "", final=True)
                return
            fresh = [p for p in pods if str(p["metadata"]["name"]) != pod]
            if any([self._take(p) for p in fresh]):
                return
            delay = self._pause(delay)


def follow_controller_logs(
    kube: KubeClient, ref: ObjectRef, on_line: OnLine, on_notice: OnNotice, *, flux_namespace: str
) -> Callable[[], None]:
    """Start following what ``ref``'s controller logs about it; returns the function that stops."""
    return ControllerLogs(kube, ref, on_line, on_notice, flux_namespace=flux_namespace).start()
