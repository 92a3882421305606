"""The aggregator: routes venue quotes to their instrument's view, and keeps time for staleness
and heartbeats from the clock its caller passes in (pure, sans-I/O)."""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Iterable, Mapping

import msgspec

from tickwire.aggregate.rules import PriceRules
from tickwire.aggregate.view import (
    RECONNECTING,
    STALE,
    ExclusionCounts,
    InstrumentView,
    Source,
)
from tickwire.instruments import Instrument
from tickwire.model import ConsolidatedQuote, Quote, Trade

__all__ = ["Aggregator", "composite_instrument"]

_SWEEP_MIN_NS = 10_000_000
_SWEEP_MAX_NS = 250_000_000


def composite_instrument(instrument: Instrument, merge_quotes: Mapping[str, str]) -> Instrument:
    """The instrument whose consolidated price ``instrument``'s quotes feed: itself, or the same
    instrument in the quote currency ``merge_quotes`` maps its quote to (``{"USDC": "USD"}``
    sends BTC-USDC quotes into BTC-USD, at par)."""
    quote = merge_quotes.get(instrument.quote)
    if quote is None:
        return instrument
    kind = f"-{instrument.kind}" if instrument.kind else ""
    return msgspec.structs.replace(
        instrument, symbol=f"{instrument.base}-{quote}{kind}", quote=quote
    )


class Aggregator:
    """Consolidated views of a fixed set of instruments (``views``, by symbol).

    The caller must:

    - call ``on_quote`` with every venue quote (the hot path: one call, the update to publish
      or None); quotes must be valid as the venue adapters make them (``0 < bid < ask``, both
      sizes > 0: ``venues.base.quote_rejection`` drops and counts any other);
    - call ``sweep`` every ``sweep_interval_ns`` or so with a monotonic ``now_ns`` and the venues
      that sent any frame (data, heartbeat, pong) since the previous sweep: it leaves out venues
      silent for their instrument's ``stale_after``, and republishes on ``heartbeat``;
    - call ``drop_venue`` when a venue's connection ends: its quotes are left out until it
      sends a new one.

    ``rules`` gives each consolidated symbol's ``PriceRules``; ``merge_quotes`` maps quote
    currencies together (see ``composite_instrument``); a merged source is named
    ``venue:QUOTE`` (e.g. ``kraken:USDC``). Raises ValueError for merged instruments whose
    scales differ.
    """

    def __init__(
        self,
        instruments: Iterable[Instrument],
        rules: Callable[[str], PriceRules] = lambda symbol: PriceRules(),
        merge_quotes: Mapping[str, str] | None = None,
    ) -> None:
        merge = dict(merge_quotes or {})
        self.views: dict[str, InstrumentView] = {}
        self.exclusions = ExclusionCounts()
        self.now_ns = 0
        self._routes: dict[str, dict[str, Source]] = {}
        self._targets: dict[str, tuple[InstrumentView, str]] = {}
        self._by_venue: dict[str, list[Source]] = {}
        for instrument in instruments:
            composite = composite_instrument(instrument, merge)
            view = self.views.get(composite.symbol)
            if view is None:
                view = InstrumentView(composite, rules(composite.symbol), self.exclusions)
                self.views[composite.symbol] = view
            scales = (view.instrument.price_scale, view.instrument.size_scale)
            if scales != (instrument.price_scale, instrument.size_scale):
                raise ValueError(
                    f"{instrument.symbol} merges into {composite.symbol}, so it needs the same "
                    f"price_scale and size_scale ({scales[0]} and {scales[1]})"
                )
            suffix = "" if composite is instrument else f":{instrument.quote}"
            self._targets[instrument.symbol] = (view, suffix)
            self._routes[instrument.symbol] = {}
        # how often ``sweep`` should run: a tenth of the shortest stale_after or heartbeat,
        # within 10..250 ms
        periods = [v.stale_after_ns for v in self.views.values()]
        periods += [v.heartbeat_ns for v in self.views.values() if v.heartbeat_ns]
        self.sweep_interval_ns = min(max(min(periods, default=0) // 10, _SWEEP_MIN_NS), _SWEEP_MAX_NS)

    def on_quote(self, quote: Quote) -> ConsolidatedQuote | None:
        """Apply one venue quote; return the instrument's new view if it is to be published."""
        try:
            source = self._routes[quote.symbol][quote.venue]
        except KeyError:
            if quote.symbol not in self._routes:
                return None
            source = self._add_source(quote)
        source.quote = quote
        row = source.row
        if row < 0:
            return self._readmit(source, quote.recv_ns, quote.exchange_ns)
        view = source.view
        if view.single:  # the columns are rebuilt from the quotes when a second source comes
            return view.consolidate(quote.recv_ns, quote.exchange_ns, source.name, row, quote)
        bid = quote.bid
        ask = quote.ask
        live = view.live
        live.bids[row] = bid
        live.asks[row] = ask
        live.bid_sizes[row] = quote.bid_size
        live.ask_sizes[row] = quote.ask_size
        mid_sums = live.mid_sums
        mid_sum = bid + ask
        if mid_sum != mid_sums[row]:
            sorted_sums = live.sorted_sums
            sorted_sums.remove(mid_sums[row])
            insort(sorted_sums, mid_sum)
            mid_sums[row] = mid_sum
        return view.consolidate(quote.recv_ns, quote.exchange_ns, source.name, row)

    def on_trade(self, trade: Trade) -> None:
        """Remember the instrument's last trade (``InstrumentView.last_trade``); no price method
        uses trades."""
        target = self._targets.get(trade.symbol)
        if target is not None:
            target[0].last_trade = trade

    def _add_source(self, quote: Quote) -> Source:
        view, suffix = self._targets[quote.symbol]
        source = Source(quote.venue + suffix, view, quote, self.now_ns)
        view.sources[source.name] = source
        self._routes[quote.symbol][quote.venue] = source
        self._by_venue.setdefault(quote.venue, []).append(source)
        return source

    def _readmit(self, source: Source, recv_ns: int, exchange_ns: int) -> ConsolidatedQuote | None:
        """A quote from a source that was not live (new, stale or reconnecting): it is back."""
        source.alive_ns = self.now_ns  # it speaks again
        source.view.set_exclusion(source, "")
        return source.view.consolidate(recv_ns, exchange_ns, source.name)

    def sweep(
        self, now_ns: int, wall_ns: int, heard: Iterable[str] = ()
    ) -> list[ConsolidatedQuote]:
        """Advance to monotonic ``now_ns``: venues in ``heard`` spoke since the last sweep (a
        stale one comes back), sources silent for longer than their ``stale_after`` are left
        out, and views with a ``heartbeat`` that published nothing for that long are published
        again. Returns the updates to publish, stamped ``recv_ns=wall_ns``."""
        self.now_ns = now_ns
        touched: dict[InstrumentView, str] = {}
        for venue in heard:
            for source in self._by_venue.get(venue, ()):
                source.alive_ns = now_ns
                if source.exclusion == STALE:
                    source.view.set_exclusion(source, "")
                    touched[source.view] = source.name
        for view in self.views.values():
            silent_since = now_ns - view.stale_after_ns
            for source in view.sources.values():
                if source.alive_ns < silent_since and not source.exclusion:
                    view.set_exclusion(source, STALE)
                    touched[view] = source.name
        updates = []
        for view, name in touched.items():
            update = view.consolidate(wall_ns, 0, name)
            if update is not None:
                updates.append(update)
        for view in self.views.values():
            if view.heartbeat_ns:
                update = view.heartbeat(now_ns, wall_ns)
                if update is not None:
                    updates.append(update)
        return updates

    def drop_venue(self, venue: str, now_ns: int) -> list[ConsolidatedQuote]:
        """Leave out every quote of ``venue`` (its connection ended; reason ``reconnecting``)
        until it sends a new one; return the views that changed, stamped ``recv_ns=now_ns``
        (wall clock). A view left without a usable venue is published with no price."""
        updates = []
        for source in self._by_venue.get(venue, ()):
            view = source.view
            if view.set_exclusion(source, RECONNECTING):
                update = view.consolidate(now_ns, 0, source.name)
                if update is not None:
                    updates.append(update)
        return updates

    def exclusion_lines(self) -> list[str]:
        """One line per instrument and source that was ever left out: how often, why, and how
        often it came back."""
        counts = self.exclusions
        lines = []
        keys = sorted({(symbol, source) for symbol, source, _ in counts.excluded})
        for symbol, source in keys:
            reasons = ", ".join(
                f"{reason} {n}" for (s, v, reason), n in sorted(counts.excluded.items())
                if (s, v) == (symbol, source)
            )
            back = counts.returned.get((symbol, source), 0)
            lines.append(f"{symbol} {source}: left out ({reasons}), came back {back}")
        return lines
