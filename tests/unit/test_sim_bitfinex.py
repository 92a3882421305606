"""The simulator's Bitfinex v2 public protocol logic, without sockets.

Round trips go through tickwire's own Bitfinex adapter: what the simulated venue renders must
decode into exactly the integers the synthetic market produced.
"""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.instruments import parse_symbol
from tickwire.model import BUY, SELL, Quote, Ticker, Trade
from tickwire.sim.bitfinex import INFO, BitfinexSession, BitfinexSimVenue
from tickwire.sim.levels import level_changes
from tickwire.sim.market import MarketQuote, MarketTicker, MarketTrade, SyntheticMarket, VenueView, symbol_spec
from tickwire.sim.registry import SIM_VENUES
from tickwire.sim.venue import RequestPathError
from tickwire.venues.base import Channel
from tickwire.venues.bitfinex import BitfinexPublic

from .sim_helpers import FIXTURES, NOW_MS, market_events

NOW_NS = NOW_MS * 1_000_000
SYMBOLS = ["BTC-USD", "ETH-USDT", "BTC-USDT-PERP"]


def market_and_venue(symbols=SYMBOLS, seed: int = 0) -> tuple[SyntheticMarket, BitfinexSimVenue]:
    market = SyntheticMarket([symbol_spec(s) for s in symbols], seed=seed)
    return market, BitfinexSimVenue(VenueView(market, "bitfinex", instrument_kinds=BitfinexSimVenue.instrument_kinds))


def connect(sim: BitfinexSimVenue, channels=Channel.ALL) -> tuple[BitfinexSession, BitfinexPublic, list]:
    """A session answering a new adapter's requests; the events its replies gave."""
    client = BitfinexPublic([parse_symbol(s) for s in SYMBOLS], frozenset(channels))
    session = sim.accept("/ws/2")
    events = [e for request in client.on_connected() for frame in session.on_text(request, NOW_NS).frames
              for e in client.decode(frame, 0)]
    return session, client, events


def send(session: BitfinexSession, **event) -> list[dict]:
    return [json.loads(f) for f in session.on_text(json.dumps(event).encode(), NOW_NS).frames]


def test_the_venue_is_registered_under_the_adapters_name_at_the_real_path():
    assert SIM_VENUES["bitfinex"] is BitfinexSimVenue
    assert BitfinexSimVenue.default_path == "/ws/2"
    assert BitfinexSimVenue.instrument_kinds == frozenset(("", "PERP"))
    assert BitfinexSimVenue.heartbeat_interval == 15.0 and BitfinexSimVenue.idle_timeout is None


@pytest.mark.parametrize("path", ["/", "/ws/1", "/ws", "/ws/2/x"])
def test_other_paths_are_refused_with_404(path):
    with pytest.raises(RequestPathError) as refused:
        market_and_venue()[1].accept(path)
    assert refused.value.status == 404


def test_the_first_answer_follows_the_info_event_and_conf_and_ping_are_answered():
    session = market_and_venue()[1].accept("/ws/2")
    frames = session.on_text(b'{"event":"conf","flags":65536}', NOW_NS).frames
    assert frames[0] == INFO
    assert json.loads(frames[1]) == {"event": "conf", "status": "OK", "flags": 65536}
    assert send(session, event="ping", cid=1234) == [{"event": "pong", "ts": NOW_MS, "cid": 1234}]


def test_the_adapters_requests_get_subscribed_events_and_snapshots_of_the_market():
    _, sim = market_and_venue()
    session, client, events = connect(sim)
    assert len(session.topics) == 9 and len(set(session.chan_ids.values())) == 9
    assert client.stats.errors == {} and client.stats.sequence_gaps == 0
    assert client.stats.control == 1 + 1 + 9 + 3  # info, conf, subscribed, empty trade snapshots
    quotes = {e.symbol: e for e in events if isinstance(e, Quote)}
    tickers = {e.symbol for e in events if isinstance(e, Ticker)}
    assert sim.view is not None and tickers == set(SYMBOLS)
    for symbol in SYMBOLS:
        market = sim.view.quote(symbol)
        assert (quotes[symbol].bid, quotes[symbol].bid_size, quotes[symbol].ask, quotes[symbol].ask_size) == (
            market.bid, market.bid_size, market.ask, market.ask_size)


def test_every_rendered_event_decodes_to_the_markets_integers_and_no_quote_between_is_invalid():
    market, sim = market_and_venue(seed=9)
    session, client, snapshots = connect(sim)
    touches = {q.symbol: (q.bid, q.bid_size, q.ask, q.ask_size) for q in snapshots if isinstance(q, Quote)}
    assert sim.view is not None
    counts = {MarketQuote: 0, MarketTrade: 0, MarketTicker: 0}
    for event in market_events(market, sim.view, 3000):
        (topic,) = sim.topics(event)
        decoded = [e for payload in sim.render(event, topic) for e in client.decode(session.frame(topic, payload), 0)]
        counts[type(event)] += 1
        if isinstance(event, MarketQuote):
            for quote in decoded:
                assert 0 < quote.bid < quote.ask and quote.symbol == event.symbol
                touches[quote.symbol] = (quote.bid, quote.bid_size, quote.ask, quote.ask_size)
            # the last quote is the market's (those before it are on the way there), or the top
            # did not change
            assert touches[event.symbol] == (event.bid, event.bid_size, event.ask, event.ask_size)
        elif isinstance(event, MarketTrade):
            assert decoded == [
                Trade("bitfinex", event.symbol, event.price, size, BUY if event.taker_side == BUY else SELL,
                      event.first_trade_id + fill, 0, event.time_ms * 1_000_000)
                for fill, size in enumerate(event.fill_sizes)
            ]
        else:
            assert decoded == [Ticker("bitfinex", event.symbol, event.last, 0)]
    assert min(counts.values()) > 100
    assert client.stats.errors == {} and client.stats.sequence_gaps == 0


@given(st.lists(st.tuples(st.integers(1, 30), st.integers(1, 5), st.integers(1, 3), st.integers(1, 3)),
                min_size=2, max_size=20))
def test_level_changes_applied_one_by_one_never_empty_a_side_nor_cross_the_book(touches):
    quotes = [MarketQuote("X-Y", n, bid, bid_size, bid + spread, ask_size, 0)
              for n, (bid, spread, bid_size, ask_size) in enumerate(touches)]
    bids = {quotes[0].bid: quotes[0].bid_size}
    asks = {quotes[0].ask: quotes[0].ask_size}
    for before, after in zip(quotes, quotes[1:]):
        for change in level_changes(before, after):
            side = bids if change.is_bid else asks
            if change.size:
                side[change.price] = change.size
            else:
                del side[change.price]
            assert bids and asks and max(bids) < min(asks)
        assert bids == {after.bid: after.bid_size} and asks == {after.ask: after.ask_size}


def test_messages_are_numbered_per_connection_only_after_conf_asks_for_it():
    _, sim = market_and_venue()
    plain = sim.accept("/ws/2")
    (_, subscribed, snapshot) = plain.on_text(b'{"event":"subscribe","channel":"trades","symbol":"tBTCUSD"}',
                                              NOW_NS).frames
    assert json.loads(snapshot) == [json.loads(subscribed)["chanId"], []]
    numbered, _, _ = connect(sim)
    beat = json.loads(numbered.heartbeat(NOW_MS, True) or b"")
    assert beat[1] == "hb" and beat[2] == 10  # the 9 snapshots were numbered 1 to 9
    assert beat[0] in numbered.chan_ids.values()


@pytest.mark.parametrize(
    ("event", "code", "msg"),
    [
        ({"event": "subscribe", "channel": "candles", "symbol": "tBTCUSD"}, 10302, "channel: unknown"),
        ({"event": "subscribe", "channel": "book", "symbol": "tFOOUSD"}, 10300, "symbol: invalid"),
        ({"event": "subscribe", "channel": "book", "symbol": "tBTCUSD", "prec": "R0"}, 10300,
         "book: prec, freq or len not supported"),
        ({"event": "subscribe", "channel": "book", "symbol": "tBTCUSD", "len": "7"}, 10300,
         "book: prec, freq or len not supported"),
        ({"event": "hello"}, 10000, "Unknown event"),
    ],
)
def test_bad_requests_get_an_error_event(event, code, msg):
    session = market_and_venue()[1].accept("/ws/2")
    error = send(session, **event)[-1]
    assert (error["event"], error["code"], error["msg"]) == ("error", code, msg)
    assert not session.topics


def test_a_second_subscription_to_a_channel_and_a_26th_channel_are_refused():
    session = market_and_venue()[1].accept("/ws/2")
    send(session, event="subscribe", channel="ticker", symbol="tBTCUSD")
    assert send(session, event="subscribe", channel="ticker", symbol="tBTCUSD")[0]["code"] == 10301
    replay = BitfinexSimVenue(None).accept("/ws/2")
    for n in range(25):
        assert send(replay, event="subscribe", channel="ticker", symbol=f"tC{n:02d}USD")[-1]["event"] == "subscribed"
    assert send(replay, event="subscribe", channel="ticker", symbol="tC99USD")[-1]["code"] == 10305


def test_unsubscribe_by_chan_id():
    session = market_and_venue()[1].accept("/ws/2")
    chan_id = send(session, event="subscribe", channel="ticker", symbol="tBTCUSD")[1]["chanId"]
    assert send(session, event="unsubscribe", chanId=chan_id) == [
        {"event": "unsubscribed", "status": "OK", "chanId": chan_id}]
    assert not session.topics
    assert send(session, event="unsubscribe", chanId=chan_id)[0]["event"] == "error"


def test_a_recorded_connection_is_replayed_under_each_clients_own_channel_ids_byte_for_byte():
    sim = BitfinexSimVenue(None)
    lines = gzip.decompress((FIXTURES / "bitfinex" / "capture.jsonl.gz").read_bytes()).splitlines()
    routed = [sim.recorded_frame(line) for line in lines]
    data = [(topic, body) for topic, body in routed if topic]
    assert len(data) == 1693 - 23 - 42  # all but events and heartbeats
    assert {topic.split(":")[0] for topic, _ in data} == {"book", "ticker", "trades"}
    for (topic, body), line in zip(routed, lines):
        if topic:
            assert line == b"[%b,%b,%b]" % (line[1 : line.find(b",")], body, line[line.rfind(b",") + 1 : -1])
    session, client = sim.accept("/ws/2"), BitfinexPublic([parse_symbol("DOG-USD")], frozenset({Channel.TICKER}))
    for request in client.on_connected():
        for frame in session.on_text(request, NOW_NS).frames:
            client.decode(frame, 0)
    tickers = [body for topic, body in data if topic == "ticker:tDOGUSD"]
    quotes = [e for body in tickers for e in client.decode(session.frame("ticker:tDOGUSD", body), 0)
              if isinstance(e, Quote)]
    assert [q.bid for q in quotes] == [json.loads(body)[0] * 10**8 for body in tickers]
    assert client.stats.errors == {} and client.stats.sequence_gaps == 0
