"""Per-stage cost of tickwire's hot path on Binance bookTicker frames, without a network.

    python benchmarks/bench_hot_path.py [--frames 200000] [--repeat 5]

Stages, each timed over the same frames: decode (bytes -> Quote), aggregate (Quote ->
ConsolidatedQuote), encode (-> JSON line in the sink buffer), flush (one os.write to /dev/null
per frame, the cost of a lone update), and the whole ``on_frame`` chain as the engine runs it,
with the per-stage latency histograms off and on (every frame gets a real receive stamp, as
the session gives it).
Prints the median ns per frame over the repeats.

The frames cycle through a small distinct set (as a live socket hands over a frame that was just
read, so it is in cache); the update-id state is reset between cycles so none is dropped as stale.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

from tickwire.config import load_config
from tickwire.engine import Engine
from tickwire.sinks.stdout import StdoutSink

FRAME = (
    b'{"stream":"btcusdt@bookTicker","data":{"u":%d,"s":"BTCUSDT","b":"67012.%02d000000",'
    b'"B":"1.20410000","a":"67013.41000000","A":"0.80100000"}}'
)


def make_engine(fd: int, timed: bool = False) -> tuple[Engine, StdoutSink]:
    config = load_config(None, {"symbols": ["BTC-USDT"], "sinks": ["none"]})
    sink = StdoutSink({"BTC-USDT": 8}, {"BTC-USDT": 8}, fd)
    return Engine(config, [sink], timed=timed), sink


CYCLE = 1000


def one_repeat(frames: list[bytes], cycles: int, fd: int) -> dict[str, float]:
    engine, sink = make_engine(fd)
    adapter = engine.sessions[0].adapter
    n = len(frames) * cycles
    results: dict[str, float] = {}

    decode = adapter.decode
    started = time.perf_counter_ns()
    for _ in range(cycles):
        adapter.on_connected()
        for frame in frames:
            decode(frame, 1)
    results["decode"] = (time.perf_counter_ns() - started) / n
    adapter.on_connected()
    quotes = [adapter.decode(frame, 1)[0] for frame in frames] * cycles

    on_quote = engine.aggregator.on_quote
    started = time.perf_counter_ns()
    updates = [on_quote(quote) for quote in quotes]
    results["aggregate"] = (time.perf_counter_ns() - started) / n
    assert all(u is not None for u in updates)

    publish = sink.publish
    started = time.perf_counter_ns()
    for update in updates:
        publish(update, 5)  # type: ignore[arg-type]
    results["encode"] = (time.perf_counter_ns() - started) / n
    sink.flush()

    flush = sink.flush
    started = time.perf_counter_ns()
    for update in updates:
        publish(update, 5)  # type: ignore[arg-type]
        flush()
    results["encode+flush"] = (time.perf_counter_ns() - started) / n

    for timed in (False, True):
        engine, sink = make_engine(fd, timed)
        adapter = engine.sessions[0].adapter
        on_frame = engine.frame_consumer(adapter)
        clock = time.time_ns
        started = time.perf_counter_ns()
        for _ in range(cycles):
            adapter.on_connected()
            for frame in frames:
                on_frame(frame, clock(), True)
        label = "stage timing on" if timed else "stage timing off"
        results[f"on_frame (whole chain, flush per frame), {label}"] = (time.perf_counter_ns() - started) / n
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    # Alternate the bid so every frame changes the consolidated view (one line per frame).
    frames = [FRAME % (i, i % 40) for i in range(1, CYCLE + 1)]
    fd = os.open(os.devnull, os.O_WRONLY)
    cycles = max(1, args.frames // CYCLE)
    runs = [one_repeat(frames, cycles, fd) for _ in range(args.repeat)]
    print(f"python {platform.python_version()} ({sys.executable}), {args.frames} frames, "
          f"median of {args.repeat} repeats")
    print("| stage | ns per frame |")
    print("|---|---:|")
    for stage in runs[0]:
        print(f"| {stage} | {statistics.median(r[stage] for r in runs):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
