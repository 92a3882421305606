"""Graceful shutdown: SIGINT or SIGTERM ends ``tickwire run`` with status 0 within 2 s, the stdout
sink and the recorder flushed."""

from __future__ import annotations

import asyncio
import json
import signal
from decimal import Decimal
from pathlib import Path

import pytest

from tickwire.record.format import RecordKind
from tickwire.record.reader import RecordingFile
from tickwire.sim import Simulator

from .conftest import run_async, start_tickwire


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_the_run_within_2_s_with_output_and_recording_flushed(tmp_path: Path, signal_number):
    recording = tmp_path / "rec"

    async def scenario():
        async with Simulator(symbols=["BTC-USDT"], venues=["binance"], rate=500, seed=5) as simulator:
            tickwire = await start_tickwire(
                "run", "--symbols", "BTC-USDT", "--endpoint", f"binance={simulator.endpoint('binance')}",
                "--sink", "stdout", "--record", str(recording),
                "--flush-seconds", "600",  # only the shutdown writes the recording
            )
            before = await tickwire.lines(50)
            tickwire.process.send_signal(signal_number)
            status = await asyncio.wait_for(tickwire.process.wait(), 2)
            assert tickwire.process.stdout is not None and tickwire.process.stderr is not None
            rest = await tickwire.process.stdout.read()
            stderr = (await tickwire.process.stderr.read()).decode()
            return before, rest, status, stderr

    before, rest, status, stderr = run_async(scenario())
    assert status == 0, stderr
    assert rest == b"" or rest.endswith(b"\n"), "the last line is complete"
    after = [json.loads(line) for line in rest.splitlines()]  # every line whole JSON
    published = len(before) + len(after)
    assert f"tickwire: {published} consolidated updates published" in stderr

    (path,) = recording.glob("*.twr.zst")
    records = list(RecordingFile(path).records())
    frames = [r for r in records if r.kind is RecordKind.FRAME and b"bookTicker" in r.payload]
    assert len(frames) >= published, "every quote behind a printed line was recorded"
    recorded_bids = {Decimal(json.loads(f.payload)["data"]["b"]) for f in frames}
    assert Decimal((before + after)[-1]["bid"]) in recorded_bids, "the last line's quote was recorded"
    assert records[-1].kind is RecordKind.DISCONNECT and records[-1].payload == b"stopped"

