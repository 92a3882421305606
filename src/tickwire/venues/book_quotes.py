"""Quotes of venues that publish a book rather than a best bid/offer (Gemini, Bitfinex), sans-I/O.

The adapter applies the venue's levels to the instrument's ``BookState`` and then asks
``book_quote`` for the events: a Quote when the top level of either side changed, nothing when a
change stayed below it or a side is empty, a counted rejection when the book is crossed.
"""

from __future__ import annotations

from typing import Sequence

from tickwire.book import LevelBook
from tickwire.fixedpoint import PriceCache, format_scaled
from tickwire.instruments import Instrument
from tickwire.model import Event, Quote
from tickwire.venues.base import NO_EVENTS, UNSEEN, DecodeStats, TopOfBookState, quote_rejection

__all__ = ["BookState", "book_quote"]


class BookState(TopOfBookState):
    """A subscribed instrument quoted from its book: the ``LevelBook`` (bounded to ``depth``
    levels a side, if given), whether this connection sent the book yet (``synced``), and (from
    TopOfBookState) the top of book last seen."""

    __slots__ = ("book", "synced")

    def __init__(self, instrument: Instrument, caches: dict[int, PriceCache], depth: int | None = None) -> None:
        self.book = LevelBook(depth)
        self.synced = False
        super().__init__(instrument, caches)

    def reset(self, unseen: int = UNSEEN) -> None:
        """Forget the book and the top of book (a new connection, or a book no longer known)."""
        super().reset(unseen)
        self.book.clear()
        self.synced = False


def book_quote(venue: str, stats: DecodeStats, state: BookState, recv_ns: int, update_id: int = 0) -> Sequence[Event]:
    """The Quote of ``state``'s book when its top changed since the last call, else nothing; a
    crossed book is counted in ``stats`` and gives nothing. Quotes have no exchange time."""
    book = state.book
    bid, ask = book.best_bid, book.best_ask
    bid_size, ask_size = book.bids.get(bid, 0), book.asks.get(ask, 0)
    if (bid, bid_size, ask, ask_size) == (state.bid, state.bid_size, state.ask, state.ask_size):
        return NO_EVENTS  # a change below the top of the book
    state.bid, state.bid_size, state.ask, state.ask_size = bid, bid_size, ask, ask_size
    if 0 < bid < ask:
        return (Quote(venue, state.symbol, bid, bid_size, ask, ask_size, recv_ns, 0, update_id),)
    if bid and ask:  # an empty side is no error: there is no quote to give
        prices, sizes = state.instrument.price_scale, state.instrument.size_scale
        stats.error(
            quote_rejection(bid, bid_size, ask, ask_size),
            f"{state.symbol} book bid={format_scaled(bid, prices)}x{format_scaled(bid_size, sizes)}"
            f" ask={format_scaled(ask, prices)}x{format_scaled(ask_size, sizes)}",
        )
    return NO_EVENTS
