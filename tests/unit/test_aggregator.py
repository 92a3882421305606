"""Aggregator v0: cross-venue best bid/offer and its mid, exact and order-independent."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tickwire.aggregate import PRICE_EXTRA_DIGITS, Aggregator
from tickwire.instruments import parse_symbol
from tickwire.model import Quote

BTC = parse_symbol("BTC-USDT")


def quote(venue: str, bid: int, ask: int, bid_size: int = 1, ask_size: int = 1, recv_ns: int = 1) -> Quote:
    return Quote(venue, "BTC-USDT", bid, bid_size, ask, ask_size, recv_ns)


def test_one_venue_alone_gives_its_own_bid_ask_and_mid():
    update = Aggregator([BTC]).on_quote(quote("binance", 100, 103, 5, 7, recv_ns=42))
    assert update is not None
    assert (update.bid, update.bid_size, update.bid_venues) == (100, 5, ("binance",))
    assert (update.ask, update.ask_size, update.ask_venues) == (103, 7, ("binance",))
    assert update.price == 10150  # 101.5 with two more decimals
    assert update.price_scale == BTC.price_scale + PRICE_EXTRA_DIGITS
    assert (update.n_venues, update.recv_ns, update.venue) == (1, 42, "binance")


def test_best_bid_and_best_ask_may_come_from_different_venues_with_sizes_summed_at_ties():
    aggregator = Aggregator([BTC])
    aggregator.on_quote(quote("a", 100, 110, 1, 1))
    aggregator.on_quote(quote("b", 101, 112, 2, 2))
    update = aggregator.on_quote(quote("c", 101, 109, 3, 4))
    assert update is not None
    assert (update.bid, update.bid_size, update.bid_venues) == (101, 5, ("b", "c"))
    assert (update.ask, update.ask_size, update.ask_venues) == (109, 4, ("c",))
    assert update.price == 10500
    assert update.n_venues == 3


def test_an_update_that_changes_nothing_visible_publishes_nothing():
    aggregator = Aggregator([BTC])
    assert aggregator.on_quote(quote("a", 100, 110)) is not None
    assert aggregator.on_quote(quote("b", 90, 120)).n_venues == 2  # a venue joined: visible
    assert aggregator.on_quote(quote("b", 91, 119)) is None  # still worse on both sides
    assert aggregator.on_quote(quote("a", 100, 110, recv_ns=99)) is None


def test_quotes_for_instruments_not_configured_are_ignored():
    assert Aggregator([BTC]).on_quote(Quote("a", "ETH-USDT", 1, 1, 2, 1, 0)) is None


def test_dropping_a_venue_removes_its_quote_and_an_empty_view_says_there_is_no_price():
    aggregator = Aggregator([BTC])
    aggregator.on_quote(quote("a", 100, 110))
    aggregator.on_quote(quote("b", 105, 111))
    (update,) = aggregator.drop_venue("b", now_ns=7)
    assert (update.bid, update.ask, update.n_venues) == (100, 110, 1)
    (empty,) = aggregator.drop_venue("a", now_ns=8)
    assert (empty.n_venues, empty.bid_venues, empty.ask_venues) == (0, (), ())
    assert aggregator.drop_venue("a", now_ns=9) == []


venue_quotes = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.integers(1, 10_000),
        st.integers(1, 500),
        st.integers(1, 100),
        st.integers(1, 100),
    ).map(lambda t: quote(t[0], t[1], t[1] + t[2], t[3], t[4])),
    min_size=1,
    max_size=30,
)


@given(venue_quotes, st.randoms())
def test_the_final_view_depends_only_on_each_venues_latest_quote_not_on_arrival_order(quotes, rng):
    latest = {q.venue: q for q in quotes}
    in_order = Aggregator([BTC])
    for q in quotes:
        in_order.on_quote(q)
    shuffled = list(latest.values())
    rng.shuffle(shuffled)
    other = Aggregator([BTC])
    for q in shuffled:
        other.on_quote(q)
    mine, theirs = in_order.views["BTC-USDT"].last, other.views["BTC-USDT"].last
    assert mine is not None and theirs is not None
    fields = ("bid", "bid_size", "bid_venues", "ask", "ask_size", "ask_venues", "price", "n_venues")
    assert [getattr(mine, f) for f in fields] == [getattr(theirs, f) for f in fields]
    assert mine.bid == max(q.bid for q in latest.values())
    assert mine.ask == min(q.ask for q in latest.values())
    assert mine.bid_size == sum(q.bid_size for q in latest.values() if q.bid == mine.bid)
    assert mine.price * 2 == (mine.bid + mine.ask) * 10**PRICE_EXTRA_DIGITS
