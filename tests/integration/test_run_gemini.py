"""``tickwire run --venues gemini`` against the simulated Gemini v2 market data on loopback."""

from __future__ import annotations

import gzip
import json
import re
from decimal import Decimal
from pathlib import Path

from .conftest import run_async, run_one_venue, run_quiet_venue, run_replay
from .market_mirror import Touch, assert_lines_follow, published_count, units, venue_touches

FIXTURES = Path(__file__).parent.parent / "fixtures" / "gemini"
SYMBOLS = ["BTC-USD", "ETH-USD", "BTC-USDC-PERP"]


def test_run_prints_the_quotes_the_venue_sent_and_reports_an_unknown_symbol():
    lines, status, stderr, stats = run_async(run_one_venue("gemini", SYMBOLS, ["FOO-USD"], seed=14, count=40))
    assert status == 0
    assert_lines_follow(lines, venue_touches("gemini", SYMBOLS, seed=14, steps=600), "gemini")
    assert "gemini: gemini error InvalidSymbol: Supplied value(s) FOOUSD are not valid symbols" in stderr
    assert (stats.connections_accepted, stats.subscribe_requests) == (1, 1)


def test_the_recorded_books_replay_through_tickwire_to_their_top_levels(tmp_path):
    recording = tmp_path / "l2_updates.jsonl"
    recording.write_bytes(gzip.decompress((FIXTURES / "l2_updates.jsonl.gz").read_bytes()))
    symbols = {"BTCUSD": "BTC-USD", "ETHUSD": "ETH-USD", "SOLUSD": "SOL-USD", "BTCUSDCPERP": "BTC-USDC-PERP"}
    # what cryptofeed saw at the top of each book after each message, an independent reading
    expected = gzip.decompress((FIXTURES / "expected_cryptofeed_v3" / "l2_book.jsonl.gz").read_bytes())
    sent: dict[str, list[Touch]] = {}
    for frame, line in zip(recording.read_bytes().splitlines(), expected.splitlines()):
        symbol = symbols.get(json.loads(frame)["symbol"])
        if symbol is not None:
            book = json.loads(line)
            (bid, bid_size), (ask, ask_size) = book["top_bids"][0], book["top_asks"][0]
            sent.setdefault(symbol, []).append((units(bid), units(bid_size), units(ask), units(ask_size)))

    lines, status, _ = run_replay(
        "gemini", recording, list(symbols.values()), published_count(sent), speed=1000, prices_only=True
    )
    assert status == 0
    assert_lines_follow(lines, sent, "gemini")  # and all of them: as many lines as changes


def test_replayed_real_trades_reach_tickwire_as_recorded():
    recording = FIXTURES / "trade.jsonl"
    recorded = [json.loads(line) for line in recording.read_bytes().splitlines()]

    lines, status, _ = run_replay("gemini", recording, ["BTC-USD"], len(recorded), "--channels", "trades", speed=100)
    assert status == 0
    assert [
        (line["type"], line["trade_id"], Decimal(line["price"]), Decimal(line["size"]), line["side"])
        for line in lines
    ] == [
        ("trade", trade["tid"], Decimal(trade["price"]), Decimal(trade["quantity"]), trade["side"])
        for trade in recorded
    ]


def test_heartbeats_keep_a_quiet_connection_up_without_a_client_ping():
    book, status, stderr, stats = run_quiet_venue("gemini", "BTC-USD", silence_timeout=12, duration=6)
    assert status == 0 and book["n_venues"] == 1
    assert stats.connections_accepted == 1 and stats.pongs_received == 0
    summary = re.search(r"gemini: (\d+) frames, \d+ bytes, 1 connects, 0 reconnects", stderr)
    assert summary, stderr
    assert int(summary.group(1)) >= 2  # the book, then a heartbeat every 5 s
