"""``tickwire run`` against the simulated Bybit spot and linear venues on loopback.

A second, plain client watches the same topics as tickwire, so every line tickwire prints can be
compared with what the simulated venue sent.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

from picows import WSMsgType

from tickwire.instruments import parse_symbol
from tickwire.sim import Simulator
from tickwire.sim.bybit import BOOK_REPEAT_MS
from tickwire.transport.session import SessionSettings, VenueSession
from tickwire.venues.base import Channel
from tickwire.venues.bybit import BybitLinear, BybitSpot

from .conftest import run_async, run_replay, start_tickwire
from .test_sim_server import connect, eventually

BBO_FIELDS = ("bid1Price", "bid1Size", "ask1Price", "ask1Size")


async def watch(endpoint: str, *topics: str):
    """A plain client subscribed to ``topics``, holding every text frame it gets (the ack and
    the snapshots come in one go)."""
    transport, watcher = await connect(endpoint)
    request = {"req_id": "watch", "op": "subscribe", "args": list(topics)}
    transport.send(WSMsgType.TEXT, json.dumps(request).encode())
    await eventually(lambda: len(watcher.texts) >= 1)
    return transport, watcher


def book_quotes(pushes: list[dict]) -> list[tuple[Decimal, ...]]:
    """(bid, bid size, ask, ask size) of every orderbook.1 push, without repeats in a row."""
    quotes: list[tuple[Decimal, ...]] = []
    for push in pushes:
        if push.get("topic", "").startswith("orderbook.1."):
            (bid, bid_size), (ask, ask_size) = push["data"]["b"][0], push["data"]["a"][0]
            quote = tuple(map(Decimal, (bid, bid_size, ask, ask_size)))
            if not quotes or quotes[-1] != quote:
                quotes.append(quote)
    return quotes


def line_quote(line: dict) -> tuple[Decimal, ...]:
    return tuple(Decimal(line[key]) for key in ("bid", "bid_size", "ask", "ask_size"))


def assert_lines_follow_the_venue(lines: list[dict], sent: list[tuple[Decimal, ...]]) -> None:
    """tickwire's quotes are the venue's, in order, from tickwire's first one on."""
    printed = [line_quote(line) for line in lines]
    start = sent.index(printed[0])
    assert printed == sent[start : start + len(printed)]


def test_run_prints_the_spot_books_and_trades_bybit_sends():
    async def scenario():
        async with Simulator(venues=["bybit"], symbols=["BTC-USDT"], rate=150, seed=4,
                             channels=["bbo", "trades"]) as sim:
            endpoint = sim.endpoint("bybit")
            transport, watcher = await watch(endpoint, "orderbook.1.BTCUSDT", "publicTrade.BTCUSDT")
            tickwire = await start_tickwire(
                "run", "--venues", "bybit", "--symbols", "BTC-USDT", "--channels", "bbo,trades",
                "--endpoint", f"bybit={endpoint}",
            )
            lines = await tickwire.lines(60)
            status = await tickwire.stop()
            transport.disconnect()
            return lines, watcher.json(), status

    lines, pushes, status = run_async(scenario())
    assert status == 0
    prices = [line for line in lines if line["type"] == "price"]
    trades = [line for line in lines if line["type"] == "trade"]
    assert prices and trades
    assert all(line["venue"] == "bybit" and line["symbol"] == "BTC-USDT" for line in lines)
    assert_lines_follow_the_venue(prices, book_quotes(pushes))
    sent_trades = [
        (int(entry["i"]), Decimal(entry["p"]), Decimal(entry["v"]), entry["S"].lower(), entry["T"])
        for push in pushes if push.get("topic", "").startswith("publicTrade.")
        for entry in push["data"]
    ]
    printed_trades = [
        (line["trade_id"], Decimal(line["price"]), Decimal(line["size"]), line["side"],
         line["exchange_ns"] // 1_000_000)
        for line in trades
    ]
    start = sent_trades.index(printed_trades[0])
    assert printed_trades == sent_trades[start : start + len(printed_trades)]


def test_run_prints_the_linear_books_once_though_tickers_carry_them_too():
    async def scenario():
        async with Simulator(venues=["bybit_linear"], symbols=["BTC-USDT-PERP"], rate=150,
                             seed=6, channels=["bbo", "trades"]) as sim:
            endpoint = sim.endpoint("bybit_linear")
            transport, watcher = await watch(endpoint, "orderbook.1.BTCUSDT", "tickers.BTCUSDT")
            tickwire = await start_tickwire(
                "run", "--venues", "bybit_linear", "--symbols", "BTC-USDT-PERP",
                "--channels", "bbo,ticker", "--endpoint", f"bybit_linear={endpoint}",
            )
            lines = await tickwire.price_lines(50)
            status = await tickwire.stop()
            transport.disconnect()
            return lines, watcher.json(), status

    lines, pushes, status = run_async(scenario())
    assert status == 0
    assert all(line["venue"] == "bybit_linear" and line["n_venues"] == 1 for line in lines)
    assert_lines_follow_the_venue(lines, book_quotes(pushes))
    assert any(push["topic"] == "tickers.BTCUSDT" and "bid1Price" in push["data"]
               for push in pushes[3:])


def test_an_unknown_symbol_is_refused_by_the_venue_and_tickwire_says_so_on_stderr():
    async def scenario():
        async with Simulator(venues=["bybit"], symbols=["BTC-USDT"], rate=50) as sim:
            tickwire = await start_tickwire(
                "run", "--venues", "bybit", "--symbols", "BTC-USDT,SOL-USDT",
                "--endpoint", f"bybit={sim.endpoint('bybit')}",
            )
            assert tickwire.process.stderr is not None
            first_problem = await asyncio.wait_for(tickwire.process.stderr.readline(), 10)
            await tickwire.stop()
            return first_problem.decode(), sim.stats_for("bybit")

    problem, stats = run_async(scenario())
    assert "ERROR bybit: bybit subscribe failed: Invalid symbol :[orderbook.1.SOLUSDT]" in problem
    assert "(req_id 1: orderbook.1.BTCUSDT orderbook.1.SOLUSDT)" in problem
    assert stats.subscribe_requests == 0 and stats.subscriptions == {1: ()}  # all or nothing


def test_run_prints_the_quotes_of_recorded_linear_tickers_replayed(fixtures_dir):
    recording = Path(fixtures_dir) / "bybit" / "linear_tickers.jsonl"
    state: dict[str, str] = {}
    expected: list[tuple[Decimal, ...]] = []
    for line in recording.read_bytes().splitlines():
        push = json.loads(line)
        if push["topic"] == "tickers.BTCUSDT":
            state.update(push["data"])
            quote = tuple(Decimal(state[key]) for key in BBO_FIELDS)
            if not expected or expected[-1] != quote:
                expected.append(quote)

    lines, status, _ = run_replay(
        "bybit_linear", recording, ["BTC-USDT-PERP"], len(expected), "--channels", "ticker", prices_only=True
    )
    assert ([line_quote(line) for line in lines], status) == (expected, 0)


class _PingingSpot(BybitSpot):
    keepalive_interval = 0.1


class _PingingLinear(BybitLinear):
    keepalive_interval = 0.1


def books(frames: list[bytes]) -> list[dict]:
    return [json.loads(frame) for frame in frames if frame.startswith(b'{"topic":"orderbook')]


def decode_and_keep(adapter: BybitSpot, frames: list[bytes]):
    """A frame consumer that decodes with ``adapter`` and keeps every frame."""

    def on_frame(payload: bytes, recv_ns: int, last_in_buffer: bool) -> None:
        if payload:  # empty: a read that ended on a control frame
            frames.append(payload)
            adapter.decode(payload, recv_ns)

    return on_frame


def test_app_pings_are_answered_and_keep_a_quiet_connection_open_and_books_are_repeated():
    """tickwire's own transport and adapters, pinging every 0.1 s instead of 20 s, against a
    venue that drops clients silent for 0.5 s and a market that does not move."""

    async def scenario():
        async with Simulator(venues=["bybit", "bybit_linear"], rate=0, idle_timeout=0.5,
                             symbols=["BTC-USDT", "BTC-USDT-PERP"]) as sim:
            runs = []
            for adapter_type, symbol in ((_PingingSpot, "BTC-USDT"),
                                         (_PingingLinear, "BTC-USDT-PERP")):
                adapter = adapter_type([parse_symbol(symbol)], frozenset({Channel.BBO}))
                frames: list[bytes] = []
                session = VenueSession(
                    adapter, sim.endpoint(adapter.name), decode_and_keep(adapter, frames),
                    lambda: None, SessionSettings(silence_timeout=10),
                )
                runs.append((adapter, session, frames, asyncio.create_task(session.run())))
            # the venue checks for books to repeat every half second
            await eventually(lambda: all(len(books(frames)) == 2 for _, _, frames, _ in runs),
                             timeout=BOOK_REPEAT_MS / 1000 + 1.5)
            for _, session, _, task in runs:
                session.stop()
                await task
            return runs

    for adapter, session, frames, _ in run_async(scenario()):
        assert (session.stats.connects, session.stats.reconnects) == (1, 0), adapter.name
        pongs = [frame for frame in frames if b'"pong"' in frame]
        assert len(pongs) >= 25, adapter.name
        assert adapter.stats.control == 1 + len(pongs)  # the subscribe ack and every pong
        assert adapter.stats.errors == {}
        snapshot, repeat = books(frames)  # the snapshot, then its repeat 3 s later
        assert repeat["data"] == snapshot["data"]
        assert repeat["ts"] - snapshot["ts"] >= BOOK_REPEAT_MS
