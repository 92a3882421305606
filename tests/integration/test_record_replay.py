"""Record a live loopback run, replay it, serve it again: the same prices every time."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from tickwire.record.format import RecordKind
from tickwire.record.reader import RecordingFile
from tickwire.record.sources import open_sources
from tickwire.sim import Simulator

from .conftest import run_async, start_tickwire

# Fields a live line carries that are the live run's own processing times (docs/RECORDING.md).
PROCESSING_TIMES = ("publish_ns",)


async def replay(*args: str) -> bytes:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire", "replay", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out


async def remaining_lines(tickwire: Any) -> list[dict[str, Any]]:
    """Every line tickwire still prints before its output ends."""
    out = await asyncio.wait_for(tickwire.process.stdout.read(), 10)
    return [json.loads(line) for line in out.splitlines()]


def without_processing_times(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in line.items() if k not in PROCESSING_TIMES} for line in lines]


def test_a_recorded_run_replays_to_the_same_output_every_time(tmp_path: Path) -> None:
    recording = tmp_path / "rec"

    async def scenario():
        # two venues, one of which is dropped mid-run: connects, a venue going down, a reconnect
        async with Simulator(
            venues=["binance", "okx"], symbols=["BTC-USDT", "ETH-USDT"], rate=100, seed=7
        ) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "binance,okx", "--symbols", "BTC-USDT,ETH-USDT",
                "--channels", "bbo,trades",
                "--endpoint", f"binance={simulator.endpoint('binance')}",
                "--endpoint", f"okx={simulator.endpoint('okx')}",
                "--record", str(recording), "--flush-seconds", "0.2",
            )  # fmt: skip
            live = await tickwire.lines(150, timeout=15)
            simulator.drop_connections("okx")
            live += await tickwire.lines(150, timeout=15)
            status = await tickwire.stop()
            live += await remaining_lines(tickwire)
        first = await replay(str(recording))
        second = await replay(str(recording))
        return status, live, first, second

    status, live, first, second = run_async(scenario())
    assert status == 0
    assert first == second  # byte-identical
    replayed = [json.loads(line) for line in first.splitlines()]
    assert without_processing_times(replayed) == without_processing_times(live)
    assert any(line["venue"] == "okx" and line["type"] == "price" and line["exchange_ns"] == 0
               and "okx" not in line["bid_venues"] for line in live), "okx was dropped and published"
    (source,) = open_sources([recording])
    kinds = [r.kind for r in source.records()]
    assert kinds.count(RecordKind.CONNECT) >= 3  # binance, okx, okx again
    assert kinds.count(RecordKind.SEND) >= 3  # the subscribe requests
    assert kinds.count(RecordKind.DISCONNECT) >= 3  # okx dropped; both closed at the end


def write_book_tickers(path: Path, count: int) -> list[bytes]:
    """``count`` BTCUSDT bookTicker frames with consecutive update ids (one a line)."""
    frames = []
    for i in range(count):
        data = {"u": i, "s": "BTCUSDT", "b": f"67000.{i:04d}", "B": "1.5", "a": "67100.00", "A": "0.25"}
        frames.append(json.dumps({"stream": "btcusdt@bookTicker", "data": data}, separators=(",", ":")).encode())
    path.write_bytes(b"\n".join(frames) + b"\n")
    return frames


def test_a_recorder_killed_mid_run_leaves_every_flushed_chunk_readable(tmp_path: Path) -> None:
    frames = write_book_tickers(tmp_path / "frames.jsonl", 5000)
    recording = tmp_path / "rec"

    async def scenario():
        async with Simulator(replay=tmp_path / "frames.jsonl", replay_speed=2000, loop_replay=True) as simulator:
            recorder = await start_tickwire(
                "record", str(recording), "--venues", "binance", "--symbols", "BTC-USDT",
                "--endpoint", f"binance={simulator.url}", "--flush-seconds", "0.1",
            )  # fmt: skip
            for _ in range(200):  # until a few chunks are on disk (bounded: at most 10 s)
                files = list(recording.glob("*.twr.zst"))
                if files and files[0].stat().st_size > 20_000:
                    break
                await asyncio.sleep(0.05)
            recorder.process.send_signal(signal.SIGKILL)
            await recorder.process.wait()

    run_async(scenario())
    (path,) = recording.glob("*.twr.zst")
    reader = RecordingFile(path)
    records = list(reader.records())  # never raises, whatever the kill left
    received = [r.payload for r in records if r.kind is RecordKind.FRAME and r.payload.startswith(b'{"stream"')]
    assert len(received) > 100
    # a contiguous run of what the venue sent, from the first frame on: nothing lost before the end
    assert received == [frames[i % len(frames)] for i in range(len(received))]
    # and a kill in the middle of a write (the file cut inside its last chunk) reads the same way
    data = path.read_bytes()
    cut = tmp_path / "cut.twr.zst"
    cut.write_bytes(data[:-7])
    torn = RecordingFile(cut)
    kept = [r.payload for r in torn.records() if r.kind is RecordKind.FRAME and r.payload.startswith(b'{"stream"')]
    assert torn.torn and "file ends inside the chunk" in torn.torn
    assert 0 < len(kept) < len(received) and kept == received[: len(kept)]


def test_simulate_serves_a_recording_as_the_venue_did(tmp_path: Path) -> None:
    frames = write_book_tickers(tmp_path / "frames.jsonl", 300)
    recording = tmp_path / "rec"

    async def scenario():
        async with Simulator(replay=tmp_path / "frames.jsonl", replay_speed=1000) as simulator:
            recorder = await start_tickwire(
                "run", "--venues", "binance", "--symbols", "BTC-USDT",
                "--endpoint", f"binance={simulator.url}", "--record", str(recording),
            )  # fmt: skip
            first = await recorder.lines(len(frames), timeout=15)
            await recorder.stop()
        async with Simulator(venues=["binance"], symbols=["BTC-USDT"], replay=recording, replay_pace=2) as served:
            tickwire = await start_tickwire(
                "run", "--venues", "binance", "--symbols", "BTC-USDT",
                "--endpoint", f"binance={served.endpoint('binance')}",
            )  # fmt: skip
            second = await tickwire.lines(len(frames), timeout=15)
            await tickwire.stop()
        return first, second

    first, second = run_async(scenario())
    prices = lambda lines: [(x["bid"], x["bid_size"], x["ask"], x["ask_size"]) for x in lines]  # noqa: E731
    assert prices(second) == prices(first)
    # at twice the recorded pace: the second run's frames arrive about half as far apart
    span = lambda lines: lines[-1]["recv_ns"] - lines[0]["recv_ns"]  # noqa: E731
    assert span(second) < span(first)
