"""A synthetic Binance spot market, without I/O: seeded integer random walks rendered as payloads.

Prices and sizes are integers counting ``10**-8`` units and go out as 8-decimal strings, like the
real feed. The caller passes the time of every frame, so the same seed and the same times give the
same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import NamedTuple

import msgspec

from tickwire.instruments import parse_symbol

__all__ = [
    "CHANNELS",
    "PRICE_DECIMALS",
    "SymbolSpec",
    "SyntheticMarket",
    "format_units",
    "symbol_spec",
]

PRICE_DECIMALS = 8
CHANNELS = ("bookTicker", "trade", "aggTrade", "ticker")

_ONE = 10**PRICE_DECIMALS
_CHANNEL_WEIGHTS = {"bookTicker": 16, "trade": 2, "aggTrade": 2, "ticker": 1}
_USD_PRICES = {"BTC": 67_000 * _ONE, "ETH": 3_500 * _ONE, "SOL": 150 * _ONE}
_USD_LIKE = frozenset(("USD", "USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI"))
_OTHER_USD_PRICE = 100 * _ONE
_PRICE_DIGITS_PER_TICK = 7  # the tick is about a millionth of the start price
_LOT_DIGITS = 17  # the lot is worth a few USD: 0.0001 BTC, 0.001 ETH, 0.01 of a 100 USD coin
_MS_PER_DAY = 86_400_000
_MAX_WALK_STEP_TICKS = 2
_MAX_SPREAD_TICKS = 3
_MAX_BOOK_SIZE_LOTS = 20_000
_MAX_TRADE_SIZE_LOTS = 5_000
_MAX_FILLS_PER_AGG_TRADE = 3
_MAX_UPDATE_ID_GAP = 5


def format_units(value: int) -> str:
    """Format an integer count of ``10**-8`` units as Binance text, e.g. ``"67012.40000000"``."""
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(abs(value), _ONE)
    return f"{sign}{whole}.{fraction:08d}"


class SymbolSpec(NamedTuple):
    """One simulated symbol: names, then start price, tick and size lot in ``10**-8`` units."""

    symbol: str
    venue_symbol: str
    start_price: int
    tick: int
    lot: int

    @property
    def stream_prefix(self) -> str:
        """The lowercase symbol that starts this symbol's stream names, e.g. ``btcusdt``."""
        return self.venue_symbol.lower()


def symbol_spec(symbol: str) -> SymbolSpec:
    """Build the default spec for canonical spot ``BASE-QUOTE``; raises ValueError otherwise.

    The start price is the base's rough USD price (BTC 67000, ETH 3500, SOL 150, USD stablecoins 1,
    anything else 100) divided by the quote's (BTC, ETH, SOL as above, anything else 1), the tick
    about a millionth of it, the size lot worth a few USD.
    """
    instrument = parse_symbol(symbol)  # InstrumentError is a ValueError
    if instrument.kind:
        raise ValueError(f"symbol {symbol!r} is not a spot BASE-QUOTE symbol")
    base_default = _ONE if instrument.base in _USD_LIKE else _OTHER_USD_PRICE
    base_usd = _USD_PRICES.get(instrument.base, base_default)
    quote_usd = _USD_PRICES.get(instrument.quote, _ONE)
    start_price = max(1, base_usd * _ONE // quote_usd)
    tick = 10 ** max(0, len(str(start_price)) - _PRICE_DIGITS_PER_TICK)
    lot = 10 ** min(PRICE_DECIMALS, max(0, _LOT_DIGITS - len(str(base_usd))))
    return SymbolSpec(symbol, instrument.base + instrument.quote, start_price, tick, lot)


class _BinanceBookTicker(msgspec.Struct, gc=False):
    u: int
    s: str
    b: str
    B: str
    a: str
    A: str


class _BinanceTrade(msgspec.Struct, gc=False, tag_field="e", tag="trade"):
    E: int
    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool
    M: bool


class _BinanceAggTrade(msgspec.Struct, gc=False, tag_field="e", tag="aggTrade"):
    E: int
    s: str
    a: int
    p: str
    q: str
    f: int
    l: int  # noqa: E741 - Binance's field name
    T: int
    m: bool
    M: bool


class _BinanceTicker(msgspec.Struct, gc=False, tag_field="e", tag="24hrTicker"):
    E: int
    s: str
    p: str
    P: str
    w: str
    x: str
    c: str
    Q: str
    b: str
    B: str
    a: str
    A: str
    o: str
    h: str
    l: str  # noqa: E741 - Binance's field name
    v: str
    q: str
    O: int  # noqa: E741 - Binance's field name
    C: int
    F: int
    L: int
    n: int


class _SymbolState:
    """The moving parts of one symbol: best bid/ask in ticks, ids and the 24 h statistics."""

    def __init__(self, spec: SymbolSpec, rng: random.Random) -> None:
        self.spec = spec
        self.bid_ticks = max(1, spec.start_price // spec.tick)
        self.spread_ticks = 1
        self.bid_size = rng.randint(1, _MAX_BOOK_SIZE_LOTS) * spec.lot
        self.ask_size = rng.randint(1, _MAX_BOOK_SIZE_LOTS) * spec.lot
        self.update_id = rng.randint(10**9, 10**10)
        self.next_trade_id = rng.randint(10**8, 10**9)
        self.next_agg_trade_id = rng.randint(10**7, 10**8)
        self.open_price = self.bid_ticks * spec.tick
        self.last_price = self.open_price
        self.last_size = 0
        self.high = self.low = self.open_price
        self.volume = 0
        self.quote_volume_e16 = 0  # sum of price * size, in 10**-16 units
        self.first_trade_id = -1
        self.last_trade_id = -1

    @property
    def bid(self) -> int:
        return self.bid_ticks * self.spec.tick

    @property
    def ask(self) -> int:
        return (self.bid_ticks + self.spread_ticks) * self.spec.tick

    def walk(self, rng: random.Random) -> None:
        step = rng.randint(-_MAX_WALK_STEP_TICKS, _MAX_WALK_STEP_TICKS)
        self.bid_ticks = max(1, self.bid_ticks + step)
        self.spread_ticks = rng.randint(1, _MAX_SPREAD_TICKS)
        self.bid_size = rng.randint(1, _MAX_BOOK_SIZE_LOTS) * self.spec.lot
        self.ask_size = rng.randint(1, _MAX_BOOK_SIZE_LOTS) * self.spec.lot
        self.update_id += rng.randint(1, _MAX_UPDATE_ID_GAP)

    def fill(self, price: int, size: int) -> int:
        trade_id = self.next_trade_id
        self.next_trade_id += 1
        if self.first_trade_id < 0:
            self.first_trade_id = trade_id
        self.last_trade_id = trade_id
        self.last_price = price
        self.last_size = size
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.volume += size
        self.quote_volume_e16 += price * size
        return trade_id


class SyntheticMarket:
    """Seeded random-walk market producing Binance spot payloads for a set of symbols.

    Each ``next_frame`` call takes the next symbol in turn, picks one of ``channels`` (bookTicker
    dominates: 16 of 21 frames when all four are on) and returns ``(stream, payload bytes)``.
    Bid is always below ask and every price is at least one tick.
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
        self._rng = random.Random(seed)
        self._states = [_SymbolState(spec, self._rng) for spec in symbols]
        self._channels = tuple(dict.fromkeys(channels))
        self._weights = [_CHANNEL_WEIGHTS[channel] for channel in self._channels]
        self._streams = [
            {channel: f"{spec.stream_prefix}@{channel}" for channel in self._channels}
            for spec in symbols
        ]
        self._next_symbol = 0
        self._encode = msgspec.json.Encoder().encode

    def next_frame(self, now_ms: int) -> tuple[str, bytes]:
        """Advance the market by one event at wall-clock ``now_ms`` and return its frame."""
        index = self._next_symbol
        self._next_symbol = (index + 1) % len(self._states)
        state = self._states[index]
        rng = self._rng
        channel = (
            self._channels[0]
            if len(self._channels) == 1
            else rng.choices(self._channels, self._weights)[0]
        )
        if channel == "bookTicker":
            state.walk(rng)
            payload = self._encode(
                _BinanceBookTicker(
                    state.update_id,
                    state.spec.venue_symbol,
                    format_units(state.bid),
                    format_units(state.bid_size),
                    format_units(state.ask),
                    format_units(state.ask_size),
                )
            )
        elif channel == "trade":
            buyer_is_maker = rng.random() < 0.5
            price = state.bid if buyer_is_maker else state.ask
            size = rng.randint(1, _MAX_TRADE_SIZE_LOTS) * state.spec.lot
            trade_id = state.fill(price, size)
            payload = self._encode(
                _BinanceTrade(
                    now_ms,
                    state.spec.venue_symbol,
                    trade_id,
                    format_units(price),
                    format_units(size),
                    now_ms,
                    buyer_is_maker,
                    True,
                )
            )
        elif channel == "aggTrade":
            buyer_is_maker = rng.random() < 0.5
            price = state.bid if buyer_is_maker else state.ask
            total = 0
            first_id = last_id = 0
            for fill_number in range(rng.randint(1, _MAX_FILLS_PER_AGG_TRADE)):
                size = rng.randint(1, _MAX_TRADE_SIZE_LOTS) * state.spec.lot
                last_id = state.fill(price, size)
                if fill_number == 0:
                    first_id = last_id
                total += size
            agg_id = state.next_agg_trade_id
            state.next_agg_trade_id += 1
            payload = self._encode(
                _BinanceAggTrade(
                    now_ms,
                    state.spec.venue_symbol,
                    agg_id,
                    format_units(price),
                    format_units(total),
                    first_id,
                    last_id,
                    now_ms,
                    buyer_is_maker,
                    True,
                )
            )
        else:
            payload = self._encode(_ticker(state, now_ms))
        return self._streams[index][channel], payload


def _ticker(state: _SymbolState, now_ms: int) -> _BinanceTicker:
    change = state.last_price - state.open_price
    whole_pct, thousandths_pct = divmod(abs(change) * 100_000 // state.open_price, 1000)
    percent = f"{'-' if change < 0 else ''}{whole_pct}.{thousandths_pct:03d}"
    quote_volume = state.quote_volume_e16 // _ONE
    weighted_average = quote_volume * _ONE // state.volume if state.volume else 0
    trade_count = state.last_trade_id - state.first_trade_id + 1 if state.first_trade_id >= 0 else 0
    return _BinanceTicker(
        E=now_ms,
        s=state.spec.venue_symbol,
        p=format_units(change),
        P=percent,
        w=format_units(weighted_average),
        x=format_units(state.open_price),
        c=format_units(state.last_price),
        Q=format_units(state.last_size),
        b=format_units(state.bid),
        B=format_units(state.bid_size),
        a=format_units(state.ask),
        A=format_units(state.ask_size),
        o=format_units(state.open_price),
        h=format_units(state.high),
        l=format_units(state.low),
        v=format_units(state.volume),
        q=format_units(quote_volume),
        O=now_ms - _MS_PER_DAY,
        C=now_ms,
        F=state.first_trade_id,
        L=state.last_trade_id,
        n=trade_count,
    )
