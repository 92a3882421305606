"""The simulator's I/O: a picows WebSocket server speaking the Binance spot stream protocol.

Protocol decisions live in ``tickwire.sim.binance``, the synthetic market in ``tickwire.sim.market``
and recordings in ``tickwire.sim.recorded``; this module only accepts connections, moves bytes,
keeps time and counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

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

from tickwire.sim.binance import BinanceStreamSession, RequestPathError, parse_request_path
from tickwire.sim.market import CHANNELS, SyntheticMarket, symbol_spec
from tickwire.sim.recorded import load_recorded_frames

__all__ = ["DEFAULT_SYMBOLS", "Simulator", "SimulatorStats", "add_arguments", "run_from_args"]

DEFAULT_SYMBOLS = ("BTC-USDT", "ETH-USDT")

_TICK_SECONDS = 0.001
_MAX_BACKLOG_SECONDS = 0.1  # a pacer that falls further behind than this skips ahead
_UNPACED_BATCH = 1024  # frames per tick when replaying as fast as possible

_Frame = tuple[str, bytes]


@dataclass
class SimulatorStats:
    """Counters the simulator keeps; tests and the CLI read them, nothing resets them.

    ``subscriptions`` holds the latest stream set of every connection ever accepted, keyed by
    connection number (1 for the first accepted connection).
    """

    connections_accepted: int = 0
    frames_sent: int = 0
    subscribe_requests: int = 0
    rate_limit_violations: int = 0
    pings_sent: int = 0
    pongs_received: int = 0
    subscriptions: dict[int, tuple[str, ...]] = field(default_factory=dict)


class _Client(WSListener):
    def __init__(self, simulator: Simulator, session: BinanceStreamSession) -> None:
        super().__init__()
        self.simulator = simulator
        self.session = session
        self.number = 0
        self.frames_sent = 0
        self.transport: WSTransport  # set on connection, before the client is served
        self.last_pong_at = 0.0
        self.last_ping_payload = b""
        self.ping_timer: asyncio.TimerHandle | None = None
        self.write_paused = False

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
    """A Binance spot public WebSocket server, fed by a synthetic market or a recording.

    Connect to ``url`` + ``/ws``, ``/ws/<stream>...`` or ``/stream?streams=...`` as to
    ``wss://stream.binance.com:9443``. Frames flow only while some client is subscribed to
    something, and each client gets only its streams (or everything, with ``subscribe_all``).
    ``rate`` is frames per second per symbol of the synthetic market (0: none); ``replay`` plays a
    recording instead, at ``replay_speed`` frames per second overall (None: as fast as clients
    read).
    ``drop_after`` aborts each connection once it has been sent that many data frames.
    Invalid options raise ValueError with a one-line reason.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        symbols: Sequence[str] = DEFAULT_SYMBOLS,
        rate: float = 10.0,
        channels: Sequence[str] = CHANNELS,
        replay: str | Path | None = None,
        replay_speed: float | None = None,
        loop_replay: bool = False,
        subscribe_all: bool = False,
        ping_interval: float = 20.0,
        pong_timeout: float = 60.0,
        drop_after: int | None = None,
        enforce_rate_limit: bool = False,
        seed: int = 0,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is outside 0..65535")
        if not (math.isfinite(rate) and rate >= 0):
            raise ValueError(f"rate must be >= 0 messages per second per symbol, got {rate}")
        if replay_speed is not None and not (math.isfinite(replay_speed) and replay_speed > 0):
            raise ValueError(f"replay speed must be > 0 messages per second, got {replay_speed}")
        if not ping_interval > 0:
            raise ValueError(f"ping interval must be > 0 seconds, got {ping_interval}")
        if not pong_timeout > 0:
            raise ValueError(f"pong timeout must be > 0 seconds, got {pong_timeout}")
        if drop_after is not None and drop_after < 1:
            raise ValueError(f"drop-after must be at least 1 frame, got {drop_after}")
        if replay is not None and not Path(replay).is_file():
            raise ValueError(f"replay file {str(replay)!r} does not exist")
        self._market = SyntheticMarket(
            [symbol_spec(symbol) for symbol in symbols], seed=seed, channels=channels
        )
        self._host = host
        self._port = port
        self._rate = rate * len(symbols)
        self._replay = replay
        self._replay_speed = replay_speed
        self._loop_replay = loop_replay
        self._subscribe_all = subscribe_all
        self._ping_interval = ping_interval
        self._pong_timeout = pong_timeout
        self._drop_after = drop_after
        self._enforce_rate_limit = enforce_rate_limit
        self.stats = SimulatorStats()
        self._clients: dict[_Client, None] = {}
        self._server: asyncio.Server | None = None
        self._pump: asyncio.Task[None] | None = None
        self._listener_changed = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._paused_clients = 0
        self._replay_done = asyncio.Event()

    @property
    def url(self) -> str:
        """``ws://host:port`` of the listening server; valid after ``start``."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"ws://{host}:{self._port}"

    @property
    def connected(self) -> int:
        """How many clients are connected now."""
        return len(self._clients)

    async def start(self) -> None:
        """Load the recording (if any), listen, and start producing frames."""
        if self._replay is not None:
            frames = load_recorded_frames(self._replay)
            source, rate = self._replay_source(frames), self._replay_speed
        else:
            source, rate = self._market.next_frame, self._rate
        self._server = await ws_create_server(
            self._accept, self._host, self._port, enable_auto_pong=False
        )
        self._port = self._server.sockets[0].getsockname()[1]
        if rate != 0:
            self._pump = asyncio.create_task(self._run_pump(source, rate))

    async def stop(self) -> None:
        """Stop producing, close the listener and abort every connection."""
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self._server is not None:
            self._server.close()
            self.drop_connections()
            await self._server.wait_closed()

    def drop_connections(self) -> None:
        """Abort every current connection without a close frame, like a network failure."""
        for client in tuple(self._clients):
            client.transport.disconnect(graceful=False)

    def send_raw(self, data: bytes, msg_type: WSMsgType = WSMsgType.TEXT) -> int:
        """Send ``data`` verbatim as one frame to every connected client (fault injection:
        garbage, wrong shapes, bad numbers, binary frames). Returns how many clients got it."""
        for client in self._clients:
            client.transport.send(msg_type, data)
        return len(self._clients)

    async def wait_replay_done(self) -> None:
        """Return once a replay without ``loop_replay`` has sent its last frame."""
        await self._replay_done.wait()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- connections --------------------------------------------------------------------------

    def _accept(self, request: WSUpgradeRequest) -> _Client | WSUpgradeResponseWithListener:
        try:
            connection = parse_request_path(request.path.decode("latin-1"))
        except RequestPathError as exc:
            response = WSUpgradeResponse.create_error_response(exc.status, exc.reason.encode())
            return WSUpgradeResponseWithListener(response, None)
        return _Client(self, BinanceStreamSession(connection))

    def _connected(self, client: _Client) -> None:
        self.stats.connections_accepted += 1
        client.number = self.stats.connections_accepted
        self.stats.subscriptions[client.number] = tuple(client.session.streams)
        self._clients[client] = None
        client.last_pong_at = time.monotonic()
        loop = asyncio.get_running_loop()
        client.ping_timer = loop.call_later(self._ping_interval, self._ping, client)
        self._listener_changed.set()

    def _disconnected(self, client: _Client) -> None:
        self._clients.pop(client, None)
        if client.ping_timer is not None:
            client.ping_timer.cancel()
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
        transport = client.transport
        if time.monotonic() - client.last_pong_at >= self._pong_timeout:
            transport.disconnect(graceful=False)
            return
        client.last_ping_payload = str(time.time_ns() // 1_000_000).encode()
        transport.send_ping(client.last_ping_payload)
        self.stats.pings_sent += 1
        client.ping_timer = asyncio.get_running_loop().call_later(
            self._ping_interval, self._ping, client
        )

    def _received(self, client: _Client, frame: WSFrame) -> None:
        transport = client.transport
        msg_type = frame.msg_type
        if msg_type == WSMsgType.CLOSE:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()
            return
        if client.session.count_incoming(time.monotonic_ns()):
            self.stats.rate_limit_violations += 1
            if self._enforce_rate_limit:
                transport.send_close(WSCloseCode.POLICY_VIOLATION, b"Too many requests")
                transport.disconnect()
                return
        if msg_type == WSMsgType.TEXT or msg_type == WSMsgType.BINARY:
            handled = client.session.handle_request(frame.get_payload_as_bytes())
            transport.send(WSMsgType.TEXT, handled.reply)
            if handled.accepted and handled.method in ("SUBSCRIBE", "UNSUBSCRIBE"):
                if handled.method == "SUBSCRIBE":
                    self.stats.subscribe_requests += 1
                self.stats.subscriptions[client.number] = tuple(client.session.streams)
                self._listener_changed.set()
        elif msg_type == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif msg_type == WSMsgType.PONG:
            self.stats.pongs_received += 1
            if frame.get_payload_as_bytes() == client.last_ping_payload:
                client.last_pong_at = time.monotonic()

    # -- frame production ---------------------------------------------------------------------

    def _replay_source(self, frames: list[_Frame]) -> Callable[[int], _Frame | None]:
        position = 0

        def next_recorded(now_ms: int) -> _Frame | None:
            nonlocal position
            if position == len(frames):
                if not (self._loop_replay and frames):
                    return None
                position = 0
            position += 1
            return frames[position - 1]

        return next_recorded

    def _has_listener(self) -> bool:
        if self._subscribe_all:
            return bool(self._clients)
        return any(client.session.streams for client in self._clients)

    async def _run_pump(self, source: Callable[[int], _Frame | None], rate: float | None) -> None:
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
                    frame = source(now_ms)
                    if frame is None:
                        self._replay_done.set()
                        return
                    self._broadcast(frame[0], frame[1])
                produced += due
                if rate is None:
                    await asyncio.sleep(0)
                else:
                    next_due = started + (produced + 1) / rate
                    await asyncio.sleep(max(_TICK_SECONDS, next_due - loop.time()))

    def _broadcast(self, stream: str, payload: bytes) -> None:
        drop_after = self._drop_after
        subscribe_all = self._subscribe_all
        enveloped = b""
        sent = 0
        to_drop: list[WSTransport] = []
        for client in self._clients:
            session = client.session
            if not (subscribe_all or stream in session.streams):
                continue
            if drop_after is not None and client.frames_sent >= drop_after:
                continue
            if session.combined:
                if not enveloped:
                    enveloped = session.render(stream, payload)
                data = enveloped
            else:
                data = payload
            transport = client.transport
            transport.send(WSMsgType.TEXT, data)
            client.frames_sent += 1
            sent += 1
            if client.frames_sent == drop_after:
                to_drop.append(transport)
        self.stats.frames_sent += sent
        for transport in to_drop:
            transport.disconnect(graceful=False)


# -- command line ---------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``tickwire simulate`` options to ``parser``; pass its result to ``run_from_args``."""
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    add("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    add(
        "--symbols",
        default=",".join(DEFAULT_SYMBOLS),
        help="comma-separated canonical symbols of the synthetic market (default %(default)s)",
    )
    add(
        "--rate",
        type=float,
        default=10.0,
        help="messages per second per symbol; 0 = idle market (default %(default)s)",
    )
    add(
        "--channels",
        default=",".join(CHANNELS),
        help="comma-separated payload kinds of the synthetic market (default %(default)s)",
    )
    add("--replay", metavar="FILE", help="play recorded frames (one per line) instead")
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
        default=20.0,
        metavar="SECONDS",
        help="seconds between server pings (default %(default)s)",
    )
    add(
        "--pong-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="drop a client that has not answered a ping for this long (default %(default)s)",
    )
    add("--drop-after", type=int, metavar="N", help="abort each connection after N data frames")
    add(
        "--enforce-rate-limit",
        action="store_true",
        help="close clients that send more than 5 messages a second, as Binance does",
    )
    add("--seed", type=int, default=0, help="seed of the synthetic market (default %(default)s)")
    add(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="stop after this long (default: run until SIGINT or SIGTERM)",
    )


async def run_from_args(args: argparse.Namespace) -> int:
    """Run the simulator the parsed ``args`` describe; print ``ready <url>`` once listening.

    Returns 0 after ``--duration`` or SIGINT/SIGTERM. Raises ValueError for invalid arguments.
    """
    if args.duration is not None and not args.duration >= 0:
        raise ValueError(f"duration must be >= 0 seconds, got {args.duration}")
    simulator = Simulator(
        host=args.host,
        port=args.port,
        symbols=_comma_list(args.symbols),
        rate=args.rate,
        channels=_comma_list(args.channels),
        replay=args.replay,
        replay_speed=args.replay_speed,
        loop_replay=args.loop,
        subscribe_all=args.subscribe_all,
        ping_interval=args.ping_interval,
        pong_timeout=args.pong_timeout,
        drop_after=args.drop_after,
        enforce_rate_limit=args.enforce_rate_limit,
        seed=args.seed,
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
            sys.stdout.write(f"ready {simulator.url}\n")
            sys.stdout.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.duration)
    finally:
        for signal_number in handled_signals:
            loop.remove_signal_handler(signal_number)
    return 0


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]
