"""``tickwire demo``: the simulator on loopback, the real pipeline against it, a live view.

Needs no network. The simulator runs as a child process (as a venue would be another machine),
the pipeline runs here exactly as ``tickwire run`` does, and the view is redrawn off the hot
path a few times a second.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from typing import IO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from tickwire.config import load_config
from tickwire.engine import Engine
from tickwire.fixedpoint import format_scaled
from tickwire.metrics import LatencyHistogram, micros
from tickwire.sim.server import parse_ready_line

__all__ = ["add_arguments", "run_demo", "start_simulator"]

DEMO_SYMBOLS = "BTC-USDT,ETH-USDT,SOL-USDT"
DEMO_VENUES = "binance,coinbase,kraken,okx"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``tickwire demo``."""
    parser.add_argument("--symbols", default=DEMO_SYMBOLS, help=f"default {DEMO_SYMBOLS}")
    parser.add_argument("--venues", default=DEMO_VENUES, help=f"simulated venues (default {DEMO_VENUES})")
    parser.add_argument(
        "--rate", type=float, default=100.0, help="simulated messages/s per symbol (default 100)"
    )
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds to run (default 20; Ctrl-C ends early)"
    )
    parser.add_argument("--seed", type=int, default=7, help="simulated market seed")


async def start_simulator(
    arguments: Sequence[str], *, stderr: IO[bytes] | None = None
) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    """Start ``tickwire simulate --port 0 ARGUMENTS`` as a child process (its stderr to
    ``stderr``, default ours) and return it with its endpoint per venue once it listens; the
    caller terminates it. Raises RuntimeError when it does not start within 15 s."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire", "simulate", "--port", "0", *arguments,
        stdout=asyncio.subprocess.PIPE, stderr=stderr,
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 15)
    except asyncio.TimeoutError:
        line = b""
    text = line.decode().strip()
    try:
        _, endpoints = parse_ready_line(text)
    except ValueError:
        process.kill()
        raise RuntimeError(f"the simulator did not start (said {text!r})") from None
    return process, endpoints


class _View:
    """Builds the terminal view from the engine's plain counters (read only)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.started = time.monotonic()
        self._last_frames = {s.name: 0 for s in engine.sessions}
        self._last_at = self.started
        self.rates = {s.name: 0.0 for s in engine.sessions}

    def sample_rates(self) -> None:
        now = time.monotonic()
        elapsed = max(now - self._last_at, 1e-9)
        for session in self.engine.sessions:
            frames = session.stats.frames
            self.rates[session.name] = (frames - self._last_frames[session.name]) / elapsed
            self._last_frames[session.name] = frames
        self._last_at = now

    def latency_row(self) -> tuple[str, str, str, str]:
        whole = LatencyHistogram()
        for stages in self.engine.stages.values():
            whole.merge(stages.recv_to_published)
        p50, p99, p999 = whole.percentiles((0.5, 0.99, 0.999))
        return f"{whole.count}", micros(p50), micros(p99), micros(p999)

    def render(self) -> Group:
        engine = self.engine
        prices = Table(title="Consolidated prices", expand=True)
        numbers = ("bid", "ask", "price", "±")
        for column in ("symbol", *numbers, "bid venues", "ask venues", "venues", "left out"):
            prices.add_column(column, justify="right" if column in numbers else "left")
        quotes = Table(title="Per-venue quotes", expand=True)
        for column in ("venue", "symbol", "bid", "bid size", "ask", "ask size", "age ms", "used"):
            quotes.add_column(column)
        now_ns = time.time_ns()
        for view in engine.aggregator.views.values():
            current = view.current
            scale = view.instrument.price_scale
            left_out = ", ".join(f"{v} {why}" for v, why in current.excluded.items()) if current else ""
            if current is not None and current.n_venues:
                confidence = current.confidence
                prices.add_row(
                    view.symbol,
                    format_scaled(current.bid, scale),
                    format_scaled(current.ask, scale),
                    format_scaled(current.price, current.price_scale),
                    "" if confidence is None else format_scaled(confidence, current.price_scale),
                    ",".join(current.bid_venues),
                    ",".join(current.ask_venues),
                    str(current.n_venues),
                    left_out,
                )
            else:
                prices.add_row(view.symbol, "-", "-", "-", "", "", "", "0", left_out)
            size_scale = view.instrument.size_scale
            for name, source in sorted(view.sources.items()):
                q = source.quote
                quotes.add_row(
                    name, view.symbol,
                    format_scaled(q.bid, scale), format_scaled(q.bid_size, size_scale),
                    format_scaled(q.ask, scale), format_scaled(q.ask_size, size_scale),
                    f"{(now_ns - q.recv_ns) / 1e6:.0f}",
                    "yes" if name in view.basis.used else view.basis.excluded.get(name, ""),
                )
        venues = Table(title="Venues", expand=True)
        for column in ("venue", "state", "msg/s", "frames", "errors", "reconnects"):
            venues.add_column(column)
        for session in engine.sessions:
            venues.add_row(
                session.name,
                session.state.name.lower(),
                f"{self.rates[session.name]:.0f}",
                str(session.stats.frames),
                str(session.adapter.stats.total_errors),
                str(session.stats.reconnects),
            )
        latency = Table(title="Wire-to-output latency (recv -> published), µs", expand=True)
        for column in ("samples", "p50", "p99", "p99.9"):
            latency.add_column(column)
        latency.add_row(*self.latency_row())
        return Group(prices, quotes, venues, latency)

    def summary(self) -> str:
        engine = self.engine
        elapsed = time.monotonic() - self.started
        count, p50, p99, p999 = self.latency_row()
        lines = [f"tickwire demo: {elapsed:.1f} s, {engine.updates} consolidated updates"]
        for session in engine.sessions:
            stats = session.stats
            errors = session.adapter.stats.errors
            lines.append(
                f"  {session.name}: {stats.frames} frames ({stats.frames / max(elapsed, 1e-9):.0f}/s), "
                f"{stats.bytes} bytes, {stats.reconnects} reconnects, "
                f"decode errors {dict(errors) if errors else 0}"
            )
        lines.append(f"  latency recv->published µs: p50 {p50}  p99 {p99}  p99.9 {p999}  ({count} samples)")
        return "\n".join(lines)


async def run_demo(args: argparse.Namespace) -> int:
    """Run the demo for ``args.duration`` seconds (or until Ctrl-C); print a summary."""
    if args.rate <= 0 or args.duration <= 0:
        raise ValueError("--rate and --duration must be > 0")
    venues = args.venues.split(",")
    simulator, endpoints = await start_simulator(
        ["--venues", args.venues, "--symbols", args.symbols, "--rate", str(args.rate),
         "--seed", str(args.seed)]
    )
    try:
        config = load_config(
            None,
            {
                "venues": venues,
                "symbols": args.symbols.split(","),
                "sinks": ["none"],
                "endpoints": {venue: endpoints[venue] for venue in venues},
            },
        )
        engine = Engine(config, timed=True)
        view = _View(engine)
        console = Console()
        runner = asyncio.create_task(engine.run(args.duration))
        if console.is_terminal:
            with Live(view.render(), console=console, refresh_per_second=4) as live:
                while not runner.done():
                    await asyncio.sleep(0.5)
                    view.sample_rates()
                    live.update(view.render())
        else:
            while not runner.done():
                await asyncio.sleep(1.0)
                view.sample_rates()
                rates = ", ".join(f"{n} {r:.0f} msg/s" for n, r in view.rates.items())
                _, p50, p99, _ = view.latency_row()
                print(f"{rates}; updates {engine.updates}; p50 {p50} µs p99 {p99} µs", flush=True)
        await runner
        print(view.summary(), flush=True)
    finally:
        simulator.terminate()
        await simulator.wait()
    return 0
