"""The Kraken spot WebSocket v2 codec: JSON-number prices kept exact, BBO merge, every bad input.

There are no recorded v2 frames (the samples are v1, see test_kraken_v1_codec.py); the frames
here follow the documented v2 shapes (PROTOCOLS.md §4.1-4.3).
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.instruments import parse_symbol
from tickwire.model import BUY, SELL, Quote, Ticker, Trade
from tickwire.venues.base import Channel
from tickwire.venues.kraken import KrakenSpot
from tickwire.venues.registry import VENUES

from .venue_cases import (
    assert_dropped, assert_no_invalid_quote, connected, scaled, valid_quote_or_counted,
)

T0 = "2026-09-30T14:30:03.123456Z"
T0_NS = 1790778603_123456000


def btc_venue(channels=frozenset({Channel.BBO})) -> KrakenSpot:
    return connected(KrakenSpot, ["BTC-USD"], channels)


def ticker(type_="update", **fields) -> bytes:
    """A v2 ticker frame; fields given as JSON text so that numbers stay exactly as written."""
    fields.setdefault("symbol", '"BTC/USD"')
    body = ",".join(f'"{k}":{v}' for k, v in fields.items())
    return f'{{"channel":"ticker","type":"{type_}","data":[{{{body}}}]}}'.encode()


def full_ticker(bid="67011.0", bid_qty="2.0", ask="67012.9", ask_qty="1.1", **more) -> bytes:
    return ticker("snapshot", bid=bid, bid_qty=bid_qty, ask=ask, ask_qty=ask_qty, **more)


def trade(trade_id=10218208, price="67012.9", qty="0.00027625", side="buy", symbol="BTC/USD") -> bytes:
    return (
        f'{{"channel":"trade","type":"update","data":[{{"symbol":"{symbol}","side":"{side}",'
        f'"price":{price},"qty":{qty},"ord_type":"limit","trade_id":{trade_id},"timestamp":"{T0}"}}]}}'
    ).encode()


def test_the_venue_is_registered_under_its_name():
    assert VENUES["kraken"] is KrakenSpot
    assert KrakenSpot.instrument_kinds == frozenset({""})


def test_connect_url_adds_the_v2_path_only_when_the_endpoint_has_none():
    venue = btc_venue()
    assert venue.connect_url(None) == "wss://ws.kraken.com/v2"
    assert venue.connect_url("ws://127.0.0.1:9001") == "ws://127.0.0.1:9001/v2"
    assert venue.connect_url("ws://127.0.0.1:9001/") == "ws://127.0.0.1:9001/v2"
    assert venue.connect_url("ws://127.0.0.1:9001/kraken") == "ws://127.0.0.1:9001/kraken"


def test_bbo_subscribes_to_the_ticker_channel_with_the_bbo_trigger():
    venue = KrakenSpot([parse_symbol("BTC-USD"), parse_symbol("DOGE-USD")], frozenset({Channel.BBO}))
    assert [json.loads(m) for m in venue.on_connected()] == [
        {"method": "subscribe",
         "params": {"channel": "ticker", "symbol": ["BTC/USD", "DOGE/USD"], "event_trigger": "bbo",
                    "snapshot": True},
         "req_id": 1},
    ]


def test_every_channel_subscribes_ticker_and_trades_without_a_trade_snapshot():
    venue = KrakenSpot([parse_symbol("ETH-USDT")], Channel.ALL)
    first = [json.loads(m) for m in venue.on_connected()]
    assert first == [
        {"method": "subscribe",
         "params": {"channel": "ticker", "symbol": ["ETH/USDT"], "event_trigger": "bbo", "snapshot": True},
         "req_id": 1},
        {"method": "subscribe",
         "params": {"channel": "trade", "symbol": ["ETH/USDT"], "snapshot": False},
         "req_id": 2},
    ]
    assert [json.loads(m)["req_id"] for m in venue.on_connected()] == [3, 4]


def test_the_ticker_channel_alone_uses_the_default_trades_trigger():
    venue = KrakenSpot([parse_symbol("BTC-USD")], frozenset({Channel.TICKER}))
    (message,) = venue.on_connected()
    assert json.loads(message)["params"]["event_trigger"] == "trades"


def test_no_ping_is_sent_and_no_reconnect_is_asked_for():
    venue = btc_venue()
    assert venue.keepalive_message() is None
    assert venue.keepalive_interval is None
    assert not venue.wants_reconnect()


def test_a_ticker_snapshot_becomes_a_quote_with_the_exact_wire_digits():
    venue = btc_venue()
    # 90071992.54740993 has more digits than a binary float keeps: it must arrive intact.
    frame = full_ticker(bid="90071992.54740993", bid_qty="0.00000001", ask="90071992.54740994",
                        ask_qty="12", timestamp=f'"{T0}"')
    assert venue.decode(frame, 7) == (
        Quote("kraken", "BTC-USD", 9007199254740993, 1, 9007199254740994, 1200000000, 7, T0_NS),
    )
    assert venue.stats.errors == {}


def test_an_update_with_one_side_keeps_the_other_side_from_before():
    venue = btc_venue()
    venue.decode(full_ticker(), 1)
    (bid_moved,) = venue.decode(ticker(bid="67011.5", bid_qty="0.5"), 2)
    assert (bid_moved.bid, bid_moved.bid_size) == (scaled("67011.5"), scaled("0.5"))
    assert (bid_moved.ask, bid_moved.ask_size) == (scaled("67012.9"), scaled("1.1"))
    (ask_size_only,) = venue.decode(ticker(ask_qty="3.25"), 3)
    assert (ask_size_only.bid, ask_size_only.bid_size) == (scaled("67011.5"), scaled("0.5"))
    assert (ask_size_only.ask, ask_size_only.ask_size) == (scaled("67012.9"), scaled("3.25"))
    assert venue.stats.errors == {}


def test_a_side_never_seen_on_this_connection_gives_no_quote():
    venue = btc_venue()
    assert venue.decode(ticker(bid="67011.0", bid_qty="2.0"), 1) == ()
    assert venue.stats.errors == {"missing_field": 1}
    assert "no ask yet" in venue.stats.last_error
    (quote,) = venue.decode(ticker(ask="67012.0", ask_qty="1.0"), 2)
    assert (quote.bid, quote.ask) == (scaled("67011.0"), scaled("67012.0"))


def test_a_new_connection_forgets_the_merged_book():
    venue = btc_venue()
    venue.decode(full_ticker(), 1)
    venue.on_connected()
    assert venue.decode(ticker(bid="67011.5", bid_qty="0.5"), 2) == ()
    assert venue.stats.errors == {"missing_field": 1}


def test_a_crossing_update_is_counted_and_the_next_good_one_is_emitted():
    venue = btc_venue()
    venue.decode(full_ticker(), 1)
    assert venue.decode(ticker(bid="67013.0"), 2) == ()
    assert venue.stats.errors == {"crossed": 1}
    (quote,) = venue.decode(ticker(ask="67014.0"), 3)
    assert (quote.bid, quote.ask) == (scaled("67013.0"), scaled("67014.0"))


def test_a_frame_with_several_symbols_gives_all_their_quotes_in_order():
    venue = KrakenSpot([parse_symbol("BTC-USD"), parse_symbol("ETH-USD")], frozenset({Channel.BBO}))
    venue.on_connected()
    frame = (b'{"channel":"ticker","type":"snapshot","data":['
             b'{"symbol":"ETH/USD","bid":2500.1,"bid_qty":1,"ask":2500.2,"ask_qty":2},'
             b'{"symbol":"BTC/USD","bid":67011,"bid_qty":1,"ask":67012,"ask_qty":2}]}')
    assert [q.symbol for q in venue.decode(frame, 0)] == ["ETH-USD", "BTC-USD"]


def test_the_ticker_channel_also_gives_the_last_price():
    venue = btc_venue(frozenset({Channel.BBO, Channel.TICKER}))
    quote, last = venue.decode(full_ticker(last="67012.1", timestamp=f'"{T0}"'), 4)
    assert isinstance(quote, Quote)
    assert last == Ticker("kraken", "BTC-USD", scaled("67012.1"), 4, T0_NS)


def test_legacy_xbt_and_xdg_names_map_to_btc_and_doge_both_ways():
    venue = KrakenSpot([parse_symbol("BTC-USD"), parse_symbol("DOGE-EUR")], frozenset({Channel.BBO}))
    (message,) = venue.on_connected()
    assert json.loads(message)["params"]["symbol"] == ["BTC/USD", "DOGE/EUR"]
    (btc,) = venue.decode(full_ticker(symbol='"XBT/USD"'), 0)
    (doge,) = venue.decode(full_ticker(symbol='"XDG/EUR"', bid="0.1", ask="0.2"), 0)
    assert (btc.symbol, doge.symbol) == ("BTC-USD", "DOGE-EUR")


def test_usd_usdt_and_usdc_are_different_instruments():
    venue = KrakenSpot([parse_symbol("BTC-USDT")], frozenset({Channel.BBO}))
    venue.on_connected()
    assert venue.decode(full_ticker(symbol='"BTC/USD"'), 0) == ()
    assert venue.decode(full_ticker(symbol='"BTC/USDC"'), 0) == ()
    assert venue.stats.errors == {"unknown_symbol": 2}
    assert len(venue.decode(full_ticker(symbol='"BTC/USDT"'), 0)) == 1


def test_trades_decode_with_taker_side_id_and_exchange_time():
    venue = btc_venue(Channel.ALL)
    assert venue.decode(trade(side="sell"), 3) == (
        Trade("kraken", "BTC-USD", scaled("67012.9"), scaled("0.00027625"), SELL, 10218208, 3, T0_NS),
    )
    (buy,) = venue.decode(trade(trade_id=10218209), 4)
    assert buy.side == BUY


def test_a_jump_in_trade_ids_is_counted_as_a_gap_and_an_old_id_is_dropped():
    venue = btc_venue(Channel.ALL)
    venue.decode(trade(trade_id=100), 0)
    venue.decode(trade(trade_id=101), 0)
    assert venue.stats.sequence_gaps == 0
    assert len(venue.decode(trade(trade_id=105), 0)) == 1
    assert venue.stats.sequence_gaps == 1
    assert venue.decode(trade(trade_id=103), 0) == ()
    assert venue.stats.errors == {"stale_update": 1}
    venue.on_connected()  # a new connection starts again from whatever id comes first
    assert len(venue.decode(trade(trade_id=7), 0)) == 1
    assert venue.stats.sequence_gaps == 1


@pytest.mark.parametrize(
    "frame",
    [
        b'{"channel":"heartbeat"}',
        b'{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":123,'
        b'"system":"online","version":"2.0.8"}]}',
        b'{"method":"subscribe","result":{"channel":"ticker","event_trigger":"bbo","snapshot":true,'
        b'"symbol":"BTC/USD"},"success":true,"time_in":"2026-09-30T14:30:00.000001Z",'
        b'"time_out":"2026-09-30T14:30:00.000051Z","req_id":1}',
        b'{"method":"pong","req_id":9,"time_in":"2026-09-30T14:30:00.000001Z",'
        b'"time_out":"2026-09-30T14:30:00.000051Z"}',
    ],
)
def test_control_frames_are_recognised_without_errors(frame):
    venue = btc_venue()
    assert venue.decode(frame, 0) == ()
    assert venue.stats.control == 1
    assert venue.stats.errors == {}


def test_a_failed_subscription_is_surfaced_as_a_message():
    venue = btc_venue()
    frame = (b'{"error":"Currency pair not supported BTC/USDX","method":"subscribe","req_id":1,'
             b'"success":false,"symbol":"BTC/USDX","time_in":"2026-09-30T14:30:00.000001Z",'
             b'"time_out":"2026-09-30T14:30:00.000051Z"}')
    assert venue.decode(frame, 0) == ()
    assert venue.stats.venue_errors == ["kraken subscribe failed: Currency pair not supported BTC/USDX"]
    assert venue.stats.errors == {"venue_error": 1}


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b'{"channel":"ticker","data":[{"symbol":"BTC/USD","bid":67011.0', "malformed_json"),
        (b"not json at all", "malformed_json"),
        (b"", "malformed_json"),
        (full_ticker(bid="NaN"), "malformed_json"),  # NaN is not JSON
        (b"[1,2,3]", "unknown_message"),
        (b'{"hello":"world"}', "unknown_message"),
        (b'{"method":"subscribed"}', "unknown_message"),
        (b'{"channel":"book","type":"update","data":[]}', "unknown_message"),
        (full_ticker(symbol='"ETH/USD"'), "unknown_symbol"),
        (b'{"channel":"ticker","type":"update","data":[{"bid":1.0}]}', "missing_field"),
        (b'{"channel":"ticker","type":"update"}', "missing_field"),
        (full_ticker(bid='"67011.0"'), "wrong_type"),  # a string where v2 sends a number
        (full_ticker(bid="null"), "wrong_type"),
        (full_ticker(bid='""'), "wrong_type"),
        (full_ticker(timestamp='"yesterday"'), "wrong_type"),
        (b'{"channel":"ticker","type":"update","data":{"symbol":"BTC/USD"}}', "wrong_type"),
        (trade(side="up"), "wrong_type"),
        (trade(trade_id='"x"'), "wrong_type"),
        (full_ticker(bid="1e-5"), "bad_number_exponent"),
        (full_ticker(bid="6.7E4"), "bad_number_exponent"),
        (full_ticker(bid="-1"), "bad_number_sign"),
        (full_ticker(bid="0.000000001"), "bad_number_precision"),
        (full_ticker(ask_qty="99999999999999999999"), "bad_number_overflow"),
        (full_ticker(bid="0"), "zero_price"),
        (full_ticker(bid="67012.9"), "crossed"),
        (full_ticker(bid="67013"), "crossed"),
        (full_ticker(ask_qty="0.0"), "zero_size"),
        (trade(price="0"), "zero_price"),
        (trade(qty="0"), "zero_size"),
    ],
)
def test_bad_frames_are_counted_by_reason_and_produce_nothing(frame, reason):
    venue = btc_venue(Channel.ALL)
    assert_dropped(venue, frame, reason)
    # the codec keeps working after the bad frame
    assert len(venue.decode(full_ticker(), 1)) == 1


@given(st.binary(max_size=300))
def test_no_bytes_make_the_decoder_raise_or_emit_an_invalid_quote(payload):
    assert_no_invalid_quote(btc_venue(Channel.ALL), payload)


_JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
    st.sampled_from(["BTC/USD", "1", "0", "-1", "1e5", "67012.4", "NaN"]),
)


@given(
    st.dictionaries(st.sampled_from(["symbol", "bid", "bid_qty", "ask", "ask_qty", "timestamp"]),
                    _JSON_VALUES)
)
def test_any_ticker_shaped_json_is_either_a_valid_quote_or_counted(entry):
    frame = json.dumps({"channel": "ticker", "type": "snapshot", "data": [entry]}).encode()
    quote = valid_quote_or_counted(btc_venue(), frame)
    if quote is not None:
        # the bid is exactly the number text on the wire
        assert Decimal(json.dumps(entry["bid"])) == Decimal(quote.bid) / 10**8
