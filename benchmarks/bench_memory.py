#!/usr/bin/env python3
"""Steady-state memory of ``tickwire run`` under a constant load.

Runs ``tickwire run --sink stdout --metrics`` against a feed in a process of its own, its output
going to /dev/null (every line is still encoded and written). Two feeds (``--feed``):

* ``simulator`` (default): ``tickwire simulate`` with a synthetic market of ``--venues`` x
  ``--symbols`` quoting best bid/offer only, at a step rate chosen so that the venues together
  send ``--rate`` frames per second (calibrated by a 15-second probe run first). One simulator
  process tops out at about 17,000 frames/s on one core.
* ``w2o``: the wire-to-output sender (``w2o_server.serve_stream``) sending Binance bookTicker
  frames of BTC-USDT at ``--rate`` frames/s, paced by sleeping; every frame changes the price
  (unique prices, or cycling over ``--price-levels`` bid levels), so tickwire prints one line per
  frame. It sends 20,000 frames/s on about 15 % of one core.

Every ``--every`` seconds it reads the client's resident set size (``VmRSS`` in /proc), its frame
counter from ``/metrics``, the CPU time of both processes and the 1-minute load average. The first
``--warmup`` seconds are excluded: caches of price strings and interned symbols fill then.
Reported: RSS after warm-up and at the end, the least-squares slope of RSS over the rest of the
run (KiB per minute), the frame rate achieved (overall and per sampling window), the CPU share the
client and the feed used (to tell who could not keep up when the rate falls short), and every
sample.

    .venv/bin/python benchmarks/bench_memory.py [--duration 600] [--rate 20000] \
        [--feed w2o [--price-levels K]] [--json benchmarks/results/memory.json]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import multiprocessing
import os
import platform
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tickwire.sim.server import parse_ready_line

sys.path.insert(0, str(Path(__file__).resolve().parent))
import w2o_server  # noqa: E402
from wire_to_output import git_state, src_fingerprint  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

TICKWIRE = [sys.executable, "-m", "tickwire"]
FRAMES = re.compile(r'^tickwire_frames_total\{venue="[^"]+"\} (\d+)', re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def frames_received(metrics_url: str) -> int:
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        return sum(int(count) for count in FRAMES.findall(response.read().decode()))


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not listen on port {port}")


def slope_kib_per_minute(samples: list[dict]) -> float:
    """Least-squares slope of ``rss_kib`` over ``t_s``, per minute."""
    n = len(samples)
    if n < 2:
        return float("nan")
    mean_t = sum(s["t_s"] for s in samples) / n
    mean_r = sum(s["rss_kib"] for s in samples) / n
    num = sum((s["t_s"] - mean_t) * (s["rss_kib"] - mean_r) for s in samples)
    den = sum((s["t_s"] - mean_t) ** 2 for s in samples)
    return num / den * 60


@dataclass
class Feed:
    """A running source of frames: its process (for CPU time), tickwire's ``--endpoint`` flags,
    and what it reported when it stopped."""

    pid: int
    endpoints: list[str]
    outcome: dict = field(default_factory=dict)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


@contextlib.contextmanager
def simulator_feed(venues: list[str], symbols: list[str], step_rate: float) -> Iterator[Feed]:
    """``tickwire simulate`` of ``venues`` x ``symbols`` at ``step_rate`` steps/s per symbol."""
    simulator = subprocess.Popen(
        [*TICKWIRE, "simulate", "--venues", ",".join(venues), "--symbols", ",".join(symbols),
         "--channels", "bbo", "--rate", repr(step_rate)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        try:
            _, served = parse_ready_line(simulator.stdout.readline().decode())
        except ValueError:
            raise SystemExit(f"the simulator did not start (exit status {simulator.wait()})") from None
        yield Feed(simulator.pid, [f"--endpoint={venue}={url}" for venue, url in served.items() if venue in venues])
    finally:
        stop_process(simulator)


@contextlib.contextmanager
def w2o_feed(rate: float, levels: int, max_seconds: float) -> Iterator[Feed]:
    """The wire-to-output sender streaming BTC-USDT bookTicker at ``rate`` frames/s."""
    fork = multiprocessing.get_context("fork")
    ctl, child = fork.Pipe()
    sender = fork.Process(target=w2o_server.serve_stream, args=(child, rate, levels, max_seconds), daemon=True)
    sender.start()
    feed = None
    try:
        if not ctl.poll(10):
            raise SystemExit("the sender did not start")
        feed = Feed(sender.pid, [f"--endpoint=binance=ws://127.0.0.1:{ctl.recv()[1]}"])
        yield feed
    finally:
        with contextlib.suppress(OSError):
            ctl.send(("stop",))
        if feed is not None and ctl.poll(10):
            feed.outcome = ctl.recv()[1]
        sender.join(10)
        if sender.is_alive():
            sender.terminate()


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def sampled_run(
    feed_context: contextlib.AbstractContextManager[Feed], venues: list[str], symbols: list[str],
    duration: float, every: float, run_flags: tuple[str, ...] = (),
) -> tuple[list[dict], str, dict]:
    """One ``tickwire run`` against ``feed_context``'s feed for ``duration`` seconds, sampled
    every ``every``; the samples, tickwire's exit summary, and what the feed reported."""
    metrics_port = free_port()
    with feed_context as feed:
        client = subprocess.Popen(
            [*TICKWIRE, "run", "--venues", ",".join(venues), "--symbols", ",".join(symbols),
             *feed.endpoints, "--sink", "stdout", "--metrics", f"127.0.0.1:{metrics_port}", *run_flags],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(metrics_port, client, "tickwire run")
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            started = time.monotonic()
            samples = []
            while (elapsed := time.monotonic() - started) <= duration + 0.5:
                if client.poll() is not None:
                    raise SystemExit(f"tickwire run exited early: {client.stderr.read().decode()}")
                samples.append({"t_s": round(elapsed, 2), "rss_kib": rss_kib(client.pid),
                                "frames": frames_received(metrics_url),
                                "client_cpu_s": cpu_seconds(client.pid),
                                "feed_cpu_s": cpu_seconds(feed.pid),
                                "load1": load_average()})
                print(f"{samples[-1]['t_s']:7.1f} s  RSS {samples[-1]['rss_kib']:,} KiB  "
                      f"frames {samples[-1]['frames']:,}  load {samples[-1]['load1']:.2f}", flush=True)
                time.sleep(max(0.0, every * len(samples) - (time.monotonic() - started)))
            client.send_signal(signal.SIGTERM)
            summary = client.communicate(timeout=60)[1].decode()
        finally:
            stop_process(client)
    return samples, summary, feed.outcome


def frame_rate(samples: list[dict]) -> float:
    first, last = samples[0], samples[-1]
    return (last["frames"] - first["frames"]) / (last["t_s"] - first["t_s"])


def window_rates(samples: list[dict]) -> list[float]:
    """Frames per second between each pair of consecutive samples."""
    return [frame_rate([a, b]) for a, b in zip(samples, samples[1:])]


def cpu_share(samples: list[dict], key: str) -> float:
    """Cores' worth of CPU time ``key`` grew by per second between the first and last sample."""
    first, last = samples[0], samples[-1]
    return (last[key] - first[key]) / (last["t_s"] - first["t_s"])


def run(args: argparse.Namespace) -> dict:
    if args.feed == "w2o":
        venues, symbols = ["binance"], ["BTC-USDT"]
        # the sender outlives the run by a margin: tickwire's start-up and shutdown come first and last
        feed_context = w2o_feed(args.rate, args.price_levels, args.duration + 300.0)
        feed_setup = {"price_levels": args.price_levels}
    else:
        venues, symbols = args.venues.split(","), args.symbols.split(",")
        # Not every market step changes every venue's best bid/offer: a short probe says how many
        # frames a step makes, and the step rate is set from it.
        probe_step_rate = args.rate / (len(venues) * len(symbols))
        probe, _, _ = sampled_run(simulator_feed(venues, symbols, probe_step_rate), venues, symbols, 15.0, 5.0,
                                  args.run_flags)
        step_rate = probe_step_rate * args.rate / frame_rate(probe[1:])
        print(f"probe: {frame_rate(probe[1:]):,.0f} frames/s at {probe_step_rate:,.0f} steps/s per "
              f"symbol; running at {step_rate:,.0f}", flush=True)
        feed_context = simulator_feed(venues, symbols, step_rate)
        feed_setup = {"step_rate_per_symbol": step_rate}
    date_utc = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    code = {"git": git_state(REPO), "src_fingerprint": src_fingerprint(REPO / "src" / "tickwire")}
    samples, summary, feed_outcome = sampled_run(feed_context, venues, symbols, args.duration, args.every,
                                                 args.run_flags)
    steady = [s for s in samples if s["t_s"] >= args.warmup]
    windows = window_rates(steady)
    return {
        "date_utc": date_utc,
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs",
        "python": sys.version.split()[0],
        "command": " ".join(sys.argv),
        "code": code,
        "feed": args.feed,
        "venues": venues,
        "symbols": symbols,
        "target_rate": args.rate,
        "run_flags": list(args.run_flags),
        **feed_setup,
        "achieved_rate": frame_rate(steady),
        "window_rate_min": min(windows),
        "window_rate_max": max(windows),
        "client_cpu_share": cpu_share(steady, "client_cpu_s"),
        "feed_cpu_share": cpu_share(steady, "feed_cpu_s"),
        "load1_min": min(s["load1"] for s in samples),
        "load1_max": max(s["load1"] for s in samples),
        "warmup_s": args.warmup,
        "rss_start_kib": steady[0]["rss_kib"],
        "rss_end_kib": steady[-1]["rss_kib"],
        "rss_max_kib": max(s["rss_kib"] for s in steady),
        "slope_kib_per_minute": slope_kib_per_minute(steady),
        "feed_outcome": feed_outcome,
        "summary": summary.strip().splitlines(),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--rate", type=float, default=20_000.0, help="frames/s over all venues")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds left out of the slope")
    parser.add_argument("--feed", choices=("simulator", "w2o"), default="simulator",
                        help="simulator: tickwire simulate, --venues x --symbols (default); "
                             "w2o: the wire-to-output sender, Binance BTC-USDT bookTicker")
    parser.add_argument("--venues", help="simulator feed only (default binance,okx,coinbase,kraken)")
    parser.add_argument("--symbols", help="simulator feed only (default BTC-USDT,ETH-USDT)")
    parser.add_argument("--price-levels", type=int, default=0, metavar="K",
                        help="w2o feed only: 0 (default) every frame has new prices; K: bids cycle over K levels")
    parser.add_argument("--run-flags", type=shlex.split, default=(), metavar="FLAGS",
                        help='more flags for tickwire run, e.g. "--busy-poll --conflate"')
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    if args.warmup + 2 * args.every > args.duration:
        parser.error("--duration must leave at least two samples after --warmup")
    if args.feed == "w2o" and (args.venues or args.symbols):
        parser.error("--venues and --symbols are for the simulator feed (w2o sends Binance BTC-USDT)")
    if args.feed == "simulator" and args.price_levels:
        parser.error("--price-levels is for the w2o feed")
    args.venues = args.venues or "binance,okx,coinbase,kraken"
    args.symbols = args.symbols or "BTC-USDT,ETH-USDT"
    report = run(args)
    print(f"frames/s achieved {report['achieved_rate']:,.0f} (target {args.rate:,.0f}; "
          f"{args.every:g}-s windows {report['window_rate_min']:,.0f} … {report['window_rate_max']:,.0f}), "
          f"CPU used by tickwire {report['client_cpu_share']:.0%} and the {args.feed} feed "
          f"{report['feed_cpu_share']:.0%} of one core; "
          f"RSS after {args.warmup:g} s {report['rss_start_kib']:,} KiB, at the end "
          f"{report['rss_end_kib']:,} KiB, max {report['rss_max_kib']:,} KiB; "
          f"slope {report['slope_kib_per_minute']:+.1f} KiB/min; "
          f"load average {report['load1_min']:.2f} … {report['load1_max']:.2f}")
    if report["feed_outcome"]:
        print(f"feed: {report['feed_outcome']}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
