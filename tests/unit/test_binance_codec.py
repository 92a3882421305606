"""The Binance spot codec on real recorded frames and on every kind of bad input."""

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
from tickwire.venues.binance import BinanceSpot

from .venue_cases import (
    assert_dropped, assert_no_invalid_quote, connected, recorded_lines, scaled,
    valid_quote_or_counted, with_cryptofeed,
)

RECORDED_SYMBOLS = ["NKN-USDT", "BLZ-ETH", "LRC-BTC", "RUNE-EUR"]


def lines(name: str) -> list[bytes]:
    return recorded_lines("binance", name)


def recorded_venue(channels=Channel.ALL) -> BinanceSpot:
    return connected(BinanceSpot, RECORDED_SYMBOLS, channels)


def btc_venue() -> BinanceSpot:
    return connected(BinanceSpot, ["BTC-USDT"], {Channel.BBO})


def book_ticker(u=1, s="BTCUSDT", b="67012.40000000", B="1.2", a="67012.41000000", A="0.8") -> bytes:
    data = {"u": u, "s": s, "b": b, "B": B, "a": a, "A": A}
    return json.dumps({"stream": f"{s.lower()}@bookTicker", "data": data}).encode()


def test_every_recorded_book_ticker_decodes_to_the_values_in_its_frame():
    venue = recorded_venue()
    frames = lines("bookTicker.jsonl")
    for recv_ns, frame in enumerate(frames, start=1):
        (quote,) = venue.decode(frame, recv_ns)
        data = json.loads(frame)["data"]
        assert isinstance(quote, Quote)
        assert quote.venue == "binance"
        assert quote.symbol == {"NKNUSDT": "NKN-USDT", "BLZETH": "BLZ-ETH", "LRCBTC": "LRC-BTC",
                                "RUNEEUR": "RUNE-EUR"}[data["s"]]
        assert (quote.bid, quote.bid_size) == (scaled(data["b"]), scaled(data["B"]))
        assert (quote.ask, quote.ask_size) == (scaled(data["a"]), scaled(data["A"]))
        assert quote.update_id == data["u"]
        assert quote.recv_ns == recv_ns
        assert quote.exchange_ns == 0  # bookTicker carries no time
    assert venue.stats.errors == {}


def test_book_tickers_agree_with_cryptofeeds_normalized_output():
    pairs = with_cryptofeed(recorded_venue(), "binance", "bookTicker.jsonl", "ticker.jsonl")
    assert len(pairs) == 84
    for quote, theirs in pairs:
        assert quote.symbol == theirs["symbol"]
        assert Decimal(format_scaled(quote.bid, 8)) == Decimal(theirs["bid"])
        assert Decimal(format_scaled(quote.ask, 8)) == Decimal(theirs["ask"])


def test_recorded_agg_trades_decode_with_taker_side_and_exchange_time():
    pairs = with_cryptofeed(recorded_venue(), "binance", "aggTrade.jsonl", "trades.jsonl", recv_ns=5)
    assert len(pairs) == 2
    for trade, theirs in pairs:
        assert isinstance(trade, Trade)
        assert trade.symbol == theirs["symbol"]
        assert Decimal(format_scaled(trade.price, 8)) == Decimal(theirs["price"])
        assert Decimal(format_scaled(trade.size, 8)) == Decimal(theirs["amount"])
        assert trade.side == (BUY if theirs["side"] == "buy" else SELL)
        assert str(trade.trade_id) == theirs["id"]
        assert trade.exchange_ns == int(Decimal(str(theirs["timestamp"])) * 10**9)


def test_streams_that_were_not_asked_for_are_counted_not_decoded():
    venue = recorded_venue()
    for frame in lines("depth.jsonl") + lines("kline.jsonl"):
        assert venue.decode(frame, 0) == ()
    assert venue.stats.errors == {"unknown_message": 179}


def test_trade_and_24h_ticker_shapes_decode():
    venue = BinanceSpot([parse_symbol("BTC-USDT")], Channel.ALL)
    trade = (b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1790001234567,"s":"BTCUSDT",'
             b'"t":5123456789,"p":"67012.41000000","q":"0.00150000","T":1790001234566,"m":true,"M":true}}')
    ticker = (b'{"stream":"btcusdt@ticker","data":{"e":"24hrTicker","E":1790001235000,"s":"BTCUSDT",'
              b'"p":"812.4","c":"67012.41000000","b":"67012.40000000","a":"67012.41000000","n":2456790}}')
    assert venue.decode(trade, 9) == (
        Trade("binance", "BTC-USDT", 6701241000000, 150000, SELL, 5123456789, 9, 1790001234566000000),
    )
    assert venue.decode(ticker, 9) == (Ticker("binance", "BTC-USDT", 6701241000000, 9, 1790001235000000000),)


def test_subscribe_requests_name_lowercase_streams_with_increasing_ids():
    venue = BinanceSpot([parse_symbol("BTC-USDT"), parse_symbol("ETH-USDT")], Channel.ALL)
    (first,) = venue.on_connected()
    request = json.loads(first)
    assert request["method"] == "SUBSCRIBE"
    assert sorted(request["params"]) == sorted(
        f"{s}@{k}" for s in ("btcusdt", "ethusdt") for k in ("bookTicker", "aggTrade", "ticker")
    )
    (second,) = venue.on_connected()
    assert json.loads(second)["id"] == request["id"] + 1
    assert venue.decode(b'{"result":null,"id":%d}' % json.loads(second)["id"], 0) == ()
    assert venue.subscribed == set(request["params"])
    assert venue.stats.control == 1


def test_a_venue_error_reply_is_surfaced_as_a_message():
    venue = btc_venue()
    assert venue.decode(b'{"error":{"code":2,"msg":"Invalid request: unknown stream"},"id":1}', 0) == ()
    assert venue.stats.venue_errors == ["binance error 2: Invalid request: unknown stream (request id 1)"]
    assert venue.stats.errors == {"venue_error": 1}


def test_server_shutdown_event_asks_for_a_reconnect():
    venue = btc_venue()
    assert not venue.wants_reconnect()
    venue.decode(b'{"e":"serverShutdown","E":1790001234567}', 0)
    assert venue.wants_reconnect()
    venue.on_connected()
    assert not venue.wants_reconnect()


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT"', "malformed_json"),
        (b"not json at all", "malformed_json"),
        (b"", "malformed_json"),
        (b"[1,2,3]", "unknown_message"),
        (b'{"hello":"world"}', "unknown_message"),
        (b'{"stream":"btcusdt@depth@100ms","data":{}}', "unknown_message"),
        (book_ticker(s="DOGEUSDT"), "unknown_symbol"),
        (b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","B":"1","a":"2","A":"1"}}',
         "missing_field"),
        (b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":1.5,"B":"1","a":"2","A":"1"}}',
         "wrong_type"),
        (book_ticker(b="1e-5"), "bad_number_exponent"),
        (book_ticker(b="-1"), "bad_number_sign"),
        (book_ticker(a="NaN"), "bad_number_not_a_number"),
        (book_ticker(b=""), "bad_number_empty"),
        (book_ticker(B="12 "), "bad_number_junk"),
        (book_ticker(b="0.000000001"), "bad_number_precision"),
        (book_ticker(b="0.00000000"), "zero_price"),
        (book_ticker(b="67012.41", a="67012.41"), "crossed"),
        (book_ticker(b="67013", a="67012.41"), "crossed"),
        (book_ticker(A="0"), "zero_size"),
    ],
)
def test_bad_frames_are_counted_by_reason_and_produce_nothing(frame, reason):
    venue = btc_venue()
    assert_dropped(venue, frame, reason)
    # the codec keeps working after the bad frame
    assert len(venue.decode(book_ticker(u=10), 1)) == 1


def test_an_older_update_id_than_the_last_is_dropped_as_stale():
    venue = btc_venue()
    assert len(venue.decode(book_ticker(u=5), 0)) == 1
    assert venue.decode(book_ticker(u=4), 0) == ()
    assert venue.stats.errors == {"stale_update": 1}
    venue.on_connected()  # a new connection starts a new sequence
    assert len(venue.decode(book_ticker(u=1), 0)) == 1


@given(st.binary(max_size=300))
def test_no_bytes_make_the_decoder_raise_or_emit_an_invalid_quote(payload):
    assert_no_invalid_quote(btc_venue(), payload, quotes_only=True)


@given(
    st.dictionaries(
        st.sampled_from(["u", "s", "b", "B", "a", "A", "e"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=12), st.floats(allow_nan=True),
                  st.sampled_from(["BTCUSDT", "1", "0", "-1", "1e5", "67012.4", "NaN"])),
    )
)
def test_any_book_ticker_shaped_json_is_either_a_valid_quote_or_counted(data):
    frame = json.dumps({"stream": "btcusdt@bookTicker", "data": data}).encode()
    quote = valid_quote_or_counted(btc_venue(), frame)
    if quote is not None:
        assert Decimal(data["b"]) == Decimal(quote.bid) / 10**8
