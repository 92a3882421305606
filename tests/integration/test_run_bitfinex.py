"""``tickwire run --venues bitfinex`` against the simulated Bitfinex v2 public venue on loopback."""

from __future__ import annotations

import gzip
import json
import re
from decimal import Decimal
from pathlib import Path

from tickwire.sim import Simulator
from tickwire.sim.bitfinex import info_event
from tickwire.sim.levels import level_changes
from tickwire.sim.market import MarketQuote

from .conftest import run_async, run_one_venue, run_quiet_venue, run_reconnect_notice, run_replay, start_tickwire
from .market_mirror import Touch, assert_lines_follow, published_count, venue_touches

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bitfinex"
SYMBOLS = ["BTC-USD", "ETH-USDT", "BTC-USDT-PERP"]


def book_touches(quotes: dict[str, list[Touch]]) -> dict[str, list[Touch]]:
    """The tops of book a client sees while each quote arrives as Bitfinex's level messages, one
    level a message: the snapshot's, then the top after every message."""
    seen: dict[str, list[Touch]] = {}
    for symbol, touches in quotes.items():
        bids, asks = {touches[0][0]: touches[0][1]}, {touches[0][2]: touches[0][3]}
        seen[symbol] = [touches[0]]
        for before, after in zip(touches, touches[1:]):
            for change in level_changes(MarketQuote(symbol, 0, *before, 0), MarketQuote(symbol, 0, *after, 0)):
                side = bids if change.is_bid else asks
                if change.size:
                    side[change.price] = change.size
                else:
                    del side[change.price]
                seen[symbol].append((max(bids), bids[max(bids)], min(asks), asks[min(asks)]))
    return seen


def test_run_prints_the_tops_of_book_the_venue_sent_and_reports_an_unknown_symbol():
    lines, status, stderr, stats = run_async(run_one_venue("bitfinex", SYMBOLS, ["FOO-USD"], seed=15, count=60))
    assert status == 0
    sent = book_touches(venue_touches("bitfinex", SYMBOLS, seed=15, steps=900))
    assert_lines_follow(lines, sent, "bitfinex")
    assert "bitfinex: bitfinex error 10300: symbol: invalid (book tFOOUSD)" in stderr
    assert stats.connections_accepted == 1 and stats.subscribe_requests == 3


def test_the_recorded_tickers_replay_through_tickwire_to_their_best_bid_offers(tmp_path):
    recording = tmp_path / "capture.jsonl"
    recording.write_bytes(gzip.decompress((FIXTURES / "capture.jsonl.gz").read_bytes()))
    channels = {}
    sent: dict[str, list[Touch]] = {}
    for frame in recording.read_bytes().splitlines():
        message = json.loads(frame, parse_float=Decimal, parse_int=Decimal)
        if isinstance(message, dict) and message["event"] == "subscribed":
            channels[int(message["chanId"])] = (message["channel"], message["symbol"])
        elif isinstance(message, list) and channels.get(int(message[0])) == ("ticker", "tDOGUSD") and message[1] != "hb":
            bid, bid_size, ask, ask_size = message[1][:4]
            # sizes carry a double's noise past the 8 decimals of an amount, and are rounded
            sent.setdefault("DOG-USD", []).append(tuple(int(round(x, 8).scaleb(8)) for x in (bid, bid_size, ask, ask_size)))

    lines, status, _ = run_replay(
        "bitfinex", recording, ["DOG-USD"], published_count(sent), "--channels", "ticker", speed=1000, prices_only=True
    )
    assert status == 0
    assert_lines_follow(lines, sent, "bitfinex")  # and all of them: as many lines as changes


def test_trade_executions_reach_tickwire_once_each():
    async def scenario():
        async with Simulator(venues=["bitfinex"], symbols=["BTC-USD"], rate=200, channels=["trades"],
                             seed=4) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "bitfinex", "--symbols", "BTC-USD", "--channels", "trades",
                "--endpoint", f"bitfinex={simulator.endpoint('bitfinex')}",
            )
            lines = await tickwire.lines(20)
            status = await tickwire.stop()
            return lines, status

    lines, status = run_async(scenario())
    assert status == 0
    assert {line["type"] for line in lines} == {"trade"}
    ids = [line["trade_id"] for line in lines]
    assert ids == sorted(set(ids))  # each fill once ("te"), its stored copy ("tu") skipped


def test_a_restart_info_makes_tickwire_reconnect_and_resubscribe():
    restart = info_event(20051, "Stopping. Please try to reconnect")
    assert run_reconnect_notice("bitfinex", "BTC-USD", restart) == (0, 2)


def test_a_quiet_connection_stays_up():
    book, status, stderr, stats = run_quiet_venue("bitfinex", "BTC-USD", silence_timeout=1.4, duration=3)
    assert status == 0 and book["n_venues"] == 1
    assert stats.connections_accepted == 1
    assert "no frame for" not in stderr
    assert re.search(r"bitfinex: \d+ frames, \d+ bytes, 1 connects, 0 reconnects", stderr), stderr
