"""The simulator's Bybit v5 spot and linear protocol logic, without sockets.

Shapes are checked against the real recorded frames in ``tests/fixtures/bybit``, and every push
the simulator renders is decoded with tickwire's own Bybit adapters back into the market's ints.
"""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path
from typing import NamedTuple

import pytest

from tickwire.instruments import parse_symbol
from tickwire.model import BUY, SELL, Quote, Ticker, Trade
from tickwire.sim.bybit import (
    BOOK_REPEAT_MS,
    BybitLinearSimVenue,
    BybitSession,
    BybitSimVenue,
    BybitSpotSimVenue,
)
from tickwire.sim.market import (
    MarketQuote,
    MarketTicker,
    MarketTrade,
    SyntheticMarket,
    VenueView,
    symbol_spec,
)
from tickwire.sim.venue import RequestPathError, format_units, format_units_short
from tickwire.venues.base import Channel
from tickwire.venues.bybit import BybitLinear, BybitSpot

from .sim_helpers import rendered

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bybit"
NOW_MS = 1_790_001_234_567
NS = 1_000_000
SPOT = ["BTC-USDT", "ETH-USDT"]
LINEAR = ["BTC-USDT-PERP", "ETH-USDT-PERP"]
VENUES = [(BybitSpotSimVenue, SPOT), (BybitLinearSimVenue, LINEAR)]


def recorded(name: str) -> list[dict]:
    path = FIXTURES / name
    data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    return [json.loads(line) for line in data.splitlines()]


class Simulated(NamedTuple):
    venue: BybitSimVenue
    market: SyntheticMarket

    def steps(self, count: int, start_ms: int = NOW_MS, every_ms: int = 20):
        """``count`` market steps: (event, topic, payload) for every push the venue renders."""
        return rendered(self.venue, self.market, count, start_ms, every_ms)


def simulated(venue_type: type[BybitSimVenue], symbols: list[str], seed: int = 0,
              channels=("bbo", "trades", "ticker")) -> Simulated:
    market = SyntheticMarket([symbol_spec(s) for s in symbols], seed=seed, channels=channels)
    view = VenueView(market, venue_type.name, instrument_kinds=venue_type.instrument_kinds,
                     quote_interval_ms=venue_type.quote_interval_ms)
    return Simulated(venue_type(view), market)


def make_venue(venue_type: type[BybitSimVenue], symbols: list[str], **options) -> BybitSimVenue:
    return simulated(venue_type, symbols, **options).venue


def request(session: BybitSession, message: object, now_ms: int = NOW_MS) -> list[dict]:
    text = message if isinstance(message, bytes) else json.dumps(message).encode()
    return [json.loads(frame) for frame in session.on_text(text, now_ms * NS).frames]


def subscribe(session: BybitSession, *topics: str, req_id: str = "1") -> list[dict]:
    return request(session, {"req_id": req_id, "op": "subscribe", "args": list(topics)})


def all_topics(name: str) -> list[str]:
    return [f"orderbook.1.{name}", f"publicTrade.{name}", f"tickers.{name}"]


# -- paths and requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(("venue_type", "symbols"), VENUES)
def test_each_category_has_its_own_path(venue_type, symbols):
    venue = make_venue(venue_type, symbols)
    assert isinstance(venue.accept(venue_type.default_path), BybitSession)
    assert isinstance(venue.accept(venue_type.default_path + "/"), BybitSession)
    other = {"/v5/public/spot": "/v5/public/linear", "/v5/public/linear": "/v5/public/spot"}
    for path in (other[venue_type.default_path], "/", "/v5/public/inverse", "/v5/private"):
        with pytest.raises(RequestPathError) as refused:
            venue.accept(path)
        assert refused.value.status == 404


@pytest.mark.parametrize("venue_type", [BybitSpotSimVenue, BybitLinearSimVenue])
def test_the_client_keeps_the_connection_alive_the_venue_drops_it_after_ten_silent_minutes(
    venue_type,
):
    assert (venue_type.ping_interval, venue_type.idle_timeout) == (None, 600)
    assert venue_type.instrument_kinds == (
        frozenset({"PERP"}) if venue_type is BybitLinearSimVenue else frozenset({""})
    )


def test_spot_acks_name_the_op_and_echo_a_req_id_only_when_one_was_sent():
    venue = make_venue(BybitSpotSimVenue, SPOT)
    session = venue.accept("/v5/public/spot")
    ack = subscribe(session, "publicTrade.BTCUSDT", req_id="7")[0]
    assert ack == {"success": True, "ret_msg": "subscribe", "conn_id": session.conn_id,
                   "req_id": "7", "op": "subscribe"}
    ack = request(session, {"op": "subscribe", "args": ["publicTrade.ETHUSDT"]})[0]
    assert list(ack) == list(recorded("spot_control.jsonl")[0])  # no req_id, as recorded
    assert ack["ret_msg"] == "subscribe"


def test_linear_acks_have_an_empty_ret_msg_and_always_a_req_id():
    venue = make_venue(BybitLinearSimVenue, LINEAR)
    session = venue.accept("/v5/public/linear")
    ack = request(session, {"op": "subscribe", "args": ["publicTrade.BTCUSDT"]})[0]
    real = recorded("linear_control.jsonl")[0]
    assert list(ack) == list(real)
    assert (ack["ret_msg"], ack["req_id"]) == (real["ret_msg"], real["req_id"]) == ("", "")


def test_pongs_have_each_categorys_shape():
    spot = make_venue(BybitSpotSimVenue, SPOT).accept("/v5/public/spot")
    assert request(spot, {"op": "ping"}) == [
        {"success": True, "ret_msg": "pong", "conn_id": spot.conn_id, "op": "ping"}
    ]
    assert request(spot, {"req_id": "p1", "op": "ping"})[0]["req_id"] == "p1"
    linear = make_venue(BybitLinearSimVenue, LINEAR).accept("/v5/public/linear")
    assert request(linear, {"op": "ping"}) == [
        {"req_id": "", "op": "pong", "args": [str(NOW_MS)], "conn_id": linear.conn_id}
    ]
    assert request(linear, {"req_id": "p1", "op": "ping"})[0]["req_id"] == "p1"


@pytest.mark.parametrize(("venue_type", "symbols"), VENUES)
def test_a_subscription_gets_its_ack_then_the_current_book_and_ticker(venue_type, symbols):
    venue = make_venue(venue_type, symbols)
    session = venue.accept(venue_type.default_path)
    ack, book, ticker = subscribe(session, *all_topics("BTCUSDT"))
    assert ack["success"] is True
    assert (book["topic"], book["type"]) == ("orderbook.1.BTCUSDT", "snapshot")
    assert (ticker["topic"], ticker["type"]) == ("tickers.BTCUSDT", "snapshot")
    quote = venue.view.quote(symbols[0])
    assert book["data"]["seq"] == ticker["cs"] == quote.update_id
    assert book["ts"] == ticker["ts"] == NOW_MS
    assert list(session.topics) == all_topics("BTCUSDT")


@pytest.mark.parametrize(
    ("venue_type", "symbols", "topics", "ret_msg"),
    [
        (BybitSpotSimVenue, SPOT, ["orderbook.1.BTCUSDT", "orderbook.1.NOPEUSDT"],
         "Invalid symbol :[orderbook.1.NOPEUSDT]"),
        (BybitLinearSimVenue, LINEAR, ["tickers.NOPEUSDT"],
         "error:handler not found,topic:tickers.NOPEUSDT"),
        (BybitLinearSimVenue, LINEAR, ["orderbook.1.btcusdt"],
         "error:handler not found,topic:orderbook.1.btcusdt"),
        (BybitSpotSimVenue, SPOT, ["orderbook.50.BTCUSDT"],
         "error:handler not found,topic:orderbook.50.BTCUSDT"),
        (BybitLinearSimVenue, LINEAR, ["kline.1.BTCUSDT"],
         "error:handler not found,topic:kline.1.BTCUSDT"),
        (BybitSpotSimVenue, SPOT, [], "error:args is empty"),
        (BybitSpotSimVenue, ["BTC-USDT", "ETH-USDT", "SOL-USDT", "DOGE-USDT"],
         [*all_topics("BTCUSDT"), *all_topics("ETHUSDT"), *all_topics("SOLUSDT"),
          "tickers.DOGEUSDT", "publicTrade.DOGEUSDT"],
         "args size >10"),
    ],
)
def test_a_refused_subscribe_request_subscribes_nothing(venue_type, symbols, topics, ret_msg):
    session = make_venue(venue_type, symbols).accept(venue_type.default_path)
    assert subscribe(session, *topics, req_id="9") == [
        {"success": False, "ret_msg": ret_msg, "conn_id": session.conn_id, "req_id": "9",
         "op": "subscribe"}
    ]
    assert session.topics == {}


def test_linear_takes_more_than_ten_topics_in_one_request():
    symbols = ["BTC-USDT-PERP", "ETH-USDT-PERP", "SOL-USDT-PERP", "DOGE-USDT-PERP"]
    session = make_venue(BybitLinearSimVenue, symbols).accept("/v5/public/linear")
    topics = [topic for name in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT")
              for topic in all_topics(name)]
    assert subscribe(session, *topics)[0]["success"] is True
    assert len(session.topics) == 12


@pytest.mark.parametrize(("venue_type", "symbols"), VENUES)
def test_subscribing_again_is_refused_and_unsubscribe_stops_a_topic(venue_type, symbols):
    session = make_venue(venue_type, symbols).accept(venue_type.default_path)
    subscribe(session, "orderbook.1.BTCUSDT", "publicTrade.BTCUSDT")
    again = subscribe(session, "orderbook.1.ETHUSDT", "orderbook.1.BTCUSDT")
    assert again[0]["ret_msg"] == "error:already subscribed,topic:orderbook.1.BTCUSDT"
    assert list(session.topics) == ["orderbook.1.BTCUSDT", "publicTrade.BTCUSDT"]
    reply = request(session, {"req_id": "2", "op": "unsubscribe", "args": ["orderbook.1.BTCUSDT"]})
    assert reply[0]["success"] is True and reply[0]["op"] == "unsubscribe"
    assert list(session.topics) == ["publicTrade.BTCUSDT"]
    assert session.book_sent_ms == {}


@pytest.mark.parametrize(
    ("message", "ret_msg"),
    [(b"hello", "Failed to decode incoming data:"), (b'{"op":"nope"}', "error:invalid op"),
     (b'{"op":"subscribe","args":[1]}', "Failed to decode incoming data:")],
)
def test_bad_messages_get_a_failed_reply(message, ret_msg):
    session = make_venue(BybitSpotSimVenue, SPOT).accept("/v5/public/spot")
    (reply,) = request(session, message)
    assert reply["success"] is False and reply["ret_msg"].startswith(ret_msg)
    assert session.topics == {}


# -- pushes ---------------------------------------------------------------------------------------


def key_orders(pushes) -> dict[str, tuple[list[str], list[str]]]:
    """Top-level and data keys of the first push of each topic kind and type."""
    orders = {}
    for push in pushes:
        kind = push["topic"].rsplit(".", 1)[0].replace(".200", ".1")
        data = push["data"][0] if isinstance(push["data"], list) else push["data"]
        orders.setdefault((kind, push["type"]), (list(push), list(data)))
    return orders


@pytest.mark.parametrize(
    ("venue_type", "symbols", "category"),
    [(BybitSpotSimVenue, SPOT, "spot"), (BybitLinearSimVenue, LINEAR, "linear")],
)
def test_pushes_have_the_recorded_key_order(venue_type, symbols, category):
    sim = simulated(venue_type, symbols, seed=4)
    session = sim.venue.accept(venue_type.default_path)
    snapshots = subscribe(session, *all_topics("BTCUSDT"))[1:]
    ours = key_orders([*snapshots, *(json.loads(p) for _, _, p in sim.steps(600))])
    real = key_orders([
        *recorded(f"{category}_orderbook.jsonl.gz"),
        *recorded(f"{category}_publicTrade.jsonl"),
        *recorded(f"{category}_tickers.jsonl"),
    ])
    for key, (top, data) in ours.items():
        real_top, real_data = real[key]
        assert top == real_top, key
        if key[0] == "tickers":  # fewer statistics than the real venue, in its order
            full = real["tickers", "snapshot"][1]
            assert data == [name for name in full if name in data], key
        else:
            assert data == real_data, key
    expected = {("orderbook.1", "snapshot"), ("publicTrade", "snapshot"), ("tickers", "snapshot")}
    assert expected | ({("tickers", "delta")} if category == "linear" else set()) == set(ours)


def first_levels(venue_type: type[BybitSimVenue], symbols: list[str]) -> list[str]:
    book = next(json.loads(p) for _, topic, p in simulated(venue_type, symbols).steps(50)
                if topic == "orderbook.1.BTCUSDT")
    return [text for level in (*book["data"]["b"], *book["data"]["a"]) for text in level]


def test_spot_numbers_are_shortest_and_linear_ones_keep_the_tick_and_lot_decimals():
    for text in first_levels(BybitSpotSimVenue, SPOT):
        assert text == format_units_short(units(text))
    prices_and_sizes = first_levels(BybitLinearSimVenue, LINEAR)
    for price in prices_and_sizes[::2]:
        assert len(price.partition(".")[2]) == 2  # BTC's tick is 0.01
    for size in prices_and_sizes[1::2]:
        assert len(size.partition(".")[2]) == 4  # and its lot 0.0001


def units(text: str) -> int:
    whole, _, fraction = text.partition(".")
    return int(whole) * 10**8 + int(fraction.ljust(8, "0"))


@pytest.mark.parametrize(("venue_type", "symbols", "adapter_type"),
                         [(BybitSpotSimVenue, SPOT, BybitSpot),
                          (BybitLinearSimVenue, LINEAR, BybitLinear)])
def test_every_push_decodes_with_tickwires_adapter_into_the_markets_ints(
    venue_type, symbols, adapter_type
):
    sim = simulated(venue_type, symbols, seed=2)
    adapter = adapter_type([parse_symbol(s) for s in symbols], Channel.ALL)
    adapter.on_connected()
    session = sim.venue.accept(venue_type.default_path)
    for name in ("BTCUSDT", "ETHUSDT"):
        message = json.dumps({"op": "subscribe", "args": all_topics(name)}).encode()
        for frame in session.on_text(message, NOW_MS * NS).frames:
            adapter.decode(frame, 0)
    name = venue_type.name
    counts = {Quote: 0, Trade: 0, Ticker: 0}
    for event, topic, payload in sim.steps(3_000):
        decoded = tuple(adapter.decode(payload, 0))
        for item in decoded:
            counts[type(item)] += 1
        exchange_ns = event.time_ms * NS
        if isinstance(event, MarketQuote):  # its book, and on linear its ticker delta too
            assert decoded == (Quote(name, event.symbol, event.bid, event.bid_size, event.ask,
                                     event.ask_size, 0, exchange_ns, event.update_id),)
        elif topic.startswith("publicTrade"):
            assert decoded == tuple(
                Trade(name, event.symbol, event.price, size, event.taker_side,
                      event.first_trade_id + fill, 0, exchange_ns)
                for fill, size in enumerate(event.fill_sizes)
            )
        elif isinstance(event, MarketTrade):  # a linear ticker delta: the last price, if it moved
            assert decoded in ((), (Ticker(name, event.symbol, event.price, 0, exchange_ns),))
        else:
            assert isinstance(event, MarketTicker)
            assert decoded == (Ticker(name, event.symbol, event.last, 0, exchange_ns),)
    assert adapter.stats.errors == {} and adapter.stats.venue_errors == []
    assert adapter.stats.sequence_gaps == 0
    assert all(counts.values()), counts


def test_book_u_steps_by_one_per_new_book_while_seq_is_the_cross_sequence():
    sim = simulated(BybitLinearSimVenue, ["BTC-USDT-PERP"], channels=["bbo"])
    books = [json.loads(p)["data"] for _, topic, p in sim.steps(200) if "orderbook" in topic]
    assert [book["u"] for book in books] == list(range(books[0]["u"], books[0]["u"] + len(books)))
    assert all(later["seq"] > earlier["seq"] for earlier, later in zip(books, books[1:]))
    assert books[0]["u"] < books[0]["seq"]


def test_an_unchanged_book_is_sent_again_after_three_seconds_with_the_same_u():
    sim = simulated(BybitSpotSimVenue, SPOT, channels=["bbo"])
    session = sim.venue.accept("/v5/public/spot")
    _, btc, eth = subscribe(session, "orderbook.1.BTCUSDT", "orderbook.1.ETHUSDT")
    assert session.heartbeat(NOW_MS + BOOK_REPEAT_MS - 1, True) is None
    repeat = json.loads(session.heartbeat(NOW_MS + BOOK_REPEAT_MS, True))
    assert repeat["topic"] == "orderbook.1.BTCUSDT"  # the first of the two, both 3 s quiet
    assert repeat["data"] == btc["data"] and repeat["ts"] == NOW_MS + BOOK_REPEAT_MS
    assert json.loads(session.heartbeat(NOW_MS + BOOK_REPEAT_MS + 1, True))["data"] == eth["data"]
    assert session.heartbeat(NOW_MS + BOOK_REPEAT_MS + 2, True) is None
    # a push to every subscriber restarts the 3 s
    pushed_at = NOW_MS + BOOK_REPEAT_MS + 100
    pushed = next(json.loads(p) for _, topic, p in sim.steps(10, start_ms=pushed_at)
                  if topic == "orderbook.1.BTCUSDT")
    assert pushed["data"]["u"] == btc["data"]["u"] + 1
    due = json.loads(session.heartbeat(pushed["ts"] + BOOK_REPEAT_MS, True))
    assert due["topic"] == "orderbook.1.ETHUSDT"
    later = json.loads(session.heartbeat(pushed["ts"] + BOOK_REPEAT_MS + 1, True))
    assert later["topic"] == "orderbook.1.BTCUSDT" and later["data"]["u"] == pushed["data"]["u"]


def test_linear_ticker_deltas_carry_only_changed_fields_and_add_up_to_the_market():
    sim = simulated(BybitLinearSimVenue, ["BTC-USDT-PERP"], seed=6)
    view = sim.venue.view
    session = sim.venue.accept("/v5/public/linear")
    state = subscribe(session, "tickers.BTCUSDT")[1]["data"]
    deltas = 0
    for event, topic, payload in sim.steps(1_500):
        if topic != "tickers.BTCUSDT":
            continue
        push = json.loads(payload)
        assert push["type"] == "delta"
        changed = {k: v for k, v in push["data"].items() if k != "symbol"}
        assert changed
        assert {k for k in changed if k.startswith("bid1")} in (set(), {"bid1Price", "bid1Size"})
        assert {k for k in changed if k.startswith("ask1")} in (set(), {"ask1Price", "ask1Size"})
        state.update(changed)
        deltas += 1
        ticker = view.ticker("BTC-USDT-PERP", event.time_ms)
        assert (state["bid1Price"], state["ask1Price"], state["lastPrice"]) == (
            format_units(ticker.bid, 2), format_units(ticker.ask, 2), format_units(ticker.last, 2)
        )
        assert (state["bid1Size"], state["volume24h"]) == (
            format_units(ticker.bid_size, 4), format_units(ticker.volume, 4)
        )
        assert push["cs"] == view.quote("BTC-USDT-PERP").update_id
    assert deltas > 100


def test_linear_trades_have_uuid_ids_and_tick_directions():
    sim = simulated(BybitLinearSimVenue, ["BTC-USDT-PERP"], seed=1, channels=["bbo", "trades"])
    price, direction = 0, "ZeroPlusTick"
    directions = set()
    for event, topic, payload in sim.steps(800):
        if not topic.startswith("publicTrade"):
            continue
        for fill, entry in enumerate(json.loads(payload)["data"]):
            assert uuid.UUID(entry["i"]).int == event.first_trade_id + fill
            assert entry["S"] == ("Buy" if event.taker_side == BUY else "Sell")
            if event.price != price:
                direction = "PlusTick" if event.price > price else "MinusTick"
            elif not direction.startswith("Zero"):
                direction = "Zero" + direction
            price = event.price
            assert entry["L"] == direction
            directions.add(direction)
    assert directions == {"PlusTick", "MinusTick", "ZeroPlusTick", "ZeroMinusTick"}


def test_spot_trades_have_digit_ids_and_one_entry_per_fill():
    sim = simulated(BybitSpotSimVenue, ["BTC-USDT"], seed=3, channels=["trades"])
    for event, _, payload in sim.steps(50):
        entries = json.loads(payload)["data"]
        assert [entry["i"] for entry in entries] == [
            str(event.first_trade_id + fill) for fill in range(len(event.fill_sizes))
        ]
        assert {entry["S"] for entry in entries} == {"Sell" if event.taker_side == SELL else "Buy"}


# -- recordings -----------------------------------------------------------------------------------


def test_recorded_pushes_name_their_topic_and_replies_reach_no_one():
    venue = BybitLinearSimVenue(None)
    line = (FIXTURES / "linear_publicTrade.jsonl").read_bytes().splitlines()[0]
    assert venue.recorded_frame(line) == ("publicTrade.BTCUSDT", line)
    control = (FIXTURES / "linear_control.jsonl").read_bytes().splitlines()[0]
    assert venue.recorded_frame(control) == ("", control)
    with pytest.raises(ValueError):
        venue.recorded_frame(b"[1,2]")


def test_while_replaying_any_real_topic_can_be_subscribed_and_gets_no_snapshot():
    session = BybitSpotSimVenue(None).accept("/v5/public/spot")
    ack, = subscribe(session, "orderbook.200.BTCUSDT", "kline.1.ETHUSDT", "tickers.SOLUSDT")
    assert ack["success"] is True
    assert session.heartbeat(NOW_MS + 10 * BOOK_REPEAT_MS, True) is None
    refused, = subscribe(session, "orderbook.7.BTCUSDT")
    assert refused["ret_msg"] == "error:handler not found,topic:orderbook.7.BTCUSDT"
