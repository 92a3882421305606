"""Consolidated price per instrument across venues (pure, sans-I/O).

``Aggregator.on_quote`` takes a venue's latest best bid/offer and returns the new consolidated
view of that instrument, or None when nothing a consumer sees has changed. Venues leave the
view with ``drop_venue`` (disconnect, reconnect, staleness) so an old quote never sets a price.

v0 method: best bid and best ask across venues (sizes summed at the best price, the venues at
each side listed) and the mid of that consolidated BBO as ``price``. ``price`` carries
``PRICE_EXTRA_DIGITS`` more decimals than the instrument's price scale, so a mid (and later a
median of mids) is exact.
"""

from __future__ import annotations

from typing import Iterable

from tickwire.instruments import Instrument
from tickwire.model import ConsolidatedQuote, Quote, Trade

__all__ = ["PRICE_EXTRA_DIGITS", "Aggregator", "InstrumentView"]

PRICE_EXTRA_DIGITS = 2
_MID_FACTOR = 10**PRICE_EXTRA_DIGITS // 2


class InstrumentView:
    """Latest quote per venue for one instrument and the last consolidated view published."""

    __slots__ = ("instrument", "symbol", "price_scale", "quotes", "last", "last_trade")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.price_scale = instrument.price_scale + PRICE_EXTRA_DIGITS
        self.quotes: dict[str, Quote] = {}
        self.last: ConsolidatedQuote | None = None
        self.last_trade: Trade | None = None

    def consolidate(self, recv_ns: int, exchange_ns: int, venue: str) -> ConsolidatedQuote | None:
        """Recompute the view; return it if it differs from the last one published."""
        quotes = self.quotes
        if len(quotes) == 1:
            (q,) = quotes.values()
            return self.publish_if_changed(
                q.bid, q.bid_size, q.ask, q.ask_size, _solo(q.venue), 1, recv_ns, exchange_ns, venue
            )
        if quotes:
            bid, bid_size, bid_venues, ask, ask_size, ask_venues = _best_bid_offer(quotes.values())
        else:
            bid = bid_size = ask = ask_size = 0
            bid_venues = ask_venues = ()
        last = self.last
        if (
            last is not None
            and last.bid == bid
            and last.ask == ask
            and last.bid_size == bid_size
            and last.ask_size == ask_size
            and last.bid_venues == bid_venues
            and last.ask_venues == ask_venues
            and last.n_venues == len(quotes)
        ):
            return None
        update = ConsolidatedQuote(
            self.symbol,
            bid,
            bid_size,
            bid_venues,
            ask,
            ask_size,
            ask_venues,
            (bid + ask) * _MID_FACTOR,
            self.price_scale,
            len(quotes),
            recv_ns,
            exchange_ns,
            venue,
        )
        self.last = update
        return update

    def publish_if_changed(
        self,
        bid: int,
        bid_size: int,
        ask: int,
        ask_size: int,
        venues: tuple[str, ...],
        n_venues: int,
        recv_ns: int,
        exchange_ns: int,
        venue: str,
    ) -> ConsolidatedQuote | None:
        """The view when the best bid and ask are both at ``venues``; None if unchanged."""
        last = self.last
        if (
            last is not None
            and last.bid == bid
            and last.ask == ask
            and last.bid_size == bid_size
            and last.ask_size == ask_size
            and last.n_venues == n_venues
            and last.bid_venues == venues
            and last.ask_venues == venues
        ):
            return None
        update = ConsolidatedQuote(
            self.symbol, bid, bid_size, venues, ask, ask_size, venues,
            (bid + ask) * _MID_FACTOR, self.price_scale, n_venues, recv_ns, exchange_ns, venue,
        )
        self.last = update
        return update


_SOLO_VENUES: dict[str, tuple[str]] = {}


def _solo(venue: str) -> tuple[str]:
    """The one-venue tuple for ``venue``, shared so equal views compare by identity first."""
    venues = _SOLO_VENUES.get(venue)
    if venues is None:
        venues = _SOLO_VENUES[venue] = (venue,)
    return venues


def _best_bid_offer(
    quotes: Iterable[Quote],
) -> tuple[int, int, tuple[str, ...], int, int, tuple[str, ...]]:
    bid = bid_size = 0
    ask = ask_size = 0
    bid_venues: list[str] = []
    ask_venues: list[str] = []
    for q in quotes:
        if q.bid > bid:
            bid, bid_size, bid_venues = q.bid, q.bid_size, [q.venue]
        elif q.bid == bid:
            bid_size += q.bid_size
            bid_venues.append(q.venue)
        if not ask or q.ask < ask:
            ask, ask_size, ask_venues = q.ask, q.ask_size, [q.venue]
        elif q.ask == ask:
            ask_size += q.ask_size
            ask_venues.append(q.venue)
    return bid, bid_size, tuple(sorted(bid_venues)), ask, ask_size, tuple(sorted(ask_venues))


class Aggregator:
    """Consolidated views of a fixed set of instruments."""

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self.views = {i.symbol: InstrumentView(i) for i in instruments}

    def on_quote(self, quote: Quote) -> ConsolidatedQuote | None:
        """Apply one venue quote; return the instrument's new view, or None if unchanged."""
        view = self.views.get(quote.symbol)
        if view is None:
            return None
        quotes = view.quotes
        venue = quote.venue
        quotes[venue] = quote
        if len(quotes) == 1:
            return view.publish_if_changed(
                quote.bid, quote.bid_size, quote.ask, quote.ask_size, _solo(venue), 1,
                quote.recv_ns, quote.exchange_ns, venue,
            )
        return view.consolidate(quote.recv_ns, quote.exchange_ns, venue)

    def on_trade(self, trade: Trade) -> None:
        """Remember the instrument's last trade (it does not move the v0 price)."""
        view = self.views.get(trade.symbol)
        if view is not None:
            view.last_trade = trade

    def drop_venue(self, venue: str, now_ns: int) -> list[ConsolidatedQuote]:
        """Remove every quote of ``venue``; return the views that changed because of it.

        A view left with no venue is published with empty sides (``n_venues`` 0) so that
        consumers learn there is no price rather than keep an old one.
        """
        changed = []
        for view in self.views.values():
            if view.quotes.pop(venue, None) is not None:
                update = view.consolidate(now_ns, 0, venue)
                if update is not None:
                    changed.append(update)
        return changed
