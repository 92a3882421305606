"""The Kraken spot WebSocket v1 codec on real recorded frames and on every kind of bad input."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.fixedpoint import format_scaled
from tickwire.instruments import parse_symbol
from tickwire.model import BUY, SELL, Quote, Ticker, Trade
from tickwire.venues.base import Channel
from tickwire.venues.kraken_v1 import KrakenSpotV1
from tickwire.venues.registry import VENUES

from .venue_cases import (
    assert_dropped, assert_no_invalid_quote, connected, recorded_lines, scaled,
    valid_quote_or_counted, with_cryptofeed,
)

RECORDED_SYMBOLS = ["KSM-BTC", "XMR-USD", "ETH-CHF", "OMG-USD", "GRT-ETH", "WAVES-EUR", "SC-EUR",
                    "OCEAN-BTC", "BTC-CHF", "ADA-BTC"]
V1_PAIR_TO_CANONICAL = {"KSM/XBT": "KSM-BTC", "XMR/USD": "XMR-USD", "ETH/CHF": "ETH-CHF",
                        "OMG/USD": "OMG-USD", "GRT/ETH": "GRT-ETH", "WAVES/EUR": "WAVES-EUR",
                        "SC/EUR": "SC-EUR", "OCEAN/XBT": "OCEAN-BTC", "XBT/CHF": "BTC-CHF",
                        "ADA/XBT": "ADA-BTC"}


def lines(name: str) -> list[bytes]:
    return recorded_lines("kraken", name)


def recorded_venue(channels=Channel.ALL) -> KrakenSpotV1:
    return connected(KrakenSpotV1, RECORDED_SYMBOLS, channels)


def btc_venue(channels=Channel.ALL) -> KrakenSpotV1:
    return connected(KrakenSpotV1, ["BTC-USD"], channels)


def ticker(a=("67012.90000", 1, "1.100"), b=("67011.00000", 2, "2.000"), c=("67012.10000", "0.1"),
           pair="XBT/USD") -> bytes:
    body = {"a": list(a), "b": list(b), "c": list(c), "v": ["1", "2"], "p": ["1", "2"], "t": [1, 2],
            "l": ["1", "2"], "h": ["1", "2"], "o": ["1", "2"]}
    return json.dumps([340, body, "ticker", pair], separators=(",", ":")).encode()


def test_the_venue_is_registered_under_its_name():
    assert VENUES["kraken_v1"] is KrakenSpotV1


def test_every_recorded_ticker_decodes_to_the_best_bid_offer_and_last_price_in_its_frame():
    venue = recorded_venue()
    for recv_ns, frame in enumerate(lines("ticker.jsonl"), start=1):
        quote, last = venue.decode(frame, recv_ns)
        channel_id, data, name, pair = json.loads(frame)
        assert isinstance(quote, Quote) and isinstance(last, Ticker)
        assert quote.venue == last.venue == "kraken_v1"
        assert quote.symbol == last.symbol == V1_PAIR_TO_CANONICAL[pair]
        # a/b are [price, whole lot volume, lot volume]: the size is the (exact) lot volume
        assert (quote.bid, quote.bid_size) == (scaled(data["b"][0]), scaled(data["b"][2]))
        assert (quote.ask, quote.ask_size) == (scaled(data["a"][0]), scaled(data["a"][2]))
        assert last.last == scaled(data["c"][0])
        assert quote.recv_ns == last.recv_ns == recv_ns
        assert quote.exchange_ns == last.exchange_ns == 0  # the v1 ticker carries no time
    assert venue.stats.errors == {}


def test_recorded_tickers_agree_with_cryptofeeds_normalized_output():
    pairs = with_cryptofeed(recorded_venue(frozenset({Channel.BBO})), "kraken", "ticker.jsonl", "ticker.jsonl")
    assert len(pairs) == 18
    for quote, theirs in pairs:
        assert quote.symbol == theirs["symbol"]
        assert Decimal(format_scaled(quote.bid, 8)) == Decimal(theirs["bid"])
        assert Decimal(format_scaled(quote.ask, 8)) == Decimal(theirs["ask"])
        # cryptofeed's timestamp is null too: the v1 ticker has no exchange time
        assert theirs["timestamp"] is None and quote.exchange_ns == 0


def test_recorded_trades_decode_with_taker_side_and_exchange_time():
    venue = recorded_venue()
    trades = []
    for frame in lines("trade.jsonl"):
        events = venue.decode(frame, 5)
        channel_id, fills, name, pair = json.loads(frame)
        assert len(events) == len(fills)  # one frame can carry several fills: all of them, in order
        for trade, (price, volume, time, side, order_type, misc) in zip(events, fills):
            assert isinstance(trade, Trade)
            assert trade.symbol == V1_PAIR_TO_CANONICAL[pair]
            assert (trade.price, trade.size) == (scaled(price), scaled(volume))
            assert trade.side == (BUY if side == "b" else SELL)
            assert trade.exchange_ns == int(Decimal(time) * 10**9)
            assert trade.trade_id == 0  # v1 trades have no id
        trades += events
    assert len(trades) == 10
    assert venue.stats.errors == {}


def test_recorded_trades_agree_with_cryptofeeds_normalized_output():
    pairs = with_cryptofeed(recorded_venue(), "kraken", "trade.jsonl", "trades.jsonl")
    assert len(pairs) == 10
    for trade, theirs in pairs:
        assert trade.symbol == theirs["symbol"]
        assert Decimal(format_scaled(trade.price, 8)) == Decimal(theirs["price"])
        assert Decimal(format_scaled(trade.size, 8)) == Decimal(theirs["amount"])
        assert trade.side == (BUY if theirs["side"] == "buy" else SELL)
        # cryptofeed's timestamp is a float: compare at its microsecond resolution
        assert round(trade.exchange_ns / 1000) == round(theirs["timestamp"] * 1e6)
        # Deliberate differences: cryptofeed's id is null where ours is 0 (the venue gives none),
        # and we drop the order type (limit/market), which the model does not carry.
        assert theirs["id"] is None and trade.trade_id == 0


def test_every_recorded_control_frame_is_recognised():
    venue = recorded_venue()
    for frame in lines("control.jsonl"):
        assert venue.decode(frame, 0) == ()
    assert venue.stats.control == 125  # 92 heartbeats, 30 subscriptionStatus, 3 systemStatus
    assert venue.stats.errors == {}


def test_subscribe_messages_name_legacy_pairs_one_channel_each():
    venue = KrakenSpotV1([parse_symbol("BTC-USD"), parse_symbol("DOGE-EUR"), parse_symbol("ETH-USDT")],
                         Channel.ALL)
    pairs = ["XBT/USD", "XDG/EUR", "ETH/USDT"]
    assert [json.loads(m) for m in venue.on_connected()] == [
        {"event": "subscribe", "pair": pairs, "subscription": {"name": "ticker"}},
        {"event": "subscribe", "pair": pairs, "subscription": {"name": "trade"}},
    ]
    trades_only = KrakenSpotV1([parse_symbol("BTC-USD")], frozenset({Channel.TRADES}))
    assert [json.loads(m) for m in trades_only.on_connected()] == [
        {"event": "subscribe", "pair": ["XBT/USD"], "subscription": {"name": "trade"}},
    ]


def test_connect_url_and_keepalive():
    venue = btc_venue()
    assert venue.connect_url(None) == "wss://ws.kraken.com"
    assert venue.connect_url("ws://127.0.0.1:9001") == "ws://127.0.0.1:9001"
    assert venue.keepalive_message() is None
    assert not venue.wants_reconnect()


def test_the_new_btc_and_doge_spellings_are_accepted_too():
    venue = KrakenSpotV1([parse_symbol("BTC-USD"), parse_symbol("DOGE-USD")], frozenset({Channel.BBO}))
    (via_legacy,) = venue.decode(ticker(pair="XBT/USD"), 0)
    (via_new,) = venue.decode(ticker(pair="BTC/USD"), 0)
    (doge,) = venue.decode(ticker(pair="XDG/USD"), 0)
    assert (via_legacy.symbol, via_new.symbol, doge.symbol) == ("BTC-USD", "BTC-USD", "DOGE-USD")


def test_frames_with_spaces_after_commas_decode_too():
    venue = btc_venue(frozenset({Channel.BBO}))
    frame = json.dumps(json.loads(ticker())).encode()  # json.dumps puts ", " between items
    assert b'", "' in frame
    assert len(venue.decode(frame, 0)) == 1


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b'{"errorMessage":"Currency pair not supported","event":"subscriptionStatus","pair":"XBT/USDX",'
         b'"status":"error","subscription":{"name":"ticker"}}',
         "kraken_v1 subscriptionStatus: Currency pair not supported (XBT/USDX)"),
        (b'{"errorMessage":"Malformed request","event":"error"}', "kraken_v1 error: Malformed request"),
    ],
)
def test_venue_errors_are_surfaced_as_messages(frame, message):
    venue = btc_venue()
    assert venue.decode(frame, 0) == ()
    assert venue.stats.venue_errors == [message]
    assert venue.stats.errors == {"venue_error": 1}


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b'[340,{"a":["1","1","1"],', "malformed_json"),
        (b'[340,{"a":["1",1,"1"],"b":["1",1,"1"],"c":["1","1"]},"ticker","XBT/USD"', "malformed_json"),
        (b"not json at all", "malformed_json"),
        (b"", "malformed_json"),
        (b"[1,2,3]", "unknown_message"),
        (b'{"hello":"world"}', "unknown_message"),
        (b'{"event":"surprise"}', "unknown_message"),
        (b'[1920,{"a":[["0.043210","0.00000000","1618678137.640504"]],"c":"2745838"},"book-1000","SC/EUR"]',
         "unknown_message"),
        (ticker(pair="ETH/USD"), "unknown_symbol"),
        (b'[340,{"a":["1",1,"1"]},"ticker","XBT/USD"]', "missing_field"),
        (b'["340",{"a":["1",1,"1"],"b":["1",1,"2"],"c":["1","1"]},"ticker","XBT/USD"]', "wrong_type"),
        (b'[340,{"a":["1",1,"1"],"b":["1",1,"1"],"c":["1","1"]},"ticker"]', "unknown_message"),
        (ticker(a=(67012.9, 1, "1.1")), "wrong_type"),
        (b'[340,[["67012.1","0.2","1790001234.971661","x","l",""]],"trade","XBT/USD"]', "wrong_type"),
        (b'[340,[["67012.1","0.2","yesterday","b","l",""]],"trade","XBT/USD"]', "wrong_type"),
        (ticker(b=("1e-5", 1, "1")), "bad_number_exponent"),
        (ticker(b=("-1", 1, "1")), "bad_number_sign"),
        (ticker(a=("NaN", 1, "1")), "bad_number_not_a_number"),
        (ticker(b=("", 1, "1")), "bad_number_empty"),
        (ticker(b=("0.000000001", 1, "1")), "bad_number_precision"),
        (ticker(b=("0.00000", 0, "1")), "zero_price"),
        (ticker(b=("67012.9", 1, "1")), "crossed"),
        (ticker(a=("67012.9", 0, "0.00000000")), "zero_size"),
        (b'[340,[["0","0.2","1790001234.971661","b","l",""]],"trade","XBT/USD"]', "zero_price"),
    ],
)
def test_bad_frames_are_counted_by_reason_and_produce_nothing(frame, reason):
    venue = btc_venue()
    assert_dropped(venue, frame, reason)
    # the codec keeps working after the bad frame
    assert len(venue.decode(ticker(), 1)) == 2


@given(st.binary(max_size=300))
def test_no_bytes_make_the_decoder_raise_or_emit_an_invalid_quote(payload):
    assert_no_invalid_quote(btc_venue(), payload)


_VALUES = st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=12),
                    st.sampled_from(["1", "0", "-1", "1e5", "67012.4", "NaN"]))


@given(st.lists(_VALUES, max_size=4), st.lists(_VALUES, max_size=4),
       st.sampled_from(["ticker", "trade", "spread", "book-10"]))
def test_any_ticker_shaped_array_is_either_a_valid_quote_or_counted(a, b, name):
    frame = json.dumps([340, {"a": a, "b": b, "c": ["1", "1"]}, name, "XBT/USD"]).encode()
    quote = valid_quote_or_counted(btc_venue(frozenset({Channel.BBO})), frame)
    if quote is not None:
        assert Decimal(b[0]) == Decimal(quote.bid) / 10**8
        assert Decimal(a[2]) == Decimal(quote.ask_size) / 10**8
