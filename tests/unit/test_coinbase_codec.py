"""The Coinbase Advanced Trade codec on real recorded frames and on every kind of bad input.

Fixtures are the frames of one recorded connection (cryptofeed's capture of 2026-08-09, BTC-USD
and ETH-USD). ``l2_data_updates.jsonl.gz`` holds the level2 frames except the two book snapshots
(2.5 MB each, sequence_num 13 and 21), gzip-compressed.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.instruments import parse_symbol
from tickwire.model import BUY, SELL, Quote, Ticker, Trade
from tickwire.times import rfc3339_to_ns
from tickwire.venues.base import Channel
from tickwire.venues.coinbase import CoinbaseAdvanced
from tickwire.venues.registry import VENUES

from .venue_cases import (
    assert_counted, assert_no_invalid_quote, connected, recorded_lines, scaled,
    valid_quote_or_counted, with_cryptofeed,
)

RECORDED_SYMBOLS = ["BTC-USD", "ETH-USD"]


def lines(name: str) -> list[bytes]:
    return recorded_lines("coinbase", name)


def l2_update_lines() -> list[bytes]:
    return recorded_lines("coinbase", "l2_data_updates.jsonl.gz")


def recorded_venue(channels=Channel.ALL) -> CoinbaseAdvanced:
    return connected(CoinbaseAdvanced, RECORDED_SYMBOLS, channels)


def btc_venue(channels=frozenset({Channel.BBO})) -> CoinbaseAdvanced:
    return connected(CoinbaseAdvanced, ["BTC-USD"], channels)


def utc_ns(text: str) -> int:
    """An independent reading of a ``YYYY-MM-DDTHH:MM:SS[.fraction]Z`` time."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    seconds = int(datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp())
    return seconds * 10**9 + int(fraction.ljust(9, "0")[:9] or 0)


def ticker_frame(sequence_num=1, event_type="update", timestamp="2026-09-30T14:30:03.000000Z", **fields) -> bytes:
    ticker = {
        "type": "ticker", "product_id": "BTC-USD", "price": "67013.55",
        "best_bid": "67013.10", "best_bid_quantity": "0.40000000",
        "best_ask": "67014.00", "best_ask_quantity": "0.30000000",
    }
    ticker.update(fields)
    ticker = {k: v for k, v in ticker.items() if v is not None}
    envelope = {
        "channel": "ticker", "client_id": "", "timestamp": timestamp, "sequence_num": sequence_num,
        "events": [{"type": event_type, "tickers": [ticker]}],
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def trades_frame(*trades: dict, sequence_num=1, event_type="update") -> bytes:
    envelope = {
        "channel": "market_trades", "client_id": "", "timestamp": "2026-09-30T14:30:02.789012Z",
        "sequence_num": sequence_num, "events": [{"type": event_type, "trades": list(trades)}],
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def trade(**fields) -> dict:
    base = {"trade_id": "995098700", "product_id": "BTC-USD", "price": "67013.55", "size": "0.00150000",
            "side": "BUY", "time": "2026-09-30T14:30:02.789012Z"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


# ---- real frames -----------------------------------------------------------------------------


def test_every_recorded_ticker_decodes_to_a_quote_and_a_ticker_with_the_values_in_its_frame():
    venue = recorded_venue()
    frames = lines("ticker.jsonl")
    for recv_ns, frame in enumerate(frames, start=1):
        quote, ticker = venue.decode(frame, recv_ns)
        envelope = json.loads(frame)
        (data,) = envelope["events"][0]["tickers"]
        assert isinstance(quote, Quote) and isinstance(ticker, Ticker)
        assert quote.venue == ticker.venue == "coinbase"
        assert quote.symbol == ticker.symbol == data["product_id"]
        assert (quote.bid, quote.bid_size) == (scaled(data["best_bid"]), scaled(data["best_bid_quantity"]))
        assert (quote.ask, quote.ask_size) == (scaled(data["best_ask"]), scaled(data["best_ask_quantity"]))
        assert ticker.last == scaled(data["price"])
        assert quote.exchange_ns == ticker.exchange_ns == utc_ns(envelope["timestamp"])
        assert quote.update_id == envelope["sequence_num"]
        assert quote.recv_ns == ticker.recv_ns == recv_ns
    assert len(frames) == 160
    assert venue.stats.errors == {}


def test_recorded_tickers_agree_with_cryptofeeds_normalized_output():
    pairs = with_cryptofeed(recorded_venue(frozenset({Channel.BBO})), "coinbase", "ticker.jsonl", "ticker.jsonl")
    assert len(pairs) == 160
    for quote, theirs in pairs:
        assert quote.symbol == theirs["symbol"]
        assert quote.bid == scaled(theirs["bid"])
        assert quote.ask == scaled(theirs["ask"])
        # cryptofeed keeps the envelope time as a float of seconds, truncated to the microsecond;
        # ours is the exact nanosecond.
        assert quote.exchange_ns // 1000 == int(Decimal(repr(theirs["timestamp"])) * 10**6)


def test_recorded_trade_updates_decode_and_the_snapshots_of_past_trades_are_skipped():
    venue = recorded_venue()
    decoded = []
    for frame in lines("market_trades.jsonl"):
        events = venue.decode(frame, 7)
        (event,) = json.loads(frame)["events"]
        if event["type"] == "snapshot":
            assert events == ()
            continue
        assert len(events) == len(event["trades"])
        for trade_event, data in zip(events, event["trades"]):
            assert isinstance(trade_event, Trade)
            assert trade_event.symbol == data["product_id"]
            assert trade_event.price == scaled(data["price"])
            assert trade_event.size == scaled(data["size"])
            assert trade_event.trade_id == int(data["trade_id"])
            assert trade_event.exchange_ns == utc_ns(data["time"])
            assert trade_event.side == {"BUY": SELL, "SELL": BUY}[data["side"]]  # wire side is the maker's
            assert trade_event.recv_ns == 7
        decoded.extend(events)
    assert len(decoded) == 79
    assert venue.stats.errors == {}
    assert venue.stats.control == 2  # the two snapshot events (BTC-USD and ETH-USD, 100 past trades)


def test_recorded_trades_agree_with_cryptofeed_except_for_the_side():
    pairs = with_cryptofeed(recorded_venue(), "coinbase", "market_trades.jsonl", "trades.jsonl")
    assert len(pairs) == 79  # cryptofeed skips the snapshots too
    for trade_event, theirs in pairs:
        assert trade_event.symbol == theirs["symbol"]
        assert trade_event.price == scaled(theirs["price"])
        assert trade_event.size == scaled(theirs["amount"])
        assert str(trade_event.trade_id) == theirs["id"]
        assert trade_event.exchange_ns // 1000 == int(Decimal(repr(theirs["timestamp"])) * 10**6)
        # Deliberate difference: cryptofeed reports the wire ``side`` as is; it is the maker's side
        # (see the next test), so tickwire's taker side is the opposite.
        assert trade_event.side == (SELL if theirs["side"] == "buy" else BUY)


def test_the_wire_side_of_a_trade_is_the_makers_so_trades_at_the_ask_are_taker_buys():
    """Evidence for the side mapping: replay tickers and trades in order and compare each trade
    with the best bid and ask just before it."""
    venue = recorded_venue()
    frames = sorted(lines("ticker.jsonl") + lines("market_trades.jsonl"), key=lambda f: json.loads(f)["sequence_num"])
    best: dict[str, Quote] = {}
    sides_at_ask, sides_at_bid = [], []
    for frame in frames:
        for event in venue.decode(frame, 0):
            if isinstance(event, Quote):
                best[event.symbol] = event
            elif isinstance(event, Trade) and event.symbol in best:
                if event.price >= best[event.symbol].ask:
                    sides_at_ask.append(event.side)
                elif event.price <= best[event.symbol].bid:
                    sides_at_bid.append(event.side)
    assert sides_at_ask.count(BUY) == len(sides_at_ask) == 49
    assert sides_at_bid.count(SELL) == 26 and len(sides_at_bid) == 27  # one trade against a stale bid


def test_recorded_subscription_acks_and_heartbeats_are_control_frames():
    venue = recorded_venue()
    for frame in lines("control.jsonl"):
        assert venue.decode(frame, 0) == ()
    assert venue.stats.errors == {}
    assert venue.stats.control == 30


def test_recorded_channels_that_were_not_subscribed_are_counted_not_decoded():
    venue = recorded_venue()
    frames = sorted(lines("candles.jsonl") + l2_update_lines(), key=lambda f: json.loads(f)["sequence_num"])
    for frame in frames:
        assert venue.decode(frame, 0) == ()
    assert venue.stats.errors == {"unknown_message": 6 + 773}
    assert "'l2_data' was not subscribed" in venue.stats.last_error


def test_the_whole_recorded_connection_in_order_has_no_sequence_gap_but_the_two_left_out_frames():
    venue = recorded_venue()
    frames = [
        frame
        for name in ("ticker.jsonl", "market_trades.jsonl", "control.jsonl", "candles.jsonl")
        for frame in lines(name)
    ] + l2_update_lines()
    frames.sort(key=lambda f: json.loads(f)["sequence_num"])
    assert len(frames) == 1030 - 2
    events = [e for frame in frames for e in venue.decode(frame, 0)]
    assert venue.stats.sequence_gaps == 2  # sequence_num 13 and 21: the level2 snapshots
    assert (sum(isinstance(e, Quote) for e in events), sum(isinstance(e, Trade) for e in events)) == (160, 79)
    assert venue.stats.errors == {"unknown_message": 6 + 773}


# ---- protocol ----------------------------------------------------------------------------------


def test_subscribe_messages_are_one_per_channel_then_heartbeats():
    venue = CoinbaseAdvanced([parse_symbol("BTC-USD"), parse_symbol("ETH-USD")], Channel.ALL)
    assert [json.loads(m) for m in venue.on_connected()] == [
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "ticker"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "market_trades"},
        {"type": "subscribe", "channel": "heartbeats"},
    ]


@pytest.mark.parametrize(
    ("channels", "subscribed"),
    [
        ({Channel.BBO}, ["ticker", "heartbeats"]),
        ({Channel.TICKER}, ["ticker", "heartbeats"]),
        ({Channel.BBO, Channel.TICKER}, ["ticker", "heartbeats"]),
        ({Channel.TRADES}, ["market_trades", "heartbeats"]),
    ],
)
def test_bbo_and_ticker_share_the_ticker_channel(channels, subscribed):
    venue = CoinbaseAdvanced([parse_symbol("BTC-USD")], frozenset(channels))
    assert [json.loads(m)["channel"] for m in venue.on_connected()] == subscribed


def test_only_the_channels_asked_for_produce_events():
    tickers_only = btc_venue(frozenset({Channel.TICKER}))
    assert tickers_only.decode(ticker_frame(), 3) == (Ticker("coinbase", "BTC-USD", 6701355000000, 3, 1790778603000000000),)
    trades_only = btc_venue(frozenset({Channel.TRADES}))
    assert trades_only.decode(ticker_frame(), 3) == ()
    assert trades_only.stats.errors == {"unknown_message": 1}
    assert "'ticker' was not subscribed" in trades_only.stats.last_error


def test_usdc_products_that_coinbase_serves_from_the_usd_book_are_not_subscribed_and_say_why():
    venue = CoinbaseAdvanced([parse_symbol(s) for s in ("BTC-USDC", "USDT-USDC", "BTC-USD")], Channel.ALL)
    assert json.loads(venue.on_connected()[0])["product_ids"] == ["USDT-USDC", "BTC-USD"]
    assert venue.stats.venue_errors == [
        "coinbase: BTC-USDC not subscribed: Advanced Trade serves BTC-USD data under that name "
        "(only EURC-USDC and USDT-USDC are USDC books)"
    ]
    assert venue.decode(ticker_frame(product_id="BTC-USDC"), 0) == ()
    assert venue.stats.errors == {"unknown_symbol": 1}


def test_with_no_product_left_only_heartbeats_are_subscribed():
    venue = CoinbaseAdvanced([parse_symbol("ETH-USDC")], Channel.ALL)
    assert [json.loads(m) for m in venue.on_connected()] == [{"type": "subscribe", "channel": "heartbeats"}]


def test_keepalive_is_the_heartbeats_subscription_and_the_url_is_used_as_given():
    venue = btc_venue()
    assert venue.keepalive_interval is None and venue.keepalive_message() is None
    assert not venue.wants_reconnect()
    assert venue.connect_url(None) == "wss://advanced-trade-ws.coinbase.com"
    assert venue.connect_url("ws://127.0.0.1:9001") == "ws://127.0.0.1:9001"
    assert venue.connect_url("ws://127.0.0.1:9001/coinbase") == "ws://127.0.0.1:9001/coinbase"
    assert VENUES["coinbase"] is CoinbaseAdvanced
    assert CoinbaseAdvanced.instrument_kinds == frozenset({""})


def test_unknown_channel_names_are_refused():
    with pytest.raises(ValueError, match="level2"):
        CoinbaseAdvanced([parse_symbol("BTC-USD")], frozenset({"level2"}))


def test_a_venue_error_frame_is_surfaced_as_a_message():
    venue = btc_venue()
    assert venue.decode(b'{"type":"error","message":"failure to subscribe"}', 0) == ()
    assert venue.decode(b'{"type":"error","message":"Failed to subscribe","reason":"bad product"}', 0) == ()
    assert venue.stats.venue_errors == [
        "coinbase error: failure to subscribe",
        "coinbase error: Failed to subscribe (bad product)",
    ]
    assert venue.stats.errors == {"venue_error": 2}


def test_one_frame_with_several_tickers_and_trades_returns_them_all_in_order():
    venue = CoinbaseAdvanced([parse_symbol("BTC-USD"), parse_symbol("ETH-USD")], Channel.ALL)
    venue.on_connected()
    frame = trades_frame(trade(trade_id="1"), trade(trade_id="2", product_id="ETH-USD", price="2500.1"), trade(trade_id="3"))
    assert [(t.trade_id, t.symbol) for t in venue.decode(frame, 0)] == [(1, "BTC-USD"), (2, "ETH-USD"), (3, "BTC-USD")]
    envelope = json.loads(ticker_frame(sequence_num=2))
    second = dict(envelope["events"][0]["tickers"][0], product_id="ETH-USD", best_bid="2500", best_ask="2501")
    envelope["events"][0]["tickers"].append(second)
    events = venue.decode(json.dumps(envelope).encode(), 0)
    assert [(type(e).__name__, e.symbol) for e in events] == [
        ("Quote", "BTC-USD"), ("Ticker", "BTC-USD"), ("Quote", "ETH-USD"), ("Ticker", "ETH-USD"),
    ]


def test_frames_in_another_key_order_or_spacing_decode_the_same():
    venue = btc_venue()
    compact = ticker_frame(sequence_num=1)
    spaced = json.dumps(dict(reversed(list(json.loads(ticker_frame(sequence_num=2)).items()))), indent=1).encode()
    first, second = venue.decode(compact, 0), venue.decode(spaced, 0)
    assert len(first) == len(second) == 1
    assert first[0].bid == second[0].bid and second[0].update_id == 2


# ---- top of book merge -------------------------------------------------------------------------


def test_an_update_carrying_one_side_keeps_the_other_side_from_before():
    venue = btc_venue()
    venue.decode(ticker_frame(sequence_num=1, event_type="snapshot"), 0)
    (quote,) = venue.decode(ticker_frame(sequence_num=2, best_ask=None, best_ask_quantity=None, best_bid="67013.50"), 0)
    assert (quote.bid, quote.bid_size) == (scaled("67013.50"), scaled("0.4"))
    assert (quote.ask, quote.ask_size) == (scaled("67014.00"), scaled("0.3"))
    (quote,) = venue.decode(ticker_frame(sequence_num=3, best_bid=None, best_bid_quantity=None, best_ask_quantity="2"), 0)
    assert (quote.bid, quote.ask, quote.ask_size) == (scaled("67013.50"), scaled("67014.00"), scaled("2"))


def test_a_side_never_seen_on_the_connection_is_a_missing_field_not_a_quote():
    venue = btc_venue()
    assert venue.decode(ticker_frame(sequence_num=1, event_type="snapshot", best_ask=None), 0) == ()
    assert venue.stats.errors == {"missing_field": 1}
    assert "no best_ask on this connection yet" in venue.stats.last_error


def test_a_snapshot_replaces_the_top_of_book_and_a_new_connection_forgets_it():
    venue = btc_venue()
    venue.decode(ticker_frame(sequence_num=1), 0)
    assert venue.decode(ticker_frame(sequence_num=2, event_type="snapshot", best_bid=None), 0) == ()
    venue.decode(ticker_frame(sequence_num=3), 0)
    venue.on_connected()
    assert venue.decode(ticker_frame(sequence_num=0, best_bid=None), 0) == ()
    assert venue.stats.errors == {"missing_field": 2}


def test_a_bad_number_leaves_the_merged_top_of_book_untouched():
    venue = btc_venue()
    venue.decode(ticker_frame(sequence_num=1), 0)
    assert venue.decode(ticker_frame(sequence_num=2, best_bid="67013.7", best_ask="NaN"), 0) == ()
    (quote,) = venue.decode(ticker_frame(sequence_num=3, best_bid=None, best_ask=None), 0)
    assert (quote.bid, quote.ask) == (scaled("67013.10"), scaled("67014.00"))


# ---- sequence numbers --------------------------------------------------------------------------


def test_a_jump_in_sequence_num_is_a_gap_and_a_repeat_is_stale():
    venue = btc_venue()
    heartbeat = b'{"channel":"heartbeats","client_id":"","timestamp":"2026-09-30T14:30:03Z","sequence_num":%d,"events":[]}'
    assert len(venue.decode(ticker_frame(sequence_num=4), 0)) == 1  # the first frame sets the start
    venue.decode(heartbeat % 5, 0)
    assert venue.stats.sequence_gaps == 0
    venue.decode(heartbeat % 8, 0)  # 6 and 7 were lost, whatever their channel
    assert venue.stats.sequence_gaps == 1
    assert venue.decode(ticker_frame(sequence_num=8), 0) == ()
    assert venue.stats.errors == {"stale_update": 1}
    venue.decode(l2_update_lines()[0].replace(b'"sequence_num":15', b'"sequence_num":10'), 0)
    assert venue.stats.sequence_gaps == 2  # frames of channels not subscribed still count
    venue.on_connected()  # a new connection starts a new sequence
    assert len(venue.decode(ticker_frame(sequence_num=0), 0)) == 1
    assert venue.stats.sequence_gaps == 2


@given(
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(min_value=1, max_value=9),
    st.integers(min_value=0, max_value=10**9 - 1),
)
def test_every_utc_time_becomes_the_exact_nanosecond(moment, digits, fraction):
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + "." + str(fraction).zfill(9)[:digits] + "Z"
    venue = btc_venue()
    venue.decode(ticker_frame(timestamp="2026-09-30T14:30:03.5Z"), 0)  # memo of another second
    (quote,) = venue.decode(ticker_frame(sequence_num=2, timestamp=text), 0)
    (again,) = venue.decode(ticker_frame(sequence_num=3, timestamp=text), 0)
    assert quote.exchange_ns == again.exchange_ns == rfc3339_to_ns(text) == utc_ns(text)


def test_times_in_other_rfc3339_forms_are_exact_too():
    venue = btc_venue()
    for n, text in enumerate(["2026-09-30T14:30:03Z", "2026-09-30T16:30:03.25+02:00", "2026-09-30T14:30:03.1234567891Z"]):
        (quote,) = venue.decode(ticker_frame(sequence_num=n, timestamp=text), 0)
        assert quote.exchange_ns == rfc3339_to_ns(text)


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (ticker_frame()[:-5], "malformed_json"),
        (b"not json at all", "malformed_json"),
        (b"", "malformed_json"),
        (b"[1,2,3]", "unknown_message"),
        (b'{"hello":"world"}', "unknown_message"),
        (b'{"channel":"level3","sequence_num":1,"events":[]}', "unknown_message"),
        (b'{"channel":"candles","sequence_num":1,"events":[]}', "unknown_message"),
        (ticker_frame(product_id="DOGE-USD"), "unknown_symbol"),
        (b'{"channel":"ticker","timestamp":"2026-09-30T14:30:03Z","events":[]}', "missing_field"),
        (ticker_frame(product_id=None), "missing_field"),
        (ticker_frame(sequence_num="7"), "wrong_type"),
        (ticker_frame(best_bid=67013.1), "wrong_type"),
        (ticker_frame(timestamp="yesterday"), "wrong_type"),
        (ticker_frame(best_bid="1e-5"), "bad_number_exponent"),
        (ticker_frame(best_bid="-1"), "bad_number_sign"),
        (ticker_frame(best_ask="NaN"), "bad_number_not_a_number"),
        (ticker_frame(best_bid=""), "bad_number_empty"),
        (ticker_frame(best_bid_quantity="12 "), "bad_number_junk"),
        (ticker_frame(best_bid="0.000000001"), "bad_number_precision"),
        (ticker_frame(best_bid="0"), "zero_price"),
        (ticker_frame(best_bid="67014.00"), "crossed"),
        (ticker_frame(best_bid="67015"), "crossed"),
        (ticker_frame(best_ask_quantity="0.00000000"), "zero_size"),
        (trades_frame(trade(price="0")), "zero_price"),
        (trades_frame(trade(size="0")), "zero_size"),
        (trades_frame(trade(size="1e-3")), "bad_number_exponent"),
        (trades_frame(trade(side="buy")), "wrong_type"),
        (trades_frame(trade(trade_id="abc")), "wrong_type"),
        (trades_frame(trade(time="2026-09-30 14:30")), "wrong_type"),
        (trades_frame(trade(time=None)), "missing_field"),
        (trades_frame(trade(product_id="DOGE-USD")), "unknown_symbol"),
    ],
)
def test_bad_frames_are_counted_by_reason_and_produce_nothing(frame, reason):
    venue = btc_venue(Channel.ALL)
    assert [e for e in venue.decode(frame, 0) if not isinstance(e, Ticker)] == []
    assert_counted(venue, reason)
    # the codec keeps working after the bad frame
    assert len(venue.decode(ticker_frame(sequence_num=100), 1)) == 2
    assert len(venue.decode(trades_frame(trade(), sequence_num=101), 1)) == 1


def test_one_bad_trade_does_not_drop_the_others_of_its_frame():
    venue = btc_venue(Channel.ALL)
    events = venue.decode(trades_frame(trade(trade_id="1"), trade(trade_id="2", price="-3"), trade(trade_id="3")), 0)
    assert [t.trade_id for t in events] == [1, 3]
    assert venue.stats.errors == {"bad_number_sign": 1}


@given(st.binary(max_size=300))
def test_no_bytes_make_the_decoder_raise_or_emit_an_invalid_quote(payload):
    assert_no_invalid_quote(btc_venue(Channel.ALL), payload)


FIELD_VALUES = st.one_of(
    st.none(), st.integers(), st.text(max_size=12), st.floats(allow_nan=True),
    st.sampled_from(["BTC-USD", "1", "0", "-1", "1e5", "67012.4", "67013", "NaN", "BUY", "SELL", "snapshot",
                     "2026-09-30T14:30:03.5Z"]),
)


@given(
    st.dictionaries(
        st.sampled_from(["product_id", "price", "best_bid", "best_bid_quantity", "best_ask", "best_ask_quantity"]),
        FIELD_VALUES,
    ),
    st.dictionaries(st.sampled_from(["sequence_num", "timestamp", "type"]), FIELD_VALUES),
)
def test_any_ticker_shaped_json_is_either_a_valid_quote_or_counted(ticker, envelope):
    event = {"type": envelope.pop("type", "update"), "tickers": [ticker]}
    frame = json.dumps({"channel": "ticker", **envelope, "events": [event]}).encode()
    quote = valid_quote_or_counted(btc_venue(), frame)
    if quote is not None:
        assert Decimal(ticker["best_bid"]) == Decimal(quote.bid) / 10**8


@given(st.lists(st.dictionaries(st.sampled_from(list(trade())), FIELD_VALUES), max_size=3))
def test_any_trades_shaped_json_gives_valid_trades_or_counts_each_dropped_one(trades):
    venue = btc_venue(Channel.ALL)
    events = venue.decode(trades_frame(*trades), 0)
    for event in events:
        assert isinstance(event, Trade) and event.price > 0 and event.size > 0 and event.side in (BUY, SELL)
    every_field_is_text = all(set(t) == set(trade()) and all(isinstance(v, str) for v in t.values()) for t in trades)
    if every_field_is_text:  # the frame decodes: each trade is an event or one counted error
        assert len(events) + venue.stats.total_errors == len(trades)
    else:  # the frame does not fit the schema: one error, nothing emitted
        assert (events, venue.stats.total_errors) == ((), 1)


def test_a_zero_the_venue_sent_stays_a_zero_price_when_later_updates_leave_it_out():
    venue = btc_venue()
    assert venue.decode(ticker_frame(sequence_num=1, event_type="snapshot", best_bid="0"), 0) == ()
    assert venue.decode(ticker_frame(sequence_num=2, best_bid=None, best_ask="67014.50"), 0) == ()
    assert venue.stats.errors == {"zero_price": 2}  # sent as 0: not a field missing on this connection
