"""The aggregator: consolidated BBO, methods, outliers, membership and what it publishes."""

from __future__ import annotations

from tickwire.aggregate import PRICE_EXTRA_DIGITS, Aggregator, PriceRules
from tickwire.instruments import parse_symbol

from .aggregator_helpers import aggregator, current, feed, price_text, quote, units


def test_one_venue_alone_gives_its_own_bid_ask_and_mid():
    update = aggregator().on_quote(quote("binance", "100", "103", 5, 7, recv_ns=42))
    assert update is not None
    assert (update.bid, update.bid_size, update.bid_venues) == (units(100), units(5), ("binance",))
    assert (update.ask, update.ask_size, update.ask_venues) == (units(103), units(7), ("binance",))
    assert price_text(update.price, update) == "101.5"
    assert update.price_scale == 8 + PRICE_EXTRA_DIGITS
    assert (update.n_venues, update.used, update.excluded, update.status) == (1, ("binance",), {}, "ok")
    assert (update.bbo_state, update.method, update.confidence) == ("normal", "median", None)
    assert (update.recv_ns, update.venue) == (42, "binance")


def test_one_venue_alone_under_pyth_has_its_half_spread_as_confidence():
    update = aggregator(method="pyth").on_quote(quote("a", "100", "103"))
    assert update is not None
    assert (price_text(update.price, update), price_text(update.confidence, update)) == ("101.5", "1.5")


def test_best_bid_and_best_ask_may_come_from_different_venues_with_sizes_summed_at_ties():
    update = feed(aggregator(outliers="off"), quote("a", 100, 110, 1, 1), quote("b", 101, 112, 2, 2),
                  quote("c", 101, 109, 3, 4))
    assert update is not None
    assert (update.bid, update.bid_size, update.bid_venues) == (units(101), units(5), ("b", "c"))
    assert (update.ask, update.ask_size, update.ask_venues) == (units(109), units(4), ("c",))
    assert price_text(update.price, update) == "105"  # median of mids 105, 106.5, 105
    assert update.n_venues == 3


def test_an_even_count_of_venues_takes_the_mean_of_the_two_middle_mids_exactly():
    update = feed(aggregator(), quote("a", "100", "100.01"), quote("b", "100.02", "100.05"))
    assert update is not None and price_text(update.price, update) == "100.02"  # (100.005 + 100.035)/2


def test_locked_and_crossed_books_across_venues_are_flagged_not_dropped():
    agg = aggregator()
    locked = feed(agg, quote("a", 100, 101), quote("b", 101, 102))
    assert locked is not None and (locked.bbo_state, locked.bid, locked.ask) == ("locked", units(101), units(101))
    crossed = agg.on_quote(quote("b", "101.5", 102))
    assert crossed is not None and crossed.bbo_state == "crossed"
    assert crossed.n_venues == 2


def test_an_update_that_changes_nothing_visible_publishes_nothing():
    agg = aggregator()
    assert agg.on_quote(quote("a", 100, 110)) is not None
    joined = agg.on_quote(quote("b", 90, 120))
    assert joined is not None and joined.n_venues == 2  # a venue joined: visible
    assert agg.on_quote(quote("b", 90, 120, recv_ns=99)) is None
    assert agg.on_quote(quote("a", 100, 110, recv_ns=99)) is None
    assert agg.on_quote(quote("b", 89, 121)) is None  # b's mid is still 105, its sides still worse
    assert agg.on_quote(quote("b", 88, 121)) is not None  # the median of the mids moves


def test_quotes_for_instruments_not_configured_are_ignored():
    assert aggregator().on_quote(quote("a", 1, 2, symbol="ETH-USD")) is None


def test_usd_usdt_and_usdc_instruments_stay_apart():
    agg = aggregator(("BTC-USD", "BTC-USDT"))
    agg.on_quote(quote("kraken", 100, 101))
    update = agg.on_quote(quote("binance", 200, 201, symbol="BTC-USDT"))
    assert update is not None and (update.symbol, update.used) == ("BTC-USDT", ("binance",))
    assert current(agg, "BTC-USD").used == ("kraken",)


def test_merged_quote_currencies_feed_one_price_with_the_source_named_by_its_quote():
    instruments = [parse_symbol("BTC-USD"), parse_symbol("BTC-USDC")]
    agg = Aggregator(instruments, merge_quotes={"USDC": "USD"})
    assert list(agg.views) == ["BTC-USD"]
    agg.on_quote(quote("kraken", 100, 101))
    update = agg.on_quote(quote("kraken", 102, 103, symbol="BTC-USDC"))
    assert update is not None
    assert (update.symbol, update.used, update.bid_venues) == ("BTC-USD", ("kraken", "kraken:USDC"), ("kraken:USDC",))


def test_merged_instruments_need_equal_scales():
    try:
        Aggregator([parse_symbol("BTC-USD"), parse_symbol("BTC-USDT", 2, 8)], merge_quotes={"USDT": "USD"})
    except ValueError as exc:
        assert "same price_scale and size_scale" in str(exc)
    else:
        raise AssertionError("different scales must be refused")


def test_a_venue_far_from_the_others_is_left_out_and_counted_and_comes_back():
    agg = aggregator()
    feed(agg, quote("a", 100, 101), quote("b", "100.2", "101.2"))
    out = agg.on_quote(quote("c", 105, 106))  # 4.4 % above the median mid
    assert out is not None
    assert (out.used, out.excluded) == (("a", "b"), {"c": "outlier"})
    assert price_text(out.price, out) == "100.6"  # median of a and b only
    assert (out.bid, out.ask) == (units("100.2"), units(101))  # c is out of the BBO too
    back = agg.on_quote(quote("c", "100.4", "101.4"))
    assert back is not None and back.excluded == {} and back.n_venues == 3
    assert agg.exclusion_lines() == ["BTC-USD c: left out (outlier 1), came back 1"]


def test_with_two_venues_or_no_majority_nobody_is_an_outlier():
    two = feed(aggregator(), quote("a", 100, 101), quote("b", 105, 106))
    assert two is not None and two.excluded == {}
    split = feed(aggregator(), quote("a", 100, 101), quote("b", 100, 101), quote("c", 110, 111),
                 quote("d", 110, 111))
    assert split is not None and split.excluded == {} and price_text(split.price, split) == "105.5"


def test_outliers_off_keeps_every_venue():
    update = feed(aggregator(outliers="off"), quote("a", 100, 101), quote("b", 100, 101),
                  quote("c", 200, 201))
    assert update is not None and update.excluded == {} and update.n_venues == 3


def test_weighted_median_caps_a_large_venue_at_its_share_of_the_total():
    quotes = (quote("big", 100, 101, 6, 6), quote("b", "100.2", "101.2", "1.5", "1.5"),
              quote("c", "100.4", "101.4", "1.5", "1.5"), quote("d", "100.6", "101.6", "1.5", "1.5"))
    capped = feed(aggregator(method="weighted-median", weight_cap_pct=40), *quotes)
    assert capped is not None and price_text(capped.price, capped) == "100.7"  # big: 40 % of 21
    uncapped = feed(aggregator(method="weighted-median", weight_cap_pct=100), *quotes)
    assert uncapped is not None and price_text(uncapped.price, uncapped) == "100.5"  # 12 of 21


def test_a_venue_whose_connection_ended_is_left_out_until_it_quotes_again():
    agg = aggregator()
    feed(agg, quote("a", 100, 110), quote("b", 105, 111))
    (update,) = agg.drop_venue("b", now_ns=7)
    assert (update.bid, update.ask, update.n_venues, update.recv_ns) == (units(100), units(110), 1, 7)
    assert update.excluded == {"b": "reconnecting"}
    (empty,) = agg.drop_venue("a", now_ns=8)
    assert (empty.n_venues, empty.price, empty.status) == (0, 0, "reconnecting")
    assert empty.excluded == {"a": "reconnecting", "b": "reconnecting"}
    assert agg.drop_venue("a", now_ns=9) == []
    assert agg.sweep(10, 10, ["a"]) == []  # frames after a reconnect do not revive the old quote
    back = agg.on_quote(quote("a", 101, 109))
    assert back is not None and (back.used, back.excluded) == (("a",), {"b": "reconnecting"})


def test_rules_are_per_instrument():
    rules = {"BTC-USD": PriceRules(method="pyth"), "ETH-USD": PriceRules()}
    agg = Aggregator([parse_symbol("BTC-USD"), parse_symbol("ETH-USD")], rules.__getitem__)
    btc = agg.on_quote(quote("a", 100, 102))
    eth = agg.on_quote(quote("a", 100, 102, symbol="ETH-USD"))
    assert btc is not None and eth is not None
    assert (btc.method, eth.method) == ("pyth", "median")
    assert btc.confidence is not None and eth.confidence is None


def test_trades_do_not_move_the_price():
    from tickwire.model import BUY, Trade

    agg = aggregator()
    agg.on_quote(quote("a", 100, 102))
    agg.on_trade(Trade("a", "BTC-USD", units(150), units(1), BUY, 1, 1))
    assert price_text(current(agg).price, current(agg)) == "101"
    assert agg.views["BTC-USD"].last_trade is not None
