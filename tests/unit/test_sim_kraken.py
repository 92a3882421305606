"""The simulator's Kraken spot WebSocket v2 protocol logic, without sockets.

Round trips go through tickwire's own v2 adapter: what the simulated venue renders must decode
into exactly the integers the synthetic market produced.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.instruments import parse_symbol
from tickwire.model import BUY, Quote, Ticker, Trade
from tickwire.sim.kraken import (
    HEARTBEAT,
    KrakenSession,
    KrakenSimVenue,
    kraken_number,
    ticker_statistics,
)
from tickwire.sim.market import (
    MarketQuote,
    MarketTicker,
    MarketTrade,
    SyntheticMarket,
    VenueView,
    symbol_spec,
)
from tickwire.sim.registry import SIM_VENUES
from tickwire.sim.venue import RequestPathError, format_rfc3339
from tickwire.times import rfc3339_to_ns
from tickwire.venues.base import Channel
from tickwire.venues.kraken import KrakenSpot

from .sim_helpers import market_events

NOW_MS = 1_790_001_234_567
NOW_NS = NOW_MS * 1_000_000
ONE = 10**8
SYMBOLS = ["BTC-USD", "ETH-USD"]


def market_and_venue(symbols=SYMBOLS, seed: int = 0) -> tuple[SyntheticMarket, KrakenSimVenue]:
    market = SyntheticMarket([symbol_spec(s) for s in symbols], seed=seed)
    return market, KrakenSimVenue(VenueView(market, "kraken"))


def venue(symbols=SYMBOLS, seed: int = 0) -> KrakenSimVenue:
    return market_and_venue(symbols, seed)[1]


def request(session: KrakenSession, message: object) -> list[dict]:
    text = message if isinstance(message, bytes) else json.dumps(message).encode()
    return [json.loads(frame) for frame in session.on_text(text, NOW_NS).frames]


def subscribe(channel: str, symbols: list[str], req_id: int = 1, **params) -> dict:
    return {"method": "subscribe", "params": {"channel": channel, "symbol": symbols, **params},
            "req_id": req_id}


def adapter(symbols=SYMBOLS, channels=Channel.ALL) -> KrakenSpot:
    return KrakenSpot([parse_symbol(s) for s in symbols], frozenset(channels))


def test_the_venue_is_registered_under_the_adapters_name_at_the_real_path():
    assert SIM_VENUES["kraken"] is KrakenSimVenue
    assert KrakenSimVenue.default_path == "/v2"
    assert KrakenSimVenue.heartbeat_interval == 1.0
    assert KrakenSimVenue.ping_interval is None and KrakenSimVenue.idle_timeout is None


@pytest.mark.parametrize("path", ["/", "/v1", "/v2/ticker", "/ws", "/v2?x=1"])
def test_paths_other_than_v2_are_refused_with_404(path):
    with pytest.raises(RequestPathError) as refused:
        venue().accept(path)
    assert refused.value.status == 404
    assert isinstance(venue().accept("/v2/"), KrakenSession)


def test_the_adapters_requests_get_one_ack_per_symbol_then_a_ticker_snapshot_each():
    sim, client = venue(), adapter()
    session = sim.accept("/v2")
    ticker_request, trade_request = client.on_connected()
    reply = session.on_text(ticker_request, NOW_NS)
    assert reply.subscribed
    frames = [json.loads(frame) for frame in reply.frames]
    assert frames[:2] == [
        {"method": "subscribe",
         "result": {"channel": "ticker", "event_trigger": "bbo", "snapshot": True,
                    "symbol": symbol},
         "success": True, "time_in": format_rfc3339(NOW_MS), "time_out": format_rfc3339(NOW_MS),
         "req_id": 1}
        for symbol in ("BTC/USD", "ETH/USD")
    ]
    snapshots = frames[2:]
    assert [(s["channel"], s["type"], s["data"][0]["symbol"]) for s in snapshots] == [
        ("ticker", "snapshot", "BTC/USD"), ("ticker", "snapshot", "ETH/USD")
    ]
    assert list(snapshots[0]["data"][0]) == [
        "symbol", "bid", "bid_qty", "ask", "ask_qty", "last", "volume", "vwap", "low", "high",
        "change", "change_pct", "timestamp",
    ]
    trade_frames = [json.loads(frame) for frame in session.on_text(trade_request, NOW_NS).frames]
    assert [f["result"] for f in trade_frames] == [
        {"channel": "trade", "snapshot": False, "symbol": symbol}
        for symbol in ("BTC/USD", "ETH/USD")
    ]
    assert list(session.topics) == [
        "ticker.bbo:BTC/USD", "ticker.bbo:ETH/USD", "trade:BTC/USD", "trade:ETH/USD"
    ]


def test_the_snapshot_is_the_venues_current_quote_and_decodes_to_it():
    sim, client = venue(), adapter(channels={Channel.BBO})
    session = sim.accept("/v2")
    (ticker_request,) = client.on_connected()
    *_, btc_snapshot, eth_snapshot = session.on_text(ticker_request, NOW_NS).frames
    assert sim.view is not None
    for frame, symbol in ((btc_snapshot, "BTC-USD"), (eth_snapshot, "ETH-USD")):
        (quote,) = client.decode(frame, 1)
        market = sim.view.quote(symbol)
        assert (quote.bid, quote.bid_size, quote.ask, quote.ask_size) == (
            market.bid, market.bid_size, market.ask, market.ask_size)
        assert quote.exchange_ns == NOW_NS // 1_000_000 * 1_000_000


def test_an_unlisted_symbol_gets_an_error_naming_it_and_the_others_are_still_subscribed():
    session = venue().accept("/v2")
    frames = request(session, subscribe("ticker", ["BTC/USDX", "BTC/USD"], 7, snapshot=False))
    assert frames == [
        {"error": "Currency pair not supported BTC/USDX", "method": "subscribe", "req_id": 7,
         "success": False, "symbol": "BTC/USDX", "time_in": format_rfc3339(NOW_MS),
         "time_out": format_rfc3339(NOW_MS)},
        {"method": "subscribe",
         "result": {"channel": "ticker", "event_trigger": "trades", "snapshot": False,
                    "symbol": "BTC/USD"},
         "success": True, "time_in": format_rfc3339(NOW_MS), "time_out": format_rfc3339(NOW_MS),
         "req_id": 7},
    ]
    assert list(session.topics) == ["ticker.trades:BTC/USD"]


def test_v1_spellings_are_not_v2_symbols():
    (error,) = request(venue().accept("/v2"), subscribe("trade", ["XBT/USD"]))
    assert error["error"] == "Currency pair not supported XBT/USD"


def test_an_error_reaches_the_adapter_as_a_venue_error_message():
    client = adapter()
    session = venue().accept("/v2")
    request_text = json.dumps(subscribe("trade", ["FOO/USD"])).encode()
    for frame in session.on_text(request_text, NOW_NS).frames:
        assert client.decode(frame, 1) == ()
    assert client.stats.venue_errors == [
        "kraken subscribe failed: Currency pair not supported FOO/USD"
    ]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (b"{not json", "Malformed request"),
        (b"[1,2]", "Malformed request"),
        ({"method": "book", "params": {}}, "Method not supported: book"),
        ({"method": "subscribe"}, "Missing field: params"),
        ({"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"]}},
         "Channel not supported: book"),
        ({"method": "subscribe", "params": {"channel": "trade"}},
         "Missing or invalid field: symbol"),
        ({"method": "subscribe", "params": {"channel": "trade", "symbol": []}},
         "Missing or invalid field: symbol"),
        ({"method": "subscribe", "params": {"channel": "trade", "symbol": "BTC/USD"}},
         "Missing or invalid field: symbol"),
        (subscribe("ticker", ["BTC/USD"], event_trigger="book"), "Invalid event_trigger: book"),
        (subscribe("ticker", ["BTC/USD"], snapshot="yes"), "snapshot must be a boolean"),
        ({**subscribe("trade", ["BTC/USD"]), "req_id": "one"}, "req_id must be an integer"),
    ],
)
def test_bad_requests_get_one_error_and_change_nothing(message, error):
    session = venue().accept("/v2")
    (reply,) = request(session, message)
    assert reply["error"] == error and reply["success"] is False
    assert not session.topics


def test_subscribing_twice_is_refused_and_unsubscribing_removes_the_subscription():
    session = venue().accept("/v2")
    request(session, subscribe("ticker", ["BTC/USD"], event_trigger="bbo"))
    (again,) = request(session, subscribe("ticker", ["BTC/USD"], 2, event_trigger="bbo"))
    assert again["error"] == "Already subscribed" and again["symbol"] == "BTC/USD"
    unsubscribe = {"method": "unsubscribe",
                   "params": {"channel": "ticker", "symbol": ["BTC/USD"], "event_trigger": "bbo"},
                   "req_id": 3}
    reply = session.on_text(json.dumps(unsubscribe).encode(), NOW_NS)
    assert not reply.subscribed
    (ack,) = [json.loads(frame) for frame in reply.frames]
    assert ack["method"] == "unsubscribe" and ack["success"] is True
    assert ack["result"] == {"channel": "ticker", "event_trigger": "bbo", "symbol": "BTC/USD"}
    assert not session.topics
    (gone,) = request(session, unsubscribe)
    assert gone["error"] == "Subscription Not Found"


def test_ping_gets_a_pong_with_the_req_id():
    assert request(venue().accept("/v2"), {"method": "ping", "req_id": 42}) == [
        {"method": "pong", "req_id": 42, "time_in": format_rfc3339(NOW_MS),
         "time_out": format_rfc3339(NOW_MS)}
    ]


def test_heartbeats_go_only_to_subscribed_clients_that_got_nothing_else():
    session = venue().accept("/v2")
    assert session.heartbeat(NOW_MS, quiet=True) is None
    request(session, subscribe("trade", ["BTC/USD"]))
    assert session.heartbeat(NOW_MS, quiet=False) is None
    assert session.heartbeat(NOW_MS, quiet=True) == HEARTBEAT == b'{"channel":"heartbeat"}'
    assert adapter().decode(HEARTBEAT, 1) == ()


def test_every_rendered_frame_decodes_with_the_adapter_into_the_markets_integers():
    market, sim = market_and_venue(seed=5)
    assert sim.view is not None
    client = adapter()
    client.on_connected()
    counts = {MarketQuote: 0, MarketTrade: 0, MarketTicker: 0}
    for event in market_events(market, sim.view, 600):
        counts[type(event)] += 1
        (topic,) = sim.topics(event)
        (payload,) = sim.render(event, topic)
        decoded = client.decode(payload, 1)
        canonical = event.symbol
        if isinstance(event, MarketTrade):
            assert topic == f"trade:{canonical.replace('-', '/')}"
            assert decoded == tuple(
                Trade("kraken", canonical, event.price, size, event.taker_side,
                      event.first_trade_id + fill, 1, event.time_ms * 1_000_000)
                for fill, size in enumerate(event.fill_sizes)
            )
            continue
        quote, last = decoded
        assert isinstance(quote, Quote) and isinstance(last, Ticker)
        assert (quote.bid, quote.bid_size, quote.ask, quote.ask_size) == (
            event.bid, event.bid_size, event.ask, event.ask_size)
        assert quote.exchange_ns == event.time_ms * 1_000_000
        if isinstance(event, MarketTicker):
            assert topic.startswith("ticker.trades:") and last.last == event.last
        else:
            assert topic.startswith("ticker.bbo:")
    assert all(counts.values()), counts
    assert client.stats.errors == {} and client.stats.sequence_gaps == 0


def test_trade_ids_go_up_by_one_per_fill_and_the_side_is_the_takers():
    sim = venue(["BTC-USD"], seed=2)
    trade = MarketTrade("BTC-USD", 7, 67_000 * ONE, 3 * ONE, BUY, 500, (ONE, 2 * ONE), NOW_MS)
    (payload,) = sim.render(trade, "trade:BTC/USD")
    message = json.loads(payload)
    assert message["channel"] == "trade" and message["type"] == "update"
    assert [(d["trade_id"], d["side"], d["qty"], d["ord_type"]) for d in message["data"]] == [
        (500, "buy", 1, "market"), (501, "buy", 2, "market")
    ]
    assert b'"price":67000.0,"qty":1.0,' in payload  # fixed-point text, as Kraken writes it


def test_a_quote_is_pushed_as_the_whole_ticker_with_the_quotes_top_of_book():
    sim = venue(["BTC-USD"])
    quote = MarketQuote("BTC-USD", 3, 67_000 * ONE, 2 * ONE, 67_000 * ONE + ONE // 10, ONE // 4,
                        NOW_MS)
    (payload,) = sim.render(quote, "ticker.bbo:BTC/USD")
    (entry,) = json.loads(payload)["data"]
    assert json.loads(payload)["type"] == "update"
    top = (entry["bid"], entry["bid_qty"], entry["ask"], entry["ask_qty"])
    assert top == (67000, 2, 67000.1, 0.25)
    assert entry["timestamp"] == format_rfc3339(NOW_MS)
    assert b'"bid":67000.0,"bid_qty":2.0,"ask":67000.1,"ask_qty":0.25,' in payload


@given(st.integers(min_value=1, max_value=10**17))
def test_numbers_are_exact_fixed_point_text_never_an_exponent(units):
    text = bytes(kraken_number(units)).decode()
    assert "e" not in text.lower() and "." in text
    assert Decimal(text) * ONE == units


def test_ticker_statistics_cut_the_percent_change_toward_zero():
    ticker = MarketTicker("BTC-USD", NOW_MS, open=200 * ONE, high=200 * ONE, low=199 * ONE,
                          last=199 * ONE, last_size=ONE, volume=2 * ONE,
                          quote_volume=399 * ONE, first_trade_id=1, last_trade_id=2,
                          trade_count=2, bid=199 * ONE, bid_size=ONE, ask=200 * ONE,
                          ask_size=ONE)
    statistics = ticker_statistics(ticker)
    assert statistics.vwap == 19_950_000_000
    assert statistics.change == -ONE
    assert statistics.change_pct == -50_000_000  # -0.5 %


def test_rfc3339_times_read_back_to_the_same_millisecond():
    assert format_rfc3339(NOW_MS) == "2026-09-21T14:33:54.567000Z"
    assert rfc3339_to_ns(format_rfc3339(NOW_MS)) == NOW_NS


def test_a_replaying_venue_accepts_any_pair_and_sends_no_snapshot():
    session = KrakenSimVenue(None).accept("/v2")
    reply = session.on_text(json.dumps(subscribe("ticker", ["ABC/XYZ"])).encode(), NOW_NS)
    assert reply.subscribed and len(reply.frames) == 1
    (error,) = request(session, subscribe("trade", ["abc-xyz"]))
    assert error["error"] == "Currency pair not supported abc-xyz"


@pytest.mark.parametrize(
    ("line", "topic"),
    [
        (b'{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":1.0}]}',
         "ticker.bbo:BTC/USD"),
        (b'{"channel":"trade","type":"update","data":[{"symbol":"ETH/USD","price":1.0}]}',
         "trade:ETH/USD"),
        (b'{"channel":"heartbeat"}', ""),
        (b'{"channel":"status","type":"update","data":[{"system":"online"}]}', ""),
        (b'{"method":"subscribe","success":true,"result":{"channel":"ticker"}}', ""),
    ],
)
def test_recorded_frames_go_to_the_subscribers_of_their_channel_and_symbol(line, topic):
    assert KrakenSimVenue(None).recorded_frame(line) == (topic, line)


@pytest.mark.parametrize("line", [b"garbage", b"[1,2,3]", b'{"channel":"ticker","data":[1]}'])
def test_a_recorded_line_that_is_not_a_v2_frame_is_refused(line):
    with pytest.raises(ValueError):
        KrakenSimVenue(None).recorded_frame(line)
