#!/usr/bin/env python3
"""Steady-state memory of ``tickwire run`` under a constant simulated load.

Starts ``tickwire simulate`` (its own process) with a synthetic market of ``--venues`` x
``--symbols`` quoting best bid/offer only, at a step rate chosen so that the venues together
send ``--rate`` frames per second (calibrated by a 15-second probe run first), and ``tickwire run --sink stdout --metrics`` against it, its
output going to /dev/null (every line is still encoded and written). Every ``--every`` seconds
it reads the client's resident set size (``VmRSS`` in /proc) and its frame counter from
``/metrics``. The first ``--warmup`` seconds are excluded: caches of price strings and
interned symbols fill then. Reported: RSS after warm-up and at the end, the least-squares slope
of RSS over the rest of the run (KiB per minute), the frame rate achieved, the CPU share the
client and the simulator used (to tell who could not keep up when the rate falls short), and
every sample.

    .venv/bin/python benchmarks/bench_memory.py [--duration 600] [--rate 20000] \
        [--json benchmarks/results/memory.json]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tickwire.sim.server import parse_ready_line

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


def sampled_run(
    venues: list[str], symbols: list[str], step_rate: float, duration: float, every: float
) -> tuple[list[dict], str]:
    """One simulator and one ``tickwire run`` for ``duration`` seconds, sampled every ``every``;
    the samples and tickwire's exit summary."""
    metrics_port = free_port()
    simulator = subprocess.Popen(
        [*TICKWIRE, "simulate", "--venues", ",".join(venues), "--symbols", ",".join(symbols),
         "--channels", "bbo", "--rate", repr(step_rate)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    client = None
    try:
        try:
            _, served = parse_ready_line(simulator.stdout.readline().decode())
        except ValueError:
            raise SystemExit(f"the simulator did not start (exit status {simulator.wait()})") from None
        endpoints = [f"--endpoint={venue}={url}" for venue, url in served.items() if venue in venues]
        client = subprocess.Popen(
            [*TICKWIRE, "run", "--venues", ",".join(venues), "--symbols", ",".join(symbols),
             *endpoints, "--sink", "stdout", "--metrics", f"127.0.0.1:{metrics_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
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
                            "simulator_cpu_s": cpu_seconds(simulator.pid)})
            print(f"{samples[-1]['t_s']:7.1f} s  RSS {samples[-1]['rss_kib']:,} KiB  "
                  f"frames {samples[-1]['frames']:,}", flush=True)
            time.sleep(max(0.0, every * len(samples) - (time.monotonic() - started)))
        client.send_signal(signal.SIGTERM)
        summary = client.communicate(timeout=60)[1].decode()
    finally:
        for process in (client, simulator):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
    return samples, summary


def frame_rate(samples: list[dict]) -> float:
    first, last = samples[0], samples[-1]
    return (last["frames"] - first["frames"]) / (last["t_s"] - first["t_s"])


def run(args: argparse.Namespace) -> dict:
    venues, symbols = args.venues.split(","), args.symbols.split(",")
    # Not every market step changes every venue's best bid/offer: a short probe says how many
    # frames a step makes, and the step rate is set from it.
    probe_step_rate = args.rate / (len(venues) * len(symbols))
    probe, _ = sampled_run(venues, symbols, probe_step_rate, 15.0, 5.0)
    step_rate = probe_step_rate * args.rate / frame_rate(probe[1:])
    print(f"probe: {frame_rate(probe[1:]):,.0f} frames/s at {probe_step_rate:,.0f} steps/s per "
          f"symbol; running at {step_rate:,.0f}", flush=True)
    samples, summary = sampled_run(venues, symbols, step_rate, args.duration, args.every)
    steady = [s for s in samples if s["t_s"] >= args.warmup]
    first, last = steady[0], steady[-1]
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs",
        "python": sys.version.split()[0],
        "command": " ".join(sys.argv),
        "venues": venues,
        "symbols": symbols,
        "target_rate": args.rate,
        "step_rate_per_symbol": step_rate,
        "achieved_rate": frame_rate(steady),
        "client_cpu_share": (last["client_cpu_s"] - first["client_cpu_s"]) / (last["t_s"] - first["t_s"]),
        "simulator_cpu_share": (last["simulator_cpu_s"] - first["simulator_cpu_s"]) / (last["t_s"] - first["t_s"]),
        "warmup_s": args.warmup,
        "rss_start_kib": first["rss_kib"],
        "rss_end_kib": last["rss_kib"],
        "rss_max_kib": max(s["rss_kib"] for s in steady),
        "slope_kib_per_minute": slope_kib_per_minute(steady),
        "summary": summary.strip().splitlines(),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--rate", type=float, default=20_000.0, help="frames/s over all venues")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds left out of the slope")
    parser.add_argument("--venues", default="binance,okx,coinbase,kraken")
    parser.add_argument("--symbols", default="BTC-USDT,ETH-USDT")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    if args.warmup >= args.duration:
        parser.error("--warmup must be shorter than --duration")
    report = run(args)
    print(f"frames/s achieved {report['achieved_rate']:,.0f} (target {args.rate:,.0f}), CPU used by "
          f"tickwire {report['client_cpu_share']:.0%} and the simulator {report['simulator_cpu_share']:.0%} "
          f"of one core; "
          f"RSS after {args.warmup:g} s {report['rss_start_kib']:,} KiB, at the end "
          f"{report['rss_end_kib']:,} KiB, max {report['rss_max_kib']:,} KiB; "
          f"slope {report['slope_kib_per_minute']:+.1f} KiB/min")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
