"""Quotes as the level changes of a book, for simulated venues that publish books (pure).

The synthetic market gives a venue's new top of book as a ``MarketQuote``. A venue that sends a
book instead (Gemini ``l2``, Bitfinex ``book``) publishes a one-level-a-side book: a snapshot of
the current quote's two levels on subscribe, then, per quote, the level changes that turn the
book it published last into the new one.
"""

from __future__ import annotations

from typing import NamedTuple

from tickwire.sim.market import MarketQuote, VenueView

__all__ = ["LevelChange", "PublishedBooks", "level_changes"]


class LevelChange(NamedTuple):
    """One level of a book: ``is_bid``, its ``price`` and its new ``size`` (0: deleted), in units."""

    is_bid: bool
    price: int
    size: int


def _side_changes(is_bid: bool, old_price: int, old_size: int, price: int, size: int) -> list[LevelChange]:
    if price == old_price:
        return [LevelChange(is_bid, price, size)] if size != old_size else []
    return [LevelChange(is_bid, price, size), LevelChange(is_bid, old_price, 0)]


def level_changes(before: MarketQuote, after: MarketQuote) -> list[LevelChange]:
    """The changes from the book of ``before`` to that of ``after``.

    Applied one at a time they never leave a side empty (a new level comes before the old one
    goes) nor the book crossed (the side moving away from the other changes first: the asks
    when prices rise, the bids when they fall).
    """
    bids = _side_changes(True, before.bid, before.bid_size, after.bid, after.bid_size)
    asks = _side_changes(False, before.ask, before.ask_size, after.ask, after.ask_size)
    rising = after.bid > before.bid or (after.bid == before.bid and after.ask > before.ask)
    return asks + bids if rising else bids + asks


class PublishedBooks:
    """The book a venue published last, per canonical symbol of ``view``.

    A venue renders every quote with ``changes`` (only when some client takes it, so a book
    nobody took stays as it was published) and gives new subscribers ``current``: a subscriber's
    snapshot and the changes that follow it always agree.
    """

    def __init__(self, view: VenueView | None) -> None:
        self._view = view
        self._published: dict[str, MarketQuote] = {}

    def current(self, symbol: str) -> MarketQuote:
        """The quote whose book was published last for listed ``symbol`` (at first the view's)."""
        quote = self._published.get(symbol)
        if quote is None:
            assert self._view is not None, "no synthetic market while replaying"
            quote = self._published[symbol] = self._view.quote(symbol)
        return quote

    def changes(self, quote: MarketQuote) -> list[LevelChange]:
        """Publish ``quote``: the level changes from the book published before it."""
        changes = level_changes(self.current(quote.symbol), quote)
        self._published[quote.symbol] = quote
        return changes
