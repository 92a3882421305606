"""Properties of the consolidated price that hold for any quotes, methods and outlier rules."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from tickwire.aggregate import METHODS, OUTLIER_RULES, Aggregator
from tickwire.aggregate.methods import median_quarter
from tickwire.model import ConsolidatedQuote, Quote

from .aggregator_helpers import SECOND, aggregator, current, feed

CENTRE = 10_000 * 10**8  # 10000.00000000
VISIBLE = ("bid", "bid_size", "bid_venues", "ask", "ask_size", "ask_venues", "bbo_state", "price",
           "confidence", "status", "n_venues", "used", "excluded")

near = st.integers(-2 * 10**9, 2 * 10**9)  # within 0.2 % of the centre
far = st.one_of(st.integers(3 * 10**10, 5 * 10**10), st.integers(-5 * 10**10, -3 * 10**10))  # 3-5 %


def quotes_from(venues: st.SearchStrategy[str], offsets: st.SearchStrategy[int]) -> st.SearchStrategy[Quote]:
    return st.builds(
        lambda venue, offset, below, above, bid_size, ask_size: Quote(
            venue, "BTC-USD", CENTRE + offset - below, bid_size, CENTRE + offset + above, ask_size, 1
        ),
        venues,
        offsets,
        st.integers(1, 10**8),
        st.integers(1, 10**8),
        st.integers(1, 10**9),
        st.integers(1, 10**9),
    )


venue_quotes = quotes_from(st.sampled_from("abcdef"), st.one_of(near, near, far))
quote_lists = st.lists(venue_quotes, min_size=1, max_size=30)
with_an_outlier = st.tuples(
    st.lists(quotes_from(st.sampled_from("abcde"), near), min_size=3, max_size=5, unique_by=lambda q: q.venue),
    quotes_from(st.just("f"), far),
).map(lambda parts: [*parts[0], parts[1]])
rules = st.fixed_dictionaries({"method": st.sampled_from(METHODS), "outliers": st.sampled_from(OUTLIER_RULES)})


def visible(update: ConsolidatedQuote) -> list[object]:
    return [getattr(update, name) for name in VISIBLE]


def latest(quotes: list[Quote]) -> dict[str, Quote]:
    return {q.venue: q for q in quotes}


@given(quote_lists, rules)
def test_the_price_lies_between_the_smallest_and_largest_mid_used(quotes, settings):
    agg = aggregator(**settings)
    feed(agg, *quotes)
    view = current(agg)
    mid_sums = [q.bid + q.ask for v, q in latest(quotes).items() if v in view.used]
    assert view.n_venues == len(mid_sums) >= 1
    assert min(mid_sums) * 50 <= view.price <= max(mid_sums) * 50  # price has 2 more decimals


tied_quotes = st.builds(  # a few price levels, so that venues often share the best bid or ask
    lambda venue, bid, spread, bid_size, ask_size: Quote(
        venue, "BTC-USD", CENTRE + bid * 10**6, bid_size, CENTRE + (bid + spread) * 10**6, ask_size, 1
    ),
    st.sampled_from("abcdef"),
    st.integers(0, 3),
    st.integers(1, 3),
    st.integers(1, 5),
    st.integers(1, 5),
)


@given(st.lists(tied_quotes, min_size=1, max_size=60), rules)
def test_the_bbo_is_the_best_bid_and_ask_of_the_venues_used_with_sizes_summed_at_the_best(quotes, settings):
    agg = aggregator(**settings)
    feed(agg, *quotes)
    view = current(agg)
    used = [q for v, q in sorted(latest(quotes).items()) if v in view.used]
    bid, ask = max(q.bid for q in used), min(q.ask for q in used)
    assert (view.bid, view.ask) == (bid, ask)
    assert view.bid_size == sum(q.bid_size for q in used if q.bid == bid)
    assert view.ask_size == sum(q.ask_size for q in used if q.ask == ask)
    assert view.bid_venues == tuple(q.venue for q in used if q.bid == bid)
    assert view.ask_venues == tuple(q.venue for q in used if q.ask == ask)
    assert view.bbo_state == ("normal" if bid < ask else "locked" if bid == ask else "crossed")


@given(quote_lists, rules, st.randoms())
def test_the_final_view_depends_only_on_each_venues_latest_quote_not_on_arrival_order(quotes, settings, rng):
    in_order = aggregator(**settings)
    feed(in_order, *quotes)
    shuffled = list(latest(quotes).values())
    rng.shuffle(shuffled)
    other = aggregator(**settings)
    feed(other, *shuffled)
    assert visible(current(in_order)) == visible(current(other))


@given(venue_quotes, rules)
def test_one_venue_alone_gives_that_venues_mid(q, settings):
    update = aggregator(**settings).on_quote(q)
    assert update is not None
    assert update.price * 2 == (q.bid + q.ask) * 100
    assert (update.bid, update.ask, update.used) == (q.bid, q.ask, (q.venue,))
    if settings["method"] == "pyth":
        assert update.confidence is not None and update.confidence * 2 == (q.ask - q.bid) * 100


@given(quote_lists, rules, st.sampled_from("abcdef"))
def test_a_stale_venue_never_influences_the_price(quotes, settings, silent):
    assume(silent in latest(quotes) and len(latest(quotes)) >= 2)
    others = [v for v in latest(quotes) if v != silent]
    with_it = aggregator(stale_after=1.0, **settings)
    feed(with_it, *quotes)
    with_it.sweep(2 * SECOND, 0, others)
    without = aggregator(stale_after=1.0, **settings)
    feed(without, *(q for q in quotes if q.venue != silent))
    without.sweep(2 * SECOND, 0, others)
    assert current(with_it).excluded.get(silent) == "stale"
    mine, theirs = visible(current(with_it)), visible(current(without))
    excluded = VISIBLE.index("excluded")
    assert mine[:excluded] == theirs[:excluded]


@given(st.one_of(with_an_outlier, quote_lists), rules.filter(lambda r: r["outliers"] != "off"))
def test_an_outlier_moved_further_out_never_changes_the_price(quotes, settings):
    agg = aggregator(**settings)
    feed(agg, *quotes)
    before = current(agg)
    outliers = [v for v, why in before.excluded.items() if why == "outlier"]
    assume(outliers)
    median = median_quarter(sorted(q.bid + q.ask for q in latest(quotes).values()))
    for venue in outliers:
        q = latest(quotes)[venue]
        step = 10**10 if (q.bid + q.ask) * 2 > median else -(10**10)
        agg.on_quote(Quote(venue, q.symbol, q.bid + step, q.bid_size, q.ask + step, q.ask_size, 2))
    assert visible(current(agg)) == visible(before)


@given(quote_lists, rules)
def test_when_every_venue_is_stale_there_is_no_price_and_it_says_so(quotes, settings):
    agg: Aggregator = aggregator(stale_after=1.0, **settings)
    feed(agg, *quotes)
    agg.sweep(2 * SECOND, 0, [])
    view = current(agg)
    assert (view.n_venues, view.price, view.confidence, view.status) == (0, 0, None, "stale")
    assert view.excluded == dict.fromkeys(sorted(latest(quotes)), "stale")
