"""One venue's WebSocket session over picows: connect, subscribe, keep alive, reconnect.

The only networking code of the live path. Every text frame is stamped with ``time.time_ns()``
first thing in the picows callback and handed, in the same call, to ``on_frame(payload,
recv_ns, last_in_buffer)``; the session never queues, parses or logs per frame.
"""

from __future__ import annotations

import array
import asyncio
import enum
import fcntl
import logging
import random
import ssl
import termios
import time
from typing import Callable, Protocol
from urllib.parse import urlsplit

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect
from picows.common import WSError

from tickwire.policy import Backoff, backoff_delays
from tickwire.transport.rest import Prepare
from tickwire.venues.base import VenueAdapter

__all__ = [
    "ConnectionRecorder",
    "FrameConsumer",
    "SessionSettings",
    "SessionState",
    "SessionStats",
    "VenueSession",
    "connect_failure_reason",
    "redacted_url",
]

FrameConsumer = Callable[[bytes, int, bool], None]
"""``on_frame(payload, recv_ns, last_in_buffer)``: one complete text frame, and whether it ends
the socket read. An empty ``payload`` is no frame: the read ended on a frame that is not data
(a ping, a close, a fragment, a dropped frame), so what waits for the end of the read can go."""

# Connection events only (a few per hour at most); never per frame.
log = logging.getLogger("tickwire.session")

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_PING = WSMsgType.PING
_CLOSE = WSMsgType.CLOSE
_CONTINUATION = WSMsgType.CONTINUATION


class ConnectionRecorder(Protocol):
    """Where a recording session reports its connects and sent messages
    (``record.VenueRecorder``; the engine records the disconnects, when it handles them)."""

    def connected(self, url: str, time_ns: int) -> None: ...

    def sent(self, message: bytes, time_ns: int) -> None: ...


class SessionState(enum.IntEnum):
    CONNECTING = 0
    LIVE = 1
    RECONNECTING = 2
    STOPPED = 3


class SessionSettings:
    """Transport knobs shared by all venues (all seconds unless named otherwise)."""

    __slots__ = (
        "connect_timeout",
        "silence_timeout",
        "max_frame_bytes",
        "max_frames_per_second",
        "backoff",
        "ca_file",
        "max_connection_age",
    )

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        silence_timeout: float = 30.0,
        max_frame_bytes: int = 4 * 1024 * 1024,
        max_frames_per_second: int = 0,
        backoff: Backoff = Backoff(),
        ca_file: str | None = None,
        max_connection_age: float | None = None,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.silence_timeout = silence_timeout
        self.max_frame_bytes = max_frame_bytes
        self.max_frames_per_second = max_frames_per_second  # 0: no cap
        self.backoff = backoff
        self.ca_file = ca_file
        self.max_connection_age = max_connection_age


class SessionStats:
    """Per-venue transport counters (plain ints, read by metrics and the terminal view)."""

    __slots__ = (
        "frames",
        "bytes",
        "connects",
        "connect_failures",
        "connect_failure_reasons",
        "reconnects",
        "silence_timeouts",
        "liveness_pings",
        "planned_reconnects",
        "last_frame_ns",
        "last_error",
    )

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0
        self.connects = 0
        self.connect_failures = 0
        self.connect_failure_reasons: dict[str, int] = {}
        self.reconnects = 0
        self.silence_timeouts = 0
        self.liveness_pings = 0
        self.planned_reconnects = 0
        self.last_frame_ns = 0
        self.last_error = ""


def redacted_url(url: str) -> str:
    """``url`` without what may be a secret: user info and the query string (shown as ``?…``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    where = host if port is None else f"{host}:{port}"
    return f"{parts.scheme}://{where}{parts.path}{'?…' if parts.query else ''}"


def connect_failure_reason(error: BaseException) -> str:
    """Metrics reason of a failed connection attempt: ``tls_verification`` (the server's
    certificate was not trusted or not for that host), ``tls`` (another TLS failure),
    ``timeout``, ``refused``, ``handshake`` (the WebSocket upgrade failed) or ``network``."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return "tls_verification"
    if isinstance(error, ssl.SSLError):
        return "tls"
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, WSError):
        return "handshake"
    return "network"


class _Listener(WSListener):
    """picows callbacks for one connection; forwards text frames to the consumer."""

    def __init__(self, session: VenueSession) -> None:
        self._session = session
        self._stats = session.stats
        self._drop = session.adapter.stats.error
        self._on_frame = session.on_frame
        self._max_frame_bytes = session.settings.max_frame_bytes
        self._fragments: bytearray | None = None
        self._cap = session.settings.max_frames_per_second
        # The rate guard: the value of ``stats.frames`` past which the current one-second
        # window's budget is spent (each ping spends one, by lowering it), so a data frame
        # costs one compare; only then is the clock looked at (``_over_rate``).
        self._budget_end = self._stats.frames + (self._cap or 1 << 62)
        self._window_start_ns = time.time_ns()

    def _over_rate(self, recv_ns: int) -> bool:
        """The budget is spent: start a new window if the current one is over (this frame is
        its first), else count the frame as dropped (``rate_limited``) and return True."""
        if recv_ns - self._window_start_ns >= 1_000_000_000:
            self._window_start_ns = recv_ns
            self._budget_end = self._stats.frames - 1 + self._cap
            return False
        self._drop("rate_limited", f"over {self._cap} frames in a second")
        return True

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        recv_ns = time.time_ns()
        stats = self._stats
        stats.last_frame_ns = recv_ns
        msg_type = frame.msg_type
        if msg_type is _TEXT and frame.fin:
            stats.frames += 1
            size = frame.payload_size
            stats.bytes += size
            if not (stats.frames > self._budget_end and self._over_rate(recv_ns)):  # else dropped
                if size <= self._max_frame_bytes:
                    self._on_frame(frame.get_payload_as_bytes(), recv_ns, frame.last_in_buffer)
                    return
                self._drop("oversized_frame", f"{size} bytes")
        elif msg_type is _PING:
            self._budget_end -= 1
            if stats.frames > self._budget_end and self._over_rate(recv_ns):
                self._budget_end += 1  # a dropped ping spends nothing
            else:
                transport.send_pong(frame.get_payload_as_bytes())
        elif msg_type is _CLOSE:
            self._on_frame(b"", recv_ns, True)  # no frame follows: the read's lines go out first
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        elif msg_type is _TEXT or msg_type is _CONTINUATION:
            if self._fragment(frame, recv_ns):
                return
        elif msg_type is _BINARY:
            stats.frames += 1
            stats.bytes += frame.payload_size
            self._drop("binary_frame", f"{frame.payload_size} bytes")
        if frame.last_in_buffer:  # the read ended on a frame that is no data for the consumer
            self._on_frame(b"", recv_ns, True)

    def _fragment(self, frame: WSFrame, recv_ns: int) -> bool:
        """Collect one fragment; True when it completed a message (handed to the consumer)."""
        stats = self._stats
        if frame.msg_type is _TEXT:
            self._fragments = bytearray()
        elif self._fragments is None:
            return False  # continuation of a frame we are not assembling (e.g. binary)
        fragments = self._fragments
        fragments += frame.get_payload_as_memoryview()
        stats.bytes += frame.payload_size
        if len(fragments) > self._max_frame_bytes:
            stats.frames += 1
            self._drop("oversized_frame", f"over {self._max_frame_bytes} bytes in fragments")
            self._fragments = None
        elif frame.fin:
            stats.frames += 1
            self._fragments = None
            self._on_frame(bytes(fragments), recv_ns, frame.last_in_buffer)
            return True
        return False

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._session.connection_lost()


class VenueSession:
    """Keeps one venue connected and subscribed for as long as it runs.

    ``on_frame`` receives every complete text frame; ``on_down`` is called each time a live
    connection ends (before reconnecting), so consumers can drop that venue's state. A
    ``recorder`` is told of every connect and every message sent. ``prepare`` (e.g. the
    venue's instrument metadata, ``transport.rest.metadata_loader``) is awaited before the first
    connect until it returns None; a problem it returns is logged and retried with backoff.
    ``ssl_context`` (None for ``ws://``) verifies the server's certificate and host name against
    the system CAs and ``settings.ca_file``.
    """

    def __init__(
        self,
        adapter: VenueAdapter,
        endpoint: str | None,
        on_frame: FrameConsumer,
        on_down: Callable[[], None],
        settings: SessionSettings,
        rng: random.Random | None = None,
        recorder: ConnectionRecorder | None = None,
        *,
        prepare: Prepare | None = None,
    ) -> None:
        self.adapter = adapter
        self.prepare = prepare
        self.recorder = recorder
        self.url = adapter.connect_url(endpoint)
        self.shown_url = redacted_url(self.url)  # what logs and errors name
        self.on_frame = on_frame
        self.on_down = on_down
        self.settings = settings
        self.stats = SessionStats()
        self.state = SessionState.CONNECTING
        self._rng = rng or random.Random()
        self._transport: WSTransport | None = None
        self._disconnected = asyncio.Event()
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._ssl_context: ssl.SSLContext | None = None

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of a ``wss://`` URL, made at the first connect (a replay, which never
        connects, makes none: loading the CAs costs milliseconds per session)."""
        if self._ssl_context is None and self.url.startswith("wss:"):
            context = ssl.create_default_context(cafile=self.settings.ca_file)
            context.check_hostname = True
            context.verify_mode = ssl.CERT_REQUIRED
            self._ssl_context = context
        return self._ssl_context

    @property
    def name(self) -> str:
        """The venue's name."""
        return self.adapter.name

    def receive_queue_bytes(self) -> int | None:
        """Bytes the kernel has received on the live connection that were not read yet (None
        between connections or where the socket cannot tell)."""
        transport = self._transport
        if transport is None:
            return None
        sock = transport.underlying_transport.get_extra_info("socket")
        if sock is None:
            return None
        pending = array.array("i", [0])
        try:
            fcntl.ioctl(sock.fileno(), termios.FIONREAD, pending)
        except OSError:
            return None
        return pending[0]

    def connection_lost(self) -> None:
        """Called by the listener when the socket is gone."""
        self._disconnected.set()

    async def run(self) -> None:
        """Connect and stay connected until ``stop``; never raises for network trouble."""
        delays = backoff_delays(self.settings.backoff, self._rng)
        while self.prepare is not None and not self._stopping:
            problem = await self.prepare()
            self._report_venue_errors()
            if problem is None:
                break
            self.stats.last_error = problem
            log.warning("%s: %s; retrying", self.name, problem)
            await self._sleep(next(delays))
        while not self._stopping:
            connected_at = await self._connect_once()
            if self._stopping:
                break
            if connected_at is None:
                await self._sleep(next(delays))
                continue
            await self._hold_connection(connected_at)
            if self._stopping:
                break
            self.stats.reconnects += 1
            self.state = SessionState.RECONNECTING
            if time.monotonic() - connected_at >= self.settings.backoff.stable_after:
                delays = backoff_delays(self.settings.backoff, self._rng)
            await self._sleep(next(delays))
        self.state = SessionState.STOPPED

    async def _connect_once(self) -> float | None:
        self._disconnected.clear()
        try:
            transport, _ = await asyncio.wait_for(
                ws_connect(
                    lambda: _Listener(self),
                    self.url,
                    ssl_context=self.ssl_context,
                    enable_auto_pong=False,
                    max_frame_size=max(self.settings.max_frame_bytes * 4, 1 << 20),
                    websocket_handshake_timeout=self.settings.connect_timeout,
                ),
                self.settings.connect_timeout,
            )
        except (OSError, WSError, asyncio.TimeoutError, ssl.SSLError) as exc:
            stats = self.stats
            reason = connect_failure_reason(exc)
            stats.connect_failures += 1
            stats.connect_failure_reasons[reason] = stats.connect_failure_reasons.get(reason, 0) + 1
            stats.last_error = f"connect {self.shown_url}: {reason}: {type(exc).__name__}: {exc}"
            log.warning("%s: %s", self.name, self.stats.last_error)
            return None
        self._transport = transport
        self.stats.connects += 1
        log.info("%s: connected to %s", self.name, self.shown_url)
        self.stats.last_frame_ns = time.time_ns()
        self.state = SessionState.LIVE
        if self.recorder is not None:
            self.recorder.connected(self.url, self.stats.last_frame_ns)
        for message in self.adapter.on_connected():
            self._send(transport, message)
        return time.monotonic()

    def _send(self, transport: WSTransport, message: bytes) -> None:
        if self.recorder is not None:
            self.recorder.sent(message, time.time_ns())
        transport.send(_TEXT, message)

    async def _hold_connection(self, connected_at: float) -> None:
        transport = self._transport
        assert transport is not None
        settings = self.settings
        adapter = self.adapter
        keepalive = adapter.keepalive_interval
        max_age = settings.max_connection_age or adapter.max_connection_age
        tick = min(settings.silence_timeout / 4, keepalive or 1.0, 1.0)
        next_keepalive = time.monotonic() + (keepalive or 0)
        silence_ns = int(settings.silence_timeout * 1e9)
        probe_sent = False
        try:
            while not self._disconnected.is_set():
                try:
                    await asyncio.wait_for(self._disconnected.wait(), tick)
                    break
                except asyncio.TimeoutError:
                    pass
                now = time.monotonic()
                quiet_ns = time.time_ns() - self.stats.last_frame_ns
                if quiet_ns > silence_ns // 2 and not probe_sent:
                    # A quiet market is not a dead connection: ask the server for a pong,
                    # which counts as a frame.
                    transport.send_ping()
                    probe_sent = True
                    self.stats.liveness_pings += 1
                elif quiet_ns <= silence_ns // 2:
                    probe_sent = False
                if quiet_ns > silence_ns:
                    self.stats.silence_timeouts += 1
                    self.stats.last_error = f"no frame for {settings.silence_timeout:g} s"
                    log.warning("%s: %s, reconnecting", self.name, self.stats.last_error)
                    break
                if adapter.wants_reconnect() or (max_age and now - connected_at >= max_age):
                    self.stats.planned_reconnects += 1
                    log.info("%s: planned reconnect", self.name)
                    break
                self._report_venue_errors()
                if keepalive and now >= next_keepalive:
                    message = adapter.keepalive_message()
                    if message is not None:
                        self._send(transport, message)
                    next_keepalive = now + keepalive
        finally:
            self._report_venue_errors()
            if not self._stopping:
                log.warning("%s: disconnected from %s", self.name, self.shown_url)
            transport.disconnect(graceful=False)
            await self._disconnected.wait()
            self._transport = None
            self.on_down()

    def _report_venue_errors(self) -> None:
        errors = self.adapter.stats.venue_errors
        while errors:
            log.error("%s: %s", self.name, errors.pop(0))

    async def _sleep(self, seconds: float) -> None:
        self.state = SessionState.RECONNECTING
        try:
            await asyncio.wait_for(self._stop_event.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    def stop(self) -> None:
        """Ask the session to close its connection and end ``run``."""
        self._stopping = True
        self._stop_event.set()
        self._disconnected.set()
        if self._transport is not None:
            self._transport.disconnect(graceful=True)
