"""Staleness (time passed in by ``sweep``) and the publishing policies: deviation and heartbeat."""

from __future__ import annotations

from tickwire.aggregate import Aggregator, PriceRules
from tickwire.instruments import parse_symbol

from .aggregator_helpers import SECOND, aggregator, current, feed, price_text, quote

WALL = 1_790_000_000 * SECOND  # the wall clock the updates are stamped with


def test_a_venue_silent_for_stale_after_is_left_out_then_back_with_its_quote_when_it_speaks():
    agg = aggregator(stale_after=2.0)
    feed(agg, quote("a", 100, 101), quote("b", 102, 103))
    assert agg.sweep(1 * SECOND, WALL, ["a", "b"]) == []
    assert agg.sweep(3 * SECOND, WALL, ["a"]) == []  # b silent for exactly 2 s: not yet
    (out,) = agg.sweep(3 * SECOND + 1, WALL + 5, ["a"])
    assert (out.used, out.excluded, out.venue, out.recv_ns) == (("a",), {"b": "stale"}, "b", WALL + 5)
    assert price_text(out.price, out) == "100.5"
    (back,) = agg.sweep(4 * SECOND, WALL, ["a", "b"])  # b's heartbeat: its last quote stands again
    assert back.used == ("a", "b") and back.excluded == {}
    assert agg.exclusion_lines() == ["BTC-USD b: left out (stale 1), came back 1"]


def test_a_stale_venue_is_back_at_its_next_quote():
    agg = aggregator(stale_after=1.0)
    feed(agg, quote("a", 100, 101), quote("b", 102, 103))
    agg.sweep(2 * SECOND, WALL, ["a"])
    assert current(agg).excluded == {"b": "stale"}
    update = agg.on_quote(quote("b", "102.5", 103))
    assert update is not None and update.used == ("a", "b")
    assert agg.sweep(2 * SECOND + 1, WALL, []) == []  # coming back counts as speaking


def test_when_every_venue_is_stale_there_is_no_price_and_the_view_says_why():
    agg = aggregator(stale_after=1.0)
    feed(agg, quote("a", 100, 101), quote("b", 102, 103))
    (update,) = agg.sweep(5 * SECOND, WALL, [])
    assert (update.n_venues, update.price, update.bid, update.ask, update.used) == (0, 0, 0, 0, ())
    assert (update.status, update.bbo_state) == ("stale", "")
    assert update.excluded == {"a": "stale", "b": "stale"}
    assert agg.sweep(6 * SECOND, WALL, []) == []  # said once


def test_stale_after_is_per_instrument_while_liveness_is_per_venue():
    rules = {"BTC-USD": PriceRules(stale_after=1.0), "ETH-USD": PriceRules(stale_after=10.0)}
    agg = Aggregator([parse_symbol("BTC-USD"), parse_symbol("ETH-USD")], rules.__getitem__)
    agg.on_quote(quote("a", 100, 101))
    agg.on_quote(quote("a", 10, 11, symbol="ETH-USD"))
    (btc,) = agg.sweep(2 * SECOND, WALL, [])
    assert (btc.symbol, btc.status) == ("BTC-USD", "stale")
    assert current(agg, "ETH-USD").n_venues == 1
    assert agg.sweep_interval_ns == 100_000_000  # a tenth of the shortest stale_after


def test_deviation_policy_publishes_moves_of_at_least_the_deviation_and_any_change_of_venues():
    agg = aggregator(publish="deviation", deviation_bp=1)
    first = agg.on_quote(quote("a", 10000, 10002))
    assert first is not None
    assert agg.on_quote(quote("a", "10000.5", "10002.5")) is None  # 0.5 bp
    assert agg.on_quote(quote("a", "10001", "10003")) is None  # 0.9999 bp from 10001
    moved = agg.on_quote(quote("a", "10001.01", "10003.01"))  # 1.00 bp
    assert moved is not None and price_text(moved.price, moved) == "10002.01"
    joined = agg.on_quote(quote("b", "10001.01", "10003.01"))  # same price, one more venue
    assert joined is not None and joined.n_venues == 2


def test_a_heartbeat_republishes_the_latest_view_when_nothing_was_published_for_that_long():
    agg = aggregator(publish="deviation", deviation_bp=1, heartbeat=1.0)
    agg.on_quote(quote("a", 10000, 10002))
    assert agg.sweep(1, WALL, ["a"]) == []  # the publication is timed at this sweep
    assert agg.on_quote(quote("a", "10000.5", "10002.5")) is None
    assert agg.sweep(SECOND, WALL, ["a"]) == []
    (beat,) = agg.sweep(SECOND + 1, WALL + 9, ["a"])
    assert (price_text(beat.price, beat), beat.venue, beat.recv_ns) == ("10001.5", "", WALL + 9)
    assert agg.sweep(SECOND + 2, WALL, ["a"]) == []
    (again,) = agg.sweep(2 * SECOND + 1, WALL, ["a"])
    assert again.price == beat.price


def test_under_the_change_policy_a_heartbeat_repeats_an_unchanged_view():
    agg = aggregator(heartbeat=0.5)
    agg.on_quote(quote("a", 100, 101))
    agg.sweep(0, WALL, ["a"])
    assert agg.sweep(SECOND // 4, WALL, ["a"]) == []
    agg.on_quote(quote("a", 100, 102))  # published: the heartbeat starts again
    assert agg.sweep(SECOND // 2, WALL, ["a"]) == []
    (beat,) = agg.sweep(SECOND, WALL, ["a"])
    assert price_text(beat.price, beat) == "101"
