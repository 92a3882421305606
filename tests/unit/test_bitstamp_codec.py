"""The Bitstamp v2 codec on real recorded frames and on every kind of bad input.

Fixtures are cryptofeed's capture of 2022-01-05 (ten pairs, ``live_trades`` and
``diff_order_book``). The recording has no ``order_book`` frame, so the BBO tests build frames of
the documented shape: ``{"data":{"timestamp","microtimestamp","bids","asks"},"channel","event"}``.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.instruments import parse_symbol
from tickwire.model import BUY, SELL, Quote, Trade
from tickwire.venues.base import Channel
from tickwire.venues.bitstamp import BitstampSpot
from tickwire.venues.registry import VENUES

from .venue_cases import (
    assert_dropped, assert_no_invalid_quote, connected, recorded_lines, scaled,
    valid_quote_or_counted, with_cryptofeed,
)

RECORDED_SYMBOLS = ["SGB-EUR", "ETH-USD", "XRP-EUR", "BAT-EUR", "USDT-EUR", "USDT-USD", "XLM-GBP",
                    "ADA-EUR", "BAT-BTC", "GALA-EUR"]
US = 1000


def lines(name: str) -> list[bytes]:
    return recorded_lines("bitstamp", name)


def recorded_venue(channels=Channel.ALL) -> BitstampSpot:
    return connected(BitstampSpot, RECORDED_SYMBOLS, channels)


def btc_venue(channels=frozenset({Channel.BBO, Channel.TRADES})) -> BitstampSpot:
    return connected(BitstampSpot, ["BTC-USD"], channels)


def book_frame(bids=(("67011.00", "0.50000000"), ("67010.00", "1.20000000")),
               asks=(("67014.00", "0.31000000"), ("67015.00", "0.90000000")),
               microtimestamp="1790001234567890", channel="order_book_btcusd", **data) -> bytes:
    body = {"timestamp": "1790001234", "microtimestamp": microtimestamp,
            "bids": [list(b) for b in bids] if isinstance(bids, tuple) else bids,
            "asks": [list(a) for a in asks] if isinstance(asks, tuple) else asks}
    body.update(data)
    body = {k: v for k, v in body.items() if v is not None}
    return json.dumps({"data": body, "channel": channel, "event": "data"}, separators=(",", ":")).encode()


def trade_frame(channel="live_trades_btcusd", **fields) -> bytes:
    data = {"id": 345678901, "timestamp": "1790001234", "amount": 0.0154, "amount_str": "0.01540000",
            "price": 67014, "price_str": "67014", "type": 0, "microtimestamp": "1790001234566123",
            "buy_order_id": 1790123456789012, "sell_order_id": 1790123456780000}
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    return json.dumps({"data": data, "channel": channel, "event": "trade"}, separators=(",", ":")).encode()


# ---- real frames -----------------------------------------------------------------------------


def test_every_recorded_trade_decodes_to_the_values_in_its_frame():
    venue = recorded_venue()
    frames = lines("live_trades.jsonl")
    for recv_ns, frame in enumerate(frames, start=1):
        (trade,) = venue.decode(frame, recv_ns)
        message = json.loads(frame)
        data = message["data"]
        assert isinstance(trade, Trade)
        assert trade.venue == "bitstamp"
        pair = message["channel"].removeprefix("live_trades_")
        assert trade.symbol == next(s for s in RECORDED_SYMBOLS if s.replace("-", "").lower() == pair)
        assert trade.price == scaled(data["price_str"])
        assert trade.size == scaled(data["amount_str"])
        assert trade.side == (BUY if data["type"] == 0 else SELL)
        assert trade.trade_id == data["id"]
        assert trade.exchange_ns == int(data["microtimestamp"]) * US
        assert trade.recv_ns == recv_ns
    assert len(frames) == 10
    assert venue.stats.errors == {}


def test_recorded_trades_agree_with_cryptofeeds_normalized_output():
    pairs = with_cryptofeed(recorded_venue(), "bitstamp", "live_trades.jsonl", "trades.jsonl")
    assert len(pairs) == 10
    for trade, theirs in pairs:
        assert trade.symbol == theirs["symbol"]
        assert trade.price == scaled(theirs["price"])
        assert trade.size == scaled(theirs["amount"])
        assert trade.side == (BUY if theirs["side"] == "buy" else SELL)
        assert str(trade.trade_id) == theirs["id"]
        # cryptofeed's time is a float of seconds from the same microtimestamp; ours is exact.
        assert trade.exchange_ns // US == int(Decimal(repr(theirs["timestamp"])) * 10**6)


def test_recorded_subscription_acks_are_control_frames():
    venue = recorded_venue()
    for frame in lines("control.jsonl"):
        assert venue.decode(frame, 0) == ()
    assert venue.stats.errors == {}
    assert venue.stats.control == 20


def test_recorded_diff_order_book_frames_are_a_channel_not_subscribed_and_give_no_quote():
    # diff_order_book carries changed levels without a snapshot or a sequence, so it cannot give
    # a top of book by itself; the BBO comes from order_book instead.
    venue = recorded_venue()
    for frame in lines("diff_order_book.jsonl"):
        assert venue.decode(frame, 0) == ()
    assert venue.stats.errors == {"unknown_message": 717}
    assert "'diff_order_book_" in venue.stats.last_error and "was not subscribed" in venue.stats.last_error


# ---- order_book top of book ----------------------------------------------------------------------


def test_an_order_book_snapshot_gives_its_best_levels_as_a_quote():
    venue = btc_venue()
    assert venue.decode(book_frame(), 42) == (
        Quote("bitstamp", "BTC-USD", scaled("67011"), scaled("0.5"), scaled("67014"), scaled("0.31"), 42,
              1790001234567890 * US),
    )
    assert venue.stats.errors == {}


def test_a_full_top_100_snapshot_decodes_to_its_first_bid_and_ask():
    venue = btc_venue()
    bids = [[f"{67011 - i}.{i % 100:02d}", f"0.{i + 1:08d}"] for i in range(100)]
    asks = [[f"{67014 + i}.{i % 100:02d}", f"{i + 1}.5"] for i in range(100)]
    (quote,) = venue.decode(book_frame(bids=bids, asks=asks), 0)
    assert (quote.bid, quote.bid_size) == (scaled(bids[0][0]), scaled(bids[0][1]))
    assert (quote.ask, quote.ask_size) == (scaled(asks[0][0]), scaled(asks[0][1]))


def test_frames_in_another_key_order_or_spacing_decode_the_same():
    venue = btc_venue()
    spaced = json.dumps(
        {"event": "data", "channel": "order_book_btcusd",
         "data": {"bids": [["67011.00", "0.5", "extra"]], "asks": [["67014.00", "0.31"]],
                  "microtimestamp": "1790001234567890"}},
        indent=2,
    ).encode()
    assert venue.decode(spaced, 0) == (
        Quote("bitstamp", "BTC-USD", scaled("67011"), scaled("0.5"), scaled("67014"), scaled("0.31"), 0,
              1790001234567890 * US),
    )
    trade = json.dumps({"event": "trade", "channel": "live_trades_btcusd",
                        "data": {"type": 1, "microtimestamp": "1790001234566123", "price_str": "67014",
                                 "amount_str": "0.0154", "id": 7}}, indent=1).encode()
    assert venue.decode(trade, 0) == (Trade("bitstamp", "BTC-USD", scaled("67014"), scaled("0.0154"), SELL, 7, 0,
                                            1790001234566123 * US),)


def test_an_older_snapshot_than_the_last_is_dropped_as_stale():
    venue = btc_venue()
    assert len(venue.decode(book_frame(microtimestamp="1790001234567890"), 0)) == 1
    assert len(venue.decode(book_frame(microtimestamp="1790001234567890"), 0)) == 1  # same µs: kept
    assert venue.decode(book_frame(microtimestamp="1790001234567889"), 0) == ()
    assert venue.stats.errors == {"stale_update": 1}
    venue.on_connected()  # a new connection starts afresh
    assert len(venue.decode(book_frame(microtimestamp="1790001234000000"), 0)) == 1


def test_a_book_with_an_empty_side_is_counted_not_quoted():
    venue = btc_venue()
    assert venue.decode(book_frame(asks=[]), 0) == ()
    assert venue.decode(book_frame(bids=[], microtimestamp="1790001234567899"), 0) == ()
    assert venue.stats.errors == {"missing_field": 2}
    assert venue.stats.last_error == "missing_field: BTC-USD book: no bids"


# ---- protocol ----------------------------------------------------------------------------------


def test_subscribe_messages_are_one_per_channel_books_first():
    venue = BitstampSpot([parse_symbol("BTC-USD"), parse_symbol("ETH-BTC")], Channel.ALL)
    assert [json.loads(m) for m in venue.on_connected()] == [
        {"event": "bts:subscribe", "data": {"channel": "order_book_btcusd"}},
        {"event": "bts:subscribe", "data": {"channel": "order_book_ethbtc"}},
        {"event": "bts:subscribe", "data": {"channel": "live_trades_btcusd"}},
        {"event": "bts:subscribe", "data": {"channel": "live_trades_ethbtc"}},
    ]


def test_ticker_subscribes_nothing_because_bitstamp_has_no_ticker_channel():
    assert BitstampSpot([parse_symbol("BTC-USD")], frozenset({Channel.TICKER})).on_connected() == []
    with pytest.raises(ValueError, match="depth"):
        BitstampSpot([parse_symbol("BTC-USD")], frozenset({"depth"}))


def test_more_channels_than_one_connection_carries_are_refused():
    symbols = [parse_symbol(f"C{i}-USD") for i in range(513)]
    assert len(BitstampSpot(symbols[:512], Channel.ALL).on_connected()) == 1024
    with pytest.raises(ValueError, match="1026 channels, more than the 1024"):
        BitstampSpot(symbols, Channel.ALL)


def test_the_client_sends_the_heartbeat_every_20_s_and_its_answer_is_a_control_frame():
    venue = btc_venue()
    assert venue.keepalive_interval == 20.0
    assert venue.keepalive_message() == b'{"event":"bts:heartbeat"}'
    assert venue.decode(b'{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}', 0) == ()
    assert venue.stats.control == 1 and venue.stats.errors == {}


def test_a_reconnect_request_is_honoured_and_forgotten_on_the_next_connection():
    venue = btc_venue()
    assert not venue.wants_reconnect()
    assert venue.decode(b'{"event":"bts:request_reconnect","channel":"","data":""}', 0) == ()
    assert venue.wants_reconnect()
    assert venue.stats.control == 1
    venue.on_connected()
    assert not venue.wants_reconnect()


def test_a_venue_error_is_surfaced_as_a_message():
    venue = btc_venue()
    venue.decode(b'{"event":"bts:error","channel":"","data":{"code":null,"message":"Incorrect JSON format."}}', 0)
    venue.decode(b'{"event":"bts:error","channel":"order_book_btcusdx","data":{"code":4009,"message":"Bad"}}', 0)
    venue.decode(b'{"event":"bts:error","data":"oops"}', 0)
    assert venue.stats.venue_errors == [
        "bitstamp error: Incorrect JSON format.",
        "bitstamp error 4009: Bad (channel order_book_btcusdx)",
        'bitstamp error: "oops"',
    ]
    assert venue.stats.errors == {"venue_error": 3}


def test_the_url_gets_the_root_path_only_when_it_has_none():
    venue = btc_venue()
    assert venue.connect_url(None) == "wss://ws.bitstamp.net/"
    assert venue.connect_url("ws://127.0.0.1:9002") == "ws://127.0.0.1:9002/"
    assert venue.connect_url("ws://127.0.0.1:9002/bitstamp") == "ws://127.0.0.1:9002/bitstamp"
    assert VENUES["bitstamp"] is BitstampSpot
    assert BitstampSpot.instrument_kinds == frozenset({""})


def test_a_subscribed_pair_on_a_channel_kind_not_asked_for_is_not_a_symbol_error():
    venue = btc_venue(frozenset({Channel.BBO}))
    assert venue.decode(trade_frame(), 0) == ()
    assert venue.stats.errors == {"unknown_message": 1}


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (book_frame()[:-3], "malformed_json"),
        (b"not json at all", "malformed_json"),
        (b"", "malformed_json"),
        (b"[1,2,3]", "unknown_message"),
        (b'{"hello":"world"}', "unknown_message"),
        (b'{"event":"bts:mystery","channel":"","data":{}}', "unknown_message"),
        (book_frame(channel="detail_order_book_btcusd"), "unknown_message"),
        (book_frame(channel="order_book_dogeusd"), "unknown_symbol"),
        (trade_frame(channel="live_trades_dogeusd"), "unknown_symbol"),
        (book_frame(microtimestamp=None), "missing_field"),
        (trade_frame(price_str=None), "missing_field"),
        (book_frame(microtimestamp=1790001234567890), "wrong_type"),
        (book_frame(microtimestamp="1790001234.567890"), "wrong_type"),
        (book_frame(bids="67011"), "wrong_type"),
        (book_frame(bids=[67011, 1]), "wrong_type"),
        (book_frame(bids=[[67011.0, "1"]]), "wrong_type"),
        (book_frame(bids=[["67011]", "1"]]), "wrong_type"),
        (book_frame(bids=[["67011"]]), "wrong_type"),
        (trade_frame(type=2), "wrong_type"),
        (trade_frame(id="345678901"), "wrong_type"),
        (book_frame(bids=(("1e-5", "1"),)), "bad_number_exponent"),
        (book_frame(bids=(("-1", "1"),)), "bad_number_sign"),
        (book_frame(asks=(("NaN", "1"),)), "bad_number_not_a_number"),
        (book_frame(bids=(("", "1"),)), "bad_number_empty"),
        (book_frame(bids=(("67011", "12 "),)), "bad_number_junk"),
        (book_frame(bids=(("0.000000001", "1"),)), "bad_number_precision"),
        (trade_frame(amount_str="1e-5"), "bad_number_exponent"),
        (book_frame(bids=(("0.00000000", "1"),)), "zero_price"),
        (book_frame(bids=(("67014.00", "1"),)), "crossed"),
        (book_frame(bids=(("67015", "1"),)), "crossed"),
        (book_frame(asks=(("67014", "0"),)), "zero_size"),
        (trade_frame(price_str="0"), "zero_price"),
        (trade_frame(amount_str="0.00000000"), "zero_size"),
    ],
)
def test_bad_frames_are_counted_by_reason_and_produce_nothing(frame, reason):
    venue = btc_venue()
    assert_dropped(venue, frame, reason)
    # the codec keeps working after the bad frame
    assert len(venue.decode(book_frame(microtimestamp="1790001299000000"), 1)) == 1
    assert len(venue.decode(trade_frame(), 1)) == 1


@given(st.binary(max_size=300))
def test_no_bytes_make_the_decoder_raise_or_emit_an_invalid_quote(payload):
    assert_no_invalid_quote(btc_venue(), payload)


PRICES = st.one_of(st.none(), st.integers(), st.text(max_size=10), st.floats(allow_nan=True),
                   st.sampled_from(["1", "0", "-1", "1e5", "67012.4", "67013", "NaN", "0.5"]))
LEVELS = st.one_of(PRICES, st.lists(st.one_of(PRICES, st.lists(PRICES, max_size=3)), max_size=3))


@given(st.dictionaries(st.sampled_from(["microtimestamp", "bids", "asks", "timestamp"]), LEVELS))
def test_any_book_shaped_json_is_either_a_valid_quote_or_counted(data):
    frame = json.dumps({"data": data, "channel": "order_book_btcusd", "event": "data"}).encode()
    quote = valid_quote_or_counted(btc_venue(), frame)
    if quote is not None:
        assert Decimal(data["bids"][0][0]) == Decimal(quote.bid) / 10**8
        assert Decimal(data["asks"][0][1]) == Decimal(quote.ask_size) / 10**8
