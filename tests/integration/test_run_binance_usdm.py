"""``tickwire run`` against the simulated Binance USD-M venue on loopback: its ``/public`` path
for the best bid/offer and its ``/market`` path for trades, one connection each.

Plain clients watch the same streams as tickwire, so every line tickwire prints can be compared
with what the simulated venue sent.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

from tickwire.sim import Simulator

from .conftest import run_async, run_replay, start_tickwire
from .test_sim_server import connect, eventually


def payloads(watcher, stream: str) -> list[dict]:
    return [message["data"] for message in watcher.json() if message.get("stream") == stream]


def test_run_prints_the_book_tickers_and_trades_of_both_paths():
    async def scenario():
        async with Simulator(venues=["binance_usdm"], symbols=["BTC-USDT-PERP"], rate=200,
                             seed=2, channels=["bbo", "trades"]) as sim:
            public = sim.endpoint("binance_usdm")
            market = sim.endpoint("binance_usdm_market")
            watchers = [await connect(public + "?streams=btcusdt@bookTicker"),
                        await connect(market + "?streams=btcusdt@aggTrade")]
            tickwire = await start_tickwire(
                "run", "--venues", "binance_usdm,binance_usdm_market",
                "--symbols", "BTC-USDT-PERP", "--channels", "bbo,trades",
                "--endpoint", f"binance_usdm={public}",
                "--endpoint", f"binance_usdm_market={market}",
            )
            lines = await tickwire.lines(80)
            status = await tickwire.stop()
            for transport, _ in watchers:
                transport.disconnect()
            subscriptions = sim.stats_for("binance_usdm").subscriptions
            return lines, [watcher for _, watcher in watchers], subscriptions, status

    lines, (book_watcher, trade_watcher), subscriptions, status = run_async(scenario())
    assert status == 0
    # tickwire's own two connections (after the watchers') subscribed what their paths serve
    assert sorted(subscriptions[n] for n in (3, 4)) == [("btcusdt@aggTrade",),
                                                         ("btcusdt@bookTicker",)]
    prices = [line for line in lines if line["type"] == "price"]
    trades = [line for line in lines if line["type"] == "trade"]
    assert prices and trades
    sent_quotes = [
        (Decimal(p["b"]), Decimal(p["B"]), Decimal(p["a"]), Decimal(p["A"]), p["T"])
        for p in payloads(book_watcher, "btcusdt@bookTicker")
    ]
    printed_quotes = [
        (Decimal(line["bid"]), Decimal(line["bid_size"]), Decimal(line["ask"]),
         Decimal(line["ask_size"]), line["exchange_ns"] // 1_000_000)
        for line in prices
    ]
    start = sent_quotes.index(printed_quotes[0])
    assert printed_quotes == sent_quotes[start : start + len(printed_quotes)]
    assert all(line["venue"] == "binance_usdm" for line in prices)
    sent_trades = [
        (p["a"], Decimal(p["p"]), Decimal(p["q"]), "sell" if p["m"] else "buy", p["T"])
        for p in payloads(trade_watcher, "btcusdt@aggTrade")
    ]
    printed_trades = [
        (line["trade_id"], Decimal(line["price"]), Decimal(line["size"]), line["side"],
         line["exchange_ns"] // 1_000_000)
        for line in trades
    ]
    start = sent_trades.index(printed_trades[0])
    assert printed_trades == sent_trades[start : start + len(printed_trades)]
    assert all(line["venue"] == "binance_usdm_market" for line in trades)


def test_server_pings_are_answered_so_both_connections_stay():
    async def scenario():
        async with Simulator(venues=["binance_usdm"], symbols=["BTC-USDT-PERP"], rate=0,
                             ping_interval=0.1, pong_timeout=0.5) as sim:
            tickwire = await start_tickwire(
                "run", "--venues", "binance_usdm,binance_usdm_market",
                "--symbols", "BTC-USDT-PERP", "--channels", "bbo,trades",
                "--endpoint", f"binance_usdm={sim.endpoint('binance_usdm')}",
                "--endpoint", f"binance_usdm_market={sim.endpoint('binance_usdm_market')}",
            )
            stats = sim.stats_for("binance_usdm")
            await eventually(lambda: stats.pings_sent >= 30, timeout=5)
            connected = sim.connected
            status = await tickwire.stop()
            return stats, connected, status

    stats, connected, status = run_async(scenario())
    assert status == 0
    assert (stats.connections_accepted, connected) == (2, 2)
    assert stats.pongs_received >= stats.pings_sent - 2  # the last pings may be in flight


def test_an_unlisted_symbol_is_acknowledged_and_silent_and_error_replies_reach_stderr():
    async def scenario():
        async with Simulator(venues=["binance_usdm"], symbols=["BTC-USDT-PERP"], rate=100,
                             channels=["bbo"]) as sim:
            tickwire = await start_tickwire(
                "run", "--venues", "binance_usdm", "--symbols", "BTC-USDT-PERP,NOPE-USDT-PERP",
                "--endpoint", f"binance_usdm={sim.endpoint('binance_usdm')}",
            )
            lines = await tickwire.lines(20)
            error = (b'{"error":{"code":2,"msg":"Invalid request: request ID must be unique"},'
                     b'"id":1}')
            assert sim.send_raw(error, venue="binance_usdm") == 1
            assert tickwire.process.stderr is not None
            problem = await asyncio.wait_for(tickwire.process.stderr.readline(), 10)
            await tickwire.stop()
            return lines, problem.decode(), sim.stats_for("binance_usdm")

    lines, problem, stats = run_async(scenario())
    assert {line["symbol"] for line in lines} == {"BTC-USDT-PERP"}
    assert stats.subscriptions == {1: ("btcusdt@bookTicker", "nopeusdt@bookTicker")}
    assert ("ERROR binance_usdm: binance_usdm error 2: Invalid request: request ID must be "
            "unique (request id 1)") in problem


def test_run_prints_the_recorded_book_tickers_replayed(fixtures_dir):
    recording = Path(fixtures_dir) / "binance_usdm" / "bookTicker.jsonl"
    expected: list[tuple[Decimal, ...]] = []
    for line in recording.read_bytes().splitlines():
        message = json.loads(line)
        if message["stream"] == "sushiusdt@bookTicker":
            data = message["data"]
            quote = tuple(Decimal(data[key]) for key in ("b", "B", "a", "A"))
            if not expected or expected[-1] != quote:
                expected.append(quote)

    lines, status, _ = run_replay("binance_usdm", recording, ["SUSHI-USDT-PERP"], len(expected))
    printed = [tuple(Decimal(line[key]) for key in ("bid", "bid_size", "ask", "ask_size")) for line in lines]
    assert (printed, status) == (expected, 0)
