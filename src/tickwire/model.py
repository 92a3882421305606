"""Typed events that flow through the hot path.

Prices and sizes are ``int`` at the instrument's scale (see ``fixedpoint``); times are integer
nanoseconds since the Unix epoch (``*_ns``). ``exchange_ns`` is 0 where the venue gives no time.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "BUY",
    "SELL",
    "ConsolidatedQuote",
    "Event",
    "PriceBasis",
    "Quote",
    "Ticker",
    "Trade",
]

BUY = 1
SELL = -1


class Quote(msgspec.Struct, frozen=True, gc=False):
    """A venue's best bid and offer for one instrument."""

    venue: str
    symbol: str
    bid: int
    bid_size: int
    ask: int
    ask_size: int
    recv_ns: int
    exchange_ns: int = 0
    update_id: int = 0


class Trade(msgspec.Struct, frozen=True, gc=False):
    """One (possibly aggregated) trade; ``side`` is the taker side, BUY or SELL."""

    venue: str
    symbol: str
    price: int
    size: int
    side: int
    trade_id: int
    recv_ns: int
    exchange_ns: int = 0


class Ticker(msgspec.Struct, frozen=True, gc=False):
    """A venue's rolling-window ticker: the last traded price."""

    venue: str
    symbol: str
    last: int
    recv_ns: int
    exchange_ns: int = 0


Event = Quote | Trade | Ticker


class PriceBasis(msgspec.Struct, frozen=True, gc=False):
    """What a consolidated price rests on; one object serves every update until it changes.

    ``method`` made the price from the ``n_venues`` venues ``used``; ``excluded`` maps each
    source left out to why (``stale``, ``reconnecting``, ``outlier``; it must not be changed).
    ``status`` is ``ok`` while some venue is used, else why not: ``stale`` or ``reconnecting``
    when every source left out shares that reason, ``unavailable`` otherwise.
    """

    method: str
    status: str
    n_venues: int
    used: tuple[str, ...]
    excluded: dict[str, str]


class ConsolidatedQuote(msgspec.Struct, frozen=True, gc=False):
    """The cross-venue view of one instrument after an update.

    ``bid``/``ask`` and sizes are at the instrument's price/size scale, over the venues used;
    ``bbo_state`` is ``normal``, ``locked`` (best bid = best ask) or ``crossed`` (best bid above
    best ask). ``price`` and ``confidence`` (None where the method gives none) are at
    ``price_scale``: the price scale plus the aggregator's ``PRICE_EXTRA_DIGITS``, so medians and
    half-spreads stay exact. With no venue used (``n_venues`` 0) prices and sizes are 0 and
    ``bbo_state`` is "". ``basis`` says which venues were used and why others were not (its
    fields are also readable here). ``recv_ns`` is the receive time of the frame that caused the
    update (or the time of the sweep that did), ``venue`` that frame's venue ("" for a heartbeat).
    """

    symbol: str
    bid: int
    bid_size: int
    bid_venues: tuple[str, ...]
    ask: int
    ask_size: int
    ask_venues: tuple[str, ...]
    bbo_state: str
    price: int
    confidence: int | None
    price_scale: int
    basis: PriceBasis
    recv_ns: int
    exchange_ns: int
    venue: str

    @property
    def method(self) -> str:
        return self.basis.method

    @property
    def status(self) -> str:
        return self.basis.status

    @property
    def n_venues(self) -> int:
        return self.basis.n_venues

    @property
    def used(self) -> tuple[str, ...]:
        return self.basis.used

    @property
    def excluded(self) -> dict[str, str]:
        return self.basis.excluded
