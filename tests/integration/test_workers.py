"""``tickwire run --workers N`` against four simulated venues: every venue's quotes reach the
consolidated output with the prices the simulator sent, as in one process; a venue going down
crosses the ring; SIGTERM ends every process and leaves no shared memory behind."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from decimal import Decimal

import pytest

from tickwire.sim import Simulator
from tickwire.sim.market import MarketQuote, MarketTrade, VenueView
from tickwire.sim.registry import SIM_VENUES

from .conftest import record_rendered_touches, run_async, start_tickwire
from .test_consolidated_price import line_where

VENUES = ("binance", "kraken", "okx", "coinbase")
SYMBOLS = ("BTC-USDT", "ETH-USDT")


def units(text: str) -> int:
    return int(Decimal(text).scaleb(8))


def shared_memory_names() -> set[str]:
    return set(os.listdir("/dev/shm"))


def record_snapshots(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[MarketQuote]]:
    """Every quote a simulated venue reads for a snapshot on subscribe, by venue (snapshots
    do not go through ``render``)."""
    snapshots: dict[str, list[MarketQuote]] = {}
    quote = VenueView.quote

    def recording_quote(view: VenueView, symbol: str) -> MarketQuote:
        snapshot = quote(view, symbol)
        snapshots.setdefault(view.venue, []).append(snapshot)
        return snapshot

    monkeypatch.setattr(VenueView, "quote", recording_quote)
    return snapshots


@pytest.mark.parametrize(
    "flags",
    [("--workers", "0"), ("--workers", "2"), ("--workers", "2", "--busy-poll"), ("--workers", "2", "--conflate")],
)
def test_every_venues_quotes_arrive_with_the_prices_the_simulator_sent(monkeypatch, flags):
    rendered = {name: record_rendered_touches(monkeypatch, SIM_VENUES[name]) for name in VENUES}
    snapshots = record_snapshots(monkeypatch)
    shared_before = shared_memory_names()

    async def scenario():
        async with Simulator(venues=VENUES, symbols=SYMBOLS, rate=40, channels=["bbo"], seed=5) as simulator:
            endpoints = [f"--endpoint={name}={simulator.endpoint(name)}" for name in VENUES]
            tickwire = await start_tickwire(
                "run", "--venues", ",".join(VENUES), "--symbols", ",".join(SYMBOLS), *endpoints, *flags,
            )
            lines = []
            while {v for line in lines for v in line["used"]} != set(VENUES) or len(lines) < 200:
                lines.extend(await tickwire.price_lines(1, timeout=15))
            status = await tickwire.stop()
            return lines, status, await tickwire.stderr()

    lines, status, stderr = run_async(scenario(), timeout=90)
    assert status == 0, stderr
    sent = {
        name: {(symbol, bid, ask) for symbol, bid, _, ask, _ in touches}
        | {(q.symbol, q.bid, q.ask) for q in snapshots.get(name, ())}
        for name, touches in rendered.items()
    }
    sent_bids = {name: {(s, bid) for s, bid, _ in quotes} for name, quotes in sent.items()}
    sent_asks = {name: {(s, ask) for s, _, ask in quotes} for name, quotes in sent.items()}
    for line in lines:
        if line["n_venues"]:
            for venue in line["bid_venues"]:
                assert (line["symbol"], units(line["bid"])) in sent_bids[venue]
            for venue in line["ask_venues"]:
                assert (line["symbol"], units(line["ask"])) in sent_asks[venue]
    # the venue that caused each line quoted exactly this side of it, when it holds the best bid
    # and offer alone
    alone = [line for line in lines if line["bid_venues"] == line["ask_venues"] == [line["venue"]]]
    assert alone
    for line in alone:
        assert (line["symbol"], units(line["bid"]), units(line["ask"])) in sent[line["venue"]]
    assert {line["venue"] for line in lines} == set(VENUES)
    assert {line["symbol"] for line in lines} == set(SYMBOLS)
    if flags[1] != "0":
        worker_lines = re.findall(r"worker \d \((.*)\): pid \d+, (\d+) records, (\d+) dropped "
                                  r"\(ring full\), (\d+) torn reads retried, exit status (\S+)", stderr)
        assert sorted(v for venues, *_ in worker_lines for v in venues.split(", ")) == sorted(VENUES)
        for _, records, dropped, torn, exit_status in worker_lines:
            assert int(records) > 0 and (dropped, torn, exit_status) == ("0", "0", "0")
    if "--conflate" in flags:
        assert "quotes conflated)" in stderr
    assert shared_memory_names() <= shared_before


def test_a_venue_that_drops_its_connection_is_published_without_a_price_across_the_ring():
    async def scenario():
        async with Simulator(symbols=["BTC-USDT"], rate=200, drop_after=30, seed=3) as simulator:
            tickwire = await start_tickwire(
                "run", "--symbols", "BTC-USDT", "--endpoint", f"binance={simulator.url}",
                "--workers", "1",
            )
            down = await line_where(tickwire, lambda line: not line["n_venues"])
            back = await line_where(tickwire, lambda line: line["n_venues"] == 1)
            await tickwire.stop()
            return down, back, simulator.stats.connections_accepted

    down, back, connections = run_async(scenario())
    assert (down["price"], down["excluded"], down["status"]) == (None, {"binance": "reconnecting"},
                                                                 "reconnecting")
    assert back["used"] == ["binance"] and back["recv_ns"] > down["recv_ns"]
    assert connections >= 2


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_sigint_ends_the_aggregator_and_every_worker(stop_signal):
    async def scenario():
        async with Simulator(venues=VENUES[:2], symbols=["BTC-USDT"], rate=50, channels=["bbo"]) as simulator:
            endpoints = [f"--endpoint={name}={simulator.endpoint(name)}" for name in VENUES[:2]]
            tickwire = await start_tickwire(
                "run", "--venues", ",".join(VENUES[:2]), "--symbols", "BTC-USDT", *endpoints,
                "--workers", "2", "--pin",
            )
            await tickwire.price_lines(5)
            tickwire.process.send_signal(stop_signal)  # to the aggregator alone, not the group
            status = await tickwire.stop()
            return status, await tickwire.stderr()

    status, stderr = run_async(scenario())
    assert status == 0, stderr
    pids = [int(pid) for pid in re.findall(r"worker \d \(\w+\): pid (\d+), cpu \d", stderr)]
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_worker_that_dies_stops_tickwire_with_status_1():
    async def scenario():
        async with Simulator(symbols=["BTC-USDT"], rate=50, channels=["bbo"]) as simulator:
            tickwire = await start_tickwire(
                "run", "--symbols", "BTC-USDT", "--endpoint", f"binance={simulator.url}",
                "--workers", "1", "--stale-after", "1",
            )
            await tickwire.price_lines(3)
            pid = tickwire.process.pid
            with open(f"/proc/{pid}/task/{pid}/children") as children:
                (worker_pid,) = map(int, children.read().split())
            os.kill(worker_pid, 9)
            last = await tickwire.price_lines(1)
            while last[0]["n_venues"]:
                last = await tickwire.price_lines(1)
            status = await asyncio.wait_for(tickwire.process.wait(), 10)
            return last[0], status, await tickwire.stderr()

    last, status, stderr = run_async(scenario())
    assert status == 1
    assert last["price"] is None
    assert re.search(r"worker 1 \(binance\) ended with status -9; stopping", stderr)


def test_trades_cross_the_ring_with_their_price_size_and_side(monkeypatch):
    trades: list[MarketTrade] = []
    render = SIM_VENUES["binance"].render

    def recording_render(venue, event, topic):  # type: ignore[no-untyped-def]
        if isinstance(event, MarketTrade):
            trades.append(event)
        return render(venue, event, topic)

    monkeypatch.setattr(SIM_VENUES["binance"], "render", recording_render)

    async def scenario():
        async with Simulator(symbols=["BTC-USDT"], rate=100, channels=["bbo", "trades"]) as simulator:
            tickwire = await start_tickwire(
                "run", "--symbols", "BTC-USDT", "--endpoint", f"binance={simulator.url}",
                "--channels", "bbo,trades", "--workers", "1",
            )
            lines = [await tickwire.line() for _ in range(60)]
            await tickwire.stop()
            return [line for line in lines if line["type"] == "trade"]

    lines = run_async(scenario())
    assert lines
    sent = {(t.price, t.taker_side) for t in trades}
    for line in lines:
        assert line["venue"] == "binance" and units(line["size"]) > 0
        assert (units(line["price"]), 1 if line["side"] == "buy" else -1) in sent
