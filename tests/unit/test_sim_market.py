"""The simulator's venue-neutral synthetic market: a common integer random walk, seen by each venue
with its own small differences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.model import BUY, SELL
from tickwire.sim.market import (
    MarketQuote,
    MarketTicker,
    MarketTrade,
    SymbolSpec,
    SyntheticMarket,
    VenueView,
    symbol_spec,
    venue_profile,
)

NOW_MS = 1_790_001_234_567
ONE = 10**8
VENUES = ("binance", "coinbase", "kraken", "okx", "bybit", "bitstamp")


def run(market: SyntheticMarket, views: list[VenueView], steps: int, start_ms: int = NOW_MS):
    """Step the market ``steps`` times; yield (index, reference price, event per view)."""
    for i in range(steps):
        index = market.step()
        reference = market.reference_price(index)
        yield index, reference, [view.on_step(index, start_ms + i) for view in views]


def events(view: VenueView, market: SyntheticMarket, steps: int) -> list:
    return [event for _, _, (event,) in run(market, [view], steps) if event is not None]


def test_default_start_prices_ticks_and_lots():
    btc = symbol_spec("BTC-USDT")
    assert (btc.start_price, btc.tick, btc.lot) == (67_000 * ONE, ONE // 100, ONE // 10_000)
    assert symbol_spec("ETH-USDT").start_price == 3_500 * ONE
    assert symbol_spec("SOL-USDC").start_price == 150 * ONE
    assert symbol_spec("NKN-USDT").start_price == 100 * ONE
    assert symbol_spec("ETH-BTC").start_price == 3_500 * ONE * ONE // (67_000 * ONE)


def test_derivatives_are_canonical_symbols_that_start_near_spot():
    perp = symbol_spec("BTC-USDT-PERP")
    assert perp.symbol == "BTC-USDT-PERP"
    assert perp[1:] == symbol_spec("BTC-USDT")[1:]


@pytest.mark.parametrize("symbol", ["btcusdt", "BTCUSDT", "BTC/USDT", "btc-usdt-perp", ""])
def test_non_canonical_symbols_are_refused(symbol):
    with pytest.raises(ValueError):
        symbol_spec(symbol)


def test_unknown_channels_are_refused():
    with pytest.raises(ValueError, match="depth"):
        SyntheticMarket([symbol_spec("BTC-USDT")], channels=["depth"])


def test_symbols_take_turns_and_the_reference_walks_in_ticks():
    market = SyntheticMarket([symbol_spec("BTC-USDT"), symbol_spec("ETH-USDT")], seed=1)
    assert [market.step() for _ in range(4)] == [0, 1, 0, 1]
    start = 67_000 * ONE
    for _ in range(200):
        if market.step() == 0:
            price = market.reference_price(0)
            assert price % symbol_spec("BTC-USDT").tick == 0
            assert abs(price - start) < start // 100


def test_quotes_dominate_and_every_kind_of_event_comes():
    market = SyntheticMarket([symbol_spec("BTC-USDT")], seed=1)
    produced = events(VenueView(market, "binance"), market, 2_100)
    assert len(produced) == 2_100
    quotes = sum(isinstance(event, MarketQuote) for event in produced)
    assert 0.7 < quotes / len(produced) < 0.85
    assert {type(event) for event in produced} == {MarketQuote, MarketTrade, MarketTicker}


def test_only_the_chosen_channels_are_produced():
    market = SyntheticMarket([symbol_spec("SOL-USDT")], channels=["trades", "ticker"])
    kinds = {type(event) for event in events(VenueView(market, "binance"), market, 200)}
    assert kinds == {MarketTrade, MarketTicker}


def test_a_view_lists_only_the_kinds_of_instrument_its_venue_has():
    specs = [symbol_spec("BTC-USDT"), symbol_spec("BTC-USDT-PERP")]
    market = SyntheticMarket(specs, seed=2)
    spot = VenueView(market, "binance")
    perps = VenueView(market, "bybit_linear", instrument_kinds={"PERP"})
    assert [spec.symbol for spec in spot.specs] == ["BTC-USDT"]
    assert [spec.symbol for spec in perps.specs] == ["BTC-USDT-PERP"]
    for index, _, (spot_event, perp_event) in run(market, [spot, perps], 100):
        assert (spot_event is None) == (index == 1)
        assert (perp_event is None) == (index == 0)
        if spot_event is not None:
            assert spot_event.symbol == "BTC-USDT"
        if perp_event is not None:
            assert perp_event.symbol == "BTC-USDT-PERP"


def test_trades_print_at_the_venue_touch_and_the_ticker_adds_them_up():
    market = SyntheticMarket([symbol_spec("ETH-USDT")], seed=5)
    view = VenueView(market, "okx")
    quote = view.quote("ETH-USDT")
    trade_ids: list[int] = []
    volume = 0
    tickers_checked = 0
    for event in events(view, market, 3_000):
        if isinstance(event, MarketQuote):
            quote = event
        elif isinstance(event, MarketTrade):
            assert event.price == (quote.ask if event.taker_side == BUY else quote.bid)
            assert event.taker_side in (BUY, SELL)
            assert event.size == sum(event.fill_sizes) and len(event.fill_sizes) >= 1
            first = event.first_trade_id
            trade_ids.extend(range(first, first + len(event.fill_sizes)))
            volume += event.size
        elif trade_ids:
            assert (event.first_trade_id, event.last_trade_id) == (trade_ids[0], trade_ids[-1])
            assert event.trade_count == len(trade_ids)
            assert event.volume == volume
            assert event.low <= event.last <= event.high
            assert (event.bid, event.ask) == (quote.bid, quote.ask)
            tickers_checked += 1
    assert trade_ids == list(range(trade_ids[0], trade_ids[0] + len(trade_ids)))
    assert tickers_checked > 10


def test_a_ticker_before_any_trade_reports_no_trades():
    market = SyntheticMarket([symbol_spec("BTC-USDT")], channels=["ticker"])
    ticker = VenueView(market, "binance").ticker("BTC-USDT", NOW_MS)
    assert (ticker.first_trade_id, ticker.last_trade_id, ticker.trade_count) == (-1, -1, 0)
    assert ticker.last == ticker.open == ticker.bid and ticker.volume == 0
    assert ticker.time_ms == NOW_MS


def test_venue_profiles_are_fixed_by_name_and_differ_between_venues():
    profiles = {venue: venue_profile(venue) for venue in VENUES}
    assert profiles == {venue: venue_profile(venue) for venue in VENUES}
    assert len({profile.offset_hundredth_bps for profile in profiles.values()}) == len(VENUES)
    for profile in profiles.values():
        assert -50 <= profile.offset_hundredth_bps <= 50  # within 0.5 bp of the reference
        assert profile.max_spread_ticks >= 1


def test_venues_quote_the_same_instrument_slightly_differently_never_crossed():
    specs = [symbol_spec("BTC-USDT"), symbol_spec("ETH-USDT")]
    market = SyntheticMarket(specs, seed=11, channels=["bbo"])
    views = [VenueView(market, venue) for venue in VENUES]
    differing = 0
    for index, reference, quotes in run(market, views, 2_000):
        tick = specs[index].tick
        for quote in quotes:
            assert 0 < quote.bid < quote.ask
            mid_offset_bps = abs((quote.bid + quote.ask) / 2 - reference) * 10_000 / reference
            assert mid_offset_bps < 3 + 8 * tick * 10_000 / reference
        mids = {quote.bid + quote.ask for quote in quotes}
        differing += len(mids) > 1
        spread_across_venues = (max(mids) - min(mids)) / 2
        assert spread_across_venues * 10_000 / reference < 6 + 8 * tick * 10_000 / reference
    assert differing == 2_000


def test_each_venue_moves_with_the_common_walk():
    market = SyntheticMarket([symbol_spec("BTC-USDT")], seed=4, channels=["bbo"])
    views = [VenueView(market, "binance"), VenueView(market, "kraken")]
    first = [view.quote("BTC-USDT").bid for view in views]
    for _ in run(market, views, 5_000):
        pass
    moved = market.reference_price(0) - symbol_spec("BTC-USDT").start_price
    for view, bid in zip(views, first):
        assert abs(view.quote("BTC-USDT").bid - bid - moved) <= 10 * symbol_spec("BTC-USDT").tick


def test_update_ids_increase_per_venue_and_symbol():
    market = SyntheticMarket([symbol_spec("BTC-USDT")], seed=3, channels=["bbo"])
    view = VenueView(market, "coinbase")
    ids = [event.update_id for event in events(view, market, 300)]
    assert all(a < b for a, b in zip(ids, ids[1:]))


def test_a_quote_interval_thins_a_venue_quotes_and_keeps_the_latest_as_its_quote():
    market = SyntheticMarket([symbol_spec("BTC-USDT")], seed=3, channels=["bbo"])
    fast = VenueView(market, "binance")
    slow = VenueView(market, "bitstamp", quote_interval_ms=100)
    fast_quotes, slow_quotes = [], []
    for step in range(1_000):  # one step per ms: 1 s
        index = market.step()
        for view, quotes in ((fast, fast_quotes), (slow, slow_quotes)):
            event = view.on_step(index, NOW_MS + step)
            if event is not None:
                quotes.append(event)
    assert len(fast_quotes) == 1_000
    assert len(slow_quotes) == 10
    assert all(b.time_ms - a.time_ms >= 100 for a, b in zip(slow_quotes, slow_quotes[1:]))
    assert slow.quote("BTC-USDT") == slow_quotes[-1]


def test_same_seed_same_times_same_events_and_another_seed_differs():
    def produced(seed: int) -> list:
        market = SyntheticMarket([symbol_spec("BTC-USDT"), symbol_spec("NKN-USDT")], seed=seed)
        views = [VenueView(market, "binance"), VenueView(market, "okx")]
        return [events for _, _, events in run(market, views, 300)]

    assert produced(7) == produced(7)
    assert produced(7) != produced(8)


def tiny_spec(start_ticks: int, tick: int, lot: int) -> SymbolSpec:
    return SymbolSpec("TINY-USDT", start_ticks * tick, tick, lot)


tiny_or_default_specs = st.one_of(
    st.sampled_from(
        ["BTC-USDT", "ETH-USDT", "SOL-USDT", "NKN-USDT", "ETH-BTC", "LRC-BTC", "BTC-USD"]
    ).map(symbol_spec),
    st.builds(
        tiny_spec,
        st.integers(1, 5),
        st.sampled_from([1, 100, 10_000]),
        st.sampled_from([1, 1_000_000]),
    ),
)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    spec=tiny_or_default_specs,
    count=st.integers(1, 600),
    venue=st.sampled_from(VENUES),
)
def test_every_venue_keeps_bid_below_ask_on_ticks_and_everything_positive(seed, spec, count, venue):
    market = SyntheticMarket([spec], seed=seed)
    last_update_id = 0
    for event in events(VenueView(market, venue), market, count):
        assert event.symbol == spec.symbol
        if isinstance(event, MarketQuote):
            assert 0 < event.bid < event.ask
            assert event.bid % spec.tick == 0 and event.ask % spec.tick == 0
            assert event.bid_size > 0 and event.ask_size > 0
            assert event.bid_size % spec.lot == 0
            assert event.update_id > last_update_id
            last_update_id = event.update_id
        elif isinstance(event, MarketTicker):
            assert 0 < event.bid < event.ask
            assert 0 < event.low <= event.last <= event.high
        else:
            assert event.price > 0 and all(size > 0 for size in event.fill_sizes)
