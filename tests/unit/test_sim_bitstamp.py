"""The simulator's Bitstamp WebSocket v2 protocol logic, without sockets.

Shapes are checked against the real frames of ``tests/fixtures/bitstamp``, and every rendered
frame is read back with tickwire's own Bitstamp adapter.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tickwire.instruments import parse_symbol
from tickwire.model import BUY, SELL, Quote, Trade
from tickwire.sim.bitstamp import (
    BOOK_LEVELS,
    BitstampSession,
    BitstampSimVenue,
    is_valid_channel,
    parse_recorded_line,
)
from tickwire.sim.market import MarketQuote, MarketTrade, SyntheticMarket, VenueView, symbol_spec
from tickwire.sim.venue import RequestPathError
from tickwire.venues.base import Channel
from tickwire.venues.bitstamp import BitstampSpot

from .sim_helpers import fixture_lines, market_events

SYMBOLS = ["BTC-USD", "ETH-USD"]
NOW_NS = 1_790_001_234_567_890_123


def market_venue(seed: int = 0) -> tuple[SyntheticMarket, VenueView, BitstampSimVenue]:
    market = SyntheticMarket([symbol_spec(symbol) for symbol in SYMBOLS], seed=seed)
    view = VenueView(market, "bitstamp")
    return market, view, BitstampSimVenue(view)


def send(session: BitstampSession, message: object) -> list[bytes]:
    text = message if isinstance(message, bytes) else json.dumps(message).encode()
    return list(session.on_text(text, NOW_NS).frames)


def subscribe(channel: str, event: str = "bts:subscribe") -> dict:
    return {"event": event, "data": {"channel": channel}}


def error(message: str) -> bytes:
    return b'{"event":"bts:error","channel":"","data":{"code":null,"message":"%b"}}' % message.encode()


def adapter() -> BitstampSpot:
    client = BitstampSpot([parse_symbol(s) for s in SYMBOLS], frozenset({Channel.BBO, Channel.TRADES}))
    client.on_connected()
    return client


def units(text: str) -> int:
    return int(Decimal(text).scaleb(8))


# -- connection and requests ----------------------------------------------------------------------


def test_the_feed_is_served_at_the_root_path_only():
    venue = BitstampSimVenue(None)
    assert isinstance(venue.accept("/"), BitstampSession)
    for path in ("/ws", "/v2", "/?x=1"):
        with pytest.raises(RequestPathError) as refused:
            venue.accept(path)
        assert refused.value.status == 404


def test_each_subscription_is_acknowledged_as_the_real_venue_does():
    session = market_venue()[2].accept("/")
    client = adapter()
    for message in client.on_connected():
        channel = json.loads(message)["data"]["channel"]
        reply = session.on_text(message, NOW_NS)
        assert reply.subscribed
        assert reply.frames == (
            b'{"event":"bts:subscription_succeeded","channel":"%b","data":{}}' % channel.encode(),
        )
        assert client.decode(reply.frames[0], 0) == ()
    assert list(session.topics) == [
        "order_book_btcusd", "order_book_ethusd", "live_trades_btcusd", "live_trades_ethusd"
    ]
    assert client.stats.control == 4 and client.stats.errors == {}
    real_ack = json.loads(fixture_lines("bitstamp", "control.jsonl")[0])
    assert list(json.loads(reply.frames[0])) == list(real_ack)


def test_unsubscribe_is_acknowledged_and_stops_the_channel():
    session = market_venue()[2].accept("/")
    send(session, subscribe("order_book_btcusd"))
    reply = session.on_text(json.dumps(subscribe("order_book_btcusd", "bts:unsubscribe")).encode(), 0)
    assert reply.frames == (
        b'{"event":"bts:unsubscription_succeeded","channel":"order_book_btcusd","data":{}}',
    )
    assert not reply.subscribed and not session.topics


def test_a_well_formed_channel_of_an_unlisted_pair_is_acknowledged_and_stays_silent():
    market, view, venue = market_venue()
    session = venue.accept("/")
    [ack] = send(session, subscribe("order_book_fooxyz"))
    assert json.loads(ack)["event"] == "bts:subscription_succeeded"
    published = {topic for event in market_events(market, view, 300, every_ms=7) for topic in venue.topics(event)}
    assert published == {
        "order_book_btcusd", "order_book_ethusd", "live_trades_btcusd", "live_trades_ethusd"
    }
    assert "order_book_fooxyz" in session.topics and "order_book_fooxyz" not in published


def test_the_client_heartbeat_is_answered_and_the_adapter_counts_the_answer():
    session = market_venue()[2].accept("/")
    client = adapter()
    [answer] = send(session, client.keepalive_message())
    assert answer == b'{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}'
    assert client.decode(answer, 0) == () and client.stats.control == 1


@pytest.mark.parametrize(
    ("message", "reply"),
    [
        (b"not json", error("Incorrect JSON format.")),
        (b'{"event":"bts:subscribe"}', error("Bad subscription string.")),
        (b'{"event":"bts:subscribe","data":{}}', error("Bad subscription string.")),
        (b'{"event":"bts:subscribe","data":"order_book_btcusd"}', error("Bad subscription string.")),
        (b'{"event":"bts:ping"}', error("Bad subscription string.")),
        (b"[1,2]", error("Bad subscription string.")),
        (json.dumps(subscribe("order_book_BTCUSD")).encode(), error("Invalid channel provided.")),
        (json.dumps(subscribe("order_book_btc/usd")).encode(), error("Invalid channel provided.")),
        (json.dumps(subscribe("ticker_btcusd")).encode(), error("Invalid channel provided.")),
    ],
)
def test_bad_requests_get_the_real_venues_error_and_change_nothing(message, reply):
    session = market_venue()[2].accept("/")
    assert send(session, message) == [reply]
    assert not session.topics


def test_errors_reach_the_adapter_as_a_clear_venue_error():
    client = adapter()
    client.decode(error("Invalid channel provided."), 0)
    assert client.stats.venue_errors == ["bitstamp error: Invalid channel provided."]


@pytest.mark.parametrize(
    ("channel", "valid"),
    [("order_book_btcusd", True), ("live_trades_btcusd-perp", True), ("diff_order_book_ethbtc", True),
     ("funding_rate_btcusd-perp", True), ("order_book_", False), ("order_book_BTCUSD", False),
     ("live_trades_btc_usd", False), ("orderbook_btcusd", False)],
)
def test_channel_names_are_a_known_kind_and_a_lowercase_market(channel, valid):
    assert is_valid_channel(channel) is valid


# -- rendering ------------------------------------------------------------------------------------


def test_a_quote_becomes_a_full_top_100_book_best_level_first():
    market, view, venue = market_venue(seed=3)
    quote = next(event for event in market_events(market, view, 100, every_ms=7) if isinstance(event, MarketQuote))
    pair = "btcusd" if quote.symbol == "BTC-USD" else "ethusd"
    assert venue.topics(quote) == (f"order_book_{pair}",)
    [payload] = venue.render(quote, f"order_book_{pair}")
    frame = json.loads(payload)
    assert list(frame) == ["data", "channel", "event"]
    assert (frame["channel"], frame["event"]) == (f"order_book_{pair}", "data")
    book = frame["data"]
    assert list(book) == ["timestamp", "microtimestamp", "bids", "asks"]
    assert book["microtimestamp"] == str(quote.time_ms * 1000)
    assert book["timestamp"] == str(quote.time_ms // 1000)
    bids = [units(price) for price, _ in book["bids"]]
    asks = [units(price) for price, _ in book["asks"]]
    assert len(bids) == len(asks) == BOOK_LEVELS
    assert bids == sorted(set(bids), reverse=True) and asks == sorted(set(asks))
    assert (bids[0], units(book["bids"][0][1]), asks[0], units(book["asks"][0][1])) == (
        quote.bid, quote.bid_size, quote.ask, quote.ask_size
    )
    assert all(len(amount.split(".")[1]) == 8 for _, amount in book["bids"] + book["asks"])


def test_prices_carry_the_decimals_of_the_symbols_tick():
    market, view, venue = market_venue()
    decimals = {}
    for event in market_events(market, view, 100, every_ms=7):
        if isinstance(event, MarketQuote):
            [payload] = venue.render(event, venue.topics(event)[0])
            decimals[event.symbol] = len(json.loads(payload)["data"]["bids"][0][0].split(".")[1])
    assert decimals == {"BTC-USD": 2, "ETH-USD": 3}  # ticks of 0.01 and 0.001


def test_book_microtimestamps_never_repeat_or_go_back_per_pair():
    market, view, venue = market_venue()
    quote = next(event for event in market_events(market, view, 50, every_ms=7) if isinstance(event, MarketQuote))
    topic = venue.topics(quote)[0]
    stamps = [
        int(json.loads(venue.render(quote, topic)[0])["data"]["microtimestamp"]) for _ in range(3)
    ]
    assert stamps == [quote.time_ms * 1000, quote.time_ms * 1000 + 1, quote.time_ms * 1000 + 2]


def test_a_trade_is_one_frame_per_fill_with_the_takers_side_and_exact_strings():
    market, view, venue = market_venue(seed=5)
    trade = next(e for e in market_events(market, view, 400, every_ms=7) if isinstance(e, MarketTrade) and e.fill_sizes[1:])
    topic = venue.topics(trade)[0]
    assert topic.startswith("live_trades_")
    frames = [json.loads(payload) for payload in venue.render(trade, topic)]
    real = json.loads(fixture_lines("bitstamp", "live_trades.jsonl")[0])
    assert all(list(frame) == list(real) and list(frame["data"]) == list(real["data"]) for frame in frames)
    assert all((frame["channel"], frame["event"]) == (topic, "trade") for frame in frames)
    fills = [frame["data"] for frame in frames]
    assert [fill["id"] for fill in fills] == [trade.first_trade_id + i for i in range(len(fills))]
    assert [units(fill["amount_str"]) for fill in fills] == list(trade.fill_sizes)
    assert {units(fill["price_str"]) for fill in fills} == {trade.price}
    assert {fill["type"] for fill in fills} == {0 if trade.taker_side == BUY else 1}
    assert {fill["microtimestamp"] for fill in fills} == {str(trade.time_ms * 1000)}
    for fill in fills:
        assert Decimal(str(fill["amount"])) == Decimal(fill["amount_str"])
        assert Decimal(str(fill["price"])) == Decimal(fill["price_str"])
    taker = "buy_order_id" if trade.taker_side == BUY else "sell_order_id"
    maker = "sell_order_id" if taker == "buy_order_id" else "buy_order_id"
    assert len({fill[taker] for fill in fills}) == 1  # one taker order
    assert len({fill[maker] for fill in fills}) == len(fills)  # hitting several resting orders
    assert all(fill[taker] > fill[maker] for fill in fills)  # the taker's order is the newest


def test_statistics_alone_publish_nothing():
    market, view, venue = market_venue()
    tickers = [event for event in market_events(market, view, 200, every_ms=7) if type(event).__name__ == "MarketTicker"]
    assert tickers and all(venue.topics(ticker) == () for ticker in tickers)


def test_frames_rendered_from_the_market_decode_with_tickwires_adapter_into_the_same_ints():
    market, view, venue = market_venue(seed=9)
    client = adapter()
    decoded, expected_quotes, expected_trades = [], [], []
    for event in market_events(market, view, 3000, every_ms=7):
        for topic in venue.topics(event):
            for payload in venue.render(event, topic):
                decoded.extend(client.decode(payload, 0))
        if isinstance(event, MarketQuote):
            expected_quotes.append((event.symbol, event.bid, event.bid_size, event.ask, event.ask_size,
                                    event.time_ms * 1_000_000))
        elif isinstance(event, MarketTrade):
            expected_trades.extend(
                (event.symbol, event.price, size, event.taker_side, event.first_trade_id + fill,
                 event.time_ms * 1_000_000)
                for fill, size in enumerate(event.fill_sizes)
            )
    quotes = [(q.symbol, q.bid, q.bid_size, q.ask, q.ask_size, q.exchange_ns) for q in decoded
              if isinstance(q, Quote)]
    trades = [(t.symbol, t.price, t.size, t.side, t.trade_id, t.exchange_ns) for t in decoded
              if isinstance(t, Trade)]
    assert len(quotes) > 200 and len(trades) > 50
    assert quotes == expected_quotes
    assert trades == expected_trades
    assert {side for _, _, _, side, _, _ in trades} == {BUY, SELL}
    assert client.stats.errors == {}


# -- recordings -----------------------------------------------------------------------------------


def test_recorded_market_data_is_routed_by_channel_byte_for_byte():
    for name in ("live_trades.jsonl", "diff_order_book.jsonl"):
        for line in fixture_lines("bitstamp", name):
            assert parse_recorded_line(line) == (json.loads(line)["channel"], line)


def test_recorded_control_frames_go_to_no_subscriber():
    assert {parse_recorded_line(line)[0] for line in fixture_lines("bitstamp", "control.jsonl")} == {""}
    reconnect = b'{"event":"bts:request_reconnect","channel":"","data":""}'
    assert parse_recorded_line(reconnect) == ("", reconnect)
    with pytest.raises(ValueError):
        parse_recorded_line(b'{"channel":"live_trades_btcusd"}')
