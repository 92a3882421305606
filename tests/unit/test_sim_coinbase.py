"""The simulator's Coinbase Advanced Trade protocol logic, without sockets.

Shapes are checked against the real frames of ``tests/fixtures/coinbase`` (recorded 2026-08-09),
and every rendered frame is read back with tickwire's own Coinbase adapter.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from msgspec.structs import replace
from hypothesis import strategies as st

from tickwire.instruments import parse_symbol
from tickwire.model import BUY, SELL, Quote, Trade
from tickwire.sim.coinbase import (
    CHANNEL_IDLE_SECONDS,
    CoinbaseSession,
    CoinbaseSimVenue,
    parse_recorded_line,
    rfc3339_nano,
)
from tickwire.sim.market import MarketQuote, MarketTrade, SyntheticMarket, VenueView, symbol_spec
from tickwire.sim.venue import RequestPathError
from tickwire.times import rfc3339_to_ns
from tickwire.venues.base import Channel
from tickwire.venues.coinbase import CoinbaseAdvanced

from .sim_helpers import fixture_lines, market_events

PRODUCTS = ["BTC-USD", "ETH-USD"]
NOW_NS = 1_790_001_234_567_890_123
FAILURE_TO_SUBSCRIBE = {"type": "error", "message": "failure to subscribe"}
SUBSCRIBE_REQUIRED = {"type": "error", "message": "subscribe or unsubscribe required"}


def market_venue(seed: int = 0) -> tuple[SyntheticMarket, VenueView, CoinbaseSimVenue]:
    market = SyntheticMarket([symbol_spec(symbol) for symbol in PRODUCTS], seed=seed)
    view = VenueView(market, "coinbase")
    return market, view, CoinbaseSimVenue(view)


def request(session: CoinbaseSession, channel: str, products=None, kind="subscribe") -> list[dict]:
    message = {"type": kind, "channel": channel}
    if products is not None:
        message["product_ids"] = products
    reply = session.on_text(json.dumps(message).encode(), NOW_NS)
    return [json.loads(frame) for frame in reply.frames]


def adapter(channels=frozenset({Channel.BBO, Channel.TRADES})) -> CoinbaseAdvanced:
    client = CoinbaseAdvanced([parse_symbol(product) for product in PRODUCTS], channels)
    client.on_connected()
    return client


# -- connection and subscriptions -----------------------------------------------------------------


def test_the_feed_is_served_at_the_root_path_only():
    venue = CoinbaseSimVenue(None)
    assert isinstance(venue.accept("/"), CoinbaseSession)
    for path in ("/ws", "/?x=1", "/coinbase"):
        with pytest.raises(RequestPathError) as refused:
            venue.accept(path)
        assert refused.value.status == 404


def test_tickwire_subscribe_messages_are_all_accepted_and_acknowledged():
    _, _, venue = market_venue()
    session = venue.accept("/")
    replies = [session.on_text(message, NOW_NS) for message in adapter(Channel.ALL).on_connected()]
    assert all(reply.subscribed for reply in replies)
    last_ack = json.loads(replies[-1].frames[-1])
    assert last_ack["channel"] == "subscriptions"
    assert last_ack["events"] == [
        {"subscriptions": {"heartbeats": ["heartbeats"], "market_trades": PRODUCTS, "ticker": PRODUCTS}}
    ]
    assert list(session.topics) == [
        "ticker:BTC-USD", "ticker:ETH-USD", "market_trades:BTC-USD", "market_trades:ETH-USD"
    ]


def test_a_subscription_gets_a_snapshot_per_product_then_its_acknowledgement_numbered_from_zero():
    _, view, venue = market_venue()
    session = venue.accept("/")
    frames = request(session, "ticker", PRODUCTS)
    assert [frame["channel"] for frame in frames] == ["ticker", "ticker", "subscriptions"]
    assert [frame["sequence_num"] for frame in frames] == [0, 1, 2]
    for frame, product in zip(frames, PRODUCTS):
        [event] = frame["events"]
        assert event["type"] == "snapshot"
        [ticker] = event["tickers"]
        quote = view.quote(product)
        assert ticker["product_id"] == product
        assert (ticker["best_bid"], ticker["best_ask"]) == (units_text(quote.bid), units_text(quote.ask))
    trades = request(session, "market_trades", ["ETH-USD"])
    assert [frame["sequence_num"] for frame in trades] == [3, 4]
    assert trades[0]["events"] == [{"type": "snapshot", "trades": []}]


def test_frames_have_the_real_venues_layout():
    _, _, venue = market_venue()
    session = venue.accept("/")
    snapshot, ack = request(session, "ticker", ["BTC-USD"])
    real_ticker, real_ack = (json.loads(line) for line in (
        fixture_lines("coinbase", "ticker.jsonl")[0], fixture_lines("coinbase", "control.jsonl")[0]
    ))
    assert list(snapshot) == list(real_ticker) == ["channel", "timestamp", "sequence_num", "events"]
    assert list(ack) == list(real_ack)
    assert list(snapshot["events"][0]["tickers"][0]) == list(real_ticker["events"][0]["tickers"][0])
    assert snapshot["timestamp"] == ack["timestamp"] == "2026-09-21T14:33:54.567890123Z"


def test_unknown_products_and_channels_fail_and_change_nothing():
    _, _, venue = market_venue()
    session = venue.accept("/")
    request(session, "ticker", ["BTC-USD"])
    for channel, products in [
        ("ticker", ["BTC-USD", "DOGE-USD"]),
        ("ticker", []),
        ("ticker", None),
        ("level3", ["BTC-USD"]),
        ("user", ["BTC-USD"]),
        ("", ["BTC-USD"]),
    ]:
        assert request(session, channel, products) == [FAILURE_TO_SUBSCRIBE]
    assert list(session.topics) == ["ticker:BTC-USD"]
    assert request(session, "ticker", ["ETH-USD"])[0]["sequence_num"] == 2  # errors take no number


@pytest.mark.parametrize(
    "message",
    [b"not json", b"[1,2]", b'{"type":"subscriptions","channel":"ticker"}', b'{"channel":"ticker"}',
     b'{"type":"subscribe","product_ids":"BTC-USD","channel":"ticker"}'],
)
def test_anything_but_a_subscribe_or_unsubscribe_is_answered_with_an_error(message):
    session = market_venue()[2].accept("/")
    reply = session.on_text(message, NOW_NS)
    assert [json.loads(frame) for frame in reply.frames] == [SUBSCRIBE_REQUIRED]
    assert not reply.subscribed and not session.topics


def test_unsubscribe_removes_products_or_the_whole_channel_and_lists_what_is_left():
    session = market_venue()[2].accept("/")
    request(session, "ticker", PRODUCTS)
    request(session, "market_trades", PRODUCTS)
    [ack] = request(session, "ticker", ["ETH-USD"], kind="unsubscribe")
    assert ack["events"] == [{"subscriptions": {"market_trades": PRODUCTS, "ticker": ["BTC-USD"]}}]
    [ack] = request(session, "market_trades", kind="unsubscribe")
    assert ack["events"] == [{"subscriptions": {"ticker": ["BTC-USD"]}}]
    assert list(session.topics) == ["ticker:BTC-USD"]


def test_the_same_product_twice_is_one_subscription():
    session = market_venue()[2].accept("/")
    frames = request(session, "ticker", ["BTC-USD", "BTC-USD"])
    assert len(frames) == 2 and list(session.topics) == ["ticker:BTC-USD"]


# -- keepalive ------------------------------------------------------------------------------------


def test_heartbeats_are_numbered_with_everything_else_and_count_the_venues_seconds():
    venue = market_venue()[2]
    session = venue.accept("/")
    request(session, "heartbeats")
    beats = [json.loads(session.heartbeat(1_790_001_234_000 + 1000 * i, quiet=True)) for i in range(3)]
    assert [beat["sequence_num"] for beat in beats] == [1, 2, 3]
    assert [beat["events"][0]["heartbeat_counter"] for beat in beats] == [0, 1, 2]
    real = json.loads(fixture_lines("coinbase", "control.jsonl")[5])
    assert list(beats[2]) == list(real) and list(beats[2]["events"][0]) == list(real["events"][0])
    go_time = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})? \+0000 UTC m=\+\d+\.\d{9}"
    assert re.fullmatch(go_time, real["events"][0]["current_time"])
    assert beats[2]["events"][0]["current_time"] == "2026-09-21 14:33:56 +0000 UTC m=+2.000000000"
    other = venue.accept("/")
    request(other, "heartbeats")
    later = json.loads(other.heartbeat(1_790_001_237_500, quiet=True))
    assert later["events"][0]["heartbeat_counter"] == 3  # one counter for the whole venue


def test_without_heartbeats_data_channels_close_after_a_quiet_minute():
    session = market_venue()[2].accept("/")
    request(session, "ticker", ["BTC-USD"])
    for _ in range(CHANNEL_IDLE_SECONDS - 1):
        assert session.heartbeat(1_790_001_234_000, quiet=True) is None
    session.heartbeat(1_790_001_234_000, quiet=False)  # an update restarts the count
    for _ in range(CHANNEL_IDLE_SECONDS - 1):
        session.heartbeat(1_790_001_234_000, quiet=True)
    assert list(session.topics) == ["ticker:BTC-USD"]
    session.heartbeat(1_790_001_234_000, quiet=True)
    assert not session.topics and not session.channels


def test_with_heartbeats_quiet_channels_stay_open():
    session = market_venue()[2].accept("/")
    request(session, "ticker", ["BTC-USD"])
    request(session, "heartbeats")
    for _ in range(2 * CHANNEL_IDLE_SECONDS):
        session.heartbeat(1_790_001_234_000, quiet=True)
    assert list(session.topics) == ["ticker:BTC-USD"]


# -- rendering ------------------------------------------------------------------------------------


def units_text(units: int) -> str:
    whole, fraction = divmod(units, 10**8)
    return f"{whole}.{fraction:08d}".rstrip("0").rstrip(".")


def test_a_quote_becomes_a_ticker_update_and_statistics_alone_become_nothing():
    market, view, venue = market_venue(seed=4)
    events = list(market_events(market, view, 200, every_ms=7))
    quote = next(event for event in events if isinstance(event, MarketQuote))
    [payload] = venue.render(quote, "ticker:BTC-USD" if quote.symbol == "BTC-USD" else "ticker:ETH-USD")
    frame = json.loads(payload)
    assert "sequence_num" not in frame  # the session numbers it
    [event] = frame["events"]
    assert event["type"] == "update"
    [ticker] = event["tickers"]
    assert ticker["best_bid_quantity"] == units_text(quote.bid_size)
    assert frame["timestamp"] == rfc3339_nano(quote.time_ms * 1_000_000)
    assert all(venue.topics(event) == () for event in events if type(event).__name__ == "MarketTicker")


def test_a_trade_is_one_update_with_every_fill_newest_first_and_the_makers_side():
    market, view, venue = market_venue(seed=5)
    trade = next(e for e in market_events(market, view, 400, every_ms=7) if isinstance(e, MarketTrade) and e.fill_sizes[1:])
    product = trade.symbol
    assert venue.topics(trade) == (f"market_trades:{product}", f"ticker:{product}")
    [payload] = venue.render(trade, f"market_trades:{product}")
    [event] = json.loads(payload)["events"]
    maker_side = "SELL" if trade.taker_side == BUY else "BUY"
    count = len(trade.fill_sizes)
    assert event["type"] == "update"
    assert event["trades"] == [
        {"product_id": product, "trade_id": str(trade.first_trade_id + fill),
         "price": units_text(trade.price), "size": units_text(trade.fill_sizes[fill]),
         "time": rfc3339_nano(trade.time_ms * 1_000_000), "side": maker_side}
        for fill in reversed(range(count))
    ]
    real_trade = json.loads(fixture_lines("coinbase", "market_trades.jsonl")[2])["events"][0]["trades"][0]
    assert list(event["trades"][0]) == list(real_trade)
    session = venue.accept("/")
    snapshot = request(session, "market_trades", [product])[0]["events"][0]
    assert snapshot["trades"] == event["trades"]  # what the venue published lately


def test_frames_rendered_from_the_market_decode_with_tickwires_adapter_into_the_same_ints():
    market, view, venue = market_venue(seed=7)
    session = venue.accept("/")
    client = adapter()
    decoded = []
    for message in client.on_connected():
        for frame in session.on_text(message, NOW_NS).frames:
            decoded.extend(client.decode(frame, 0))
    expected_quotes = [
        (view.quote(product).bid, view.quote(product).bid_size, view.quote(product).ask,
         view.quote(product).ask_size)
        for product in PRODUCTS
    ]
    expected_trades = []
    for event in market_events(market, view, 3000, every_ms=7):
        for topic in venue.topics(event):
            for payload in venue.render(event, topic):
                decoded.extend(client.decode(session.frame(topic, payload), 0))
        if isinstance(event, MarketQuote):
            expected_quotes.append((event.bid, event.bid_size, event.ask, event.ask_size))
        elif isinstance(event, MarketTrade):
            quote = view.quote(event.symbol)
            expected_quotes.append((quote.bid, quote.bid_size, quote.ask, quote.ask_size))
            expected_trades.extend(
                (event.price, size, event.taker_side, event.first_trade_id + fill)
                for fill, size in reversed(list(enumerate(event.fill_sizes)))
            )
        if len(expected_trades) > 50 and len(expected_quotes) > 200:
            break
        decoded.extend(client.decode(session.heartbeat(event.time_ms, quiet=False), 0))
    quotes = [(q.bid, q.bid_size, q.ask, q.ask_size) for q in decoded if isinstance(q, Quote)]
    trades = [(t.price, t.size, t.side, t.trade_id) for t in decoded if isinstance(t, Trade)]
    assert quotes == expected_quotes
    assert trades == expected_trades
    assert {t.side for t in decoded if isinstance(t, Trade)} == {BUY, SELL}
    assert client.stats.errors == {} and client.stats.sequence_gaps == 0
    assert client.stats.control > len(PRODUCTS) + 3  # acknowledgements, trade snapshots, heartbeats


def test_errors_reach_the_adapter_as_a_venue_error():
    session = market_venue()[2].accept("/")
    client = adapter()
    message = b'{"type":"subscribe","product_ids":["NOPE-USD"],"channel":"ticker"}'
    [frame] = session.on_text(message, NOW_NS).frames
    assert client.decode(frame, 0) == ()
    assert client.stats.venue_errors == ["coinbase error: failure to subscribe"]


# -- recordings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "channel"), [("ticker.jsonl", "ticker"), ("market_trades.jsonl", "market_trades"),
                          ("candles.jsonl", "candles")]
)
def test_recorded_data_frames_are_routed_by_channel_and_product(name, channel):
    for line in fixture_lines("coinbase", name):
        topic, payload = parse_recorded_line(line)
        frame = json.loads(line)
        event = frame["events"][0]
        items = event.get("tickers") or event.get("trades") or event.get("candles")
        assert topic == f"{channel}:{items[0]['product_id']}"
        assert payload == line.replace(b',"sequence_num":%d' % frame["sequence_num"], b"")


def test_recorded_level2_frames_belong_to_the_level2_subscription_and_control_frames_to_none():
    line = b'{"channel":"l2_data","timestamp":"2026-08-09T21:05:48.505350477Z","sequence_num":14,' \
           b'"events":[{"type":"update","product_id":"BTC-USD","updates":[]}]}'
    assert parse_recorded_line(line)[0] == "level2:BTC-USD"
    assert {parse_recorded_line(line)[0] for line in fixture_lines("coinbase", "control.jsonl")} == {""}
    with pytest.raises(ValueError):
        parse_recorded_line(b"[1]")


def test_a_replayed_recording_is_renumbered_per_connection_and_decodes_as_the_original():
    venue = CoinbaseSimVenue(None)
    session = venue.accept("/")
    request(session, "ticker", PRODUCTS)
    assert session.next_sequence_num == 1  # no snapshot while replaying: only the acknowledgement
    original, replayed = adapter(), adapter()
    original_quotes, replayed_quotes = [], []
    for line in fixture_lines("coinbase", "ticker.jsonl"):
        original_quotes.extend(original.decode(line, 0))
        topic, payload = parse_recorded_line(line)
        assert topic in session.topics
        replayed_quotes.extend(replayed.decode(session.frame(topic, payload), 0))
    assert len(replayed_quotes) == 160
    assert [replace(q, update_id=0) for q in replayed_quotes] == [
        replace(q, update_id=0) for q in original_quotes
    ]
    assert replayed.stats.sequence_gaps == 0 and original.stats.sequence_gaps > 0


def test_replaying_accepts_any_well_formed_product():
    session = CoinbaseSimVenue(None).accept("/")
    assert request(session, "level2", ["SHIB-USDC"])[0]["channel"] == "subscriptions"
    assert request(session, "level2", ["btc-usd"]) == [FAILURE_TO_SUBSCRIBE]


# -- times ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time_ns", "text"),
    [
        (1_786_309_548_228_846_629, "2026-08-09T21:05:48.228846629Z"),
        (1_786_309_552_856_438_770, "2026-08-09T21:05:52.85643877Z"),
        (1_786_309_542_500_000_000, "2026-08-09T21:05:42.5Z"),
        (1_786_309_542_000_000_000, "2026-08-09T21:05:42Z"),
    ],
)
def test_times_are_written_like_go_rfc3339_nano(time_ns, text):
    assert rfc3339_nano(time_ns) == text


@given(st.integers(min_value=0, max_value=4_102_444_800 * 10**9))
def test_times_read_back_exactly(time_ns):
    assert rfc3339_to_ns(rfc3339_nano(time_ns)) == time_ns
