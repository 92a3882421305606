"""A price-level order book: scaled-integer price -> size on each side, and the best of each.

Venues that publish a book rather than a best bid/offer (Gemini ``l2``, Bitfinex ``book``, Bybit
``orderbook``) are quoted from it: the adapter applies a venue's levels in order and reads the best levels after
each frame. Finding the new best after the best level was deleted costs one pass over that side;
every other change costs a dict store (a sorted price list beside the dict measured slower on the
recorded Gemini and Bitfinex books). A book that mirrors a venue's window of ``depth`` levels a
side drops whatever falls below that window, so a level the venue stopped reporting cannot come
back as a phantom best later.
"""

from __future__ import annotations

import sys

__all__ = ["LevelBook"]

_UNBOUNDED = sys.maxsize


class LevelBook:
    """Both sides of one instrument's book; ``best_bid`` and ``best_ask`` are 0 while a side is
    empty. ``depth`` bounds the levels kept per side (None: all). ``bids`` and ``asks`` map price
    to size; read them, change them only through ``set_bid``, ``set_ask`` and ``clear``."""

    __slots__ = ("bids", "asks", "best_bid", "best_ask", "depth")

    def __init__(self, depth: int | None = None) -> None:
        if depth is not None and depth < 1:
            raise ValueError(f"book depth must be at least 1, got {depth}")
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.best_bid = self.best_ask = 0
        self.depth = _UNBOUNDED if depth is None else depth

    def clear(self) -> None:
        """Empty both sides (before a snapshot)."""
        self.bids.clear()
        self.asks.clear()
        self.best_bid = self.best_ask = 0

    def set_bid(self, price: int, size: int) -> None:
        """Set the bid level at ``price`` to ``size``; size 0 deletes it."""
        levels = self.bids
        if size:
            levels[price] = size
            if price > self.best_bid:
                self.best_bid = price
            if len(levels) > self.depth:
                del levels[min(levels)]  # the lowest bid left the venue's window
        elif levels.pop(price, None) is not None and price == self.best_bid:
            self.best_bid = max(levels) if levels else 0

    def set_ask(self, price: int, size: int) -> None:
        """Set the ask level at ``price`` to ``size``; size 0 deletes it."""
        levels = self.asks
        if size:
            levels[price] = size
            best = self.best_ask
            if not best or price < best:
                self.best_ask = price
            if len(levels) > self.depth:
                del levels[max(levels)]  # the highest ask left the venue's window
        elif levels.pop(price, None) is not None and price == self.best_ask:
            self.best_ask = min(levels) if levels else 0

    def apply(self, bids: dict[int, int], asks: dict[int, int]) -> None:
        """Apply a venue's batch of level changes (size 0 deletes a level), finding a side's new
        best at most once however many of its levels the batch deletes (Bybit's deltas)."""
        if self.depth != _UNBOUNDED:
            for price, size in bids.items():
                self.set_bid(price, size)
            for price, size in asks.items():
                self.set_ask(price, size)
            return
        levels, best, lost_best = self.bids, self.best_bid, False
        for price, size in bids.items():
            if size:
                levels[price] = size
                if price > best:
                    best = price
            elif levels.pop(price, None) is not None and price == best:
                lost_best = True
        self.best_bid = (max(levels) if levels else 0) if lost_best else best
        levels, best, lost_best = self.asks, self.best_ask, False
        for price, size in asks.items():
            if size:
                levels[price] = size
                if not best or price < best:
                    best = price
            elif levels.pop(price, None) is not None and price == best:
                lost_best = True
        self.best_ask = (min(levels) if levels else 0) if lost_best else best

    def replace(self, bids: dict[int, int], asks: dict[int, int], best_bid: int, best_ask: int) -> None:
        """Make ``bids`` and ``asks`` the whole book (a snapshot; the dicts are kept, not copied),
        ``best_bid`` and ``best_ask`` being their best prices (0: side empty). Unbounded books
        only."""
        self.bids, self.asks, self.best_bid, self.best_ask = bids, asks, best_bid, best_ask

    def top(self) -> tuple[int, int, int, int]:
        """Best bid, its size, best ask, its size; 0, 0 for an empty side."""
        best_bid, best_ask = self.best_bid, self.best_ask
        return best_bid, self.bids.get(best_bid, 0), best_ask, self.asks.get(best_ask, 0)
