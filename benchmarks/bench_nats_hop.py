#!/usr/bin/env python3
"""What the NATS hop costs: one ingest node -> nats-server -> one aggregate node, against the
single process, on the same simulated Binance feed (loopback only).

Three measurements, each repeated ``--repeats`` times with the two pipelines interleaved:

* **latency** (paced): the simulator quotes one symbol at ``--rate`` quotes/s for ``--seconds``;
  every quote changes the price, so each prints one line. Per line ``publish_ns - recv_ns``: the
  venue frame's receive stamp (on the ingest node, or in the single process) to the consolidated
  line's encode (on the aggregator, or in the single process); the first second is dropped. The
  aggregate node's own stage figures (NATS hop ``sent_to_arrived``, ``arrived_to_published``)
  and the ingest node's ``recv->sent`` come from their exit summaries.
* **throughput** (max rate): ``--frames`` recorded bookTicker frames with unique prices replayed
  as fast as the client reads; (lines - 1) / (last publish_ns - first publish_ns), and how many
  frames did not come out.
* **NATS floor** (in process): plain nats-py publish -> nats-server -> nats-py callback at about
  1,000 messages/s, one-way: the hop with no tickwire code on either side.
* **receive rate** (in process): messages/s nats-py hands to a callback that does nothing.
* **publish cost** (in process): ``NatsLink.publish`` of an encoded ``Envelope[Quote]`` to a
  connected client, per message, the event loop turning every 100 messages so the client's
  flusher writes them; beside it the encode alone.

Every process (simulator and harness, nats-server, ingest, aggregator) shares this machine's two
cores, as it would not across three machines. Output lines go to files, read after each run.

    .venv/bin/python benchmarks/bench_nats_hop.py [--repeats 3] [--rate 1000] [--seconds 10]
    .venv/bin/python benchmarks/bench_nats_hop.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from tickwire.model import Quote
from tickwire.scaleout.codec import Envelope, event_subject
from tickwire.scaleout.link import NatsLink
from tickwire.sim import Simulator

SYMBOL = "BTC-USDT"
TICKWIRE = [sys.executable, "-m", "tickwire", "run", "--symbols", SYMBOL, "--venues", "binance"]
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nats() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([NATS_SERVER, "-a", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"nats://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nats-server did not start")


def percentiles(values: list[int]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": float("nan"), "p99": float("nan"), "p99.9": float("nan"), "n": 0}

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1000

    return {"p50": at(0.5), "p99": at(0.99), "p99.9": at(0.999), "n": len(ordered)}


def read_lines(path: Path) -> list[dict]:
    lines = []
    for raw in path.read_bytes().splitlines():
        line = json.loads(raw)
        if line["type"] == "price" and line["n_venues"]:
            lines.append(line)
    return lines


def stage(summary: str, name: str) -> tuple[float, float]:
    match = re.search(rf"{name} µs p50 ([\d.]+) p99 ([\d.]+)", summary)
    return (float(match.group(1)), float(match.group(2))) if match else (float("nan"), float("nan"))


async def spawn(args: list[str], out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=out.open("wb"), stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


async def finish(process: subprocess.Popen[bytes]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    _, err = await asyncio.to_thread(process.communicate, timeout=30)
    return err.decode()


async def run_single(simulator: Simulator, seconds: float, work: Path) -> dict:
    out = work / "single.jsonl"
    process = await spawn([*TICKWIRE, "--endpoint", f"binance={simulator.endpoint('binance')}"], out)
    await asyncio.sleep(seconds)
    await finish(process)
    return {"lines": read_lines(out)}


async def run_nats(simulator: Simulator, url: str, seconds: float, work: Path) -> dict:
    out = work / "aggregate.jsonl"
    aggregate = await spawn([*TICKWIRE, "--role", "aggregate", "--nats", url, "--node", "agg"], out)
    await asyncio.sleep(1.5)  # subscribed before the first quote is published
    ingest = await spawn([*TICKWIRE, "--role", "ingest", "--nats", url, "--node", "ingest",
                          "--endpoint", f"binance={simulator.endpoint('binance')}"], work / "ingest.out")
    await asyncio.sleep(seconds)
    ingest_summary = await finish(ingest)
    await asyncio.sleep(0.5)
    aggregate_summary = await finish(aggregate)
    return {"lines": read_lines(out), "ingest": ingest_summary, "aggregate": aggregate_summary}


def latency_row(result: dict, warmup_ns: int) -> dict:
    lines = result["lines"]
    start = lines[0]["recv_ns"] + warmup_ns if lines else 0
    row = percentiles([line["publish_ns"] - line["recv_ns"] for line in lines if line["recv_ns"] >= start])
    if "aggregate" in result:
        row["hop_p50"], row["hop_p99"] = stage(result["aggregate"], "sent_to_arrived")
        row["agg_p50"], row["agg_p99"] = stage(result["aggregate"], "arrived_to_published")
        match = re.search(r"recv->sent µs p50 ([\d.]+) p99 ([\d.]+)", result["ingest"])
        row["ingest_p50"], row["ingest_p99"] = (float(match.group(1)), float(match.group(2))) if match else (float("nan"),) * 2
    return row


def write_frames(path: Path, count: int) -> None:
    with path.open("w") as f:
        for i in range(count):
            bid = f"{10000 + i // 10000}.{i % 10000:04d}"
            data = {"u": 1000 + i, "s": "BTCUSDT", "b": bid, "B": "1.5", "a": "20000.00", "A": "0.25"}
            f.write(json.dumps({"stream": "btcusdt@bookTicker", "data": data}, separators=(",", ":")) + "\n")


def throughput_row(result: dict, frames: int) -> dict:
    lines = result["lines"]
    span_ns = lines[-1]["publish_ns"] - lines[0]["publish_ns"] if len(lines) > 1 else 0
    row = {"msg_per_s": (len(lines) - 1) / span_ns * 1e9 if span_ns else 0.0, "missing": frames - len(lines)}
    if "aggregate" in result:  # where the missing ones went
        lost = re.search(r"(\d+) lost \(NATS away or behind\)", result["ingest"])
        gaps = re.search(r"(\d+) lost on the way \(sequence gaps\), \d+ sender restarts, (\d+) slow-consumer", result["aggregate"])
        row["ingest_lost"] = int(lost.group(1)) if lost else -1
        row["gaps"], row["slow_consumer"] = (int(gaps.group(1)), int(gaps.group(2))) if gaps else (-1, -1)
    return row


async def publish_cost(url: str, count: int) -> dict:
    link = NatsLink(url, "bench")
    await link.connect()
    encode = msgspec.msgpack.Encoder().encode
    subject = event_subject("quote", "binance", SYMBOL)
    quote = Quote("binance", SYMBOL, 6_700_000_000_000, 150_000_000, 6_700_001_000_000, 25_000_000,
                  1_795_519_439_583_868_073, 0, 1)
    results = {}
    for name in ("encode", "encode+publish"):
        elapsed = 0
        for batch in range(count // 100):
            started = time.perf_counter_ns()
            for i in range(100):
                data = encode(Envelope("ingest", batch * 100 + i, 1_795_519_439_583_869_000, 8, 8, quote))
                if name == "encode+publish":
                    link.publish(subject, data)
            elapsed += time.perf_counter_ns() - started
            await asyncio.sleep(0)  # the client's flusher writes the batch
        results[name] = elapsed / count
    await link.close()
    results["lost"] = link.lost
    return results


async def nats_floor(url: str, count: int) -> dict:
    """One-way latency of plain nats-py publish -> nats-server -> nats-py callback, one process,
    about 1,000 messages/s: the hop without tickwire."""
    publisher, subscriber = NatsLink(url, "floor-pub"), NatsLink(url, "floor-sub")
    await publisher.connect()
    await subscriber.connect()
    samples: list[int] = []

    async def arrived(msg) -> None:  # type: ignore[no-untyped-def]
        samples.append(time.time_ns() - int(msg.data))

    await subscriber.subscribe("bench.floor", arrived)
    await subscriber.client.flush()
    for _ in range(count):
        publisher.publish("bench.floor", b"%d" % time.time_ns())
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.5)
    await publisher.close()
    await subscriber.close()
    return percentiles(samples[count // 10:])


async def receive_rate(url: str, count: int) -> dict:
    """Messages/s that nats-py delivers to a callback that does nothing (150-byte payloads,
    published by ``NatsLink`` in the same process): the client's own receive cost."""
    publisher, subscriber = NatsLink(url, "rate-pub"), NatsLink(url, "rate-sub")
    await publisher.connect()
    await subscriber.connect()
    received = 0
    times = [0.0, 0.0]
    done = asyncio.Event()

    async def arrived(msg) -> None:  # type: ignore[no-untyped-def]
        nonlocal received
        received += 1
        if received == 1:
            times[0] = time.perf_counter()
        if received == count:
            times[1] = time.perf_counter()
            done.set()

    await subscriber.subscribe("bench.rate", arrived)
    await subscriber.client.flush()
    payload = b"x" * 150
    for _ in range(count // 500):
        for _ in range(500):
            publisher.publish("bench.rate", payload)
        await asyncio.sleep(0)
    await asyncio.wait_for(done.wait(), 60)
    await publisher.close()
    await subscriber.close()
    return {"msg_per_s": (count - 1) / (times[1] - times[0])}


async def main_async(args: argparse.Namespace) -> dict:
    nats, url = start_nats()
    report: dict = {"machine": f"{platform.node()} {os.cpu_count()} cores", "python": sys.version.split()[0],
                    "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    "args": vars(args), "latency": {"single": [], "nats": []},
                    "throughput": {"single": [], "nats": []}, "publish": [], "floor": [], "receive": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            frames = work / "frames.jsonl"
            write_frames(frames, args.frames)
            for repeat in range(args.repeats):
                order = ["single", "nats"] if repeat % 2 == 0 else ["nats", "single"]
                for pipeline in order:
                    async with Simulator(venues=["binance"], symbols=[SYMBOL], rate=args.rate,
                                         channels=["bbo"], seed=repeat) as sim:
                        if pipeline == "single":
                            result = await run_single(sim, args.seconds, work)
                        else:
                            result = await run_nats(sim, url, args.seconds, work)
                    row = latency_row(result, 1_000_000_000)
                    report["latency"][pipeline].append(row)
                    print(f"latency {pipeline} #{repeat + 1}: {row}", file=sys.stderr)
                for pipeline in order:
                    async with Simulator(venues=["binance"], symbols=[SYMBOL], replay=frames,
                                         replay_speed=None) as sim:
                        seconds = args.frames / 20_000 + 3
                        if pipeline == "single":
                            result = await run_single(sim, seconds, work)
                        else:
                            result = await run_nats(sim, url, seconds, work)
                    row = throughput_row(result, args.frames)
                    report["throughput"][pipeline].append(row)
                    print(f"throughput {pipeline} #{repeat + 1}: {row}", file=sys.stderr)
                row = await publish_cost(url, args.publish_count)
                report["publish"].append(row)
                print(f"publish #{repeat + 1}: {row}", file=sys.stderr)
                row = await nats_floor(url, args.floor_count)
                report["floor"].append(row)
                print(f"floor #{repeat + 1}: {row}", file=sys.stderr)
                row = await receive_rate(url, args.publish_count // 2)
                report["receive"].append(row)
                print(f"receive #{repeat + 1}: {row}", file=sys.stderr)
    finally:
        nats.kill()
        nats.wait()
    return report


def median_of(rows: list[dict], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def print_tables(report: dict) -> None:
    latency, throughput = report["latency"], report["throughput"]
    print("| pipeline | recv→publish p50 µs | p99 µs | p99.9 µs | max msg/s | frames not printed |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, label in (("single", "single process"), ("nats", "ingest → NATS → aggregate")):
        print(f"| {label} | {median_of(latency[name], 'p50'):.1f} | {median_of(latency[name], 'p99'):.1f} "
              f"| {median_of(latency[name], 'p99.9'):.1f} | {median_of(throughput[name], 'msg_per_s'):,.0f} "
              f"| {median_of(throughput[name], 'missing'):,.0f} |")
    nats = latency["nats"]
    print()
    print("| NATS pipeline stage | p50 µs | p99 µs |")
    print("|---|---:|---:|")
    for key, label in (("ingest", "ingest: recv → sent (decode, wrap, encode, hand to client)"),
                       ("hop", "NATS hop: sent → arrived in the aggregator's callback"),
                       ("agg", "aggregate: arrived → published")):
        print(f"| {label} | {median_of(nats, key + '_p50'):.1f} | {median_of(nats, key + '_p99'):.1f} |")
    floor = report["floor"]
    print(f"| (reference) plain nats-py → nats-server → nats-py callback, one process | "
          f"{median_of(floor, 'p50'):.1f} | {median_of(floor, 'p99'):.1f} |")
    publish = report["publish"]
    print()
    print(f"encode Envelope[Quote]: {median_of(publish, 'encode'):.0f} ns/msg; encode + NatsLink.publish: "
          f"{median_of(publish, 'encode+publish'):.0f} ns/msg")
    print(f"nats-py delivery to a no-op callback: {median_of(report['receive'], 'msg_per_s'):,.0f} msg/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1000.0, help="quotes/s in the paced runs")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each paced run")
    parser.add_argument("--frames", type=int, default=100_000, help="frames in each max-rate run")
    parser.add_argument("--publish-count", type=int, default=200_000)
    parser.add_argument("--floor-count", type=int, default=5_000, help="messages of the NATS floor")
    parser.add_argument("--json", type=Path, help="write the report (without samples) here")
    parser.add_argument("--quick", action="store_true", help="1 repeat, 3 s, 20k frames")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.seconds, args.frames, args.publish_count = 1, 3.0, 20_000, 20_000
        args.floor_count = 1_000
    report = asyncio.run(main_async(args))
    print_tables(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
