"""The worked examples of AGGREGATION.md (§3, §5, §7, §8, §11.3) as exact test vectors."""

from __future__ import annotations

from tickwire.aggregate import Aggregator

from .aggregator_helpers import SECOND, aggregator, current, feed, price_text, quote, units

MS = 1_000_000
NOW = 1_000_000 * MS

SECTION_3 = (  # venue, bid, bid size, ask, ask size, received (ms before now)
    ("binance", "67012.4", "1.2", "67012.5", "0.8", 3),
    ("coinbase", "67013.1", "0.4", "67014.0", "0.3", 5),
    ("kraken", "67011.0", "2.0", "67012.9", "1.1", 8),
    ("okx", "67012.0", "0.9", "67012.6", "2.4", 2),
    ("bitstamp", "67030.0", "0.1", "67031.0", "0.1", 4100),
)

FIVE_PUBLISHERS = (  # (mid, conf) of the Pyth example, as bid = mid - conf and ask = mid + conf
    ("a", "67012.0", "67013.0"),
    ("b", "67012.0", "67014.0"),
    ("c", "67011.1", "67012.5"),
    ("d", "67015.0", "67025.0"),
    ("e", "66899.5", "66900.5"),
)


def section_3(**rules: object) -> Aggregator:
    """The §3 table fed in receive order, each venue heard when its quote came, then a sweep at
    ``now`` with a 2 s staleness limit: Bitstamp (4.1 s old) is stale."""
    agg = aggregator(stale_after=2.0, **rules)
    for venue, bid, bid_size, ask, ask_size, age_ms in sorted(SECTION_3, key=lambda row: -row[5]):
        at = NOW - age_ms * MS
        agg.on_quote(quote(venue, bid, ask, bid_size, ask_size, recv_ns=at))
        agg.sweep(at, at, [venue])
    agg.sweep(NOW, NOW)
    return agg


def test_section_3_consolidated_bbo_is_crossed_with_bitstamp_left_out_as_stale():
    view = current(section_3())
    assert (view.bid, view.bid_size, view.bid_venues) == (units("67013.1"), units("0.4"), ("coinbase",))
    assert (view.ask, view.ask_size, view.ask_venues) == (units("67012.5"), units("0.8"), ("binance",))
    assert view.bbo_state == "crossed"
    assert view.used == ("binance", "coinbase", "kraken", "okx")
    assert view.excluded == {"bitstamp": "stale"}


def test_section_3_median_of_the_four_fresh_mids_is_67012_375():
    view = current(section_3())
    assert (price_text(view.price, view), view.confidence, view.method) == ("67012.375", None, "median")


def test_section_5_quantity_weighted_median_is_okx_at_67012_3():
    view = current(section_3(method="weighted-median"))
    assert price_text(view.price, view) == "67012.3"


def test_section_8_pyth_with_half_spread_confidence_on_the_four_fresh_venues():
    view = current(section_3(method="pyth"))
    assert (price_text(view.price, view), price_text(view.confidence, view)) == ("67012.475", "0.425")


def test_section_8_pyth_docs_scenario_101_plus_minus_1_and_110_plus_minus_10():
    update = feed(aggregator(method="pyth"), quote("a", 100, 102), quote("b", 100, 120))
    assert update is not None
    assert (price_text(update.price, update), price_text(update.confidence, update)) == ("101.5", "8.5")


def test_section_8_pyth_five_publishers_absorb_the_66900_outlier_without_a_filter():
    agg = aggregator(method="pyth", outliers="off")
    update = feed(agg, *(quote(v, bid, ask) for v, bid, ask in FIVE_PUBLISHERS))
    assert update is not None
    assert (price_text(update.price, update), price_text(update.confidence, update)) == ("67012.5", "1.5")
    assert update.n_venues == 5


def test_section_7_mad_rule_bounded_by_a_10_bp_floor_leaves_out_only_66900():
    update = feed(aggregator(outliers="mad"), *(quote(v, bid, ask) for v, bid, ask in FIVE_PUBLISHERS))
    assert update is not None
    assert update.excluded == {"e": "outlier"}
    assert price_text(update.price, update) == "67012.75"  # the median of the other four


def test_section_7_modified_z_scores_above_3_5_are_67020_and_66900_without_a_floor():
    agg = aggregator(outliers="mad", mad_floor_bp=0)
    update = feed(agg, *(quote(v, bid, ask) for v, bid, ask in FIVE_PUBLISHERS))
    assert update is not None
    assert update.excluded == {"d": "outlier", "e": "outlier"}  # z = 7.23 and -108.40


def test_section_7_a_10_bp_band_keeps_67020_and_leaves_out_66900():
    agg = aggregator(outlier_band_bp=10)
    update = feed(agg, *(quote(v, bid, ask) for v, bid, ask in FIVE_PUBLISHERS))
    assert update is not None and update.excluded == {"e": "outlier"}


def test_section_11_3_mad_band_keeps_all_four_fresh_venues_and_even_bitstamp_when_fresh():
    assert current(section_3(outliers="mad")).excluded == {"bitstamp": "stale"}
    agg = aggregator(outliers="mad", stale_after=10.0)
    for venue, bid, bid_size, ask, ask_size, _ in SECTION_3:
        agg.on_quote(quote(venue, bid, ask, bid_size, ask_size))
    agg.sweep(SECOND, SECOND, [row[0] for row in SECTION_3])
    assert current(agg).excluded == {}  # +2.7 bp from the median: inside a 10 bp band
