"""``tickwire run --venues bitstamp`` as a user runs it, against the simulated Bitstamp."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

from tickwire.sim import Simulator
from tickwire.sim.bitstamp import BitstampSession, BitstampSimVenue

from .conftest import line_touch, record_rendered_touches, run_async, run_one_venue, run_replay, start_tickwire

TRADES_FIXTURE = Path(__file__).parent.parent / "fixtures" / "bitstamp" / "live_trades.jsonl"
PAIRS = "BTC-USD,ETH-USD"


def test_every_book_the_venue_sends_becomes_one_consolidated_line(monkeypatch):
    published = record_rendered_touches(monkeypatch, BitstampSimVenue)

    lines, status, stderr, _ = run_async(run_one_venue("bitstamp", PAIRS.split(","), [], 12, 30, prices_only=False))
    assert status == 0
    # no snapshot on subscribe: the first line is the first book published after it
    assert [line_touch(line) for line in lines] == published[: len(lines)]
    assert {line["symbol"] for line in lines} == {"BTC-USD", "ETH-USD"}
    assert "dropped frames: none" in stderr


def test_replayed_real_trades_reach_tickwire_as_recorded():
    recorded = [json.loads(line)["data"] for line in TRADES_FIXTURE.read_bytes().splitlines()]

    lines, status, _ = run_replay("bitstamp", TRADES_FIXTURE, ["ETH-USD"], len(recorded), "--channels", "trades", speed=500)
    assert status == 0
    assert [
        (line["type"], line["trade_id"], Decimal(line["price"]), Decimal(line["size"]),
         line["side"])
        for line in lines
    ] == [
        ("trade", trade["id"], Decimal(trade["price_str"]), Decimal(trade["amount_str"]),
         "buy" if trade["type"] == 0 else "sell")
        for trade in recorded
    ]


def test_an_unknown_pair_is_acknowledged_and_silent_while_a_venue_error_shows_on_stderr():
    async def scenario():
        async with Simulator(venues=("bitstamp",), symbols=["BTC-USD"], rate=100,
                             channels=["bbo"]) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "bitstamp", "--symbols", "BTC-USD,NOPE-USD",
                "--endpoint", f"bitstamp={simulator.endpoint('bitstamp')}",
            )
            lines = await tickwire.lines(10)
            simulator.send_raw(b'{"event":"bts:error","channel":"","data":'
                               b'{"code":null,"message":"Invalid channel provided."}}')
            lines.append(await tickwire.line())  # still connected and publishing
            status = await tickwire.stop()
            return lines, status, await tickwire.stderr(), simulator.stats_for("bitstamp")

    lines, status, stderr, bitstamp = run_async(scenario())
    assert status == 0
    assert {line["symbol"] for line in lines} == {"BTC-USD"}
    assert bitstamp.subscriptions == {1: ("order_book_btcusd", "order_book_nopeusd")}
    assert "bitstamp: bitstamp error: Invalid channel provided." in stderr
    assert "0 reconnects" in stderr


def test_a_reconnect_request_makes_tickwire_reconnect_and_resubscribe():
    async def scenario():
        async with Simulator(venues=("bitstamp",), symbols=["BTC-USD"], rate=100,
                             channels=["bbo"]) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "bitstamp", "--symbols", "BTC-USD",
                "--endpoint", f"bitstamp={simulator.endpoint('bitstamp')}",
            )
            await tickwire.line()
            simulator.send_raw(b'{"event":"bts:request_reconnect","channel":"","data":""}')
            bitstamp = simulator.stats_for("bitstamp")
            while bitstamp.subscribe_requests < 2:
                await asyncio.sleep(0.02)
            lines = await tickwire.lines(5)
            status = await tickwire.stop()
            return lines, status, await tickwire.stderr(), bitstamp

    lines, status, stderr, bitstamp = run_async(scenario())
    assert status == 0
    assert bitstamp.connections_accepted == 2
    assert bitstamp.subscriptions == {1: ("order_book_btcusd",), 2: ("order_book_btcusd",)}
    assert any(line["n_venues"] == 1 for line in lines)
    assert "1 reconnects" in stderr


def test_the_clients_heartbeats_are_answered_and_keep_it_connected(monkeypatch):
    heartbeats = []
    on_text = BitstampSession.on_text

    def counting_on_text(session, message, now_ns):
        reply = on_text(session, message, now_ns)
        if message == b'{"event":"bts:heartbeat"}':
            heartbeats.append(reply.frames)
        return reply

    monkeypatch.setattr(BitstampSession, "on_text", counting_on_text)

    async def scenario():
        async with Simulator(venues=("bitstamp",), symbols=["BTC-USD"], rate=0) as simulator:
            # tickwire's Bitstamp client sends bts:heartbeat every 20 s; every 0.2 s here
            tickwire = await start_tickwire(
                "run", "--venues", "bitstamp", "--symbols", "BTC-USD", "--duration", "1.5",
                "--endpoint", f"bitstamp={simulator.endpoint('bitstamp')}",
                keepalive_every=("tickwire.venues.bitstamp:BitstampSpot", 0.2),
            )
            status = await asyncio.wait_for(tickwire.process.wait(), 10)
            return status, await tickwire.stderr()

    status, stderr = run_async(scenario())
    assert status == 0
    assert len(heartbeats) >= 4
    answer = b'{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}'
    assert set(heartbeats) == {(answer,)}
    assert "1 connects, 0 reconnects" in stderr and "dropped frames: none" in stderr
