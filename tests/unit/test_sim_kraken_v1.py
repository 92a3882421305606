"""The simulator's Kraken spot WebSocket v1 protocol logic, without sockets.

Round trips go through tickwire's own v1 adapter; the real recorded v1 frames (copied into
``tests/fixtures/kraken``) must be read back verbatim with their channel and pair.
"""

from __future__ import annotations

import json

import pytest

from tickwire.instruments import parse_symbol
from tickwire.model import SELL, Quote, Ticker, Trade
from tickwire.sim.kraken_v1 import (
    HEARTBEAT,
    KrakenV1Session,
    KrakenV1SimVenue,
    parse_recorded_line,
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
from tickwire.sim.venue import RequestPathError
from tickwire.venues.base import Channel
from tickwire.venues.kraken_v1 import KrakenSpotV1

from .sim_helpers import fixture_lines, market_events

NOW_MS = 1_790_001_234_567
NOW_NS = NOW_MS * 1_000_000
ONE = 10**8
SYMBOLS = ["BTC-USD", "DOGE-USD"]


def market_and_venue(symbols=SYMBOLS, seed: int = 0) -> tuple[SyntheticMarket, KrakenV1SimVenue]:
    market = SyntheticMarket([symbol_spec(s) for s in symbols], seed=seed)
    return market, KrakenV1SimVenue(VenueView(market, "kraken_v1"))


def venue(symbols=SYMBOLS) -> KrakenV1SimVenue:
    return market_and_venue(symbols)[1]


def adapter(symbols=SYMBOLS, channels=Channel.ALL) -> KrakenSpotV1:
    return KrakenSpotV1([parse_symbol(s) for s in symbols], frozenset(channels))


def request(session: KrakenV1Session, message: object) -> list:
    text = message if isinstance(message, bytes) else json.dumps(message).encode()
    return [json.loads(frame) for frame in session.on_text(text, NOW_NS).frames]


def subscribe(name: str, pairs: list[str], **more) -> dict:
    return {"event": "subscribe", "pair": pairs, "subscription": {"name": name}, **more}


def test_the_venue_is_registered_under_the_adapters_name_at_the_root_path():
    assert SIM_VENUES["kraken_v1"] is KrakenV1SimVenue
    assert KrakenV1SimVenue.default_path == ""
    assert KrakenV1SimVenue.heartbeat_interval == 1.0
    assert isinstance(venue().accept("/"), KrakenV1Session)
    with pytest.raises(RequestPathError) as refused:
        venue().accept("/v2")
    assert refused.value.status == 404


def test_the_adapters_subscriptions_get_a_status_per_pair_then_the_current_tickers():
    sim, client = venue(), adapter()
    session = sim.accept("/")
    ticker_request, trade_request = client.on_connected()
    reply = session.on_text(ticker_request, NOW_NS)
    assert reply.subscribed
    statuses = [json.loads(frame) for frame in reply.frames[:2]]
    ticker_ids = [status["channelID"] for status in statuses]
    assert statuses == [
        {"channelID": channel_id, "channelName": "ticker", "event": "subscriptionStatus",
         "pair": pair, "status": "subscribed", "subscription": {"name": "ticker"}}
        for channel_id, pair in zip(ticker_ids, ("XBT/USD", "XDG/USD"))
    ]
    tickers = [json.loads(frame) for frame in reply.frames[2:]]
    assert [(t[0], t[2], t[3]) for t in tickers] == [
        (ticker_ids[0], "ticker", "XBT/USD"), (ticker_ids[1], "ticker", "XDG/USD")
    ]
    assert list(tickers[0][1]) == ["a", "b", "c", "v", "p", "t", "l", "h", "o"]
    trade_statuses = [json.loads(frame) for frame in session.on_text(trade_request, NOW_NS).frames]
    assert [s["channelName"] for s in trade_statuses] == ["trade", "trade"]
    ids = ticker_ids + [s["channelID"] for s in trade_statuses]
    assert len(set(ids)) == 4
    other = [json.loads(f) for f in sim.accept("/").on_text(ticker_request, NOW_NS).frames[:2]]
    assert [s["channelID"] for s in other] == ticker_ids  # per channel and pair, not connection


def test_the_current_ticker_decodes_to_the_venues_current_quote():
    sim, client = venue(), adapter(channels={Channel.BBO})
    (ticker_request,) = client.on_connected()
    *_, btc, doge = sim.accept("/").on_text(ticker_request, NOW_NS).frames
    assert sim.view is not None
    for frame, symbol in ((btc, "BTC-USD"), (doge, "DOGE-USD")):
        (quote,) = client.decode(frame, 1)
        market = sim.view.quote(symbol)
        assert (quote.bid, quote.bid_size, quote.ask, quote.ask_size) == (
            market.bid, market.bid_size, market.ask, market.ask_size)


@pytest.mark.parametrize(
    ("message", "reply"),
    [
        (subscribe("ticker", ["XBT/USDX"], reqid=5),
         {"errorMessage": "Currency pair not supported", "event": "subscriptionStatus",
          "pair": "XBT/USDX", "reqid": 5, "status": "error", "subscription": {"name": "ticker"}}),
        (subscribe("ticker", ["BTC/USD"]),  # v1 names it XBT
         {"errorMessage": "Currency pair not supported", "event": "subscriptionStatus",
          "pair": "BTC/USD", "status": "error", "subscription": {"name": "ticker"}}),
        (subscribe("spread", ["XBT/USD"]),
         {"errorMessage": "Subscription name invalid", "event": "error"}),
        ({"event": "subscribe", "pair": ["XBT/USD"], "subscription": {"name": "book", "depth": 7}},
         {"errorMessage": "Subscription depth not supported", "event": "error"}),
        ({"event": "subscribe", "pair": ["XBT/USD"]},
         {"errorMessage": "Subscription field must be an object", "event": "error"}),
        ({"event": "subscribe", "subscription": {"name": "trade"}, "reqid": 8},
         {"errorMessage": "Pair field must be a non-empty array of strings", "event": "error",
          "reqid": 8}),
        ({"event": "login"}, {"errorMessage": "Unsupported event: login", "event": "error"}),
        (b"{oops", {"errorMessage": "Malformed request", "event": "error"}),
        (b'"subscribe"', {"errorMessage": "Malformed request", "event": "error"}),
    ],
)
def test_bad_requests_are_answered_with_an_error_and_change_nothing(message, reply):
    session = venue().accept("/")
    assert request(session, message) == [reply]
    assert not session.topics


def test_errors_reach_the_adapter_as_venue_error_messages():
    client = adapter()
    session = venue().accept("/")
    request_text = json.dumps(subscribe("ticker", ["FOO/USD"])).encode()
    for frame in session.on_text(request_text, NOW_NS).frames:
        assert client.decode(frame, 1) == ()
    assert client.stats.venue_errors == [
        "kraken_v1 subscriptionStatus: Currency pair not supported (FOO/USD)"
    ]


def test_subscribing_twice_is_refused_and_unsubscribing_answers_unsubscribed():
    session = venue().accept("/")
    (status,) = request(session, subscribe("trade", ["XBT/USD"]))
    (again,) = request(session, subscribe("trade", ["XBT/USD"]))
    assert again["status"] == "error" and again["errorMessage"] == "Already subscribed"
    unsubscribe = {"event": "unsubscribe", "pair": ["XBT/USD"], "subscription": {"name": "trade"}}
    (gone,) = request(session, unsubscribe)
    assert gone == {**status, "status": "unsubscribed"}
    assert not session.topics
    (missing,) = request(session, unsubscribe)
    assert missing["errorMessage"] == "Subscription Not Found"


def test_a_book_subscription_names_its_depth():
    session = venue().accept("/")
    (status,) = request(session, {"event": "subscribe", "pair": ["XBT/USD"],
                                  "subscription": {"name": "book", "depth": 1000}})
    assert status["channelName"] == "book-1000"
    assert status["subscription"] == {"depth": 1000, "name": "book"}
    assert list(session.topics) == ["book-1000:XBT/USD"]


def test_ping_gets_a_pong_with_the_reqid_and_heartbeats_come_when_subscribed_and_quiet():
    session = venue().accept("/")
    assert request(session, {"event": "ping", "reqid": 42}) == [{"event": "pong", "reqid": 42}]
    assert session.heartbeat(NOW_MS, quiet=True) is None
    request(session, subscribe("ticker", ["XBT/USD"]))
    assert session.heartbeat(NOW_MS, quiet=False) is None
    assert session.heartbeat(NOW_MS, quiet=True) == HEARTBEAT == b'{"event":"heartbeat"}'
    assert adapter().decode(HEARTBEAT, 1) == ()


def test_every_rendered_frame_decodes_with_the_adapter_into_the_markets_integers():
    market, sim = market_and_venue(seed=4)
    assert sim.view is not None
    client = adapter()
    client.on_connected()
    counts = {MarketQuote: 0, MarketTrade: 0, MarketTicker: 0}
    for event in market_events(market, sim.view, 600):
        counts[type(event)] += 1
        (topic,) = sim.topics(event)
        (payload,) = sim.render(event, topic)
        decoded = client.decode(payload, 1)
        if isinstance(event, MarketTrade):
            assert decoded == tuple(
                Trade("kraken_v1", event.symbol, event.price, size, event.taker_side, 0, 1,
                      event.time_ms * 1_000_000)
                for size in event.fill_sizes
            )
            continue
        quote, last = decoded
        assert isinstance(quote, Quote) and isinstance(last, Ticker)
        assert (quote.bid, quote.bid_size, quote.ask, quote.ask_size) == (
            event.bid, event.bid_size, event.ask, event.ask_size)
        if isinstance(event, MarketTicker):
            assert last.last == event.last
    assert all(counts.values()), counts
    assert client.stats.errors == {}


def test_ticker_levels_carry_the_whole_lot_volume_as_an_int_and_trades_one_entry_per_fill():
    sim = venue(["BTC-USD"])
    quote = MarketQuote("BTC-USD", 1, 67_000 * ONE, 2 * ONE + 5, 67_001 * ONE, ONE // 2, NOW_MS)
    (payload,) = sim.render(quote, "ticker:XBT/USD")
    _, ticker, name, pair = json.loads(payload)
    assert (name, pair) == ("ticker", "XBT/USD")
    assert ticker["b"] == ["67000.00000000", 2, "2.00000005"]
    assert ticker["a"] == ["67001.00000000", 0, "0.50000000"]
    trade = MarketTrade("BTC-USD", 8, 67_000 * ONE, 3 * ONE, SELL, 40, (ONE, 2 * ONE), NOW_MS)
    (payload,) = sim.render(trade, "trade:XBT/USD")
    _, fills, name, pair = json.loads(payload)
    assert (name, pair) == ("trade", "XBT/USD")
    assert fills == [
        ["67000.00000000", "1.00000000", "1790001234.567000", "s", "l", ""],
        ["67000.00000000", "2.00000000", "1790001234.567000", "s", "l", ""],
    ]


def test_the_real_recorded_frames_replay_to_their_channel_and_pair():
    sim = KrakenV1SimVenue(None)
    for line in fixture_lines("kraken", "ticker.jsonl") + fixture_lines("kraken", "trade.jsonl"):
        topic, payload = sim.recorded_frame(line)
        channel_id, *_, name, pair = json.loads(line)
        assert (topic, payload) == (f"{name}:{pair}", line)
    assert {sim.recorded_frame(line)[0] for line in fixture_lines("kraken", "control.jsonl")} == {""}


def test_replayed_acks_carry_the_recordings_channel_ids_and_new_ones_do_not_clash():
    sim = KrakenV1SimVenue(None)
    for line in fixture_lines("kraken", "ticker.jsonl"):
        sim.recorded_frame(line)
    session = sim.accept("/")
    xmr, new = request(session, subscribe("ticker", ["XMR/USD", "NEW/EUR"]))
    assert xmr["channelID"] == 996  # as in the recording's XMR/USD ticker frames
    recorded_ids = {json.loads(line)[0] for line in fixture_lines("kraken", "ticker.jsonl")}
    assert new["status"] == "subscribed" and new["channelID"] > max(recorded_ids)


def test_a_book_frame_with_two_payloads_is_read_by_its_last_two_strings():
    line = (b'[1360,{"a":[["0.1","2.0","1618678123.481570"]]},{"b":[["0.09","1.0",'
            b'"1618678123.481570"]],"c":"123"},"book-1000","KSM/XBT"]')
    assert parse_recorded_line(line) == ("book-1000:KSM/XBT", line, 1360)


@pytest.mark.parametrize("line", [b"nonsense", b"[1,2]", b'["x",{},"ticker","XBT/USD"]', b"42"])
def test_a_line_that_is_not_a_v1_frame_is_refused(line):
    with pytest.raises(ValueError):
        parse_recorded_line(line)
