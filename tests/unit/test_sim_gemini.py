"""The simulator's Gemini v2 market data protocol logic, without sockets.

Round trips go through tickwire's own Gemini adapter: what the simulated venue renders must decode
into exactly the integers the synthetic market produced.
"""

from __future__ import annotations

import json

import pytest

from tickwire.instruments import parse_symbol
from tickwire.model import BUY, SELL, Quote, Trade
from tickwire.sim.gemini import GeminiSession, GeminiSimVenue, gemini_number
from tickwire.sim.market import MarketQuote, MarketTicker, MarketTrade, SyntheticMarket, VenueView, symbol_spec
from tickwire.sim.registry import SIM_VENUES
from tickwire.sim.venue import RequestPathError
from tickwire.venues.base import Channel
from tickwire.venues.gemini import GeminiMarketData

from .sim_helpers import NOW_MS, fixture_lines, market_events

NOW_NS = NOW_MS * 1_000_000
SYMBOLS = ["BTC-USD", "ETH-USDT", "BTC-USDC-PERP"]


def market_and_venue(symbols=SYMBOLS, seed: int = 0) -> tuple[SyntheticMarket, GeminiSimVenue]:
    market = SyntheticMarket([symbol_spec(s) for s in symbols], seed=seed)
    return market, GeminiSimVenue(VenueView(market, "gemini", instrument_kinds=GeminiSimVenue.instrument_kinds))


def adapter(symbols=SYMBOLS) -> GeminiMarketData:
    return GeminiMarketData([parse_symbol(s) for s in symbols], Channel.ALL)


def subscribe(session: GeminiSession, *symbols: str, kind: str = "subscribe") -> list[bytes]:
    request = {"type": kind, "subscriptions": [{"name": "l2", "symbols": list(symbols)}]}
    return list(session.on_text(json.dumps(request).encode(), NOW_NS).frames)


def test_the_venue_is_registered_under_the_adapters_name_at_the_real_path():
    assert SIM_VENUES["gemini"] is GeminiSimVenue
    assert GeminiSimVenue.default_path == "/v2/marketdata"
    assert GeminiSimVenue.instrument_kinds == frozenset(("", "PERP"))
    assert GeminiSimVenue.heartbeat_interval == 5.0
    assert GeminiSimVenue.idle_timeout is None and GeminiSimVenue.ping_interval is None


@pytest.mark.parametrize("path", ["/", "/v1/marketdata/BTCUSD", "/v2", "/v2/marketdata/x"])
def test_other_paths_are_refused_with_404(path):
    with pytest.raises(RequestPathError) as refused:
        market_and_venue()[1].accept(path)
    assert refused.value.status == 404


def test_numbers_are_written_shortest_with_at_least_one_decimal():
    assert [gemini_number(v) for v in (6_531_700_000_000, 310_000, 7_667, 10**8)] == [
        "65317.0", "0.0031", "0.00007667", "1.0"]


def test_the_adapters_request_gets_each_symbols_whole_book_and_no_acknowledgement():
    _, sim = market_and_venue()
    client = adapter()
    session = sim.accept("/v2/marketdata")
    (request,) = client.on_connected()
    reply = session.on_text(request, NOW_NS)
    assert reply.subscribed
    assert list(session.topics) == ["l2:BTCUSD", "l2:ETHUSDT", "l2:BTCUSDCPERP"]
    books = [json.loads(frame) for frame in reply.frames]
    assert [list(book) for book in books] == [["auction_events", "changes", "symbol", "trades", "type"]] * 3
    quotes = [event for frame in reply.frames for event in client.decode(frame, 1)]
    assert sim.view is not None
    for quote, symbol in zip(quotes, SYMBOLS):
        market = sim.view.quote(symbol)
        assert isinstance(quote, Quote) and quote.symbol == symbol
        assert (quote.bid, quote.bid_size, quote.ask, quote.ask_size) == (
            market.bid, market.bid_size, market.ask, market.ask_size)
    assert client.stats.errors == {}


def test_every_rendered_quote_and_trade_decodes_to_the_markets_integers():
    market, sim = market_and_venue(seed=5)
    client = adapter()
    session = sim.accept("/v2/marketdata")
    for frame in session.on_text(client.on_connected()[0], NOW_NS).frames:
        client.decode(frame, 0)
    assert sim.view is not None
    quotes = trades = 0
    for event in market_events(market, sim.view, 3000):
        (topic,) = sim.topics(event) or (None,)
        if topic is None:
            assert isinstance(event, MarketTicker)  # no v2 channel carries statistics
            continue
        decoded = [e for payload in sim.render(event, topic) for e in client.decode(payload, 0)]
        if isinstance(event, MarketQuote):
            before = quotes
            for quote in decoded:
                assert (quote.symbol, quote.bid, quote.bid_size, quote.ask, quote.ask_size) == (
                    event.symbol, event.bid, event.bid_size, event.ask, event.ask_size)
                quotes += 1
            assert quotes - before <= 1
        else:
            assert isinstance(event, MarketTrade)
            assert decoded == [
                Trade("gemini", event.symbol, event.price, size, BUY if event.taker_side == BUY else SELL,
                      event.first_trade_id + fill, 0, event.time_ms * 1_000_000)
                for fill, size in enumerate(event.fill_sizes)
            ]
            trades += len(decoded)
    assert quotes > 500 and trades > 100
    assert client.stats.errors == {}


def test_unlisted_symbols_get_an_error_and_the_listed_ones_are_subscribed():
    _, sim = market_and_venue()
    session = sim.accept("/v2/marketdata")
    frames = subscribe(session, "BTCUSD", "FOOUSD")
    assert [json.loads(f).get("type", "error") for f in frames] == ["l2_updates", "error"]
    client = adapter()
    client.on_connected()
    client.decode(frames[1], 0)
    assert client.stats.venue_errors == ["gemini error InvalidSymbol: Supplied value(s) FOOUSD are not valid symbols"]
    assert list(session.topics) == ["l2:BTCUSD"]
    assert subscribe(session, "BTCUSD") == []  # already subscribed: nothing new


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"not json", "InvalidJson"),
        (b'{"type":"subscribe"}', "InvalidJson"),
        (b'{"type":"subscribe","subscriptions":[{"name":"candles_1m","symbols":["BTCUSD"]}]}',
         "InvalidSubscription"),
        (b'{"type":"subscribe","subscriptions":[{"name":"l2","symbols":[]}]}', "InvalidSubscription"),
        (b'{"type":"hello","subscriptions":[{"name":"l2","symbols":["BTCUSD"]}]}', "InvalidSubscription"),
    ],
)
def test_bad_requests_get_an_error_with_a_reason(message, reason):
    session = market_and_venue()[1].accept("/v2/marketdata")
    reply = session.on_text(message, NOW_NS)
    (error,) = [json.loads(f) for f in reply.frames]
    assert (error["result"], error["reason"]) == ("error", reason)
    assert not reply.subscribed and not session.topics


def test_unsubscribe_stops_a_symbol_and_heartbeats_come_only_while_subscribed():
    session = market_and_venue()[1].accept("/v2/marketdata")
    assert session.heartbeat(NOW_MS, True) is None
    subscribe(session, "BTCUSD", "ETHUSDT")
    assert json.loads(session.heartbeat(NOW_MS, False) or b"") == {"timestamp": NOW_MS, "type": "heartbeat"}
    assert subscribe(session, "BTCUSD", "ETHUSDT", kind="unsubscribe") == []
    assert not session.topics and session.heartbeat(NOW_MS, True) is None


def test_recorded_frames_go_to_their_symbols_subscribers():
    sim = GeminiSimVenue(None)
    lines = fixture_lines("gemini", "trade.jsonl") + fixture_lines("gemini", "control.jsonl")
    assert [sim.recorded_frame(line) for line in lines] == [
        ("l2:BTCUSD", lines[0]), ("l2:BTCUSD", lines[1]), ("", lines[2]), ("", lines[3])]
    session = sim.accept("/v2/marketdata")
    assert subscribe(session, "SOLUSDCPERP") == []  # replaying: the recording sends the books
    assert list(session.topics) == ["l2:SOLUSDCPERP"]
