"""The simulator's synthetic market, without I/O and without any venue's wire format.

``SyntheticMarket`` moves one reference price per canonical symbol (``BTC-USDT``, ``BTC-USDT-PERP``,
…): a seeded integer random walk in ticks. A ``VenueView`` is one venue's market on top of it: the
venue quotes around the reference with its own small offset, spread and size noise and at its own
cadence, trades at its own touch and keeps its own 24 h statistics. Views produce neutral events
(``MarketQuote``, ``MarketTrade``, ``MarketTicker``) that each venue module renders into its wire
format.

Prices and sizes are integers counting ``10**-8`` units. The caller passes every time, so the same
seed and the same times give the same events.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from typing import NamedTuple

import msgspec

from tickwire.instruments import parse_symbol
from tickwire.model import BUY, SELL
from tickwire.venues.base import Channel

__all__ = [
    "CHANNELS",
    "PRICE_DECIMALS",
    "MarketEvent",
    "MarketQuote",
    "MarketTicker",
    "MarketTrade",
    "SymbolSpec",
    "SyntheticMarket",
    "VenueProfile",
    "VenueView",
    "symbol_spec",
    "venue_profile",
]

PRICE_DECIMALS = 8
CHANNELS = (Channel.BBO, Channel.TRADES, Channel.TICKER)

_ONE = 10**PRICE_DECIMALS
_CHANNEL_WEIGHTS = {Channel.BBO: 16, Channel.TRADES: 4, Channel.TICKER: 1}
_USD_PRICES = {"BTC": 67_000 * _ONE, "ETH": 3_500 * _ONE, "SOL": 150 * _ONE}
_USD_LIKE = frozenset(("USD", "USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI"))
_OTHER_USD_PRICE = 100 * _ONE
_PRICE_DIGITS_PER_TICK = 7  # the tick is about a millionth of the start price
_LOT_DIGITS = 17  # the lot is worth a few USD: 0.0001 BTC, 0.001 ETH, 0.01 of a 100 USD coin
_MAX_WALK_STEP_TICKS = 2
_MAX_OFFSET_HUNDREDTH_BPS = 50  # venues centre their quotes within 0.5 bp of the reference
_HUNDREDTH_BPS_PER_UNIT = 1_000_000
_MAX_FILLS_PER_TRADE = 3
_MAX_UPDATE_ID_GAP = 5


class SymbolSpec(NamedTuple):
    """One simulated instrument: canonical symbol, then start price, tick and size lot in units."""

    symbol: str
    start_price: int
    tick: int
    lot: int


def symbol_spec(symbol: str) -> SymbolSpec:
    """Build the default spec for canonical ``BASE-QUOTE[-KIND]``; raises ValueError otherwise.

    The start price is the base's rough USD price (BTC 67000, ETH 3500, SOL 150, USD stablecoins 1,
    anything else 100) divided by the quote's (BTC, ETH, SOL as above, anything else 1), the tick
    about a millionth of it, the size lot worth a few USD. A kind (``PERP``, a date) does not
    change them: derivatives trade near spot.
    """
    instrument = parse_symbol(symbol)  # InstrumentError is a ValueError
    base_default = _ONE if instrument.base in _USD_LIKE else _OTHER_USD_PRICE
    base_usd = _USD_PRICES.get(instrument.base, base_default)
    quote_usd = _USD_PRICES.get(instrument.quote, _ONE)
    start_price = max(1, base_usd * _ONE // quote_usd)
    tick = 10 ** max(0, len(str(start_price)) - _PRICE_DIGITS_PER_TICK)
    lot = 10 ** min(PRICE_DECIMALS, max(0, _LOT_DIGITS - len(str(base_usd))))
    return SymbolSpec(symbol, start_price, tick, lot)


class MarketQuote(msgspec.Struct, frozen=True, gc=False):
    """A venue's new top of book; ``update_id`` increases per venue and symbol, with gaps."""

    symbol: str
    update_id: int
    bid: int
    bid_size: int
    ask: int
    ask_size: int
    time_ms: int


class MarketTrade(msgspec.Struct, frozen=True, gc=False):
    """One taker order filled at one price against one or more resting orders.

    Fill ``i`` has trade id ``first_trade_id + i`` and size ``fill_sizes[i]``; ``size`` is their
    sum and ``aggregate_id`` numbers taker orders. ``taker_side`` is ``model.BUY`` (the taker
    lifted the ask) or ``model.SELL`` (it hit the bid).
    """

    symbol: str
    aggregate_id: int
    price: int
    size: int
    taker_side: int
    first_trade_id: int
    fill_sizes: tuple[int, ...]
    time_ms: int


class MarketTicker(msgspec.Struct, frozen=True, gc=False):
    """A venue's statistics since the view started, and its current top of book.

    ``first_trade_id`` and ``last_trade_id`` are -1 before the first trade; ``quote_volume`` is
    the sum of price times size, in units.
    """

    symbol: str
    time_ms: int
    open: int
    high: int
    low: int
    last: int
    last_size: int
    volume: int
    quote_volume: int
    first_trade_id: int
    last_trade_id: int
    trade_count: int
    bid: int
    bid_size: int
    ask: int
    ask_size: int


MarketEvent = MarketQuote | MarketTrade | MarketTicker


class SyntheticMarket:
    """The reference prices every venue quotes around: a seeded integer random walk per symbol.

    ``channels`` (names of ``tickwire.venues.base.Channel``) are the kinds of events the venue
    views produce: ``bbo`` quotes, ``trades`` and ``ticker`` statistics.
    """

    def __init__(
        self,
        symbols: Sequence[SymbolSpec],
        *,
        seed: int = 0,
        channels: Sequence[str] = CHANNELS,
    ) -> None:
        if not symbols:
            raise ValueError("the synthetic market needs at least one symbol")
        unknown = [channel for channel in channels if channel not in _CHANNEL_WEIGHTS]
        if unknown or not channels:
            raise ValueError(
                f"unknown channels {unknown}: choose from {', '.join(CHANNELS)}"
                if unknown
                else "the synthetic market needs at least one channel"
            )
        self.specs = tuple(symbols)
        self.seed = seed
        self.channels = tuple(dict.fromkeys(channels))
        self._rng = random.Random(seed)
        self._ticks = [max(1, spec.start_price // spec.tick) for spec in symbols]
        self._next_symbol = 0

    def step(self) -> int:
        """Move the next symbol in turn by one step of its walk; return its index in ``specs``."""
        index = self._next_symbol
        self._next_symbol = (index + 1) % len(self._ticks)
        step = self._rng.randint(-_MAX_WALK_STEP_TICKS, _MAX_WALK_STEP_TICKS)
        self._ticks[index] = max(1, self._ticks[index] + step)
        return index

    def reference_price(self, index: int) -> int:
        """The reference price of ``specs[index]`` in units, a positive multiple of its tick."""
        return self._ticks[index] * self.specs[index].tick


class VenueProfile(NamedTuple):
    """How one venue's quotes differ from the reference; drawn once from the venue's name."""

    offset_hundredth_bps: int
    max_spread_ticks: int
    max_book_size_lots: int
    max_trade_size_lots: int


def venue_profile(venue: str) -> VenueProfile:
    """The deterministic profile of ``venue``: an offset within ±0.5 bp, spread and size limits."""
    rng = random.Random(f"venue-profile/{venue}")
    return VenueProfile(
        offset_hundredth_bps=rng.randint(-_MAX_OFFSET_HUNDREDTH_BPS, _MAX_OFFSET_HUNDREDTH_BPS),
        max_spread_ticks=rng.randint(2, 4),
        max_book_size_lots=rng.randint(5_000, 40_000),
        max_trade_size_lots=rng.randint(1_000, 8_000),
    )


class _VenueSymbol:
    """One symbol on one venue: its top of book in ticks, ids and statistics."""

    def __init__(
        self, spec: SymbolSpec, profile: VenueProfile, reference: int, rng: random.Random
    ) -> None:
        self.spec = spec
        self.profile = profile
        start_ticks = reference // spec.tick
        offset = start_ticks * abs(profile.offset_hundredth_bps) // _HUNDREDTH_BPS_PER_UNIT
        self.offset_ticks = -offset if profile.offset_hundredth_bps < 0 else offset
        self.update_id = rng.randint(10**9, 10**10)
        self.next_trade_id = rng.randint(10**8, 10**9)
        self.next_aggregate_id = rng.randint(10**7, 10**8)
        self.next_quote_ms = 0
        self.requote(reference, rng, 0)
        self.open = self.last = self.high = self.low = self.bid
        self.last_size = self.volume = self.quote_volume_e16 = self.trade_count = 0
        self.first_trade_id = self.last_trade_id = -1

    def requote(self, reference: int, rng: random.Random, now_ms: int) -> MarketQuote:
        # the venue's centre (reference plus offset) lies within [bid, ask] unless bid is clamped
        spec, profile = self.spec, self.profile
        centre = reference // spec.tick + self.offset_ticks
        spread = rng.randint(1, profile.max_spread_ticks)
        bid_ticks = max(1, centre - rng.randint(0, spread))
        self.bid = bid_ticks * spec.tick
        self.ask = (bid_ticks + spread) * spec.tick
        self.bid_size = rng.randint(1, profile.max_book_size_lots) * spec.lot
        self.ask_size = rng.randint(1, profile.max_book_size_lots) * spec.lot
        self.update_id += rng.randint(1, _MAX_UPDATE_ID_GAP)
        self.last_quote = MarketQuote(
            spec.symbol, self.update_id, self.bid, self.bid_size, self.ask, self.ask_size, now_ms
        )
        return self.last_quote

    def trade(self, rng: random.Random, now_ms: int) -> MarketTrade:
        taker_side = BUY if rng.random() < 0.5 else SELL
        price = self.ask if taker_side == BUY else self.bid
        lot, max_lots = self.spec.lot, self.profile.max_trade_size_lots
        fills = tuple(
            rng.randint(1, max_lots) * lot for _ in range(rng.randint(1, _MAX_FILLS_PER_TRADE))
        )
        size = sum(fills)
        first_trade_id = self.next_trade_id
        self.next_trade_id += len(fills)
        aggregate_id = self.next_aggregate_id
        self.next_aggregate_id += 1
        if self.first_trade_id < 0:
            self.first_trade_id = first_trade_id
        self.last_trade_id = self.next_trade_id - 1
        self.trade_count += len(fills)
        self.last = price
        self.last_size = fills[-1]
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.volume += size
        self.quote_volume_e16 += price * size
        return MarketTrade(
            self.spec.symbol, aggregate_id, price, size, taker_side, first_trade_id, fills, now_ms
        )

    def ticker(self, now_ms: int) -> MarketTicker:
        return MarketTicker(
            symbol=self.spec.symbol,
            time_ms=now_ms,
            open=self.open,
            high=self.high,
            low=self.low,
            last=self.last,
            last_size=self.last_size,
            volume=self.volume,
            quote_volume=self.quote_volume_e16 // _ONE,
            first_trade_id=self.first_trade_id,
            last_trade_id=self.last_trade_id,
            trade_count=self.trade_count,
            bid=self.bid,
            bid_size=self.bid_size,
            ask=self.ask,
            ask_size=self.ask_size,
        )


class VenueView:
    """One venue's market on top of ``market``: its quotes, trades and tickers, as events.

    The view lists the market's symbols whose kind is in ``instrument_kinds`` ("" is spot). Call
    ``on_step`` with every index ``market.step()`` returns; it gives the venue's event for that
    step, if any. The venue publishes a new quote at most once per ``quote_interval_ms`` per
    symbol (0: on every quote step); trades print at its current touch. Its bid is always below
    its ask, and its quotes stay within a few basis points plus a few ticks of the reference.
    """

    def __init__(
        self,
        market: SyntheticMarket,
        venue: str,
        *,
        instrument_kinds: Collection[str] = ("",),
        quote_interval_ms: int = 0,
    ) -> None:
        if quote_interval_ms < 0:
            raise ValueError(f"quote interval must be >= 0 ms, got {quote_interval_ms}")
        self.venue = venue
        self.profile = venue_profile(venue)
        self.quote_interval_ms = quote_interval_ms
        self._market = market
        self._rng = random.Random(f"{market.seed}/{venue}")
        self._symbols: list[_VenueSymbol | None] = [
            _VenueSymbol(spec, self.profile, market.reference_price(index), self._rng)
            if parse_symbol(spec.symbol).kind in instrument_kinds
            else None
            for index, spec in enumerate(market.specs)
        ]
        self._by_symbol = {state.spec.symbol: state for state in self._symbols if state}
        self.specs = tuple(state.spec for state in self._by_symbol.values())
        self._channels = market.channels
        weights = [_CHANNEL_WEIGHTS[channel] for channel in self._channels]
        self._cum_weights = [sum(weights[: i + 1]) for i in range(len(weights))]

    def on_step(self, index: int, now_ms: int) -> MarketEvent | None:
        """The venue's event after the market moved ``specs[index]``, at wall-clock ``now_ms``.

        None when the venue does not list that symbol or its quote is not due yet.
        """
        state = self._symbols[index]
        if state is None:
            return None
        rng = self._rng
        channels = self._channels
        channel = (
            channels[0]
            if len(channels) == 1
            else rng.choices(channels, cum_weights=self._cum_weights)[0]
        )
        if channel == Channel.BBO:
            if now_ms < state.next_quote_ms:
                return None
            state.next_quote_ms = now_ms + self.quote_interval_ms
            return state.requote(self._market.reference_price(index), rng, now_ms)
        if channel == Channel.TRADES:
            return state.trade(rng, now_ms)
        return state.ticker(now_ms)

    def quote(self, symbol: str) -> MarketQuote:
        """The venue's latest quote for listed ``symbol``, e.g. for a snapshot on subscribe.

        Before the venue's first quote step its ``time_ms`` is 0.
        """
        return self._by_symbol[symbol].last_quote

    def ticker(self, symbol: str, now_ms: int) -> MarketTicker:
        """The venue's statistics for listed ``symbol`` at ``now_ms`` (for a snapshot)."""
        return self._by_symbol[symbol].ticker(now_ms)
