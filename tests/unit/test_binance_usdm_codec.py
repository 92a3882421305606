"""The Binance USD-M futures codecs (``/public`` and ``/market`` connections) on real frames."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.instruments import parse_symbol
from tickwire.model import BUY, SELL, Quote, Ticker, Trade
from tickwire.venues.base import Channel
from tickwire.venues.binance_usdm import BinanceUsdm, BinanceUsdmMarket
from tickwire.venues.registry import VENUES, instruments_for

from .venue_cases import (
    MS, assert_dropped, assert_no_invalid_quote, connected, recorded_lines, scaled,
    valid_quote_or_counted,
)

RECORDED_SYMBOLS = ["SUSHI-USDT-PERP", "AKRO-USDT-PERP", "KEEP-USDT-PERP", "CTK-USDT-PERP"]


def lines(name: str) -> list[bytes]:
    return recorded_lines("binance_usdm", name)


def public_venue(channels=Channel.ALL) -> BinanceUsdm:
    return connected(BinanceUsdm, RECORDED_SYMBOLS, channels)


def market_venue(channels=Channel.ALL) -> BinanceUsdmMarket:
    return connected(BinanceUsdmMarket, RECORDED_SYMBOLS, channels)


def canonical(venue_symbol: str) -> str:
    return f"{venue_symbol.removesuffix('USDT')}-USDT-PERP"  # every recorded symbol quotes USDT


def book_ticker(u=1, b="67031.20", B="4.112", a="67031.30", A="0.921", T=1790001234562) -> bytes:
    data = {"e": "bookTicker", "u": u, "E": 1790001234570, "T": T, "s": "BTCUSDT",
            "b": b, "B": B, "a": a, "A": A}
    return json.dumps({"stream": "btcusdt@bookTicker", "data": data}, separators=(",", ":")).encode()


def btc_venue() -> BinanceUsdm:
    venue = BinanceUsdm([parse_symbol("BTC-USDT-PERP")])
    venue.on_connected()
    return venue


def test_both_connections_are_registered_and_carry_perpetuals_only():
    assert VENUES["binance_usdm"] is BinanceUsdm
    assert VENUES["binance_usdm_market"] is BinanceUsdmMarket
    instruments = [parse_symbol("BTC-USDT"), parse_symbol("BTC-USDT-PERP")]
    for name in ("binance_usdm", "binance_usdm_market"):
        assert [i.symbol for i in instruments_for(name, instruments)] == ["BTC-USDT-PERP"]


def test_each_connection_uses_its_routed_path():
    public, market = public_venue(), market_venue()
    assert public.connect_url(None) == "wss://fstream.binance.com/public/stream"
    assert market.connect_url(None) == "wss://fstream.binance.com/market/stream"
    assert public.connect_url("ws://127.0.0.1:9000") == "ws://127.0.0.1:9000/public/stream"
    assert market.connect_url("ws://127.0.0.1:9000/") == "ws://127.0.0.1:9000/market/stream"
    assert market.connect_url("ws://127.0.0.1:9000/stream") == "ws://127.0.0.1:9000/stream"


def test_each_connection_subscribes_only_to_the_streams_its_path_serves():
    venue = BinanceUsdm([parse_symbol("BTC-USDT-PERP"), parse_symbol("ETH-USDT-PERP")], Channel.ALL)
    assert venue.on_connected() == [
        b'{"method":"SUBSCRIBE","params":["btcusdt@bookTicker","ethusdt@bookTicker"],"id":1}'
    ]
    market = BinanceUsdmMarket([parse_symbol("BTC-USDT-PERP")], Channel.ALL)
    assert market.on_connected() == [
        b'{"method":"SUBSCRIBE","params":["btcusdt@ticker","btcusdt@aggTrade"],"id":1}'
    ]
    assert market.decode(b'{"result":null,"id":1}', 0) == ()
    assert market.subscribed == {"btcusdt@ticker", "btcusdt@aggTrade"}


def test_a_connection_asked_for_none_of_its_channels_refuses_to_start():
    with pytest.raises(ValueError, match="binance_usdm_market serves only ticker, trades; asked for bbo"):
        BinanceUsdmMarket([parse_symbol("BTC-USDT-PERP")], frozenset({Channel.BBO}))
    with pytest.raises(ValueError, match="binance_usdm serves only bbo; asked for trades"):
        BinanceUsdm([parse_symbol("BTC-USDT-PERP")], frozenset({Channel.TRADES}))


def test_the_server_pings_so_there_is_no_client_keepalive_and_connections_end_before_24h():
    venue = btc_venue()
    assert (venue.keepalive_interval, venue.keepalive_message()) == (None, None)
    assert BinanceUsdm.max_connection_age is not None and BinanceUsdm.max_connection_age < 24 * 3600


def test_every_recorded_book_ticker_decodes_to_its_values_with_the_matching_time():
    venue = public_venue()
    frames = lines("bookTicker.jsonl")
    for recv_ns, frame in enumerate(frames, start=1):
        (quote,) = venue.decode(frame, recv_ns)
        data = json.loads(frame)["data"]
        assert isinstance(quote, Quote)
        assert (quote.venue, quote.symbol) == ("binance_usdm", canonical(data["s"]))
        assert (quote.bid, quote.bid_size) == (scaled(data["b"]), scaled(data["B"]))
        assert (quote.ask, quote.ask_size) == (scaled(data["a"]), scaled(data["A"]))
        assert (quote.update_id, quote.recv_ns) == (data["u"], recv_ns)
        assert quote.exchange_ns == data["T"] * MS
    assert len(frames) == 613
    assert venue.stats.errors == {}


def test_book_tickers_agree_with_cryptofeeds_normalized_output():
    venue = public_venue()
    expected = [json.loads(x) for x in lines("expected_cryptofeed_v3/ticker.jsonl")]
    frames = lines("bookTicker.jsonl")
    quotes = [q for frame in frames for q in venue.decode(frame, 0)]
    assert len(quotes) == len(expected) == 613
    for quote, theirs, frame in zip(quotes, expected, frames):
        assert quote.symbol == theirs["symbol"]
        assert Decimal(quote.bid) / 10**8 == Decimal(theirs["bid"])
        assert Decimal(quote.ask) / 10**8 == Decimal(theirs["ask"])
        # Deliberate difference: cryptofeed times the ticker with E (push time); exchange_ns is
        # T, the matching time, the engine-side stamp (PROTOCOLS.md §0.4).
        data = json.loads(frame)["data"]
        assert Decimal(str(theirs["timestamp"])) * 1000 == data["E"]
        assert quote.exchange_ns == data["T"] * MS


def test_recorded_agg_trades_agree_with_cryptofeed_with_taker_side_and_trade_time():
    venue = market_venue()
    expected = [json.loads(x) for x in lines("expected_cryptofeed_v3/trades.jsonl")]
    frames = lines("aggTrade.jsonl")
    trades = [t for frame in frames for t in venue.decode(frame, 5)]
    assert len(trades) == len(expected) == len(frames) == 91
    for trade, theirs, frame in zip(trades, expected, frames):
        data = json.loads(frame)["data"]
        assert isinstance(trade, Trade)
        assert (trade.venue, trade.symbol) == ("binance_usdm_market", canonical(data["s"]))
        assert (trade.price, trade.size) == (scaled(data["p"]), scaled(data["q"]))
        assert trade.side == (SELL if data["m"] else BUY)
        assert (trade.trade_id, trade.exchange_ns) == (data["a"], data["T"] * MS)
        assert trade.symbol == theirs["symbol"]
        assert Decimal(trade.price) / 10**8 == Decimal(theirs["price"])
        assert Decimal(trade.size) / 10**8 == Decimal(theirs["amount"])
        assert trade.side == (BUY if theirs["side"] == "buy" else SELL)
        assert str(trade.trade_id) == theirs["id"]
        assert trade.exchange_ns == int(Decimal(str(theirs["timestamp"])) * 10**9)
    assert venue.stats.errors == {}


def test_the_24h_ticker_gives_the_last_price_at_the_event_time():
    venue = market_venue()
    frame = (b'{"stream":"sushiusdt@ticker","data":{"e":"24hrTicker","E":1790001235000,"s":"SUSHIUSDT",'
             b'"p":"0.1","P":"1.3","w":"7.6","c":"7.6120","Q":"2","o":"7.5","h":"7.7","l":"7.4","v":"1",'
             b'"q":"7","O":1789914835000,"C":1790001235000,"F":1,"L":2,"n":2}}')
    assert venue.decode(frame, 9) == (
        Ticker("binance_usdm_market", "SUSHI-USDT-PERP", scaled("7.6120"), 9, 1790001235000 * MS),
    )


def test_streams_that_were_not_asked_for_are_counted_not_decoded():
    venue = market_venue()
    for frame in lines("kline.jsonl"):
        assert venue.decode(frame, 0) == ()
    assert venue.stats.errors == {"unknown_message": 67}


def test_a_venue_error_reply_names_the_connection():
    venue = btc_venue()
    assert venue.decode(b'{"error":{"code":2,"msg":"Invalid request: unknown stream"},"id":1}', 0) == ()
    assert venue.stats.venue_errors == [
        "binance_usdm error 2: Invalid request: unknown stream (request id 1)"
    ]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT"', "malformed_json"),
        (b"[1,2,3]", "unknown_message"),
        (book_ticker().replace(b'"s":"BTCUSDT"', b'"s":"ETHUSDT"'), "unknown_symbol"),
        (book_ticker().replace(b'"b":"67031.20",', b""), "missing_field"),
        (book_ticker().replace(b'"T":1790001234562', b'"T":"1790001234562"'), "wrong_type"),
        (book_ticker(b="1e-5"), "bad_number_exponent"),
        (book_ticker(b="-1"), "bad_number_sign"),
        (book_ticker(a="NaN"), "bad_number_not_a_number"),
        (book_ticker(b=""), "bad_number_empty"),
        (book_ticker(b="0"), "zero_price"),
        (book_ticker(b="67031.30"), "crossed"),
        (book_ticker(A="0"), "zero_size"),
    ],
)
def test_bad_frames_are_counted_by_reason_and_produce_nothing(frame, reason):
    venue = btc_venue()
    assert_dropped(venue, frame, reason)
    assert len(venue.decode(book_ticker(u=10), 1)) == 1


@given(st.binary(max_size=300))
def test_no_bytes_make_the_decoder_raise_or_emit_an_invalid_quote(payload):
    assert_no_invalid_quote(btc_venue(), payload, quotes_only=True)


@given(
    st.dictionaries(
        st.sampled_from(["u", "s", "b", "B", "a", "A", "T", "E"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=12), st.floats(allow_nan=True),
                  st.sampled_from(["BTCUSDT", "1", "0", "-1", "1e5", "67012.4", "NaN"])),
    )
)
def test_any_book_ticker_shaped_json_is_either_a_valid_quote_or_counted(data):
    frame = json.dumps({"stream": "btcusdt@bookTicker", "data": data}).encode()
    quote = valid_quote_or_counted(btc_venue(), frame)
    if quote is not None:
        assert quote.exchange_ns == data.get("T", 0) * MS
