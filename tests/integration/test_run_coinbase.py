"""``tickwire run --venues coinbase`` as a user runs it, against the simulated Coinbase."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import msgspec

from tickwire.sim import Simulator
from tickwire.sim.coinbase import CoinbaseSimVenue

from .conftest import Touch, line_touch, record_rendered_touches, run_async, run_one_venue, run_quiet_venue, run_replay, start_tickwire

TICKER_FIXTURE = Path(__file__).parent.parent / "fixtures" / "coinbase" / "ticker.jsonl"
PRODUCTS = "BTC-USD,ETH-USD"


def record_published_touches(monkeypatch) -> list[Touch]:
    """Every touch the simulated Coinbase publishes from now on: ticker snapshots as it sends
    them on subscribe, then the quotes it renders into ticker updates."""
    touches = record_rendered_touches(monkeypatch, CoinbaseSimVenue)
    snapshots = CoinbaseSimVenue.snapshots

    def recording_snapshots(venue, channel, products, now_ns):
        if channel == "ticker":
            for product in products:
                quote = venue.view.quote(product)
                touches.append((product, quote.bid, quote.bid_size, quote.ask, quote.ask_size))
        return snapshots(venue, channel, products, now_ns)

    monkeypatch.setattr(CoinbaseSimVenue, "snapshots", recording_snapshots)
    return touches


def test_every_ticker_the_venue_sends_becomes_one_consolidated_line(monkeypatch):
    published = record_published_touches(monkeypatch)

    lines, status, stderr, _ = run_async(run_one_venue("coinbase", PRODUCTS.split(","), [], 11, 60, prices_only=False))
    assert status == 0
    assert [line_touch(line) for line in lines] == published[: len(lines)]
    assert all(line["bid_venues"] == line["ask_venues"] == ["coinbase"] for line in lines)
    assert "coinbase: " in stderr and "dropped frames: none" in stderr  # no gap, no stale frame


def test_a_replayed_real_recording_reaches_tickwire_renumbered_and_gapless():
    frames = [msgspec.json.decode(line) for line in TICKER_FIXTURE.read_bytes().splitlines()]
    expected, last_touch = [], {}
    for frame in frames:
        for ticker in frame["events"][0]["tickers"]:
            fields = ("best_bid", "best_bid_quantity", "best_ask", "best_ask_quantity")
            touch = (ticker["product_id"], *(int(Decimal(ticker[f]).scaleb(8)) for f in fields))
            if last_touch.get(touch[0]) != touch:
                expected.append(touch)
                last_touch[touch[0]] = touch

    lines, status, stderr = run_replay(
        "coinbase", TICKER_FIXTURE, PRODUCTS.split(","), len(expected), speed=2000, until_replayed=True
    )
    assert status == 0
    assert [line_touch(line) for line in lines] == expected
    assert "dropped frames: none" in stderr


def test_heartbeats_keep_a_quiet_connection_alive_past_the_silence_timeout(monkeypatch):
    heartbeats = []
    heartbeat = CoinbaseSimVenue.heartbeat

    def counting_heartbeat(venue, now_ms):
        heartbeats.append(now_ms)
        return heartbeat(venue, now_ms)

    monkeypatch.setattr(CoinbaseSimVenue, "heartbeat", counting_heartbeat)

    snapshot, status, stderr, stats = run_quiet_venue("coinbase", "BTC-USD", silence_timeout=1.5, duration=3.2)
    assert status == 0 and snapshot["symbol"] == "BTC-USD"
    assert len(heartbeats) >= 2
    assert "1 connects, 0 reconnects" in stderr and "dropped frames: none" in stderr
    assert stats.connections_accepted == 1


def test_subscribing_to_an_unknown_product_shows_the_venues_error_on_stderr():
    async def scenario():
        async with Simulator(venues=("coinbase",), symbols=["BTC-USD"], rate=50) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "coinbase", "--symbols", "BTC-USD,NOPE-USD",
                "--endpoint", f"coinbase={simulator.endpoint('coinbase')}",
            )
            coinbase = simulator.stats_for("coinbase")
            while coinbase.subscribe_requests < 1:  # the heartbeats subscription after the refusal
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            status = await tickwire.stop()
            assert tickwire.process.stdout is not None
            return status, await tickwire.process.stdout.read(), await tickwire.stderr(), coinbase

    status, stdout, stderr, coinbase = run_async(scenario())
    assert status == 0
    assert "coinbase: coinbase error: failure to subscribe" in stderr
    assert stdout == b""  # the whole ticker subscription was refused, as Coinbase does
    assert coinbase.subscriptions == {1: ()}
