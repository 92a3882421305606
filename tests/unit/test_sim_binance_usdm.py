"""The simulator's Binance USD-M futures protocol logic, without sockets.

The requests and envelopes are Binance spot's (``tests/unit/test_sim_binance.py``); these tests
cover what USD-M changes: routed paths, stream names, its limits and its payloads, checked
against the real recorded frames in ``tests/fixtures/binance_usdm`` and decoded with tickwire's
own USD-M adapters back into the market's ints.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tickwire.instruments import parse_symbol
from tickwire.model import Quote, Ticker, Trade
from tickwire.sim.binance import BinanceStreamSession
from tickwire.sim.binance_usdm import (
    MAX_INCOMING_MESSAGES_PER_SECOND,
    BinanceUsdmSimVenue,
    is_public_stream,
    is_valid_stream_name,
)
from tickwire.sim.market import (
    MarketQuote,
    MarketTicker,
    MarketTrade,
    SyntheticMarket,
    VenueView,
    symbol_spec,
)
from tickwire.sim.venue import RequestPathError
from tickwire.venues.base import Channel
from tickwire.venues.binance_usdm import BinanceUsdm, BinanceUsdmMarket

from .sim_helpers import rendered

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "binance_usdm"
NOW_MS = 1_790_001_234_567
NS = 1_000_000
SYMBOLS = ["BTC-USDT-PERP", "ETH-USDT-PERP"]


def venue_and_market(seed: int = 0, channels=("bbo", "trades", "ticker")):
    market = SyntheticMarket([symbol_spec(s) for s in SYMBOLS], seed=seed, channels=channels)
    view = VenueView(market, "binance_usdm", instrument_kinds=BinanceUsdmSimVenue.instrument_kinds)
    return BinanceUsdmSimVenue(view), market


def pushes(count: int, seed: int = 0, channels=("bbo", "trades", "ticker")):
    """(event, stream, payload) for every payload of ``count`` market steps."""
    venue, market = venue_and_market(seed, channels)
    return rendered(venue, market, count)


def reply(session: BinanceStreamSession, request: dict) -> dict:
    return json.loads(session.on_text(json.dumps(request).encode(), 0).frames[0])


# -- paths and requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "topics", "combined"),
    [
        ("/public/stream", [], True),
        ("/public/stream?streams=btcusdt@bookTicker/ethusdt@depth5@100ms",
         ["btcusdt@bookTicker", "ethusdt@depth5@100ms"], True),
        ("/public/ws/btcusdt@bookTicker", ["btcusdt@bookTicker"], False),
        ("/market/stream?streams=btcusdt@aggTrade/btcusdt@ticker",
         ["btcusdt@aggTrade", "btcusdt@ticker"], True),
        ("/market/ws/btcusdt@markPrice@1s", ["btcusdt@markPrice@1s"], False),
        ("/stream?streams=btcusdt@bookTicker", ["btcusdt@bookTicker"], True),  # unrouted: public
    ],
)
def test_routed_paths_give_the_spot_modes(path, topics, combined):
    session = BinanceUsdmSimVenue(None).accept(path)
    assert (list(session.topics), session.combined) == (topics, combined)


def test_a_stream_on_a_path_that_does_not_serve_it_is_subscribed_but_gets_nothing():
    venue = BinanceUsdmSimVenue(None)
    public = venue.accept("/public/stream?streams=btcusdt@aggTrade")
    market = venue.accept("/market/stream")
    unrouted = venue.accept("/ws")
    for session in (public, market, unrouted):
        request = {"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker", "btcusdt@ticker"],
                   "id": 1}
        assert reply(session, request) == {"result": None, "id": 1}
    assert list(public.topics) == list(unrouted.topics) == ["btcusdt@bookTicker"]
    assert list(market.topics) == ["btcusdt@ticker"]
    listed = reply(public, {"method": "LIST_SUBSCRIPTIONS", "id": 2})["result"]
    assert listed == ["btcusdt@aggTrade", "btcusdt@bookTicker", "btcusdt@ticker"]
    reply(public, {"method": "UNSUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 3})
    assert list(public.topics) == [] and list(public.subscriptions) == [
        "btcusdt@aggTrade", "btcusdt@ticker"
    ]


def test_a_symbol_the_venue_does_not_list_is_acknowledged_like_any_other():
    session = BinanceUsdmSimVenue(None).accept("/public/stream")
    request = {"method": "SUBSCRIBE", "params": ["nopeusdt@bookTicker"], "id": 5}
    assert reply(session, request) == {"result": None, "id": 5}


@pytest.mark.parametrize(
    ("path", "status"),
    [("/private/ws", 404), ("/public", 404), ("/public/feed", 404), ("/market?streams=x", 404),
     ("/public/ws/btcusdt@avgPrice", 400), ("/market/ws/BTCUSDT@aggTrade", 400)],
)
def test_other_paths_and_stream_names_are_refused(path, status):
    with pytest.raises(RequestPathError) as refused:
        BinanceUsdmSimVenue(None).accept(path)
    assert refused.value.status == status


@pytest.mark.parametrize(
    ("name", "valid", "public"),
    [("btcusdt@bookTicker", True, True), ("!bookTicker", True, True),
     ("btcusdt_261225@depth20@500ms", True, True), ("btcusdt@depth@250ms", True, True),
     ("btcusdt@aggTrade", True, False), ("btcusdt@ticker", True, False),
     ("!markPrice@arr@1s", True, False), ("btcusdt@kline_1m", True, False),
     ("btcusdt@avgPrice", False, False), ("btcusdt@depth@1000ms", False, True),
     ("BTCUSDT@bookTicker", False, False)],
)
def test_usdm_stream_names_and_their_routes(name, valid, public):
    assert is_valid_stream_name(name) is valid
    if valid:
        assert is_public_stream(name) is public


def test_an_invalid_stream_in_a_request_is_a_binance_error():
    session = BinanceUsdmSimVenue(None).accept("/market/stream")
    error = reply(session, {"method": "SUBSCRIBE", "params": ["btcusdt@avgPrice"], "id": 4})
    assert error["id"] == 4 and error["error"]["code"] == 2
    assert session.subscriptions == {}


def test_ten_messages_a_second_are_allowed_and_the_eleventh_is_over_the_limit():
    session = BinanceUsdmSimVenue(None).accept("/public/stream")
    start = 5 * 10**9
    over = [session.count_incoming(start + i * 1_000_000) for i in range(11)]
    assert MAX_INCOMING_MESSAGES_PER_SECOND == 10
    assert over == [False] * 10 + [True]


def test_the_venue_serves_perpetuals_on_both_paths_and_pings_every_three_minutes():
    assert BinanceUsdmSimVenue.instrument_kinds == frozenset({"PERP"})
    assert BinanceUsdmSimVenue.default_path == "/public/stream"
    assert BinanceUsdmSimVenue.extra_endpoints == {"binance_usdm_market": "/market/stream"}
    assert (BinanceUsdmSimVenue.ping_interval, BinanceUsdmSimVenue.pong_timeout) == (180, 600)


# -- payloads -------------------------------------------------------------------------------------


def test_events_feed_book_ticker_agg_trade_and_ticker_streams():
    venue, _ = venue_and_market()
    assert venue.topics(MarketQuote("ETH-USDT-PERP", 1, 2, 3, 4, 5, NOW_MS)) == (
        "ethusdt@bookTicker",
    )
    assert venue.topics(venue.view.ticker("BTC-USDT-PERP", NOW_MS)) == ("btcusdt@ticker",)
    trade = next(event for event, _, _ in pushes(200, channels=["trades"]))
    assert venue.topics(trade) == (f"{trade.symbol[:3].lower()}usdt@aggTrade",)


def test_payloads_have_the_futures_field_order():
    seen = {}
    for _, stream, payload in pushes(500, seed=3):
        seen.setdefault(stream.split("@")[1], list(json.loads(payload)))
    recorded = {
        kind: list(json.loads((FIXTURES / f"{kind}.jsonl").read_bytes().splitlines()[0])["data"])
        for kind in ("bookTicker", "aggTrade")
    }
    assert seen == {
        "bookTicker": recorded["bookTicker"],
        "aggTrade": recorded["aggTrade"],
        # documented: the spot ticker without x, b, B, a and A
        "ticker": ["e", "E", "s", "p", "P", "w", "c", "Q", "o", "h", "l", "v", "q", "O", "C",
                   "F", "L", "n"],
    }


def test_prices_keep_the_tick_decimals_and_sizes_the_lot_decimals():
    for event, stream, payload in pushes(100, channels=["bbo"]):
        data = json.loads(payload)
        decimals = 2 if event.symbol.startswith("BTC") else 3  # ticks 0.01 and 0.001
        assert all(len(data[key].partition(".")[2]) == decimals for key in ("b", "a"))
        assert len(data["B"].partition(".")[2]) == (4 if event.symbol.startswith("BTC") else 3)


@pytest.mark.parametrize("adapter_type", [BinanceUsdm, BinanceUsdmMarket])
def test_every_payload_decodes_with_tickwires_adapter_into_the_markets_ints(adapter_type):
    adapter = adapter_type([parse_symbol(s) for s in SYMBOLS], Channel.ALL)
    adapter.on_connected()
    venue, _ = venue_and_market()
    session = venue.accept(adapter_type.default_url.removeprefix("wss://fstream.binance.com"))
    session.on_text(adapter.on_connected()[0], 0)
    name = adapter_type.name
    decoded_count = 0
    for event, stream, payload in pushes(3_000, seed=8):
        if stream not in session.topics:
            continue
        decoded = tuple(adapter.decode(session.frame(stream, payload), 0))
        exchange_ns = event.time_ms * NS
        if isinstance(event, MarketQuote):
            expected = Quote(name, event.symbol, event.bid, event.bid_size, event.ask,
                             event.ask_size, 0, exchange_ns, event.update_id)
        elif isinstance(event, MarketTrade):
            expected = Trade(name, event.symbol, event.price, event.size, event.taker_side,
                             event.aggregate_id, 0, exchange_ns)
        else:
            assert isinstance(event, MarketTicker)
            expected = Ticker(name, event.symbol, event.last, 0, exchange_ns)
        assert decoded == (expected,)
        decoded_count += 1
    assert decoded_count > 100
    assert adapter.stats.errors == {} and adapter.stats.venue_errors == []


def test_bare_recorded_futures_frames_name_their_stream():
    venue = BinanceUsdmSimVenue(None)
    enveloped = (FIXTURES / "bookTicker.jsonl").read_bytes().splitlines()[0]
    stream, payload = venue.recorded_frame(enveloped)
    assert stream == "sushiusdt@bookTicker"
    assert venue.recorded_frame(payload) == (stream, payload)  # bare, named by its "e"
