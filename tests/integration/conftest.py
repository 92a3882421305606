"""Helpers for end-to-end tests: a real ``tickwire`` subprocess against a loopback simulator."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Coroutine

import pytest

from tickwire.sim import Simulator
from tickwire.sim.market import MarketEvent, MarketQuote
from tickwire.sim.venue import SimVenue


async def eventually(condition: Any, timeout: float = 5.0) -> None:
    """Wait until ``condition()`` is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def run_async(coroutine: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
    """Run a test coroutine on a fresh event loop with an overall time limit."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


class TickwireProcess:
    """``python -m tickwire ARGS`` as a child process whose stdout lines are JSON."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self, timeout: float = 10) -> dict[str, Any]:
        """The next JSON line of stdout (fails the test on timeout or end of output)."""
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert raw, f"tickwire ended early; stderr: {await self.stderr()}"
        return json.loads(raw)

    async def lines(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        return [await self.line(timeout) for _ in range(count)]

    async def price_lines(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        """The next ``count`` consolidated price lines, skipping trade and ticker lines."""
        lines: list[dict[str, Any]] = []
        while len(lines) < count:
            line = await self.line(timeout)
            if line["type"] == "price":
                lines.append(line)
        return lines

    async def stderr(self) -> str:
        if self.process.returncode is None:
            return ""
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode()

    async def stop(self) -> int:
        """SIGTERM, then the exit status (waits at most 5 s)."""
        if self.process.returncode is None:
            self.process.terminate()
        return await asyncio.wait_for(self.process.wait(), 5)


Touch = tuple[str, int, int, int, int]
"""Symbol, bid, bid size, ask and ask size, in the simulator's ``10**-8`` units."""


def line_touch(line: dict[str, Any]) -> Touch:
    """The touch a one-venue price line shows."""
    values = (line["bid"], line["bid_size"], line["ask"], line["ask_size"])
    return (line["symbol"], *(int(Decimal(text).scaleb(8)) for text in values))


def record_rendered_touches(
    monkeypatch: pytest.MonkeyPatch, venue_type: type[SimVenue]
) -> list[Touch]:
    """Every quote the simulated ``venue_type`` renders from now on, as ``line_touch`` reads
    the line it should become (the list grows while the simulator runs)."""
    touches: list[Touch] = []
    render = venue_type.render

    def recording_render(venue: SimVenue, event: MarketEvent, topic: str) -> Sequence[bytes]:
        if isinstance(event, MarketQuote):
            touches.append((event.symbol, event.bid, event.bid_size, event.ask, event.ask_size))
        return render(venue, event, topic)

    monkeypatch.setattr(venue_type, "render", recording_render)
    return touches


_WITH_KEEPALIVE = (
    "import importlib, sys; from tickwire.cli import main; "
    "module, _, name = sys.argv[1].partition(':'); "
    "getattr(importlib.import_module(module), name).keepalive_interval = float(sys.argv[2]); "
    "sys.exit(main(sys.argv[3:]))"
)


async def start_tickwire(
    *args: str, keepalive_every: tuple[str, float] | None = None
) -> TickwireProcess:
    """``python -m tickwire ARGS``. ``keepalive_every=("module:Adapter", seconds)`` first sets
    that venue adapter's keepalive interval, for client keepalives too slow for a test; nothing
    else of the client changes."""
    command = ("-m", "tickwire")
    if keepalive_every is not None:
        adapter, seconds = keepalive_every
        command = ("-c", _WITH_KEEPALIVE, adapter, str(seconds))
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command, *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return TickwireProcess(process)


@pytest.fixture
def fixtures_dir() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")


async def run_one_venue(
    venue: str, symbols: list[str], unknown: list[str], seed: int, count: int, prices_only: bool = True
) -> tuple[list[dict[str, Any]], int, str, Any]:
    """``tickwire run`` on ``venue`` against a simulated best-bid/offer market of ``symbols``,
    asked also for the ``unknown`` symbols the venue does not list, until ``count`` lines (price
    lines only, or any); the lines, the exit status, stderr and the simulator's stats of the venue."""
    async with Simulator(venues=[venue], symbols=symbols, rate=150, channels=["bbo"], seed=seed) as simulator:
        tickwire = await start_tickwire(
            "run", "--venues", venue, "--symbols", ",".join([*symbols, *unknown]),
            "--endpoint", f"{venue}={simulator.endpoint(venue)}",
        )
        lines = await (tickwire.price_lines(count) if prices_only else tickwire.lines(count))
        status = await tickwire.stop()
        return lines, status, await tickwire.stderr(), simulator.stats_for(venue)


def run_quiet_venue(
    venue: str, symbol: str, silence_timeout: float, duration: float
) -> tuple[dict[str, Any], int, str, Any]:
    """``tickwire run`` on ``venue`` against a simulated market of ``symbol`` that sends its book
    and then no data (only what the venue sends to keep a connection up), with
    ``--silence-timeout`` and ``--duration``: the first line, the exit status, stderr and the
    simulator's stats of the venue."""

    async def scenario() -> tuple[dict[str, Any], int, str, Any]:
        async with Simulator(venues=[venue], symbols=[symbol], rate=0) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", venue, "--symbols", symbol,
                "--endpoint", f"{venue}={simulator.endpoint(venue)}",
                "--silence-timeout", f"{silence_timeout:g}", "--duration", f"{duration:g}",
            )
            first = await tickwire.line()
            status = await asyncio.wait_for(tickwire.process.wait(), duration + 10)
            return first, status, await tickwire.stderr(), simulator.stats_for(venue)

    return run_async(scenario())


def run_replay(
    venue: str,
    recording: str | os.PathLike[str],
    symbols: Sequence[str],
    count: int,
    *flags: str,
    speed: float | None = None,
    prices_only: bool = False,
    until_replayed: bool = False,
) -> tuple[list[dict[str, Any]], int, str]:
    """``tickwire run`` on ``venue`` for ``symbols`` (and ``flags``) against the simulator
    replaying ``recording`` (``speed`` messages/s; as fast as read if None), until ``count`` lines
    (price lines only, or any) and, with ``until_replayed``, the end of the replay; the lines, the
    exit status and stderr."""

    async def scenario() -> tuple[list[dict[str, Any]], int, str]:
        async with Simulator(venues=[venue], symbols=symbols, replay=recording, replay_speed=speed) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", venue, "--symbols", ",".join(symbols),
                "--endpoint", f"{venue}={simulator.endpoint(venue)}", *flags,
            )
            lines = await (tickwire.price_lines(count) if prices_only else tickwire.lines(count))
            if until_replayed:
                await simulator.wait_replay_done()
            status = await tickwire.stop()
            return lines, status, await tickwire.stderr()

    return run_async(scenario())


def run_reconnect_notice(venue: str, symbol: str, notice: bytes) -> tuple[int, int]:
    """``tickwire run`` on ``venue`` against a simulated market of ``symbol``; after the first
    line the venue sends ``notice`` (its "reconnect" message), and once tickwire has reconnected,
    resubscribed and printed the venue's price again it is stopped: the exit status and the
    connections the venue accepted."""

    async def scenario() -> tuple[int, int]:
        async with Simulator(venues=[venue], symbols=[symbol], rate=50) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", venue, "--symbols", symbol, "--endpoint", f"{venue}={simulator.endpoint(venue)}",
            )
            await tickwire.line()
            assert simulator.send_raw(notice, venue=venue) == 1
            stats = simulator.stats_for(venue)
            await eventually(lambda: stats.connections_accepted == 2 and stats.subscribe_requests == 2)
            after = await tickwire.line()
            while after["n_venues"] == 0:  # the venue's price is withdrawn while it reconnects
                after = await tickwire.line()
            return await tickwire.stop(), stats.connections_accepted

    return run_async(scenario())
