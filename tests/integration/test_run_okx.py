"""``tickwire run`` against the simulated OKX v5 public venue (spot and swaps) on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path

from tickwire.instruments import parse_symbol
from tickwire.sim import Simulator
from tickwire.sim.okx import SERVICE_UPGRADE_NOTICE, swap_contracts

from .conftest import TickwireProcess, run_async, start_tickwire
from .market_mirror import Touch, assert_lines_follow, published_count, units, venue_touches

SYMBOLS = ["BTC-USDT", "BTC-USDT-PERP"]
RECORDED_TICKERS = Path(__file__).parent.parent / "fixtures" / "okx" / "tickers.jsonl"
# tickwire's OKX client pings every 20 s, too slow for a test; this runs the same CLI with a
# faster ping, changing nothing else
PINGING_FASTER = (
    "import sys; from tickwire.venues.okx import OkxPublic; "
    "OkxPublic.keepalive_interval = float(sys.argv.pop(1)); "
    "from tickwire.cli import main; sys.exit(main(sys.argv[1:]))"
)


async def start_tickwire_pinging_every(seconds: float, *args: str) -> TickwireProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PINGING_FASTER, str(seconds), *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return TickwireProcess(process)


async def eventually(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def size_in_contracts(symbol: str, size: int, price: int) -> int:
    instrument = parse_symbol(symbol)
    if not instrument.kind:
        return size
    return swap_contracts(instrument.base, instrument.quote, size, price)


def test_run_prints_the_quotes_the_venue_sent_and_reports_an_unknown_instrument():
    async def scenario():
        async with Simulator(venues=["okx"], symbols=SYMBOLS, rate=150, channels=["bbo"],
                             seed=12) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "okx", "--symbols", ",".join([*SYMBOLS, "FOO-USDT"]),
                "--endpoint", f"okx={simulator.endpoint('okx')}",
            )
            lines = await tickwire.lines(40)
            status = await tickwire.stop()
            return lines, status, await tickwire.stderr(), simulator.stats_for("okx")

    lines, status, stderr, stats = run_async(scenario())
    assert status == 0
    sent = venue_touches("okx", SYMBOLS, seed=12, steps=400, size_on_the_wire=size_in_contracts)
    assert_lines_follow(lines, sent, "okx")
    assert "okx: okx error 60018: Wrong URL or channel:bbo-tbt,instId:FOO-USDT" in stderr
    assert (stats.connections_accepted, stats.subscribe_requests) == (1, 1)


def test_the_clients_text_pings_are_answered_and_keep_it_past_the_idle_timeout():
    async def scenario():
        async with Simulator(venues=["okx"], symbols=["BTC-USDT"], rate=0,
                             idle_timeout=0.8) as simulator:
            tickwire = await start_tickwire_pinging_every(
                0.2, "run", "--venues", "okx", "--symbols", "BTC-USDT",
                "--endpoint", f"okx={simulator.endpoint('okx')}",
                "--silence-timeout", "0.8", "--duration", "2.5",
            )
            status = await asyncio.wait_for(tickwire.process.wait(), 10)
            return status, await tickwire.stderr(), simulator.stats_for("okx")

    status, stderr, stats = run_async(scenario())
    assert status == 0
    assert stats.connections_accepted == 1  # the pings reset the venue's idle clock
    assert "no frame for" not in stderr  # the pongs reset tickwire's silence clock
    summary = re.search(r"okx: (\d+) frames, \d+ bytes, 1 connects, 0 reconnects", stderr)
    assert summary, stderr
    assert int(summary.group(1)) >= 2 + 8  # ack and snapshot, then a pong per ping


def test_a_client_that_sends_nothing_for_the_idle_timeout_is_closed_and_comes_back():
    async def scenario():
        async with Simulator(venues=["okx"], symbols=["BTC-USDT"], rate=0,
                             idle_timeout=0.4) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "okx", "--symbols", "BTC-USDT",
                "--endpoint", f"okx={simulator.endpoint('okx')}",
            )
            stats = simulator.stats_for("okx")
            await eventually(lambda: stats.connections_accepted >= 2)
            await eventually(lambda: stats.subscribe_requests >= 2)
            status = await tickwire.stop()
            return status, await tickwire.stderr()

    status, stderr = run_async(scenario())
    assert status == 0
    assert "okx: disconnected from" in stderr


def test_a_service_upgrade_notice_makes_tickwire_reconnect_and_resubscribe():
    async def scenario():
        async with Simulator(venues=["okx"], symbols=["BTC-USDT"], rate=50) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "okx", "--symbols", "BTC-USDT",
                "--endpoint", f"okx={simulator.endpoint('okx')}",
            )
            await tickwire.line()
            assert simulator.send_raw(SERVICE_UPGRADE_NOTICE, venue="okx") == 1
            stats = simulator.stats_for("okx")
            await eventually(lambda: stats.subscribe_requests == 2)
            after = await tickwire.line()
            while after["n_venues"] == 0:  # the venue's price is withdrawn while it reconnects
                after = await tickwire.line()
            status = await tickwire.stop()
            return status, stats.connections_accepted

    status, connections = run_async(scenario())
    assert (status, connections) == (0, 2)


def test_the_recorded_okx_tickers_replay_through_tickwire_to_their_best_bid_offers():
    inst_ids = {"BTC-USDT": "BTC-USDT", "UNI-USD-SWAP": "UNI-USD-PERP"}  # not the dated future
    sent: dict[str, list[Touch]] = {}
    for line in RECORDED_TICKERS.read_bytes().splitlines():
        message = json.loads(line)
        symbol = inst_ids.get(message["arg"]["instId"])
        if symbol is not None:
            data = message["data"][0]
            sent.setdefault(symbol, []).append(
                (units(data["bidPx"]), units(data["bidSz"]), units(data["askPx"]),
                 units(data["askSz"]))
            )

    async def scenario():
        async with Simulator(venues=["okx"], replay=RECORDED_TICKERS,
                             replay_speed=300) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "okx", "--symbols", ",".join(inst_ids.values()),
                "--channels", "ticker", "--endpoint", f"okx={simulator.endpoint('okx')}",
            )
            lines = await tickwire.price_lines(published_count(sent))
            status = await tickwire.stop()
            return lines, status

    lines, status = run_async(scenario())
    assert status == 0
    assert_lines_follow(lines, sent, "okx")  # and all of them: as many lines as changes
