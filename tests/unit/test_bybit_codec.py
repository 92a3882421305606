"""The Bybit v5 spot and linear codecs on real recorded frames and on every kind of bad input.

The recorded books are ``orderbook.200`` (a snapshot, then deltas); ``orderbook.1``, which the
adapters subscribe to, has the same shape. The frames below that are not recorded follow the
documented shapes (PROTOCOLS.md §6).
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.instruments import parse_symbol
from tickwire.model import BUY, SELL, Quote, Ticker, Trade
from tickwire.venues.base import Channel
from tickwire.venues.bybit import BybitLinear, BybitSpot, trade_id, venue_symbol
from tickwire.venues.registry import VENUES, instruments_for

from .venue_cases import (
    MS, assert_dropped, assert_no_invalid_quote, connected, recorded_lines, scaled,
)

LINEAR_SYMBOLS = ["BTC-USDT-PERP", "ETH-USDT-PERP", "SOL-USDT-PERP", "DOGE-USDT-PERP"]
SPOT_SYMBOLS = ["BTC-USDT", "ETH-USDT"]
BBO_FIELDS = ("bid1Price", "bid1Size", "ask1Price", "ask1Size")


def lines(name: str) -> list[bytes]:
    return recorded_lines("bybit", name)


def expected(name: str, symbols: list[str]) -> list[dict]:
    return [x for x in map(json.loads, lines(f"expected_cryptofeed_v3/{name}")) if x["symbol"] in symbols]


def linear_venue(channels=Channel.ALL) -> BybitLinear:
    return connected(BybitLinear, LINEAR_SYMBOLS, channels)


def spot_venue(channels=Channel.ALL) -> BybitSpot:
    return connected(BybitSpot, SPOT_SYMBOLS, channels)


def canonical(venue_name: str, kind: str) -> str:
    """BTCUSDT -> BTC-USDT (spot) or BTC-USDT-PERP (linear); every recorded symbol quotes USDT."""
    return f"{venue_name.removesuffix('USDT')}-USDT" + ("-PERP" if kind == "linear" else "")


def compact(value: object) -> bytes:
    """JSON as Bybit writes it: no spaces, the topic first."""
    return json.dumps(value, separators=(",", ":")).encode()


def book(topic="orderbook.1.BTCUSDT", type_="snapshot", b=(("67012.50", "1.204"),),
         a=(("67012.60", "0.801"),), u=100, seq=5000, cts=1790001234561, s="BTCUSDT") -> bytes:
    data = {"s": s, "b": [list(x) for x in b], "a": [list(x) for x in a], "u": u, "seq": seq}
    frame = {"topic": topic, "ts": 1790001234567, "type": type_, "data": data}
    if cts is not None:
        frame["cts"] = cts
    return compact(frame)


def tickers(type_="delta", cs=5000, ts=1790001234700, symbol="BTCUSDT", **fields) -> bytes:
    data = {"symbol": symbol, **fields}
    return compact({"topic": f"tickers.{symbol}", "type": type_, "data": data, "cs": cs, "ts": ts})


def public_trade(*trades: dict) -> bytes:
    return compact({"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 1790001234600,
                    "data": list(trades)})


def a_trade(**fields) -> dict:
    trade = {"T": 1790001234597, "s": "BTCUSDT", "S": "Buy", "v": "0.001", "p": "67012.60",
             "L": "PlusTick", "i": "20f43950-d8dd-5b31-9112-a178eb6023af", "BT": False, "seq": 7}
    trade.update(fields)
    return trade


FULL_TICKER = tickers("snapshot", cs=1, bid1Price="67031.20", bid1Size="4",
                      ask1Price="67031.30", ask1Size="1")


def btc_linear() -> BybitLinear:
    return connected(BybitLinear, ["BTC-USDT-PERP"])


# --- registry, URLs, requests, keepalive -------------------------------------------------------


def test_both_categories_are_registered_with_their_instrument_kinds():
    assert VENUES["bybit"] is BybitSpot and VENUES["bybit_linear"] is BybitLinear
    instruments = [parse_symbol(s) for s in ("BTC-USDT", "BTC-USDT-PERP", "BTC-USDC-PERP")]
    assert [i.symbol for i in instruments_for("bybit", instruments)] == ["BTC-USDT"]
    linear = instruments_for("bybit_linear", instruments)
    assert [i.symbol for i in linear] == ["BTC-USDT-PERP", "BTC-USDC-PERP"]


def test_venue_symbols_keep_usdt_and_usdc_apart():
    assert venue_symbol(parse_symbol("BTC-USDT")) == "BTCUSDT"
    assert venue_symbol(parse_symbol("BTC-USDC")) == "BTCUSDC"
    assert venue_symbol(parse_symbol("BTC-USDT-PERP")) == "BTCUSDT"
    assert venue_symbol(parse_symbol("BTC-USDC-PERP")) == "BTCPERP"  # PROTOCOLS.md §6.6


def test_connect_url_adds_the_category_path_only_when_the_endpoint_has_none():
    spot, linear = spot_venue(), linear_venue()
    assert spot.connect_url(None) == "wss://stream.bybit.com/v5/public/spot"
    assert linear.connect_url(None) == "wss://stream.bybit.com/v5/public/linear"
    assert spot.connect_url("ws://127.0.0.1:9000") == "ws://127.0.0.1:9000/v5/public/spot"
    assert linear.connect_url("ws://127.0.0.1:9000/") == "ws://127.0.0.1:9000/v5/public/linear"
    assert linear.connect_url("ws://127.0.0.1:9000/custom") == "ws://127.0.0.1:9000/custom"


def test_subscribe_requests_carry_at_most_ten_topics_and_increasing_string_ids():
    venue = BybitSpot([parse_symbol(s) for s in ("BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT")],
                      Channel.ALL)
    first, second = venue.on_connected()
    topics = [f"{kind}.{s}" for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")
              for kind in ("orderbook.1", "tickers", "publicTrade")]
    assert json.loads(first) == {"req_id": "1", "op": "subscribe", "args": topics[:10]}
    assert json.loads(second) == {"req_id": "2", "op": "subscribe", "args": topics[10:]}
    (again, _) = venue.on_connected()
    assert json.loads(again)["req_id"] == "3"


def test_the_bbo_subscription_is_exactly_the_documented_request():
    venue = BybitLinear([parse_symbol("BTC-USDT-PERP")])
    assert venue.on_connected() == [b'{"req_id":"1","op":"subscribe","args":["orderbook.1.BTCUSDT"]}']


def test_acks_are_control_frames_and_mark_their_topics_subscribed():
    venue = BybitLinear([parse_symbol("BTC-USDT-PERP")])
    venue.on_connected()
    ack = b'{"success":true,"ret_msg":"subscribe","conn_id":"c1","req_id":"1","op":"subscribe"}'
    assert venue.decode(ack, 0) == ()
    assert venue.subscribed == {"orderbook.1.BTCUSDT"}
    assert (venue.stats.control, venue.stats.errors) == (1, {})


def test_keepalive_is_an_op_ping_every_20_seconds_and_both_pong_shapes_are_control():
    venue = btc_linear()
    assert (venue.keepalive_interval, venue.keepalive_message()) == (20.0, b'{"op":"ping"}')
    assert json.loads(venue.keepalive_message()) == {"op": "ping"}
    spot_pong = b'{"success":true,"ret_msg":"pong","conn_id":"c1","op":"ping"}'
    linear_pong = b'{"req_id":"","op":"pong","args":["1790001234567"],"conn_id":"c2"}'
    assert venue.decode(spot_pong, 0) == venue.decode(linear_pong, 0) == ()
    assert (venue.stats.control, venue.stats.errors) == (2, {})
    assert BybitSpot.max_connection_age is None


def test_a_refused_subscription_is_a_venue_error_with_a_clear_message():
    venue = BybitSpot([parse_symbol("FOO-USDT")])
    venue.on_connected()
    refusal = (b'{"success":false,"ret_msg":"Invalid symbol :[orderbook.1.FOOUSDT]","conn_id":"c1",'
               b'"req_id":"1","op":"subscribe"}')
    assert venue.decode(refusal, 0) == ()
    assert venue.stats.venue_errors == [
        "bybit subscribe failed: Invalid symbol :[orderbook.1.FOOUSDT] (req_id 1: orderbook.1.FOOUSDT)"
    ]
    assert venue.stats.errors == {"venue_error": 1}
    assert venue.subscribed == set()


def test_unknown_channels_and_oversized_subscriptions_are_refused_at_construction():
    with pytest.raises(ValueError, match="unknown channel"):
        BybitSpot([parse_symbol("BTC-USDT")], frozenset({"depth"}))
    many = [parse_symbol(f"C{i}-USDT") for i in range(400)]
    with pytest.raises(ValueError, match="21000 characters"):
        BybitSpot(many, Channel.ALL)


# --- recorded frames ----------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "make", "symbols"), [("linear", linear_venue, LINEAR_SYMBOLS),
                                                         ("spot", spot_venue, SPOT_SYMBOLS)])
def test_every_recorded_book_frame_gives_the_top_of_the_book_it_builds(kind, make, symbols):
    venue = make()
    theirs = expected("l2_book.jsonl.gz", symbols)
    frames = lines(f"{kind}_orderbook.jsonl.gz")
    assert len(frames) == len(theirs) == {"linear": 1598, "spot": 550}[kind]
    books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}  # the test's own book, in Decimal
    last: dict[str, Quote] = {}
    emitted = 0
    for recv_ns, (frame, cryptofeed) in enumerate(zip(frames, theirs), start=1):
        message = json.loads(frame)
        data = message["data"]
        symbol = canonical(data["s"], kind)
        assert cryptofeed["symbol"] == symbol
        if message["type"] == "snapshot":
            books[symbol] = {"b": {}, "a": {}}
        for side in ("b", "a"):
            for price, size in data[side]:
                if Decimal(size):
                    books[symbol][side][Decimal(price)] = Decimal(size)
                else:
                    books[symbol][side].pop(Decimal(price), None)
        best_bid, best_ask = max(books[symbol]["b"]), min(books[symbol]["a"])
        events = venue.decode(frame, recv_ns)
        for quote in events:
            assert isinstance(quote, Quote)
            assert (quote.venue, quote.symbol) == (venue.name, symbol)
            assert (quote.recv_ns, quote.exchange_ns) == (recv_ns, message["cts"] * MS)
            assert quote.update_id == data["seq"]
            last[symbol] = quote
        emitted += len(events)
        best_bid_size, best_ask_size = books[symbol]["b"][best_bid], books[symbol]["a"][best_ask]
        quote = last[symbol]  # a frame that leaves the top unchanged emits nothing
        assert (quote.bid, quote.bid_size) == (scaled(str(best_bid)), scaled(str(best_bid_size)))
        assert (quote.ask, quote.ask_size) == (scaled(str(best_ask)), scaled(str(best_ask_size)))
        # differential: cryptofeed's book after the same frame has the same top level
        their_bid, their_bid_size = cryptofeed["top_bids"][0]
        their_ask, their_ask_size = cryptofeed["top_asks"][0]
        assert (Decimal(their_bid), Decimal(their_bid_size)) == (best_bid, best_bid_size)
        assert (Decimal(their_ask), Decimal(their_ask_size)) == (best_ask, best_ask_size)
    assert emitted == {"linear": 652, "spot": 259}[kind]
    assert venue.stats.errors == {}
    assert venue.stats.sequence_gaps == 0


def test_recorded_linear_tickers_merge_their_deltas_and_agree_with_cryptofeed():
    venue = linear_venue()
    frames = lines("linear_tickers.jsonl")
    theirs = expected("ticker.jsonl", LINEAR_SYMBOLS)
    assert len(frames) == len(theirs) == 758
    merged: dict[str, dict[str, str]] = {}
    quotes = tickers_out = 0
    for frame, cryptofeed in zip(frames, theirs):
        message = json.loads(frame)
        data = message["data"]
        symbol = canonical(data["symbol"], "linear")
        if message["type"] == "snapshot":
            merged[symbol] = {}
        merged[symbol].update({k: v for k, v in data.items() if k in BBO_FIELDS})
        events = venue.decode(frame, 3)
        touched = any(k in data for k in BBO_FIELDS)
        quote_events = [e for e in events if isinstance(e, Quote)]
        ticker_events = [e for e in events if isinstance(e, Ticker)]
        assert len(quote_events) == touched
        for quote in quote_events:
            state = merged[symbol]
            assert quote.symbol == symbol
            assert (quote.bid, quote.bid_size) == (scaled(state["bid1Price"]), scaled(state["bid1Size"]))
            assert (quote.ask, quote.ask_size) == (scaled(state["ask1Price"]), scaled(state["ask1Size"]))
            assert (quote.exchange_ns, quote.update_id) == (message["ts"] * MS, message["cs"])
            # differential: cryptofeed's ticker is the same merge (bid and ask only, no sizes)
            assert (Decimal(cryptofeed["bid"]), Decimal(cryptofeed["ask"])) == (
                Decimal(state["bid1Price"]), Decimal(state["ask1Price"]))
            assert Decimal(str(cryptofeed["timestamp"])) * 1000 == message["ts"]
        assert len(ticker_events) == ("lastPrice" in data)
        for ticker in ticker_events:
            assert ticker == Ticker("bybit_linear", symbol, scaled(data["lastPrice"]), 3, message["ts"] * MS)
        quotes += len(quote_events)
        tickers_out += len(ticker_events)
    # Deliberate difference: cryptofeed calls back on every tickers frame (758), also on deltas
    # that only move the mark/index price; a Quote is emitted only when the best bid/offer moved.
    assert (quotes, tickers_out) == (638, 43)
    assert venue.stats.errors == {}


def test_recorded_spot_tickers_give_the_last_price_and_no_quote():
    venue = spot_venue()
    frames = lines("spot_tickers.jsonl")
    theirs = expected("ticker.jsonl", SPOT_SYMBOLS)
    assert len(frames) == len(theirs) == 81
    for frame, cryptofeed in zip(frames, theirs):
        message = json.loads(frame)
        (ticker,) = venue.decode(frame, 4)
        assert ticker == Ticker("bybit", canonical(message["data"]["symbol"], "spot"),
                                scaled(message["data"]["lastPrice"]), 4, message["ts"] * MS)
        # Deliberate difference: Bybit spot tickers carry no best bid/offer, and cryptofeed
        # reports that as bid = ask = 0; no Quote is made from them here (orderbook.1 gives BBO).
        assert (cryptofeed["bid"], cryptofeed["ask"]) == ("0", "0")
    assert venue.stats.errors == {}


def test_recorded_public_trades_agree_with_cryptofeed_one_event_per_fill_in_order():
    theirs = expected("trades.jsonl", LINEAR_SYMBOLS + SPOT_SYMBOLS)
    ours: list[tuple[Trade, dict]] = []
    for kind, venue in (("linear", linear_venue()), ("spot", spot_venue())):
        for frame in lines(f"{kind}_publicTrade.jsonl"):
            fills = json.loads(frame)["data"]
            events = venue.decode(frame, 6)
            assert len(events) == len(fills)
            ours.extend(zip(events, fills))
        assert venue.stats.errors == {}
    assert len(ours) == len(theirs) == 347
    theirs_by_id = {x["id"]: x for x in theirs}
    for trade, fill in ours:
        assert isinstance(trade, Trade)
        assert (trade.price, trade.size) == (scaled(fill["p"]), scaled(fill["v"]))
        assert trade.side == (BUY if fill["S"] == "Buy" else SELL)
        assert (trade.recv_ns, trade.exchange_ns) == (6, fill["T"] * MS)
        text_id = fill["i"] if fill["i"].isdigit() else str(uuid.UUID(int=trade.trade_id))
        assert text_id == fill["i"]
        cryptofeed = theirs_by_id[fill["i"]]
        assert trade.symbol == cryptofeed["symbol"]
        assert Decimal(cryptofeed["price"]) == Decimal(fill["p"])
        assert Decimal(cryptofeed["amount"]) == Decimal(fill["v"])
        assert trade.side == (BUY if cryptofeed["side"] == "buy" else SELL)
        assert Decimal(str(cryptofeed["timestamp"])) * 1000 == fill["T"]


def test_recorded_control_frames_are_recognised():
    for kind, venue, count in (("linear", linear_venue(), 17), ("spot", spot_venue(), 7)):
        for frame in lines(f"{kind}_control.jsonl"):
            assert venue.decode(frame, 0) == ()
        assert (venue.stats.control, venue.stats.errors) == (count, {})


def test_topics_that_were_not_asked_for_are_counted_not_decoded():
    venue = linear_venue()
    for frame in lines("linear_kline.jsonl") + lines("spot_kline.jsonl"):
        assert venue.decode(frame, 0) == ()
    assert venue.stats.errors == {"unknown_message": 96}


# --- merging, sequences ------------------------------------------------------------------------


def test_a_book_delta_touching_one_side_keeps_the_other():
    venue = btc_linear()
    (first,) = venue.decode(book(topic="orderbook.50.BTCUSDT", u=1, seq=10,
                                 b=[("67012.50", "1.2"), ("67012.00", "3")], a=[("67012.60", "0.8")]), 0)
    assert (first.bid, first.ask) == (scaled("67012.50"), scaled("67012.60"))
    (second,) = venue.decode(book(topic="orderbook.50.BTCUSDT", type_="delta", u=2, seq=11,
                                  b=[], a=[("67012.55", "0.1")]), 0)
    assert (second.bid, second.bid_size) == (first.bid, first.bid_size)
    assert (second.ask, second.ask_size) == (scaled("67012.55"), scaled("0.1"))
    (third,) = venue.decode(book(topic="orderbook.50.BTCUSDT", type_="delta", u=3, seq=12,
                                 b=[("67012.50", "0")], a=[]), 0)
    assert (third.bid, third.bid_size) == (scaled("67012.00"), scaled("3"))  # the next level up
    assert (third.ask, third.ask_size) == (second.ask, second.ask_size)
    assert venue.decode(book(topic="orderbook.50.BTCUSDT", type_="delta", u=4, seq=13,
                             b=[("67000", "9")], a=[]), 0) == ()  # below the top: no new quote
    assert venue.stats.errors == {}


def test_a_book_side_emptied_then_refilled_by_deltas_quotes_again():
    venue = btc_linear()
    topic = "orderbook.50.BTCUSDT"
    assert len(venue.decode(book(topic=topic, u=1, seq=1), 0)) == 1
    assert venue.decode(book(topic=topic, type_="delta", u=2, seq=2, b=[], a=[("67012.60", "0")]), 0) == ()
    assert venue.stats.errors == {"zero_price": 1}  # one-sided: no ask at all
    (quote,) = venue.decode(book(topic=topic, type_="delta", u=3, seq=3, b=[], a=[("67013.10", "2")]), 0)
    assert (quote.ask, quote.ask_size, quote.bid) == (scaled("67013.10"), scaled("2"), scaled("67012.50"))


def test_a_tickers_delta_carrying_only_one_side_keeps_the_other():
    venue = btc_linear()
    venue.decode(tickers("snapshot", cs=1, bid1Price="67031.20", bid1Size="4.112",
                         ask1Price="67031.30", ask1Size="0.921", lastPrice="67031.30"), 0)
    (quote,) = venue.decode(tickers(cs=2, ask1Price="67031.40", ask1Size="2"), 0)
    assert (quote.bid, quote.bid_size) == (scaled("67031.20"), scaled("4.112"))
    assert (quote.ask, quote.ask_size) == (scaled("67031.40"), scaled("2"))
    (quote,) = venue.decode(tickers(cs=3, bid1Size="5"), 0)
    assert (quote.bid, quote.bid_size, quote.ask) == (scaled("67031.20"), scaled("5"), scaled("67031.40"))
    assert venue.decode(tickers(cs=4, markPrice="67030.91"), 0) == ()  # nothing of ours changed
    assert venue.stats.errors == {}


def test_a_tickers_delta_before_any_snapshot_cannot_make_a_quote():
    venue = btc_linear()
    assert venue.decode(tickers(cs=2, ask1Price="67031.40", ask1Size="2"), 0) == ()
    assert venue.stats.errors == {"zero_price": 1}


def test_a_quote_older_than_the_last_one_from_the_other_topic_is_not_emitted():
    venue = btc_linear()
    assert len(venue.decode(book(seq=500), 0)) == 1
    older = tickers("snapshot", cs=499, bid1Price="67000", bid1Size="1", ask1Price="67001", ask1Size="1")
    assert venue.decode(older, 0) == ()
    newer = tickers(cs=501, bid1Price="67000.5")
    (quote,) = venue.decode(newer, 0)
    assert (quote.bid, quote.ask, quote.update_id) == (scaled("67000.5"), scaled("67001"), 501)
    assert venue.stats.errors == {}


def test_orderbook_quotes_take_the_matching_engine_time_and_fall_back_to_the_push_time():
    venue = btc_linear()
    (quote,) = venue.decode(book(u=1, cts=1790001234561), 0)
    assert quote.exchange_ns == 1790001234561 * MS
    (quote,) = venue.decode(book(u=2, cts=None), 0)
    assert quote.exchange_ns == 1790001234567 * MS


def test_u_gaps_are_counted_and_u_1_starts_a_new_sequence():
    venue = btc_linear()
    for u in (5, 6, 6, 8):  # 6 twice: the 3 s re-push of an unchanged level 1
        assert len(venue.decode(book(u=u), 0)) == 1
    assert venue.stats.sequence_gaps == 1
    assert len(venue.decode(book(u=1), 0)) == 1  # the service restarted: not a gap
    assert len(venue.decode(book(u=2), 0)) == 1
    assert venue.stats.sequence_gaps == 1
    assert not venue.wants_reconnect()  # snapshots need no resync


def test_a_snapshot_older_than_the_last_is_dropped_as_stale():
    venue = btc_linear()
    venue.decode(book(u=10), 0)
    assert venue.decode(book(u=9), 0) == ()
    assert venue.stats.errors == {"stale_update": 1}


def test_a_gap_in_a_delta_stream_drops_the_book_until_a_new_connection_resyncs_it():
    venue = btc_linear()
    topic = "orderbook.50.BTCUSDT"
    venue.decode(book(topic=topic, u=7), 0)
    assert venue.decode(book(topic=topic, type_="delta", u=9, b=[("67012.40", "1")], a=[]), 0) == ()
    assert venue.stats.sequence_gaps == 1
    assert venue.wants_reconnect()
    assert venue.decode(book(topic=topic, type_="delta", u=10, b=[("67012.41", "1")], a=[]), 0) == ()
    assert venue.stats.errors == {"stale_update": 2}
    venue.on_connected()
    assert not venue.wants_reconnect()
    assert venue.decode(book(topic=topic, type_="delta", u=11, a=[]), 0) == ()  # no snapshot yet
    assert len(venue.decode(book(topic=topic, u=1), 0)) == 1


def test_trade_ids_are_integers_that_give_the_venue_text_back():
    text = "20f43950-d8dd-5b31-9112-a178eb6023af"
    assert str(uuid.UUID(int=trade_id(text))) == text
    assert trade_id("2290000001189048101") == 2290000001189048101
    for junk in ("", "abc", "-1", "²", "1_000", "20f43950-d8dd-5b31-9112-a178eb6023ag",
                 "20f43950_d8dd_5b31_9112_a178eb6023af"):
        assert trade_id(junk) == -1


def test_frames_in_another_key_order_or_spacing_decode_the_same():
    spaced = json.dumps({"type": "snapshot", "ts": 1790001234567, "cts": 1790001234561,
                         "data": {"seq": 5000, "u": 100, "a": [["67012.60", "0.801"]],
                                  "b": [["67012.50", "1.204"]], "s": "BTCUSDT"},
                         "topic": "orderbook.1.BTCUSDT"}).encode()
    assert btc_linear().decode(spaced, 7) == btc_linear().decode(book(), 7)
    assert len(btc_linear().decode(spaced, 7)) == 1


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b'{"topic":"orderbook.1.BTCUSDT","type":"snapshot","data":{"s":"BTCUSDT"', "malformed_json"),
        (b"not json at all", "malformed_json"),
        (b"", "malformed_json"),
        (b"[1,2,3]", "unknown_message"),
        (b'{"hello":"world"}', "unknown_message"),
        (b'{"op":"auth","success":true}', "unknown_message"),
        (b'{"topic":"kline.1.BTCUSDT","type":"snapshot","ts":1,"data":[]}', "unknown_message"),
        (b'{"type":"snapshot","topic":"liquidation.BTCUSDT","data":{}}', "unknown_message"),
        (book(type_="partial"), "unknown_message"),
        (book(s="DOGEUSDT", topic="orderbook.1.DOGEUSDT"), "unknown_symbol"),
        (tickers(bid1Price="1", symbol="XRPUSDT"), "unknown_symbol"),
        (public_trade(a_trade(s="XRPUSDT")), "unknown_symbol"),
        (b'{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1,'
         b'"data":{"s":"BTCUSDT","b":[],"a":[],"u":1}}', "missing_field"),
        (public_trade({"T": 1, "s": "BTCUSDT", "S": "Buy", "v": "1", "p": "1"}), "missing_field"),
        (b'{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1,'
         b'"data":{"s":"BTCUSDT","b":[[67012.5,"1"]],"a":[],"u":1,"seq":1}}', "wrong_type"),
        (b'{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1,'
         b'"data":{"s":"BTCUSDT","b":[["67012.5"]],"a":[],"u":1,"seq":1}}', "wrong_type"),
        (tickers(bid1Price=67031.2), "wrong_type"),
        (public_trade(a_trade(S="buy")), "wrong_type"),
        (public_trade(a_trade(i="not-an-id")), "wrong_type"),
        (book(b=[("1e-5", "1")]), "bad_number_exponent"),
        (book(b=[("-1", "1")]), "bad_number_sign"),
        (book(a=[("NaN", "1")]), "bad_number_not_a_number"),
        (book(b=[("", "1")]), "bad_number_empty"),
        (book(b=[("67012.5", "1 ")]), "bad_number_junk"),
        (book(b=[("0.000000001", "1")]), "bad_number_precision"),
        (tickers(ask1Price="1e5"), "bad_number_exponent"),
        (public_trade(a_trade(p="-67012.6")), "bad_number_sign"),
        (book(b=[("0", "1")]), "zero_price"),
        (book(a=[]), "zero_price"),
        (book(b=[("67012.60", "1")]), "crossed"),
        (book(b=[("67013", "1")]), "crossed"),
        (book(a=[("67012.60", "0")]), "zero_size"),
        (public_trade(a_trade(p="0")), "zero_price"),
        (public_trade(a_trade(v="0.000")), "zero_size"),
        (tickers("snapshot", lastPrice="0"), "zero_price"),
    ],
)
def test_bad_frames_are_counted_by_reason_and_produce_nothing(frame, reason):
    venue = btc_linear()
    assert_dropped(venue, frame, reason)
    # the codec keeps working after the bad frame
    assert len(venue.decode(book(u=1, seq=10**12), 1)) == 1


def test_a_bad_fill_drops_its_whole_frame():
    venue = btc_linear()
    assert venue.decode(public_trade(a_trade(), a_trade(p="NaN")), 0) == ()
    assert venue.stats.errors == {"bad_number_not_a_number": 1}


def test_a_bad_tickers_field_leaves_the_merged_state_as_it_was():
    venue = btc_linear()
    venue.decode(FULL_TICKER, 0)
    assert venue.decode(tickers(cs=2, bid1Price="67031.25", ask1Price="oops"), 0) == ()
    (quote,) = venue.decode(tickers(cs=3, ask1Size="2"), 0)
    assert (quote.bid, quote.ask, quote.ask_size) == (scaled("67031.20"), scaled("67031.30"), scaled("2"))


@given(st.binary(max_size=300))
def test_no_bytes_make_the_decoder_raise_or_emit_an_invalid_quote(payload):
    assert_no_invalid_quote(btc_linear(), payload)


_TEXTS = st.one_of(st.none(), st.integers(), st.text(max_size=12), st.floats(allow_nan=True),
                   st.sampled_from(["BTCUSDT", "1", "0", "-1", "1e5", "67012.4", "67012.5", "NaN", ""]))


@given(
    st.sampled_from(["snapshot", "delta", "other"]),
    st.lists(st.lists(_TEXTS, max_size=3), max_size=3),
    st.lists(st.lists(_TEXTS, max_size=3), max_size=3),
    st.one_of(st.integers(min_value=-2, max_value=3), _TEXTS),
)
def test_any_book_shaped_json_is_either_a_valid_quote_or_counted(type_, bids, asks, u):
    venue = btc_linear()
    venue.decode(book(type_="snapshot", topic="orderbook.50.BTCUSDT", u=1, seq=1), 0)
    errors_before = venue.stats.total_errors
    frame = compact({"topic": "orderbook.50.BTCUSDT", "type": type_, "ts": 1,
                     "data": {"s": "BTCUSDT", "b": bids, "a": asks, "u": u, "seq": 2}})
    events = venue.decode(frame, 0)
    for quote in events:
        assert isinstance(quote, Quote)
        assert 0 < quote.bid < quote.ask and quote.bid_size > 0 and quote.ask_size > 0
    if type_ != "delta":  # a valid delta may leave the top unchanged and emit nothing
        assert bool(events) != (venue.stats.total_errors == errors_before + 1)
    assert len(venue.decode(book(topic="orderbook.50.BTCUSDT", u=1, seq=3), 0)) == 1


@given(
    st.sampled_from(["snapshot", "delta"]),
    st.dictionaries(st.sampled_from(["bid1Price", "bid1Size", "ask1Price", "ask1Size", "lastPrice"]), _TEXTS),
)
def test_any_tickers_shaped_json_never_raises_or_emits_an_invalid_quote(type_, fields):
    venue = btc_linear()
    venue.decode(FULL_TICKER, 0)
    for event in venue.decode(tickers(type_, cs=2, **fields), 0):
        if isinstance(event, Quote):
            assert 0 < event.bid < event.ask and event.bid_size > 0 and event.ask_size > 0
        else:
            assert isinstance(event, Ticker) and event.last > 0
