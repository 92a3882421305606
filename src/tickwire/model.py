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


class ConsolidatedQuote(msgspec.Struct, frozen=True, gc=False):
    """The cross-venue view of one instrument after an update.

    ``bid``/``ask`` and sizes are at the instrument's price/size scale; ``price`` is at
    ``price_scale`` (the price scale plus ``PRICE_EXTRA_DIGITS`` of the aggregator, so that means
    and medians stay exact). ``recv_ns`` is the receive time of the frame that caused the update.
    """

    symbol: str
    bid: int
    bid_size: int
    bid_venues: tuple[str, ...]
    ask: int
    ask_size: int
    ask_venues: tuple[str, ...]
    price: int
    price_scale: int
    n_venues: int
    recv_ns: int
    exchange_ns: int
    venue: str
