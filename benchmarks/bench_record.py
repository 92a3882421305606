#!/usr/bin/env python3
"""What recording costs the frame path, and how fast a replay runs (no network).

* ``append``: ns per ``VenueRecorder.frame`` call (what the engine adds per frame when recording,
  there inline: three list appends) for real Binance bookTicker frames, the writer thread compressing and writing in
  the background as in a run; the median over batches of 2000 calls (robust to other processes
  taking the CPU now and then), beside the same for a call that does nothing.
* ``--chain on|off`` (for callgrind): ``--frames`` Binance bookTicker frames (each changing the
  price) through the engine's whole frame path, as a session hands them over, ``--burst`` frames per socket read, recording on or off; run it for two frame
  counts under ``valgrind --tool=callgrind`` and divide the difference of the instruction
  totals by the difference of the counts: instructions per frame, which other load does not move.
* ``replay``: frames per second of ``tickwire replay`` (as fast as possible, sink none) over the
  cryptofeed captures in ``tests/fixtures/captures``: the engine's own decode, aggregate and the
  reader's decompression.

    .venv/bin/python benchmarks/bench_record.py [--frames 200000] [--repeats 5]
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python benchmarks/bench_record.py --chain on|off --frames N [--burst 64]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path

from tickwire.config import Config, load_config
from tickwire.engine import Engine
from tickwire.record.replay import Replayer
from tickwire.record.sources import open_sources
from tickwire.record.writer import Recorder, RecordSettings
from tickwire.sinks.stdout import StdoutSink

ROOT = Path(__file__).resolve().parent.parent
FRAMES = ROOT / "tests" / "fixtures" / "binance" / "bookTicker.jsonl"
CHAIN_FRAME = (
    b'{"stream":"btcusdt@bookTicker","data":{"u":%d,"s":"BTCUSDT","b":"67012.%02d000000",'
    b'"B":"1.20410000","a":"67013.41000000","A":"0.80100000"}}'
)
CAPTURES = sorted((ROOT / "tests" / "fixtures" / "captures").glob("*.capture.v3.jsonl.zst"))


def append_ns(count: int, batch: int = 2000) -> tuple[float, float]:
    """Median ns per call over batches of ``batch`` calls: of ``VenueRecorder.frame``, and of a
    function that does nothing with the same arguments (the call itself)."""
    frames = [line for line in FRAMES.read_bytes().splitlines() if line]

    def nothing(payload: bytes, recv_ns: int) -> None:
        pass

    with tempfile.TemporaryDirectory() as directory:
        recorder = Recorder(RecordSettings(directory=directory), Config())
        timings = {}
        for name, call in (("frame", recorder.venue("binance").frame), ("call", nothing)):
            batches = []
            now = time.time_ns()
            for start in range(0, count, batch):
                began = time.perf_counter_ns()
                for i in range(start, start + batch):
                    call(frames[i % len(frames)], now + i)
                batches.append((time.perf_counter_ns() - began) / batch)
            timings[name] = statistics.median(batches)
        recorder.close()
    return timings["frame"], timings["call"]


def replay_rate() -> tuple[float, int]:
    unreplayable: list[str] = []
    replayer = Replayer(open_sources(CAPTURES, unreplayable), sinks=["none"])
    started = time.perf_counter()
    replayer.run()
    elapsed = time.perf_counter() - started
    frames = sum(replayer.frames.values())
    return frames / elapsed, frames


def run_chain(recording: bool, frames: int, burst: int) -> None:
    """``frames`` frames (after one warm-up cycle) through the session's frame consumer."""
    cycle = [CHAIN_FRAME % (i, i % 40) for i in range(1, 1001)]
    clock = itertools.count(1_795_000_000_000_000_000, 333).__next__
    config = load_config(None, {"symbols": ["BTC-USDT"], "sinks": ["none"]})
    sink = StdoutSink({"BTC-USDT": 8}, {"BTC-USDT": 8}, os.open(os.devnull, os.O_WRONLY))
    with tempfile.TemporaryDirectory() as directory:
        recorder = Recorder(RecordSettings(directory=directory), config) if recording else None
        engine = Engine(config, [sink], clock=clock, recorder=recorder)
        session = engine.sessions[0]
        on_frame = session.on_frame
        done = -len(cycle)
        while done < frames:
            session.adapter.on_connected()  # a new connection: the update ids start again
            for i, frame in enumerate(cycle):
                on_frame(frame, clock(), (i + 1) % burst == 0)
            done += len(cycle)
        if recorder is not None:
            recorder.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chain", choices=("on", "off"), help="recording on or off (for callgrind)")
    parser.add_argument("--burst", type=int, default=64, help="with --chain: frames per socket read")
    args = parser.parse_args()
    if args.chain:
        run_chain(args.chain == "on", args.frames, args.burst)
        return
    appends = [append_ns(args.frames) for _ in range(args.repeats)]
    rates = [replay_rate() for _ in range(args.repeats)]
    print(f"VenueRecorder.frame per frame: median {statistics.median(f for f, _ in appends):.0f} ns, "
          f"of which the call {statistics.median(c for _, c in appends):.0f} ns "
          f"(runs: {', '.join(f'{f:.0f}/{c:.0f}' for f, c in appends)})")
    print(f"replay of {rates[0][1]} capture frames: median {statistics.median(r for r, _ in rates):,.0f} frames/s "
          f"(runs: {', '.join(f'{r:,.0f}' for r, _ in rates)})")


if __name__ == "__main__":
    main()
