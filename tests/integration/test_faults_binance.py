"""Bad input and dead connections, end to end: counted, dropped, recovered; never a wrong price."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from picows import WSMsgType

from tickwire.sim import Simulator

from .conftest import run_async, start_tickwire


def book_ticker(u: int, bid: str, ask: str, bid_size: str = "1.0", ask_size: str = "2.0") -> bytes:
    data = {"u": u, "s": "BTCUSDT", "b": bid, "B": bid_size, "a": ask, "A": ask_size}
    return json.dumps({"stream": "btcusdt@bookTicker", "data": data}, separators=(",", ":")).encode()


GARBAGE = [
    (b'{"stream":"btcusdt@bookTicker","data":{"u":', "malformed_json"),
    (b"\xff\xfe not utf-8 {", "malformed_json"),
    (b'{"stream":"btcusdt@bookTicker","data":{"u":20,"s":"BTCUSDT","b":"1.5"}}', "missing_field"),
    (b'{"stream":"btcusdt@bookTicker","data":{"u":21,"s":"BTCUSDT","b":1.5,"B":"1","a":"2","A":"1"}}',
     "wrong_type"),
    (b'{"stream":"btcusdt@depth","data":{}}', "unknown_message"),
    (b'{"hello":"world"}', "unknown_message"),
    (book_ticker(22, "1e-5", "2"), "bad_number_exponent"),
    (book_ticker(23, "-1", "2"), "bad_number_sign"),
    (book_ticker(24, "NaN", "2"), "bad_number_not_a_number"),
    (book_ticker(25, "", "2"), "bad_number_empty"),
    (book_ticker(26, "0", "2"), "zero_price"),
    (book_ticker(27, "3", "2"), "crossed"),
    (book_ticker(28, "2", "2"), "crossed"),
]


def test_bad_frames_are_counted_by_reason_and_never_reach_the_output(tmp_path):
    config = tmp_path / "tickwire.toml"
    config.write_text("[transport]\nmax_frame_bytes = 2048\n")

    async def scenario():
        async with Simulator(symbols=["BTC-USDT"], rate=0) as simulator:
            tickwire = await start_tickwire(
                "run", "--config", str(config), "--symbols", "BTC-USDT",
                "--endpoint", f"binance={simulator.url}",
            )
            while simulator.stats.subscribe_requests < 1:
                await asyncio.sleep(0.02)
            simulator.send_raw(book_ticker(10, "100.5", "101.5"))
            first = await tickwire.line()
            for frame, _ in GARBAGE:
                simulator.send_raw(frame)
            simulator.send_raw(b"\x00\x01binary", WSMsgType.BINARY)
            simulator.send_raw(book_ticker(29, "100", "101", bid_size="5".ljust(3000, "0")))  # > 2048 bytes
            simulator.send_raw(book_ticker(30, "100.25", "101.5"))
            second = await tickwire.line()
            status = await tickwire.stop()
            return first, second, status, await tickwire.stderr()

    first, second, status, stderr = run_async(scenario())
    assert (Decimal(first["bid"]), Decimal(first["ask"])) == (Decimal("100.5"), Decimal("101.5"))
    # the next line out is the next good quote: nothing in between was published
    assert (Decimal(second["bid"]), Decimal(second["ask"])) == (Decimal("100.25"), Decimal("101.5"))
    assert status == 0
    counts: dict[str, int] = {}
    for _, reason in GARBAGE:
        counts[reason] = counts.get(reason, 0) + 1
    counts["binary_frame"] = 1
    counts["oversized_frame"] = 1
    expected = ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items()))
    assert f"dropped frames: {expected}" in stderr
    assert "0 reconnects" in stderr  # bad input never costs the connection


def test_a_silent_connection_is_abandoned_and_replaced_by_the_watchdog():
    async def scenario():
        # no market data and no pings: the connection is alive but says nothing
        async with Simulator(symbols=["BTC-USDT"], rate=0, ping_interval=3600) as simulator:
            simulator.answer_pings = False
            tickwire = await start_tickwire(
                "run", "--symbols", "BTC-USDT", "--endpoint", f"binance={simulator.url}",
                "--silence-timeout", "0.5",
            )
            for _ in range(200):
                if simulator.stats.subscribe_requests >= 2:
                    break
                await asyncio.sleep(0.05)
            status = await tickwire.stop()
            return simulator.stats, status, await tickwire.stderr()

    stats, status, stderr = run_async(scenario())
    assert stats.connections_accepted >= 2
    assert stats.subscribe_requests >= 2, "each new connection subscribes again"
    assert "no frame for 0.5 s, reconnecting" in stderr
    assert status == 0


def test_a_quiet_but_live_connection_is_kept_by_answering_tickwires_pings():
    async def scenario():
        # no market data and no server pings, but the server answers pings
        async with Simulator(symbols=["BTC-USDT"], rate=0, ping_interval=3600) as simulator:
            tickwire = await start_tickwire(
                "run", "--symbols", "BTC-USDT", "--endpoint", f"binance={simulator.url}",
                "--silence-timeout", "0.6",
            )
            await asyncio.sleep(3)
            status = await tickwire.stop()
            return simulator.stats, status, await tickwire.stderr()

    stats, status, stderr = run_async(scenario())
    assert stats.connections_accepted == 1
    assert "reconnecting" not in stderr
    assert status == 0


def test_pings_keep_a_quiet_connection_alive():
    async def scenario():
        async with Simulator(symbols=["BTC-USDT"], rate=0, ping_interval=0.2, pong_timeout=1) as simulator:
            tickwire = await start_tickwire(
                "run", "--symbols", "BTC-USDT", "--endpoint", f"binance={simulator.url}",
                "--silence-timeout", "1",
            )
            await asyncio.sleep(3)
            status = await tickwire.stop()
            return simulator.stats, status

    stats, status = run_async(scenario())
    assert stats.connections_accepted == 1
    assert stats.pongs_received >= 5
    assert status == 0
