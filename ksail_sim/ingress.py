"""A stand-in for an ingress controller (not ingress-nginx): routes by the Host header.

An HTTP server on a loopback port that, for each request, looks for an Ingress whose rule has
the request's host and answers as the app behind it would once it serves: 200 when the rule's
backend Service exists and a Deployment in that namespace is available, 503 while not, and
ingress-nginx's default-backend 404 for a host no Ingress has. Marked simulated in a header.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ksail_tui.kube.client import DEPLOYMENTS, KubeClient, Resource

INGRESSES = Resource("networking.k8s.io", "v1", "ingresses", "Ingress")
SERVICES = Resource("", "v1", "services", "Service")


class SimulatedIngressController:
    def __init__(self, kube: KubeClient, host: str = "127.0.0.1", port: int = 0) -> None:
        self.kube = kube
        self._host = host
        controller = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code, text = controller.answer(self.headers.get("Host", "").partition(":")[0])
                body = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Simulated-By", "ksail-tui.sim/ingress")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="sim-ingress", daemon=True)

    @property
    def address(self) -> str:
        return f"{self._host}:{self._server.server_port}"

    def answer(self, host: str) -> tuple[int, str]:
        for ingress in self.kube.list(INGRESSES).get("items") or []:
            namespace = ingress["metadata"]["namespace"]
            for rule in (ingress.get("spec") or {}).get("rules") or []:
                if rule.get("host") != host:
                    continue
                paths = (rule.get("http") or {}).get("paths") or [{}]
                service = ((paths[0].get("backend") or {}).get("service") or {}).get("name", "")
                if self.kube.get_or_none(SERVICES, service, namespace) is None:
                    return 503, f"503 Service Temporarily Unavailable (no Service {service})"
                if not any(_available(d) for d in self.kube.list(DEPLOYMENTS, namespace).get("items") or []):
                    return 503, "503 Service Temporarily Unavailable (no available endpoints)"
                return 200, f"ok: {namespace}/{service}"
        return 404, "default backend - 404"

    def start(self) -> SimulatedIngressController:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _available(deployment: dict[str, Any]) -> bool:
    conditions = (deployment.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)
