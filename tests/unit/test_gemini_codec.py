"""The Gemini v2 market data codec on real recorded frames and on every kind of bad input."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.fixedpoint import format_scaled
from tickwire.instruments import parse_symbol
from tickwire.model import BUY, SELL, Quote, Trade
from tickwire.venues.base import Channel
from tickwire.venues.gemini import GeminiMarketData, venue_symbol
from tickwire.venues.registry import VENUES, instruments_for

from .venue_cases import MS, assert_dropped, assert_no_invalid_quote, connected, recorded_lines, scaled

# The recording's ten symbols; cryptofeed asked for BTC-USDC, ETH-USDC and SOL-USDC, and its
# symbol table sent Gemini's USDC perpetuals (BTCUSDCPERP…) for them: they are the -PERP ones here.
RECORDED_SYMBOLS = ["SOL-USDC-PERP", "BTC-USDC-PERP", "BTC-USDT", "SOL-USD", "ETH-USDT", "BTC-GBP",
                    "ETH-USDC-PERP", "ETH-USD", "BTC-EUR", "BTC-USD"]
CANONICAL = {venue_symbol(parse_symbol(s)): s for s in RECORDED_SYMBOLS}


def lines(name: str) -> list[bytes]:
    return recorded_lines("gemini", name)


def recorded_venue(channels=Channel.ALL) -> GeminiMarketData:
    return connected(GeminiMarketData, RECORDED_SYMBOLS, channels)


def btc_venue(channels=Channel.ALL) -> GeminiMarketData:
    return connected(GeminiMarketData, ["BTC-USD", "BTC-USDC-PERP"], channels)


def l2(changes, symbol="BTCUSD", snapshot=False) -> bytes:
    message: dict = {"changes": changes, "symbol": symbol, "type": "l2_updates"}
    if snapshot:
        message.update(trades=[], auction_events=[])
    return json.dumps(message, separators=(",", ":")).encode()


BOOK = [["buy", "67012.5", "0.5"], ["buy", "67011", "2"], ["sell", "67013", "1.25"], ["sell", "67014.5", "3"]]


def trade(price="67013.00", quantity="0.0911", side="buy", tid=2840140800042677, timestamp=1790001234567,
          symbol="BTCUSD") -> bytes:
    return json.dumps({"event_id": 3575573053, "price": price, "quantity": quantity, "side": side,
                       "symbol": symbol, "tid": tid, "timestamp": timestamp, "type": "trade"},
                      separators=(",", ":")).encode()


def booked(venue: GeminiMarketData) -> GeminiMarketData:
    """``venue`` after BTCUSD's book snapshot (``BOOK``)."""
    assert len(venue.decode(l2(BOOK, snapshot=True), 0)) == 1
    return venue


def test_the_venue_is_registered_and_carries_spot_and_perpetuals():
    assert VENUES["gemini"] is GeminiMarketData
    instruments = [parse_symbol(s) for s in ("BTC-USD", "BTC-USDC-PERP", "BTC-USD-20261225")]
    assert [i.symbol for i in instruments_for("gemini", instruments)] == ["BTC-USD", "BTC-USDC-PERP"]


def test_symbols_are_base_and_quote_run_together_with_perp_for_perpetuals():
    assert venue_symbol(parse_symbol("BTC-USD")) == "BTCUSD"
    assert venue_symbol(parse_symbol("ETH-USDT")) == "ETHUSDT"
    assert venue_symbol(parse_symbol("SOL-USDC-PERP")) == "SOLUSDCPERP"
    assert venue_symbol(parse_symbol("AVAX-GUSD-PERP")) == "AVAXGUSDPERP"
    with pytest.raises(ValueError, match="BTC-USD-20261225"):
        GeminiMarketData([parse_symbol("BTC-USD-20261225")])


def test_one_request_subscribes_every_symbol_to_the_l2_feed():
    venue = GeminiMarketData([parse_symbol("BTC-USD"), parse_symbol("ETH-USDC-PERP")], Channel.ALL)
    assert [json.loads(m) for m in venue.on_connected()] == [
        {"type": "subscribe", "subscriptions": [{"name": "l2", "symbols": ["BTCUSD", "ETHUSDCPERP"]}]}
    ]
    assert venue.keepalive_interval is None and venue.keepalive_message() is None


def test_connect_url_adds_the_v2_path_only_when_the_endpoint_has_none():
    venue = btc_venue()
    assert venue.connect_url(None) == "wss://api.gemini.com/v2/marketdata"
    assert venue.connect_url("ws://127.0.0.1:9002") == "ws://127.0.0.1:9002/v2/marketdata"
    assert venue.connect_url("ws://127.0.0.1:9002/gemini") == "ws://127.0.0.1:9002/gemini"


def test_every_recorded_book_message_leaves_the_quote_at_the_top_of_the_levels_sent():
    venue = recorded_venue()
    books: dict[str, tuple[dict, dict]] = {}
    quotes: dict[str, Quote] = {}
    for recv_ns, frame in enumerate(lines("l2_updates.jsonl.gz"), start=1):
        message = json.loads(frame)
        symbol = CANONICAL[message["symbol"]]
        if "trades" in message:
            books[symbol] = ({}, {})
        bids, asks = books[symbol]
        for side, price, quantity in message["changes"]:
            levels = bids if side == "buy" else asks
            if Decimal(quantity):
                levels[Decimal(price)] = Decimal(quantity)
            else:
                levels.pop(Decimal(price), None)
        top = (max(bids), bids[max(bids)], min(asks), asks[min(asks)])
        before = quotes.get(symbol)
        events = venue.decode(frame, recv_ns)
        if events:
            (quote,) = events
            assert (quote.venue, quote.symbol, quote.recv_ns, quote.exchange_ns) == ("gemini", symbol, recv_ns, 0)
            quotes[symbol] = quote
        else:
            assert before is not None  # a change below the top: the quote stands
        quote = quotes[symbol]
        assert (quote.bid, quote.bid_size, quote.ask, quote.ask_size) == tuple(scaled(str(x)) for x in top)
    assert venue.stats.errors == {}
    assert len(quotes) == 10


def test_recorded_books_agree_with_cryptofeeds_top_levels():
    venue = recorded_venue()
    expected = [json.loads(x) for x in lines("expected_cryptofeed_v3/l2_book.jsonl.gz")]
    frames = lines("l2_updates.jsonl.gz")
    assert len(frames) == len(expected) == 559
    quotes: dict[str, Quote] = {}
    for frame, theirs in zip(frames, expected):
        for quote in venue.decode(frame, 0):
            quotes[quote.symbol] = quote
        symbol = CANONICAL[json.loads(frame)["symbol"]]
        # Deliberate difference: cryptofeed names Gemini's USDC perpetuals (which it sent for its
        # BTC-USDC… subscriptions) without the -PERP that tells them from spot.
        assert symbol.removesuffix("-PERP") == theirs["symbol"]
        assert theirs["is_snapshot"] == ("trades" in json.loads(frame))
        quote = quotes[symbol]
        (bid, bid_size), (ask, ask_size) = theirs["top_bids"][0], theirs["top_asks"][0]
        assert (quote.bid, quote.bid_size) == (scaled(bid), scaled(bid_size))
        assert (quote.ask, quote.ask_size) == (scaled(ask), scaled(ask_size))


def test_recorded_trades_agree_with_the_frame_and_with_cryptofeed():
    venue = recorded_venue()
    expected = [json.loads(x) for x in lines("expected_cryptofeed_v3/trades.jsonl")]
    trades = [event for frame in lines("trade.jsonl") for event in venue.decode(frame, 3)]
    assert len(trades) == len(expected) == 2
    for trade_event, frame, theirs in zip(trades, lines("trade.jsonl"), expected):
        data = json.loads(frame)
        assert trade_event == Trade("gemini", "BTC-USD", scaled(data["price"]), scaled(data["quantity"]), BUY,
                                    data["tid"], 3, data["timestamp"] * MS)
        assert trade_event.symbol == theirs["symbol"] and theirs["side"] == "buy"
        assert Decimal(format_scaled(trade_event.price, 8)) == Decimal(theirs["price"])
        assert Decimal(format_scaled(trade_event.size, 8)) == Decimal(theirs["amount"])
        assert trade_event.exchange_ns == int(Decimal(str(theirs["timestamp"])) * 10**9)
        # Deliberate difference: cryptofeed's id is the event_id; the trade's own id is tid.
        assert theirs["id"] == str(data["event_id"])


def test_recorded_heartbeats_are_control_frames():
    venue = recorded_venue()
    for frame in lines("control.jsonl"):
        assert venue.decode(frame, 0) == ()
    assert venue.stats.control == 2 and venue.stats.errors == {}


def test_the_first_messages_recent_trades_are_history_and_not_emitted():
    venue = recorded_venue(frozenset({Channel.TRADES}))
    first = lines("l2_updates.jsonl.gz")[0]
    assert json.loads(first)["trades"]
    assert venue.decode(first, 0) == ()
    assert venue.stats.errors == {}


def test_a_change_below_the_top_gives_nothing_and_a_change_at_the_top_gives_a_quote():
    venue = booked(btc_venue())
    assert venue.decode(l2([["buy", "67011", "5"]]), 0) == ()
    (quote,) = venue.decode(l2([["buy", "67012.5", "0"], ["sell", "67013", "0.75"]]), 7)
    assert quote == Quote("gemini", "BTC-USD", scaled("67011"), scaled("5"), scaled("67013"), scaled("0.75"), 7)


def test_an_update_before_the_book_is_stale_and_a_new_connection_needs_a_new_book():
    venue = btc_venue()
    assert_dropped(venue, l2(BOOK), "stale_update")
    venue = booked(btc_venue())
    venue.on_connected()
    assert venue.decode(l2([["buy", "67012.6", "1"]]), 0) == ()
    assert venue.stats.errors == {"stale_update": 1}


def test_only_trades_asked_for_leaves_the_books_alone():
    venue = btc_venue(frozenset({Channel.TRADES}))
    assert venue.decode(l2(BOOK, snapshot=True), 0) == ()
    assert len(venue.decode(trade(), 0)) == 1
    assert venue.stats.errors == {}


def test_a_taker_sell_is_a_sell():
    (sold,) = btc_venue().decode(trade(side="sell", symbol="BTCUSDCPERP"), 0)
    assert (sold.symbol, sold.side) == ("BTC-USDC-PERP", SELL)


def test_a_book_side_emptied_gives_no_quote_and_is_no_error():
    venue = booked(btc_venue())
    assert venue.decode(l2([["sell", "67013", "0"], ["sell", "67014.5", "0"]]), 0) == ()
    assert venue.stats.errors == {}
    (quote,) = venue.decode(l2([["sell", "67020", "1"]]), 0)
    assert quote.ask == scaled("67020")


def test_a_crossed_book_is_counted_and_gives_no_quote():
    venue = booked(btc_venue())
    assert_dropped(venue, l2([["buy", "67013.5", "1"]]), "crossed")


def test_a_refused_number_in_a_book_drops_the_book_and_asks_for_a_new_connection():
    venue = booked(btc_venue())
    assert_dropped(venue, l2([["buy", "67012.7", "1"], ["sell", "1e5", "1"]]), "bad_number_exponent")
    assert venue.wants_reconnect()
    assert venue.decode(l2([["buy", "67012.8", "1"]]), 0) == ()  # no book until a new snapshot
    assert venue.stats.errors["stale_update"] == 1
    venue.on_connected()
    assert not venue.wants_reconnect()


def test_a_venue_error_is_surfaced_as_a_message():
    venue = btc_venue()
    frame = b'{"result":"error","reason":"InvalidSymbol","message":"Supplied value \'FOOUSD\' is not a valid symbol"}'
    assert venue.decode(frame, 0) == ()
    assert venue.stats.venue_errors == ["gemini error InvalidSymbol: Supplied value 'FOOUSD' is not a valid symbol"]
    assert venue.stats.errors == {"venue_error": 1}


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b'{"changes":[["buy","1","1"]', "malformed_json"),
        (b"", "malformed_json"),
        (b"[1,2]", "unknown_message"),
        (b'{"type":"candles_1m_updates","symbol":"BTCUSD","changes":[]}', "unknown_message"),
        (b'{"hello":"world"}', "unknown_message"),
        (l2([["buy", "1", "1"]], symbol="ETHUSD", snapshot=True), "unknown_symbol"),
        (l2([["hold", "67012", "1"]]), "wrong_type"),
        (l2([["buy", 67012, "1"]]), "wrong_type"),
        (b'{"symbol":"BTCUSD","type":"l2_updates"}', "missing_field"),
        (l2([["buy", "-67012", "1"]]), "bad_number_sign"),
        (l2([["sell", "NaN", "1"]]), "bad_number_not_a_number"),
        (l2([["buy", "67012.000000001", "1"]]), "bad_number_precision"),
        (trade(price="0"), "zero_price"),
        (trade(quantity="0"), "zero_size"),
        (trade(side="up"), "wrong_type"),
        (trade(timestamp=-1), "wrong_type"),
        (trade(symbol="ETHUSD"), "unknown_symbol"),
        (b'{"type":"trade","symbol":"BTCUSD"}', "missing_field"),
    ],
)
def test_bad_frames_are_counted_by_reason_and_produce_nothing(frame, reason):
    venue = booked(btc_venue())
    assert_dropped(venue, frame, reason)
    # the codec keeps working after the bad frame
    assert len(venue.decode(trade(), 1)) == 1


@given(st.binary(max_size=300))
def test_no_bytes_make_the_decoder_raise_or_emit_an_invalid_quote(payload):
    assert_no_invalid_quote(booked(btc_venue()), payload)


_TEXTS = st.sampled_from(["67012.5", "67013", "0", "1", "0.5", "1e3", "-1", "", "abc", "67012.55555"])


@given(st.lists(st.tuples(st.sampled_from(["buy", "sell"]), _TEXTS, _TEXTS), max_size=8), st.booleans())
def test_any_book_message_gives_valid_quotes_or_is_counted(changes, snapshot):
    venue = booked(btc_venue())
    for quote in venue.decode(l2(changes, snapshot=snapshot), 0):
        assert 0 < quote.bid < quote.ask and quote.bid_size > 0 and quote.ask_size > 0
