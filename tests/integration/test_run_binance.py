"""``tickwire run`` as a user runs it, against the Binance-protocol simulator on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

from tickwire.sim import Simulator

from .conftest import run_async, start_tickwire


def write_book_tickers(path: Path, count: int) -> list[dict]:
    """``count`` BTCUSDT bookTicker frames, each with a different bid, as Binance sends them."""
    sent = []
    with path.open("w") as f:
        for i in range(count):
            data = {"u": 1000 + i, "s": "BTCUSDT", "b": f"67000.{i:02d}000000",
                    "B": f"{1 + i}.50000000", "a": "67100.00000000", "A": "0.25000000"}
            f.write(json.dumps({"stream": "btcusdt@bookTicker", "data": data},
                               separators=(",", ":")) + "\n")
            sent.append(data)
    return sent


def test_run_prints_one_consolidated_line_per_quote_sent(tmp_path):
    sent = write_book_tickers(tmp_path / "frames.jsonl", 40)

    async def scenario():
        async with Simulator(replay=tmp_path / "frames.jsonl", replay_speed=400) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "binance", "--symbols", "BTC-USDT",
                "--endpoint", f"binance={simulator.url}", "--sink", "stdout",
            )
            lines = await tickwire.lines(len(sent))
            status = await tickwire.stop()
            return lines, status

    lines, status = run_async(scenario())
    assert status == 0
    for line, frame in zip(lines, sent):
        assert line["type"] == "price"
        assert line["symbol"] == "BTC-USDT"
        assert Decimal(line["bid"]) == Decimal(frame["b"])
        assert Decimal(line["bid_size"]) == Decimal(frame["B"])
        assert Decimal(line["ask"]) == Decimal(frame["a"])
        assert Decimal(line["ask_size"]) == Decimal(frame["A"])
        assert Decimal(line["price"]) == (Decimal(frame["b"]) + Decimal(frame["a"])) / 2
        assert line["bid_venues"] == line["ask_venues"] == ["binance"]
        assert line["n_venues"] == 1
        assert 0 < line["recv_ns"] <= line["publish_ns"]
        # exact decimal text: no exponent, no float artefacts
        assert "e" not in line["bid"].lower() and line["bid"] == format(Decimal(frame["b"]).normalize(), "f")


def test_after_the_server_drops_the_connection_tickwire_reconnects_resubscribes_and_resumes():
    async def scenario():
        async with Simulator(symbols=["BTC-USDT"], rate=200, drop_after=30, seed=3) as simulator:
            tickwire = await start_tickwire(
                "run", "--symbols", "BTC-USDT", "--endpoint", f"binance={simulator.url}",
            )
            lines = await tickwire.lines(80, timeout=15)
            status = await tickwire.stop()
            return lines, simulator.stats, status

    lines, stats, status = run_async(scenario())
    assert status == 0
    gone = [i for i, line in enumerate(lines) if line["n_venues"] == 0]
    assert gone, "a dropped venue must be published as 'no price', not left standing"
    assert all(line["price"] is None for line in lines if line["n_venues"] == 0)
    assert any(line["n_venues"] == 1 for line in lines[gone[0]:]), "output resumes after reconnect"
    assert stats.connections_accepted >= 2
    assert stats.subscribe_requests >= 2


def test_a_consumer_that_stops_reading_ends_tickwire_cleanly():
    async def scenario():
        async with Simulator(symbols=["BTC-USDT"], rate=500) as simulator:
            process = await asyncio.create_subprocess_shell(
                f"{sys.executable} -m tickwire run --symbols BTC-USDT "
                f"--endpoint binance={simulator.url} | head -n 3",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(process.communicate(), 20)
            return process.returncode, out.decode(), err.decode()

    status, out, err = run_async(scenario())
    assert status == 0
    assert len(out.splitlines()) == 3
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_asking_for_tickers_and_trades_prints_those_lines_too():
    async def scenario():
        async with Simulator(symbols=["BTC-USDT"], rate=400, seed=5) as simulator:
            tickwire = await start_tickwire(
                "run", "--symbols", "BTC-USDT", "--channels", "bbo,trades,ticker",
                "--endpoint", f"binance={simulator.url}",
            )
            kinds: set[str] = set()
            while kinds != {"price", "trade", "ticker"}:
                kinds.add((await tickwire.line())["type"])
            return await tickwire.stop()

    assert run_async(scenario()) == 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_busy_poll_prints_the_same_lines_and_keeps_polling_between_frames(tmp_path):
    sent = write_book_tickers(tmp_path / "frames.jsonl", 20)

    async def run(*flags: str) -> tuple[list[dict], float, int]:
        async with Simulator(replay=tmp_path / "frames.jsonl", replay_speed=400) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "binance", "--symbols", "BTC-USDT",
                "--endpoint", f"binance={simulator.url}", *flags,
            )
            lines = await tickwire.lines(len(sent))
            pid = tickwire.process.pid
            before, started = cpu_seconds(pid), time.monotonic()
            await asyncio.sleep(1.5)  # every frame is in: nothing left to read
            share = (cpu_seconds(pid) - before) / (time.monotonic() - started)
            return lines, share, await tickwire.stop()

    async def scenario():
        return await run("--busy-poll"), await run()

    (busy_lines, busy_share, busy_status), (lines, idle_share, status) = run_async(scenario())
    assert busy_status == status == 0
    assert [(line["bid"], line["ask"]) for line in busy_lines] == [(line["bid"], line["ask"]) for line in lines]
    assert [line["bid_size"] for line in busy_lines] == [format(Decimal(f["B"]).normalize(), "f") for f in sent]
    assert busy_share > 0.3, f"a busy-polling loop used {busy_share:.0%} of a core with nothing to read"
    assert idle_share < 0.2, f"a sleeping loop used {idle_share:.0%} of a core with nothing to read"


def test_conflate_publishes_the_latest_quote_of_each_read_and_counts_the_rest(tmp_path):
    sent = write_book_tickers(tmp_path / "frames.jsonl", 3000)
    last_bid = format(Decimal(sent[-1]["b"]).normalize(), "f")

    async def scenario():
        # far faster than tickwire publishes a line each: frames pile up into multi-frame reads
        async with Simulator(replay=tmp_path / "frames.jsonl", replay_speed=1_000_000) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "binance", "--symbols", "BTC-USDT",
                "--endpoint", f"binance={simulator.url}", "--conflate",
            )
            lines = [await tickwire.line()]
            while lines[-1]["bid"] != last_bid:
                lines.append(await tickwire.line())
            status = await tickwire.stop()
            return lines, status, await tickwire.stderr()

    lines, status, stderr = run_async(scenario())
    assert status == 0
    assert len(lines) < len(sent)
    index_of_size = {format(Decimal(f["B"]).normalize(), "f"): i for i, f in enumerate(sent)}
    shown = [index_of_size[line["bid_size"]] for line in lines]
    assert shown == sorted(shown) and shown[-1] == len(sent) - 1  # in order, ending with the last
    for line in lines:
        frame = sent[index_of_size[line["bid_size"]]]
        assert (Decimal(line["bid"]), Decimal(line["ask"])) == (Decimal(frame["b"]), Decimal(frame["a"]))
    assert f"({len(sent) - len(lines)} quotes conflated)" in stderr
