"""The simulator's I/O: one picows WebSocket server hosting one or several simulated venues.

Each venue is served under its own path prefix (``/binance/stream``, ``/coinbase``, …); a path
without a known venue prefix goes to the first venue. A plain HTTP GET (no WebSocket upgrade)
gets the venue's ``http_get`` answer, e.g. OKX's REST instrument list, and the connection is
closed. Protocol decisions live in the venue
modules (``tickwire.sim.binance``, … through ``tickwire.sim.venue.SimVenue``), the synthetic
market in ``tickwire.sim.market`` and recordings in ``tickwire.sim.recorded``; this module only
accepts connections, moves bytes, keeps time and counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import signal
import socket
import ssl
import struct
import sys
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from tickwire.instruments import parse_symbol
from tickwire.sim.market import (
    CHANNELS,
    MarketEvent,
    MarketQuote,
    SymbolSpec,
    SyntheticMarket,
    VenueView,
    symbol_spec,
)
from tickwire.sim.faults import (
    CONNECTION_KINDS,
    FRAME_KINDS,
    GARBAGE_VARIANTS,
    ODD_CLOSE_CODES,
    FLOOD_BATCH,
    Fault,
    FaultPlan,
    corrupt,
    websocket_frame,
)
from tickwire.record.capture import is_capture
from tickwire.record.reader import is_recording
from tickwire.record.sources import open_sources, received_frames
from tickwire.sim.recorded import load_recorded_frames
from tickwire.sim.registry import SIM_VENUES
from tickwire.sim.venue import RequestPathError, SimSession, SimVenue

__all__ = [
    "DEFAULT_SYMBOLS",
    "DEFAULT_VENUES",
    "Simulator",
    "SimulatorStats",
    "add_arguments",
    "parse_ready_line",
    "run_from_args",
]

DEFAULT_SYMBOLS = ("BTC-USDT", "ETH-USDT")
DEFAULT_VENUES = ("binance",)

_TICK_SECONDS = 0.001
_MAX_BACKLOG_SECONDS = 0.1  # a pacer that falls further behind than this skips ahead
_UNPACED_BATCH = 1024  # frames per tick when replaying as fast as possible
_JSON = {"Content-Type": "application/json"}
_MAX_HELD_FRAMES = 100_000  # a client held back longer than this (silence, slow delivery) is reset

_ReplayedFrame = tuple["_ServedVenue", str, bytes, int]  # venue, topic, payload, recv_ns (or 0)


@dataclass
class SimulatorStats:
    """Counters the simulator keeps; tests and the CLI read them, nothing resets them.

    ``subscriptions`` holds the latest topic set of every connection ever accepted, keyed by
    connection number (1 for the first connection the simulator accepted, whatever its venue).
    """

    connections_accepted: int = 0
    frames_sent: int = 0
    subscribe_requests: int = 0
    rate_limit_violations: int = 0
    pings_sent: int = 0
    pongs_received: int = 0
    subscriptions: dict[int, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def total(cls, parts: Iterable[SimulatorStats]) -> SimulatorStats:
        """A new object holding the sums of ``parts`` (and all their subscriptions)."""
        total = cls()
        for part in parts:
            for counter in fields(cls):
                name = counter.name
                if name == "subscriptions":
                    total.subscriptions.update(part.subscriptions)
                else:
                    setattr(total, name, getattr(total, name) + getattr(part, name))
        return total


class _ServedVenue:
    """One venue on this server: its protocol object, market view, clients and counters."""

    def __init__(
        self,
        venue: SimVenue,
        ping_interval: float | None,
        pong_timeout: float | None,
        idle_timeout: float | None,
    ) -> None:
        self.venue = venue
        self.clients: dict[_Client, None] = {}
        self.stats = SimulatorStats()
        self.ping_interval = _override(venue.ping_interval, ping_interval)
        self.pong_timeout = _override(venue.pong_timeout, pong_timeout)
        self.idle_timeout = _override(venue.idle_timeout, idle_timeout)
        self.frame_faults: tuple[Fault, ...] = ()  # the plan's frame faults with a rate
        self.silent_until = 0.0  # monotonic end of a silence window
        self.refuse_until = 0.0  # monotonic end of a refusal window
        self.last_quote: tuple[str, MarketQuote, bytes] | None = None  # topic, quote, payload

    def silent(self) -> bool:
        return time.monotonic() < self.silent_until


def _override(own: float | None, override: float | None) -> float | None:
    return own if own is None or override is None else override


class _Client(WSListener):
    def __init__(self, simulator: Simulator, served: _ServedVenue, session: SimSession) -> None:
        super().__init__()
        self.simulator = simulator
        self.served = served
        self.session = session
        self.number = 0
        self.frames_sent = 0
        self.frames_at_heartbeat = 0
        self.transport: WSTransport  # set on connection, before the client is served
        self.last_pong_at = 0.0
        self.last_ping_payload = b""
        self.last_message_at = 0.0
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.write_paused = False
        self.held: list[bytes] | None = None  # frames waiting out a silence or a slow frame
        self.dripping = False  # a frame is being written one byte at a time
        self.reordered: bytes | None = None  # a frame to send after the next one
        self.subscription_replies: tuple[bytes, ...] = ()  # what its last subscribe was answered

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.simulator._connected(self)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.simulator._disconnected(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.simulator._received(self, frame)

    def pause_writing(self) -> None:
        self.simulator._write_paused(self, True)

    def resume_writing(self) -> None:
        self.simulator._write_paused(self, False)


class Simulator:
    """Simulated venues on one loopback port, fed by a synthetic market or a recording.

    ``venues`` (names in ``tickwire.sim.registry.SIM_VENUES``) are served under ``url/<venue>``;
    ``endpoint(venue)`` is the URL a client uses, e.g. ``ws://127.0.0.1:PORT/binance/stream``.
    A path without a venue prefix goes to the first venue, so ``url + "/stream"`` reaches Binance
    as ``wss://stream.binance.com:9443/stream`` would. Frames flow only while some client is
    subscribed to something, and each client gets only its topics (or everything its venue sends,
    with ``subscribe_all``).

    ``symbols`` are canonical; every venue quotes those of a kind it lists around one common
    random walk, with its own small differences. ``rate`` is market steps per second per symbol
    (0: none); at each step every venue publishes at most one event (a quote, a trade or its
    ticker, among ``channels``). ``replay`` plays a recording instead: a file of one frame per
    line goes through the first venue; a tickwire recording (file or directory) or a cryptofeed
    capture (``tickwire.record``) sends every venue's frames through that venue, which must be
    served. Frames go at ``replay_speed`` frames per second overall, or at ``replay_pace`` times
    the recorded pace (recordings and captures), or else as fast as clients read.
    ``ping_interval``, ``pong_timeout`` and ``idle_timeout`` replace the venue's own values for
    venues that have one. ``drop_after`` aborts each connection once it has been sent that many
    data frames. With ``ssl_context`` (a server context holding a certificate) it serves
    ``wss://``. ``faults`` is a plan of faults to inject (``tickwire.sim.faults``; ``inject``
    injects one at once). With ``record_sent``, ``sent_quotes`` collects every quote a venue of
    the synthetic market publishes or may give in a snapshot, as ``(venue, symbol, bid, ask)``
    in ``10**-8`` units: the valid quotes a client can know of. Invalid options raise
    ValueError with a one-line reason.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        venues: Sequence[str] = DEFAULT_VENUES,
        symbols: Sequence[str] = DEFAULT_SYMBOLS,
        rate: float = 10.0,
        channels: Sequence[str] = CHANNELS,
        replay: str | Path | None = None,
        replay_speed: float | None = None,
        replay_pace: float | None = None,
        loop_replay: bool = False,
        subscribe_all: bool = False,
        ping_interval: float | None = None,
        pong_timeout: float | None = None,
        idle_timeout: float | None = None,
        drop_after: int | None = None,
        enforce_rate_limit: bool = False,
        seed: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        faults: FaultPlan | None = None,
        record_sent: bool = False,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is outside 0..65535")
        if not (math.isfinite(rate) and rate >= 0):
            raise ValueError(f"rate must be >= 0 messages per second per symbol, got {rate}")
        if replay_speed is not None and not (math.isfinite(replay_speed) and replay_speed > 0):
            raise ValueError(f"replay speed must be > 0 messages per second, got {replay_speed}")
        if replay_pace is not None and not (math.isfinite(replay_pace) and replay_pace > 0):
            raise ValueError(f"replay pace must be > 0 times the recorded pace, got {replay_pace}")
        for name, seconds in (
            ("ping interval", ping_interval),
            ("pong timeout", pong_timeout),
            ("idle timeout", idle_timeout),
        ):
            if seconds is not None and not seconds > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {seconds}")
        if drop_after is not None and drop_after < 1:
            raise ValueError(f"drop-after must be at least 1 frame, got {drop_after}")
        if replay is not None and not Path(replay).exists():
            raise ValueError(f"replay file {str(replay)!r} does not exist")
        venue_types = _venue_types(venues)
        specs = [symbol_spec(symbol) for symbol in symbols]
        _check_listed(specs, venue_types)
        self._market = SyntheticMarket(specs, seed=seed, channels=channels)
        self._served = {
            venue_type.name: _ServedVenue(
                venue_type(None if replay is not None else self._view(venue_type)),
                ping_interval,
                pong_timeout,
                idle_timeout,
            )
            for venue_type in venue_types
        }
        self._first = next(iter(self._served.values()))
        self._faults = faults or FaultPlan()
        self._faults.check_venues(list(self._served))
        self._fault_rng = random.Random(self._faults.seed)
        self._fault_tasks: set[asyncio.Task[None]] = set()
        for served in self._served.values():
            served.frame_faults = tuple(
                fault
                for fault in self._faults.faults
                if fault.rate and fault.venue in (None, served.venue.name)
            )
        self.faults_injected: dict[str, int] = {}
        """Faults injected so far by kind (garbage as ``garbage:VARIANT``), one per client hit."""
        self._fed = (self._first,) if replay is not None else tuple(self._served.values())
        self._views = tuple(
            (served, view) for served in self._fed if (view := served.venue.view) is not None
        )
        self.sent_quotes: set[tuple[str, str, int, int]] | None = None
        if record_sent:
            self.sent_quotes = {
                (served.venue.name, spec.symbol, quote.bid, quote.ask)
                for served, view in self._views
                for spec in view.specs
                for quote in (view.quote(spec.symbol),)
            }
        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        self._rate = rate * len(symbols)
        self._replay = replay
        self._replay_speed = replay_speed
        self._replay_pace = replay_pace
        self.replay_skipped = 0  # recorded frames no served venue sends (replies, other venues)
        self._loop_replay = loop_replay
        self._subscribe_all = subscribe_all
        self._drop_after = drop_after
        self.answer_pings = True  # False: WebSocket pings go unanswered, like a black-holed link
        self._enforce_rate_limit = enforce_rate_limit
        self._connections = 0
        self._server: asyncio.Server | None = None
        self._pump: asyncio.Task[None] | None = None
        self._listener_changed = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._paused_clients = 0
        self._replay_done = asyncio.Event()

    def _view(self, venue_type: type[SimVenue]) -> VenueView:
        return VenueView(
            self._market,
            venue_type.name,
            instrument_kinds=venue_type.instrument_kinds,
            quote_interval_ms=venue_type.quote_interval_ms,
        )

    @property
    def url(self) -> str:
        """``ws://host:port`` (``wss://`` with TLS) of the listening server; valid after ``start``."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        scheme = "ws" if self._ssl_context is None else "wss"
        return f"{scheme}://{host}:{self._port}"

    @property
    def endpoints(self) -> dict[str, str]:
        """The URL per tickwire venue adapter served here, e.g.
        ``{"binance": "ws://127.0.0.1:PORT/binance/stream"}``; valid after ``start``."""
        endpoints = {}
        for name, served in self._served.items():
            venue = served.venue
            for adapter, path in ((name, venue.default_path), *venue.extra_endpoints.items()):
                endpoints[adapter] = f"{self.url}/{name}{path}"
        return endpoints

    def endpoint(self, venue: str) -> str:
        """The URL a client of ``venue`` connects to (see ``endpoints``).

        Valid after ``start``; raises ValueError for a venue this simulator does not serve.
        """
        endpoints = self.endpoints
        if venue not in endpoints:
            raise ValueError(f"venue {venue!r} is not served here; serving {', '.join(endpoints)}")
        return endpoints[venue]

    @property
    def stats(self) -> SimulatorStats:
        """Counters summed over all venues, as of now (a new object on every read)."""
        return SimulatorStats.total(served.stats for served in self._served.values())

    def stats_for(self, venue: str) -> SimulatorStats:
        """The live counters of one venue; raises ValueError for a venue not served."""
        return self._served_venue(venue).stats

    @property
    def connected(self) -> int:
        """How many clients are connected now, over all venues."""
        return sum(len(served.clients) for served in self._served.values())

    async def start(self) -> None:
        """Load the recording (if any), listen, and start producing frames."""
        source: Callable[[int], bool]
        frames: list[_ReplayedFrame] = []
        if self._replay is not None:
            frames = self._load_replay(self._replay)
            self._fed = tuple(dict.fromkeys(served for served, _, _, _ in frames)) or self._fed
            source, rate = self._replay_source(frames), self._replay_speed
        else:
            source, rate = self._market_step, self._rate
        self._server = await ws_create_server(
            self._accept, self._host, self._port, enable_auto_pong=False, ssl=self._ssl_context
        )
        self._port = self._server.sockets[0].getsockname()[1]
        for fault in self._faults.faults:
            if fault.scheduled:
                self._start_fault_task(self._run_fault_schedule(fault))
        if self._replay_pace is not None:
            offsets = [(recv_ns - frames[0][3]) / 1e9 / self._replay_pace for *_, recv_ns in frames]
            self._pump = asyncio.create_task(self._run_recorded_pace(source, offsets))
        elif rate != 0:
            self._pump = asyncio.create_task(self._run_pump(source, rate))

    def _load_replay(self, path: str | Path) -> list[_ReplayedFrame]:
        if _is_line_file(path):  # one frame per line
            frames = load_recorded_frames(path, self._first.venue.recorded_frame)
            return [(self._first, topic, payload, 0) for topic, payload in frames]
        by_adapter = {
            adapter: served
            for served in self._served.values()
            for adapter in (served.venue.name, *served.venue.extra_endpoints)
        }
        replayed: list[_ReplayedFrame] = []
        for venue, recv_ns, payload in received_frames(open_sources([path])):
            served = by_adapter.get(venue)
            try:
                if served is None:
                    raise ValueError(venue)
                topic, body = served.venue.recorded_frame(payload)
            except ValueError:  # a reply to the recorded client, a venue not served
                self.replay_skipped += 1
                continue
            replayed.append((served, topic, body, recv_ns))
        if not replayed:
            raise ValueError(f"{path}: no recorded frame of the venues served")
        return replayed

    async def stop(self) -> None:
        """Stop producing, close the listener and abort every connection."""
        for task in list(self._fault_tasks):
            task.cancel()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self._server is not None:
            self._server.close()
            self.drop_connections()
            await self._server.wait_closed()

    def drop_connections(self, venue: str | None = None) -> None:
        """Abort every current connection (of ``venue`` only, if given) without a close frame,
        like a network failure."""
        for client in self._clients_of(venue):
            client.transport.disconnect(graceful=False)

    def send_raw(
        self, data: bytes, msg_type: WSMsgType = WSMsgType.TEXT, venue: str | None = None
    ) -> int:
        """Send ``data`` verbatim as one frame to every connected client (of ``venue`` only, if
        given): fault injection with garbage, wrong shapes, bad numbers, binary frames.
        Returns how many clients got it."""
        clients = self._clients_of(venue)
        for client in clients:
            client.transport.send(msg_type, data)
        return len(clients)

    def inject(self, fault: Fault, venue: str | None = None) -> int:
        """Inject one occurrence of ``fault`` now into ``venue`` (``fault.venue`` if None, else
        every venue): a connection fault hits every client, a window fault starts its window, a
        frame fault sends each client one faulty copy of the venue's latest quote frame.
        Returns how many clients it hit (window faults: how many venues)."""
        name = venue or fault.venue
        hit = 0
        for served in self._served.values() if name is None else (self._served_venue(name),):
            if fault.kind in CONNECTION_KINDS:
                hit += sum(self._break_connection(c, fault) for c in list(served.clients))
            elif fault.kind in FRAME_KINDS:
                hit += self._inject_frame_fault(served, fault)
            else:
                self._open_window(served, fault)
                hit += 1
        return hit

    def _start_fault_task(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._fault_tasks.add(task)
        task.add_done_callback(self._fault_tasks.discard)

    def _count_fault(self, kind: str) -> None:
        self.faults_injected[kind] = self.faults_injected.get(kind, 0) + 1

    async def _run_fault_schedule(self, fault: Fault) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for offset in fault.times():
            await asyncio.sleep(max(0.0, started + offset - loop.time()))
            self.inject(fault)

    def _break_connection(self, client: _Client, fault: Fault) -> bool:
        transport = client.transport
        if transport.underlying_transport.is_closing():
            return False
        if fault.kind == "reconnect":
            message = client.served.venue.reconnect_message(time.time_ns() // 1_000_000)
            if message is None:
                return False
            self._deliver(client, message)
        elif fault.kind == "close" and client.held is None:  # not in the middle of a frame
            code = fault.code or self._fault_rng.choice(ODD_CLOSE_CODES)
            transport.send_close(code, b"fault injected")
            transport.disconnect()
        else:  # a reset (or a close while a frame is half written)
            _reset(transport)
        self._count_fault(fault.kind)
        return True

    def _open_window(self, served: _ServedVenue, fault: Fault) -> None:
        now = time.monotonic()
        loop = asyncio.get_running_loop()
        self._count_fault(fault.kind)
        if fault.kind == "refuse":
            served.refuse_until = max(served.refuse_until, now + fault.duration)
        elif fault.kind == "silence":
            served.silent_until = max(served.silent_until, now + fault.duration)
            for client in served.clients:
                if client.held is None:
                    client.held = []
            loop.call_later(fault.duration, self._end_silence, served)
        else:
            self._start_fault_task(self._flood(served, fault.kind, now + fault.duration))

    def _end_silence(self, served: _ServedVenue) -> None:
        if served.silent():
            return  # a later window extended it
        for client in list(served.clients):
            self._release_held(client)

    def _release_held(self, client: _Client) -> None:
        """Send what a silence or a slow frame held back, once neither holds the client."""
        held = client.held
        if held is None or client.dripping or client.served.silent():
            return
        client.held = None
        if not client.transport.underlying_transport.is_closing():
            for data in held:
                client.transport.send(WSMsgType.TEXT, data)

    async def _flood(self, served: _ServedVenue, kind: str, until: float) -> None:
        """``pingflood``: pings; ``substorm``: each client's subscription replies again and again."""
        while time.monotonic() < until:
            for client in list(served.clients):
                transport = client.transport
                if client.held is None and not transport.underlying_transport.is_closing():
                    for _ in range(FLOOD_BATCH):
                        if kind == "pingflood":
                            transport.send_ping(b"flood")
                        else:
                            for data in client.subscription_replies:
                                transport.send(WSMsgType.TEXT, data)
                    if kind == "pingflood":
                        served.stats.pings_sent += FLOOD_BATCH
            await asyncio.sleep(_TICK_SECONDS)

    def _inject_frame_fault(self, served: _ServedVenue, fault: Fault) -> int:
        if served.last_quote is None:
            return 0
        topic, quote, payload = served.last_quote
        hit = 0
        for client in self._receivers(served, topic):
            if not client.transport.underlying_transport.is_closing():
                data = client.session.frame(topic, payload)
                self._send_faulty(client, fault, topic, payload, quote, data, again=True)
                hit += 1
        return hit

    def _deliver(self, client: _Client, data: bytes) -> None:
        """Send one text frame to ``client``, or hold it while the client is held back."""
        held = client.held
        if held is None:
            client.transport.send(WSMsgType.TEXT, data)
        elif len(held) < _MAX_HELD_FRAMES:
            held.append(data)
        else:
            client.held = None
            _reset(client.transport)

    def _send_faulty(
        self,
        client: _Client,
        fault: Fault,
        topic: str,
        payload: bytes,
        quote: MarketQuote | None,
        data: bytes,
        again: bool = False,
    ) -> None:
        """Send ``data`` (``payload`` of ``topic`` as framed for ``client``) with ``fault``.

        With ``again`` the client already had ``data``: only the faulty frame goes (a broken or
        oversized copy; ``data`` once more, whole, in fragments, slowly or after the next frame).
        """
        kind = fault.kind
        session = client.session
        if kind == "garbage":
            variant = fault.variant or self._fault_rng.choice(GARBAGE_VARIANTS)
            self._deliver(client, session.frame(topic, corrupt(payload, quote, variant)))
            if not again:
                self._deliver(client, data)
            kind = f"garbage:{variant}"
        elif kind == "oversized":
            padding = b" " * max(0, fault.size - len(payload))
            self._deliver(client, session.frame(topic, payload + padding))
            if not again:
                self._deliver(client, data)
        elif kind == "duplicate":
            self._deliver(client, data)
            if not again:
                self._deliver(client, data)
        elif kind == "reorder" and client.reordered is None:
            client.reordered = data
        elif kind == "fragment" and client.held is None:
            third = max(1, len(data) // 3)
            transport = client.transport
            transport.send(WSMsgType.TEXT, data[:third], fin=False)
            transport.send(WSMsgType.CONTINUATION, data[third : 2 * third], fin=False)
            transport.send(WSMsgType.CONTINUATION, data[2 * third :], fin=True)
        elif kind == "slow" and client.held is None:
            client.held = []
            client.dripping = True
            self._start_fault_task(self._drip(client, websocket_frame(data)))
        else:  # a reorder already pending, or a frame fault that cannot apply while held back
            self._deliver(client, data)
            return
        self._count_fault(kind)

    def _send_with_faults(
        self,
        client: _Client,
        frame_faults: tuple[Fault, ...],
        rng: random.Random,
        topic: str,
        payload: bytes,
        quote: MarketQuote | None,
        data: bytes,
    ) -> None:
        """Send one data frame through the first of ``frame_faults`` that hits it (if any),
        then the frame an earlier ``reorder`` held back."""
        reordered = client.reordered
        client.reordered = None
        for fault in frame_faults:
            if rng.random() < fault.rate:
                self._send_faulty(client, fault, topic, payload, quote, data)
                break
        else:
            self._deliver(client, data)
        if reordered is not None:
            self._deliver(client, reordered)

    async def _drip(self, client: _Client, raw: bytes) -> None:
        """Write the bytes of one WebSocket frame one per loop tick, then what waited for it."""
        writer = client.transport.underlying_transport
        for index in range(len(raw)):
            if writer.is_closing():
                break
            writer.write(raw[index : index + 1])
            await asyncio.sleep(0)
        client.dripping = False
        self._release_held(client)

    async def wait_replay_done(self) -> None:
        """Return once a replay without ``loop_replay`` has sent its last frame."""
        await self._replay_done.wait()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _served_venue(self, venue: str) -> _ServedVenue:
        served = self._served.get(venue)
        if served is None:
            serving = ", ".join(self._served)
            raise ValueError(f"venue {venue!r} is not served here; serving {serving}")
        return served

    def _clients_of(self, venue: str | None) -> list[_Client]:
        served = self._served.values() if venue is None else (self._served_venue(venue),)
        return [client for venue_served in served for client in venue_served.clients]

    # -- connections --------------------------------------------------------------------------

    def _route(self, path: str) -> tuple[_ServedVenue, str]:
        prefix = path[1:].split("/", 1)[0].split("?", 1)[0]
        served = self._served.get(prefix)
        if served is None:
            return self._first, path
        rest = path[1 + len(prefix) :]
        return served, rest if rest.startswith("/") else "/" + rest

    def _accept(self, request: WSUpgradeRequest) -> _Client | WSUpgradeResponseWithListener:
        served, path = self._route(request.path.decode("latin-1"))
        try:
            if "upgrade" not in request.headers:  # a plain GET: answered, then closed
                status, body = served.venue.http_get(path)
                response = (
                    WSUpgradeResponse.create_ok_response(body, _JSON)
                    if status == 200
                    else WSUpgradeResponse.create_error_response(status, body, _JSON)
                )
                return WSUpgradeResponseWithListener(response, None)
            if time.monotonic() < served.refuse_until:
                self._count_fault("refused")
                raise RequestPathError(503, "refusing new connections (fault injected)")
            session = served.venue.accept(path)
        except RequestPathError as exc:
            response = WSUpgradeResponse.create_error_response(exc.status, exc.reason.encode())
            return WSUpgradeResponseWithListener(response, None)
        return _Client(self, served, session)

    def _connected(self, client: _Client) -> None:
        served = client.served
        self._connections += 1
        client.number = self._connections
        served.stats.connections_accepted += 1
        served.stats.subscriptions[client.number] = tuple(client.session.topics)
        served.clients[client] = None
        client.last_pong_at = client.last_message_at = time.monotonic()
        if served.silent():
            client.held = []
        loop = asyncio.get_running_loop()
        timers = client.timers
        if served.ping_interval is not None:
            timers["ping"] = loop.call_later(served.ping_interval, self._ping, client)
        if served.idle_timeout is not None:
            timers["idle"] = loop.call_later(served.idle_timeout, self._check_idle, client)
        heartbeat_interval = served.venue.heartbeat_interval
        if heartbeat_interval is not None:
            timers["heartbeat"] = loop.call_later(heartbeat_interval, self._heartbeat, client)
        self._listener_changed.set()

    def _disconnected(self, client: _Client) -> None:
        client.served.clients.pop(client, None)
        for timer in client.timers.values():
            timer.cancel()
        self._write_paused(client, False)

    def _write_paused(self, client: _Client, paused: bool) -> None:
        if client.write_paused == paused:
            return
        client.write_paused = paused
        self._paused_clients += 1 if paused else -1
        if self._paused_clients:
            self._writable.clear()
        else:
            self._writable.set()

    def _ping(self, client: _Client) -> None:
        served, transport = client.served, client.transport
        assert served.ping_interval is not None and served.pong_timeout is not None
        if client.held is not None:  # silent, or in the middle of a slow frame: no ping
            client.last_pong_at = time.monotonic()
        elif time.monotonic() - client.last_pong_at >= served.pong_timeout:
            transport.disconnect(graceful=False)
            return
        else:
            client.last_ping_payload = str(time.time_ns() // 1_000_000).encode()
            transport.send_ping(client.last_ping_payload)
            served.stats.pings_sent += 1
        client.timers["ping"] = asyncio.get_running_loop().call_later(
            served.ping_interval, self._ping, client
        )

    def _check_idle(self, client: _Client) -> None:
        timeout = client.served.idle_timeout
        assert timeout is not None
        idle_for = time.monotonic() - client.last_message_at
        if idle_for >= timeout:
            client.transport.send_close(
                WSCloseCode.POLICY_VIOLATION, f"no message for {timeout:g} s".encode()
            )
            client.transport.disconnect()
            return
        client.timers["idle"] = asyncio.get_running_loop().call_later(
            timeout - idle_for, self._check_idle, client
        )

    def _heartbeat(self, client: _Client) -> None:
        interval = client.served.venue.heartbeat_interval
        assert interval is not None
        quiet = client.frames_sent == client.frames_at_heartbeat
        client.frames_at_heartbeat = client.frames_sent
        heartbeat = client.session.heartbeat(time.time_ns() // 1_000_000, quiet)
        if heartbeat is not None:
            self._deliver(client, heartbeat)
        client.timers["heartbeat"] = asyncio.get_running_loop().call_later(
            interval, self._heartbeat, client
        )

    def _received(self, client: _Client, frame: WSFrame) -> None:
        transport = client.transport
        msg_type = frame.msg_type
        if msg_type == WSMsgType.CLOSE:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()
            return
        client.last_message_at = time.monotonic()
        session, stats = client.session, client.served.stats
        if session.count_incoming(time.monotonic_ns()):
            stats.rate_limit_violations += 1
            if self._enforce_rate_limit:
                transport.send_close(WSCloseCode.POLICY_VIOLATION, b"Too many requests")
                transport.disconnect()
                return
        if msg_type == WSMsgType.TEXT or msg_type == WSMsgType.BINARY:
            reply = session.on_text(frame.get_payload_as_bytes(), time.time_ns())
            for data in reply.frames:
                self._deliver(client, data)
            if reply.subscribed:
                stats.subscribe_requests += 1
                client.subscription_replies = tuple(reply.frames)
            topics = tuple(session.topics)
            if topics != stats.subscriptions[client.number]:
                stats.subscriptions[client.number] = topics
                self._listener_changed.set()
        elif msg_type == WSMsgType.PING:
            if self.answer_pings and client.held is None:
                transport.send_pong(frame.get_payload_as_bytes())
        elif msg_type == WSMsgType.PONG:
            stats.pongs_received += 1
            if frame.get_payload_as_bytes() == client.last_ping_payload:
                client.last_pong_at = time.monotonic()

    # -- frame production ---------------------------------------------------------------------

    def _market_step(self, now_ms: int) -> bool:
        index = self._market.step()
        sent_quotes = self.sent_quotes
        for served, view in self._views:
            event = view.on_step(index, now_ms)
            if sent_quotes is not None and type(event) is MarketQuote:
                sent_quotes.add((served.venue.name, event.symbol, event.bid, event.ask))
            if event is not None and served.clients:
                self._publish_event(served, event)
        return True

    def _replay_source(self, frames: list[_ReplayedFrame]) -> Callable[[int], bool]:
        position = 0

        def next_recorded(now_ms: int) -> bool:
            nonlocal position
            if position == len(frames):
                if not (self._loop_replay and frames):
                    return False
                position = 0
            served, topic, payload, _ = frames[position]
            position += 1
            receivers = self._receivers(served, topic)
            if receivers:
                self._send(served, receivers, topic, (payload,))
            return True

        return next_recorded

    def _has_listener(self) -> bool:
        if self._subscribe_all:
            return any(served.clients for served in self._fed)
        return any(client.session.topics for served in self._fed for client in served.clients)

    async def _run_pump(self, source: Callable[[int], bool], rate: float | None) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._has_listener():
                self._listener_changed.clear()
                await self._listener_changed.wait()
            started = loop.time()
            produced = 0
            while self._has_listener():
                if rate is None:
                    await self._writable.wait()
                    due = _UNPACED_BATCH
                else:
                    due = int((loop.time() - started) * rate) - produced
                    backlog_limit = max(1, int(rate * _MAX_BACKLOG_SECONDS))
                    if due > backlog_limit:
                        produced += due - backlog_limit
                        due = backlog_limit
                now_ms = time.time_ns() // 1_000_000
                for _ in range(due):
                    if not source(now_ms):
                        self._replay_done.set()
                        return
                produced += due
                if rate is None:
                    await asyncio.sleep(0)
                else:
                    next_due = started + (produced + 1) / rate
                    await asyncio.sleep(max(_TICK_SECONDS, next_due - loop.time()))

    async def _run_recorded_pace(self, source: Callable[[int], bool], offsets: list[float]) -> None:
        """Send the recorded frames at ``offsets`` (seconds after the first listener came)."""
        loop = asyncio.get_running_loop()
        while not self._has_listener():
            self._listener_changed.clear()
            await self._listener_changed.wait()
        while True:
            started = loop.time()
            for offset in offsets:
                delay = started + offset - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                source(0)
            if not self._loop_replay:
                self._replay_done.set()
                return

    def _publish_event(self, served: _ServedVenue, event: MarketEvent) -> None:
        venue = served.venue
        quote = event if type(event) is MarketQuote else None
        for topic in venue.topics(event):
            receivers = self._receivers(served, topic)
            if receivers:
                payloads = venue.render(event, topic)
                self._send(served, receivers, topic, payloads, quote)
                if quote is not None and payloads:
                    served.last_quote = (topic, quote, payloads[-1])

    def _receivers(self, served: _ServedVenue, topic: str) -> list[_Client]:
        if self._subscribe_all:
            return list(served.clients)
        return [client for client in served.clients if topic in client.session.topics]

    def _send(
        self,
        served: _ServedVenue,
        receivers: list[_Client],
        topic: str,
        payloads: Sequence[bytes],
        quote: MarketQuote | None = None,
    ) -> None:
        drop_after = self._drop_after
        frame_faults = served.frame_faults
        rng = self._fault_rng
        sent = 0
        to_drop: list[WSTransport] = []
        for payload in payloads:
            framed: dict[object, bytes] = {}
            for client in receivers:
                if drop_after is not None and client.frames_sent >= drop_after:
                    continue
                if client.transport.underlying_transport.is_closing():
                    continue  # the peer is gone; its disconnect callback has not run yet
                session = client.session
                framing = session.framing
                if framing is None:
                    data = payload
                else:
                    data = framed.get(framing, b"")
                    if not data:
                        data = framed[framing] = session.frame(topic, payload)
                if frame_faults or client.held is not None or client.reordered is not None:
                    self._send_with_faults(client, frame_faults, rng, topic, payload, quote, data)
                else:
                    client.transport.send(WSMsgType.TEXT, data)
                client.frames_sent += 1
                sent += 1
                if client.frames_sent == drop_after:
                    to_drop.append(client.transport)
        served.stats.frames_sent += sent
        for transport in to_drop:
            transport.disconnect(graceful=False)


def _reset(transport: WSTransport) -> None:
    """End the connection with a TCP reset: no close frame, no FIN, unsent data discarded."""
    sock = transport.underlying_transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.disconnect(graceful=False)


def _venue_types(names: Sequence[str]) -> list[type[SimVenue]]:
    if not names:
        raise ValueError("the simulator needs at least one venue")
    unknown = [name for name in names if name not in SIM_VENUES]
    if unknown:
        raise ValueError(f"unknown venues {unknown}: choose from {', '.join(SIM_VENUES)}")
    if len(set(names)) < len(names):
        raise ValueError(f"venues {list(names)} name a venue twice")
    return [SIM_VENUES[name] for name in names]


def _check_listed(specs: Sequence[SymbolSpec], venue_types: Sequence[type[SimVenue]]) -> None:
    for spec in specs:
        kind = parse_symbol(spec.symbol).kind
        if not any(kind in venue_type.instrument_kinds for venue_type in venue_types):
            listed = "; ".join(
                f"{venue_type.name} lists "
                + ", ".join(sorted(each or "spot" for each in venue_type.instrument_kinds))
                for venue_type in venue_types
            )
            raise ValueError(f"no venue served lists {spec.symbol!r} ({listed})")


# -- command line ---------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``tickwire simulate`` options to ``parser``; pass its result to ``run_from_args``."""
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    add("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    add(
        "--venues",
        default=",".join(DEFAULT_VENUES),
        help=f"comma-separated venues to serve, each under /VENUE; paths without a venue prefix "
        f"go to the first (default %(default)s; available: {', '.join(SIM_VENUES)})",
    )
    add(
        "--symbols",
        default=",".join(DEFAULT_SYMBOLS),
        help="comma-separated canonical symbols of the synthetic market (default %(default)s)",
    )
    add(
        "--rate",
        type=float,
        default=10.0,
        help="market steps per second per symbol; at each step every venue sends at most one "
        "event; 0 = idle market (default %(default)s)",
    )
    add(
        "--channels",
        default=",".join(CHANNELS),
        help="comma-separated kinds of events of the synthetic market (default %(default)s)",
    )
    add(
        "--replay",
        metavar="FILE",
        help="play recorded frames instead: a file of one frame per line (through the first "
        "venue), or a tickwire recording (file or directory) or cryptofeed capture, whose venues "
        "and symbols are then served",
    )
    add(
        "--replay-pace",
        type=float,
        metavar="N",
        help="replay a recording or capture at N times its recorded pace (1: as recorded)",
    )
    add(
        "--replay-speed",
        type=float,
        metavar="MSG_PER_S",
        help="replay messages per second overall (default: as fast as clients read)",
    )
    add("--loop", action="store_true", help="restart the replay at the end of the file")
    add(
        "--subscribe-all",
        action="store_true",
        help="send every frame to every client, whatever it subscribed to",
    )
    add(
        "--ping-interval",
        type=float,
        metavar="SECONDS",
        help="seconds between server pings, for venues that ping (default: the venue's own, "
        "binance 20)",
    )
    add(
        "--pong-timeout",
        type=float,
        metavar="SECONDS",
        help="drop a client that has not answered a ping for this long (default: the venue's "
        "own, binance 60)",
    )
    add(
        "--idle-timeout",
        type=float,
        metavar="SECONDS",
        help="close a client silent for this long, for venues that do (default: the venue's own)",
    )
    add("--drop-after", type=int, metavar="N", help="abort each connection after N data frames")
    add(
        "--enforce-rate-limit",
        action="store_true",
        help="close clients over the venue's incoming message limit (binance: 5 a second)",
    )
    add(
        "--faults",
        metavar="SPEC",
        help="inject faults: comma-separated KIND[:KEY=VALUE]..., e.g. "
        "reset:every=5s,garbage:rate=0.02,silence:at=10s:for=3s,refuse:at=20s:for=2s:venue=okx. "
        "Kinds: reset, close, reconnect (the venue's own message) at=T/every=T; silence, "
        "pingflood, refuse at=T/every=T with for=T; garbage, oversized, fragment, slow, "
        "duplicate, reorder with rate=P (chance per data frame) or at=T/every=T. Keys: "
        "venue=NAME, code=N (close), bytes=N (oversized), variant=NAME (garbage: "
        + ", ".join(GARBAGE_VARIANTS)
        + "). Times in seconds after start (5, 5s, 500ms)",
    )
    add(
        "--fault-seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of the faults' random choices (default %(default)s)",
    )
    add("--seed", type=int, default=0, help="seed of the synthetic market (default %(default)s)")
    add(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="stop after this long (default: run until SIGINT or SIGTERM)",
    )


async def run_from_args(args: argparse.Namespace) -> int:
    """Run the simulator the parsed ``args`` describe; print its ready line once listening.

    The ready line is ``ready <url>`` then `` <venue>=<endpoint>`` per entry of
    ``Simulator.endpoints`` (see ``parse_ready_line``).

    Returns 0 after ``--duration`` or SIGINT/SIGTERM. Raises ValueError for invalid arguments.
    """
    if args.duration is not None and not args.duration >= 0:
        raise ValueError(f"duration must be >= 0 seconds, got {args.duration}")
    venues, symbols = _comma_list(args.venues), _comma_list(args.symbols)
    if args.replay is not None and Path(args.replay).exists() and not _is_line_file(args.replay):
        venues, symbols = _recorded_venues_and_symbols(args.replay)
    simulator = Simulator(
        host=args.host,
        port=args.port,
        venues=venues,
        symbols=symbols,
        rate=args.rate,
        channels=_comma_list(args.channels),
        replay=args.replay,
        replay_speed=args.replay_speed,
        replay_pace=args.replay_pace,
        loop_replay=args.loop,
        subscribe_all=args.subscribe_all,
        ping_interval=args.ping_interval,
        pong_timeout=args.pong_timeout,
        idle_timeout=args.idle_timeout,
        drop_after=args.drop_after,
        enforce_rate_limit=args.enforce_rate_limit,
        seed=args.seed,
        faults=None if args.faults is None else FaultPlan.parse(args.faults, args.fault_seed),
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled_signals = []
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal_number, stop.set)
            handled_signals.append(signal_number)
    try:
        async with simulator:
            endpoints = "".join(f" {name}={url}" for name, url in simulator.endpoints.items())
            sys.stdout.write(f"ready {simulator.url}{endpoints}\n")
            sys.stdout.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.duration)
    finally:
        for signal_number in handled_signals:
            loop.remove_signal_handler(signal_number)
    return 0


def _is_line_file(path: str | Path) -> bool:
    return Path(path).is_file() and not (is_recording(path) or is_capture(path))


def _recorded_venues_and_symbols(path: str) -> tuple[list[str], list[str]]:
    """The simulated venues serving a recording's (or capture's) venues, and its symbols."""
    sim_venue_of = {
        adapter: name
        for name, venue_type in SIM_VENUES.items()
        for adapter in (name, *venue_type.extra_endpoints)
    }
    config = open_sources([path])[0].config
    missing = [v for v in config.venues if v not in sim_venue_of]
    if missing:
        raise ValueError(f"{path}: the simulator serves no venue {', '.join(missing)}")
    venues = list(dict.fromkeys(sim_venue_of[v] for v in config.venues))
    return venues, list(config.symbols)


def parse_ready_line(line: str) -> tuple[str, dict[str, str]]:
    """The server URL and the endpoint per venue of a ``tickwire simulate`` ready line.

    Raises ValueError for a line that is not one.
    """
    words = line.split()
    if len(words) < 2 or words[0] != "ready":
        raise ValueError(f"not a ready line: {line!r}")
    endpoints = {}
    for word in words[2:]:
        venue, equals, endpoint = word.partition("=")
        if not (venue and equals and endpoint):
            raise ValueError(f"not VENUE=ENDPOINT: {word!r} in {line!r}")
        endpoints[venue] = endpoint
    return words[1], endpoints


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]
