#!/usr/bin/env python3
"""Single process vs multi-core mode (``--workers N``) with 1, 4 and 8 venue feeds.

Setup per run: ``tickwire simulate`` serves the venues (one BTC-USDT BBO feed each, every venue
quoting at every market step: ``--rate`` steps per second is that many messages per second per
venue) in its own process; ``tickwire run --sink stdout`` writes to a file. Then:

* **latency**: tickwire's own ``recv_ns`` -> ``publish_ns`` of every price line caused by a
  venue quote (``time.time_ns`` in both processes: CLOCK_REALTIME is system-wide), the first
  second left out; so the wire is not included, the ring hop is. p50 / p99 / p99.9.
* **throughput**: the simulator offers ``--max-rate`` messages per second per venue (as much as
  it can: it is one Python process sharing the machine); frames received per second over the run (from the exit summary of every
  process), the ring records dropped, and the CPU seconds tickwire's processes used per 1,000
  frames (``RUSAGE_CHILDREN``, workers included: the aggregator waits for them).

* **the ring alone** (``--ring``): a forked producer pinned to CPU0 pushes one record every
  500 µs (busy-waiting between); the consumer on CPU1 either busy-polls ``Ring.pop`` in a plain
  loop, or sleeps on the doorbell in a uvloop event loop at every empty poll; push time ->
  popped, 20,000 records.

Each configuration runs ``--repeats`` times, interleaved; the table shows the median of each
statistic. Loopback only, bounded durations.

    .venv/bin/python benchmarks/bench_workers.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from tickwire.ring import QUOTE, Doorbell, Ring

VENUES = ("binance", "kraken", "okx", "coinbase", "bybit", "bitstamp", "gemini", "bitfinex")
SYMBOL = "BTC-USDT"


def percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1000


def run_once(venues: tuple[str, ...], workers: int, pin: bool, rate: float, seconds: float,
             config: str | None = None) -> dict:
    simulator = subprocess.Popen(
        [sys.executable, "-m", "tickwire", "simulate", "--venues", ",".join(venues), "--symbols",
         SYMBOL, "--rate", str(rate), "--channels", "bbo", "--duration", str(seconds + 15)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        ready = simulator.stdout.readline().split()  # type: ignore[union-attr]
        endpoints = [f"--endpoint={item}" for item in ready[2:]]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with tempfile.TemporaryFile() as out:
            command = [sys.executable, "-m", "tickwire", "run", "--venues", ",".join(venues),
                       "--symbols", SYMBOL, *endpoints, "--workers", str(workers),
                       "--duration", str(seconds)]
            if pin:
                command.append("--pin")
            if config:
                command += ["--config", config]
            finished = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, text=True,
                                      timeout=seconds + 30)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            out.seek(0)
            lines = [json.loads(raw) for raw in out]
    finally:
        simulator.terminate()
        simulator.wait(10)
    stderr = finished.stderr
    frames = sum(int(n) for n in re.findall(r"tickwire: \w+: (\d+) frames", stderr))
    dropped = sum(int(n) for n in re.findall(r"(\d+) dropped \(ring full\)", stderr))
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    quoted = [line for line in lines if line["venue"]]
    start = quoted[0]["recv_ns"] + 1_000_000_000 if quoted else 0
    latencies = [line["publish_ns"] - line["recv_ns"] for line in quoted if line["recv_ns"] >= start]
    return {
        "status": finished.returncode,
        "p50": percentile(latencies, 0.5) if latencies else None,
        "p99": percentile(latencies, 0.99) if latencies else None,
        "p99.9": percentile(latencies, 0.999) if latencies else None,
        "frames_per_s": frames / seconds,
        "dropped": dropped,
        "cpu_ms_per_1k": 1e6 * cpu / frames if frames else None,
    }


def ring_hop(sleeping: bool, count: int = 20_000) -> dict:
    """Push -> pop latency of the ring alone, producer and consumer on their own CPU."""
    doorbell = Doorbell()
    ring = Ring.create(1024, doorbell)
    pid = os.fork()
    if pid == 0:
        os.sched_setaffinity(0, {0})
        time.sleep(0.3)
        for n in range(count):
            stamp = time.time_ns()
            ring.push(QUOTE, 0, 0, 1, 1, 1, 1, stamp, 0, n, stamp)
            until = time.perf_counter() + 0.0005
            while time.perf_counter() < until:
                pass
        os._exit(0)
    os.sched_setaffinity(0, {1})
    hops: list[int] = []

    def take() -> None:
        records = ring.pop()
        if records:
            now = time.time_ns()
            hops.extend(now - record[8] for record in records)

    if sleeping:
        async def consume() -> None:
            loop = asyncio.get_running_loop()
            rung = asyncio.Event()

            def on_ring() -> None:
                doorbell.clear()
                take()
                rung.set()

            loop.add_reader(doorbell.fd, on_ring)
            while len(hops) < count:
                rung.clear()
                take()
                if ring.arm():
                    await _bounded(rung)
                ring.disarm()

        import uvloop

        uvloop.run(consume())
    else:
        while len(hops) < count:
            take()
    os.waitpid(pid, 0)
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
    ring.close()
    doorbell.close()
    return {"p50": percentile(hops, 0.5), "p99": percentile(hops, 0.99), "p99.9": percentile(hops, 0.999)}


async def _bounded(rung: asyncio.Event) -> None:
    try:
        await asyncio.wait_for(rung.wait(), 0.002)
    except asyncio.TimeoutError:
        pass


def median(runs: list[dict], key: str) -> float | None:
    values = [run[key] for run in runs if run[key] is not None]
    return statistics.median(values) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat, 4 s runs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--paced-total", type=float, default=1000.0,
                        help="latency runs: messages per second over all venues (default 1000)")
    parser.add_argument("--max-rate", type=float, default=4000.0,
                        help="throughput runs: steps per second (= messages per second per venue)")
    parser.add_argument("--ring", action="store_true", help="only the ring alone (no network)")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    repeats, seconds = (1, 4.0) if args.quick else (args.repeats, args.seconds)
    if args.ring:
        print("| consumer | push -> popped p50 / p99 / p99.9 µs |\n|---|---|")
        for name, sleeping in (("busy-poll loop", False), ("doorbell sleep in uvloop", True)):
            runs = [ring_hop(sleeping) for _ in range(repeats)]
            print(f"| {name} | {median(runs, 'p50'):.2f} / {median(runs, 'p99'):.2f} / "
                  f"{median(runs, 'p99.9'):.2f} |")
        return 0
    configs = []
    for count in (1, 4, 8):
        venues = VENUES[:count]
        for workers, pin in ((0, False), (0, True), (1, False), (2, False), (2, True)):
            if workers <= count:
                for load in ("paced", "max"):
                    configs.append((venues, workers, pin, load))
    results: dict[tuple, list[dict]] = {}
    for repeat in range(repeats):
        order = configs[repeat % len(configs):] + configs[:repeat % len(configs)]
        for venues, workers, pin, load in order:
            rate = args.paced_total / len(venues) if load == "paced" else args.max_rate
            result = run_once(venues, workers, pin, rate, seconds)
            results.setdefault((len(venues), workers, pin, load), []).append(result)
            print(f"# {len(venues)} venues, workers {workers}, pin {pin}, {load}: {result}",
                  file=sys.stderr, flush=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
          f"; {_dt.date.today()}; {' '.join(sys.argv)}; median of {repeats}")
    print("| venues | mode | pinned | recv->published p50 / p99 / p99.9 µs at "
          f"{args.paced_total:g} msg/s | frames/s received at {args.max_rate:g} msg/s per venue "
          "offered | ring drops | CPU ms per 1k frames |")
    print("|---:|---|---|---|---:|---:|---:|")
    table = []
    for (count, workers, pin, load), runs in sorted(results.items()):
        if load != "paced":
            continue
        maxed = results[(count, workers, pin, "max")]
        row = {
            "venues": count, "workers": workers, "pin": pin,
            "p50": median(runs, "p50"), "p99": median(runs, "p99"), "p99.9": median(runs, "p99.9"),
            "max_frames_per_s": median(maxed, "frames_per_s"), "dropped": median(maxed, "dropped"),
            "cpu_ms_per_1k": median(maxed, "cpu_ms_per_1k"),
        }
        table.append(row)
        mode = "one process" if not workers else f"--workers {workers}"

        def show(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}"

        print(f"| {count} | {mode} | {'yes' if pin else 'no'} | {show(row['p50'])} / "
              f"{show(row['p99'])} / {show(row['p99.9'])} | {row['max_frames_per_s']:,.0f} | "
              f"{row['dropped']:.0f} | {show(row['cpu_ms_per_1k'])} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"argv": sys.argv, "date": str(_dt.date.today()), "rows": table,
                       "runs": {str(k): v for k, v in results.items()}}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
