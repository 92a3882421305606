"""What stage timing costs: one histogram record, a clock read, and rendering a scrape.

    python benchmarks/bench_metrics.py [--repeat 7]
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python benchmarks/bench_metrics.py --chain on|off --frames N --burst B [--stage-sample S]

Per-operation costs use ``timeit`` statement strings (locals, no call overhead of the harness)
and print the median over ``--repeat`` runs in ns, with the empty statement's cost shown for
reference. The scrape rows render ``/metrics`` and ``/debug/status`` for an engine with four
timed venues whose histograms hold a spread of values; that time is spent in the event loop,
once per scrape, in one slice per venue (frames are let through in between).

``--chain`` instead runs ``--frames`` Binance bookTicker frames through the engine's hot path
with stage timing on or off, ``--burst`` frames per socket read, on a C-level counter clock (so
that a clock read costs what a builtin call costs, under valgrind too). Run under callgrind for
two frame counts, the difference of the instruction totals divided by the difference of the
counts is the instructions per frame: a measure that other processes on the machine do not move.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import random
import statistics
import sys
import time
import timeit

from tickwire.config import load_config
from tickwire.engine import Engine
from tickwire.exposition import prometheus_text, status
from tickwire.metrics import LoopLagProbe
from tickwire.sinks.stdout import StdoutSink

FRAME = (
    b'{"stream":"btcusdt@bookTicker","data":{"u":%d,"s":"BTCUSDT","b":"67012.%02d000000",'
    b'"B":"1.20410000","a":"67013.41000000","A":"0.80100000"}}'
)

SETUP = """
import time
from tickwire.metrics import FAST_BUCKET, LatencyHistogram
histogram = LatencyHistogram()
counts = histogram.counts
record = histogram.record
fast_bucket = FAST_BUCKET
time_ns = time.time_ns
recv_ns = time_ns()
stamp_ns = recv_ns + 2_345
slow_ns = recv_ns + 3_000_000
"""

STATEMENTS = {
    "empty statement (loop overhead)": "pass",
    "time.time_ns() (bound local)": "time_ns()",
    "fast-path record: counts[fast_bucket[stamp - recv]] += 1": "counts[fast_bucket[stamp_ns - recv_ns]] += 1",
    "slow-path record: histogram.record(stamp - recv) (3 ms)": "record(slow_ns - recv_ns)",
}


def per_operation(repeat: int) -> dict[str, float]:
    results = {}
    for name, statement in STATEMENTS.items():
        timer = timeit.Timer(statement, SETUP)
        number, _ = timer.autorange()
        number = max(number, 200_000)
        runs = timer.repeat(repeat, number)
        results[name] = statistics.median(runs) / number * 1e9
    return results


def scrape_costs(repeat: int) -> dict[str, float]:
    venues = ["binance", "coinbase", "kraken", "okx"]
    config = load_config(None, {"venues": venues, "symbols": ["BTC-USDT"], "sinks": ["none"]})
    engine = Engine(config, [], timed=True)
    rng = random.Random(1)
    for stages in engine.stages.values():
        for _, histogram in stages.histograms():
            for _ in range(20_000):
                histogram.record(int(rng.lognormvariate(9, 1.2)))
    probe = LoopLagProbe()

    async def measure() -> dict[str, float]:
        results = {}
        for name, render in (("render /metrics (4 venues)", prometheus_text),
                             ("render /debug/status (4 venues)", status)):
            runs = []
            for _ in range(repeat):
                started = time.perf_counter_ns()
                await render(engine, probe, 0.0)
                runs.append(time.perf_counter_ns() - started)
            results[name] = statistics.median(runs)
        return results

    return asyncio.run(measure())


def run_chain(timed: bool, frames: int, burst: int, stage_sample: int) -> None:
    """``frames`` frames through the hot path (after one warm-up cycle), ``burst`` per read."""
    cycle = [FRAME % (i, i % 40) for i in range(1, 1001)]  # every frame changes the price
    clock = itertools.count(1_795_000_000_000_000_000, 333).__next__
    config = load_config(None, {"symbols": ["BTC-USDT"], "sinks": ["none"], "stage_sample": stage_sample})
    sink = StdoutSink({"BTC-USDT": 8}, {"BTC-USDT": 8}, os.open(os.devnull, os.O_WRONLY))
    engine = Engine(config, [sink], timed=timed, clock=clock)
    adapter = engine.sessions[0].adapter
    on_frame = engine.frame_consumer(adapter)
    adapter.on_connected()
    for frame in cycle:
        on_frame(frame, clock(), True)
    done = 0
    while done < frames:
        adapter.on_connected()  # a new connection: the update ids start again
        for i, frame in enumerate(cycle):
            on_frame(frame, clock(), (i + 1) % burst == 0)
        done += len(cycle)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--chain", choices=("on", "off"), help="run the hot path (for callgrind)")
    parser.add_argument("--frames", type=int, default=10_000, help="with --chain (rounded up to 1000s)")
    parser.add_argument("--burst", type=int, default=64, help="with --chain: frames per socket read")
    parser.add_argument("--stage-sample", type=int, default=64, help="with --chain on: the setting")
    args = parser.parse_args()
    if args.chain:
        run_chain(args.chain == "on", args.frames, args.burst, args.stage_sample)
        return 0
    print(f"python {platform.python_version()} ({sys.executable}), median of {args.repeat} runs")
    print("| operation | ns |")
    print("|---|---:|")
    for name, ns in {**per_operation(args.repeat), **scrape_costs(args.repeat)}.items():
        print(f"| {name} | {ns:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
