"""A minimal HTTP/1.1 server in the engine's event loop: ``/metrics`` and the debug endpoints.

Every response is built when it is asked for, from the engine's counters and histograms, and the
connection is closed after it. With a ``token`` (which the configuration requires when the
address is not a loopback one), every request must carry ``Authorization: Bearer <token>``;
others get 401 and nothing else.

Routes: ``/metrics`` (Prometheus text), ``/debug/status`` (JSON for ``tickwire top``),
``/debug/tasks`` (JSON: the asyncio tasks and what each one waits on).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Awaitable, Callable
from urllib.parse import urlsplit

from tickwire.auth import bearer_matches
from tickwire.engine import Engine
from tickwire.exposition import describe_tasks, prometheus_text, status
from tickwire.families import ObservedNode
from tickwire.metrics import LoopLagProbe

__all__ = ["MetricsServer"]

_PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_JSON_TYPE = "application/json"
_REQUEST_TIMEOUT = 5.0
_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
}


class MetricsServer:
    """Serves the metrics of an engine or a NATS node; ``start`` binds, ``close`` stops (and
    the lag probe)."""

    def __init__(
        self, engine: Engine | ObservedNode, probe: LoopLagProbe | None = None,
        token: str | None = None,
    ) -> None:
        self.engine = engine
        self._token = None if token is None else token.encode()
        self.refused = 0
        self.probe = probe or LoopLagProbe()
        self.started_s = time.time()
        self._server: asyncio.Server | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self.url = ""
        self._routes: dict[str, tuple[str, Callable[[], Awaitable[bytes]]]] = {
            "/metrics": (_PROMETHEUS_TYPE, self._metrics),
            "/debug/status": (_JSON_TYPE, self._status),
            "/debug/tasks": (_JSON_TYPE, self._tasks),
        }

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (port 0: any free port; ``url`` says which). Raises OSError."""
        self._server = await asyncio.start_server(self._serve, host, port)
        bound_host, bound_port = self._server.sockets[0].getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}"
        self._probe_task = asyncio.create_task(self.probe.run(), name="event-loop-lag-probe")

    async def close(self) -> None:
        """Stop listening and measuring."""
        if self._probe_task is not None:
            self._probe_task.cancel()
            await asyncio.gather(self._probe_task, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _metrics(self) -> bytes:
        return (await prometheus_text(self.engine, self.probe, self.started_s)).encode()

    async def _status(self) -> bytes:
        return json.dumps(await status(self.engine, self.probe, self.started_s)).encode()

    async def _tasks(self) -> bytes:
        return json.dumps(describe_tasks()).encode()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _REQUEST_TIMEOUT)
            code, content_type, body, send_body = await self._respond(head)
            challenge = "WWW-Authenticate: Bearer\r\n" if code == 401 else ""
            writer.write(
                f"HTTP/1.1 {code} {_REASONS[code]}\r\nContent-Type: {content_type}\r\n{challenge}"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + (body if send_body else b"")
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                ConnectionError):
            pass  # a client that went away or sent no complete request: nothing to answer
        finally:
            writer.close()

    async def _respond(self, head: bytes) -> tuple[int, str, bytes, bool]:
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return 400, "text/plain", b"bad request\n", True
        method, target, _ = parts
        if self._token is not None and not bearer_matches(self._token, _header(head, b"authorization")):
            self.refused += 1
            return 401, "text/plain", b"a valid token is required\n", method != "HEAD"
        route = self._routes.get(urlsplit(target).path)
        if route is None:
            known = ", ".join(self._routes)
            return 404, "text/plain", f"not found; try {known}\n".encode(), method != "HEAD"
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"only GET and HEAD\n", True
        content_type, render = route
        return 200, content_type, await render(), method == "GET"


def _header(head: bytes, name: bytes) -> str | None:
    """The value of header ``name`` (lower case) in the request ``head``, if it has one."""
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return None
