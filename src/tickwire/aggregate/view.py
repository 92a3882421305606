"""One instrument's consolidated view: every venue's latest quote, which are used, the price.

A source (a venue, or a venue's quotes in a merged quote currency) is *live* while it speaks
and its quote is valid; a live source may still be left out of one update as an outlier. Live
sources' tops of book sit in ``InstrumentView.live`` columns that a quote updates in place; the
columns are rebuilt (from each source's last quote) only when a source joins, leaves or returns.
"""

from __future__ import annotations

import msgspec

from tickwire.aggregate.methods import (
    MID_TO_PRICE,
    PRICE_EXTRA_DIGITS,
    QUARTER_TO_PRICE,
    Columns,
    at_best,
    median_quarter,
    price_method,
)
from tickwire.aggregate.outliers import MIN_VENUES, outlier_rule
from tickwire.aggregate.rules import PYTH, PriceRules, hundredths, nanoseconds
from tickwire.instruments import Instrument
from tickwire.model import ConsolidatedQuote, PriceBasis, Quote, Trade

__all__ = [
    "CROSSED",
    "LOCKED",
    "NORMAL",
    "OK",
    "OUTLIER",
    "RECONNECTING",
    "STALE",
    "UNAVAILABLE",
    "ExclusionCounts",
    "InstrumentView",
    "Source",
]

NORMAL = "normal"
LOCKED = "locked"
CROSSED = "crossed"

STALE = "stale"
RECONNECTING = "reconnecting"
OUTLIER = "outlier"
_NEW = "new"  # a source before its first quote is applied (never published)

OK = "ok"
UNAVAILABLE = "unavailable"

_NO_VENUES: tuple[str, ...] = ()


class ExclusionCounts:
    """How often each source of each instrument was left out (per reason) and came back."""

    __slots__ = ("excluded", "returned")

    def __init__(self) -> None:
        self.excluded: dict[tuple[str, str, str], int] = {}
        self.returned: dict[tuple[str, str], int] = {}

    def count(self, symbol: str, source: str, reason: str) -> None:
        """``source`` left ``symbol``'s price for ``reason`` ("" for coming back)."""
        if reason:
            key = (symbol, source, reason)
            self.excluded[key] = self.excluded.get(key, 0) + 1
        else:
            back = (symbol, source)
            self.returned[back] = self.returned.get(back, 0) + 1


class Source:
    """One source of quotes for one view: its last quote and whether it is used.

    ``exclusion`` is "" while live, else why not (``STALE``, ``RECONNECTING``);
    ``row`` is its index in the view's live columns (-1 when not live); ``alive_ns`` is the
    last time (of the aggregator's clock) it was known to speak.
    """

    __slots__ = ("name", "view", "quote", "exclusion", "outlier", "alive_ns", "row")

    def __init__(self, name: str, view: InstrumentView, quote: Quote, now_ns: int) -> None:
        self.name = name
        self.view = view
        self.quote = quote
        self.exclusion = _NEW
        self.outlier = False
        self.alive_ns = now_ns
        self.row = -1


class InstrumentView:
    """The consolidated view of one instrument under its ``PriceRules``.

    ``current`` is the latest view (None before any quote), ``published`` the latest one handed
    out; they differ only under the ``deviation`` publishing policy.
    """

    __slots__ = (
        "instrument",
        "symbol",
        "method",
        "price_of",
        "has_confidence",
        "outliers",
        "kept_median",
        "kept_range",
        "kept_by_median",
        "weight_cap",
        "throttled",
        "deviation",
        "stale_after_ns",
        "heartbeat_ns",
        "price_scale",
        "sources",
        "live",
        "live_sources",
        "single",
        "bbo_live",
        "n_outliers",
        "basis",
        "current",
        "published",
        "published_at_ns",
        "heartbeat_seen",
        "last_trade",
        "counts",
    )

    def __init__(self, instrument: Instrument, rules: PriceRules, counts: ExclusionCounts) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.method = rules.method
        self.price_of = price_method(rules.method)
        self.has_confidence = rules.method == PYTH
        self.outliers = outlier_rule(rules)
        self.kept_median = -1  # the median that ``kept_range`` (mid sums not outliers) is for
        self.kept_range = (0, 0)
        self.kept_by_median = self.outliers is not None and self.outliers.by_median
        self.weight_cap = hundredths(rules.weight_cap_pct)
        self.throttled = rules.publish == "deviation"
        self.deviation = hundredths(rules.deviation_bp)
        self.stale_after_ns = nanoseconds(rules.stale_after)
        self.heartbeat_ns = nanoseconds(rules.heartbeat)
        self.price_scale = instrument.price_scale + PRICE_EXTRA_DIGITS
        self.sources: dict[str, Source] = {}
        self.live = Columns([], [], [], [], [])
        self.live_sources: list[Source] = []
        self.single = False
        self.bbo_live = False  # whether ``current`` holds the BBO over every live row
        self.n_outliers = 0
        self.basis = PriceBasis(self.method, UNAVAILABLE, 0, _NO_VENUES, {})
        self.current: ConsolidatedQuote | None = None
        self.published: ConsolidatedQuote | None = None
        self.published_at_ns = 0
        self.heartbeat_seen: ConsolidatedQuote | None = None
        self.last_trade: Trade | None = None
        self.counts = counts

    # -- the hot path ---------------------------------------------------------------------------

    def consolidate(
        self, recv_ns: int, exchange_ns: int, venue: str, row: int = -1, quote: Quote | None = None
    ) -> ConsolidatedQuote | None:
        """Recompute; return the new view if it is to be published (it changed something visible
        and the publishing policy lets it through), else None.

        ``row`` is the live row that changed since the last call (-1: any may have); with it,
        the best bid and ask are found from the current ones unless that row was or becomes
        part of them. While one source alone is live (``single``), the caller passes its
        ``quote``, which is the view then (the live columns are not kept up to date meanwhile).
        """
        if quote is not None:
            bid, ask = quote.bid, quote.ask
            bid_size, ask_size = quote.bid_size, quote.ask_size
            bid_venues = ask_venues = self.live.solos[0]
            price = (bid + ask) * MID_TO_PRICE
            confidence = (ask - bid) * MID_TO_PRICE if self.has_confidence else None
        else:
            live = columns = self.live
            sums = live.sorted_sums
            n = len(sums)
            if not n:
                self.bbo_live = False
                return self.emit_empty(recv_ns, venue)
            half = n >> 1
            median = sums[half] << 1 if n & 1 else sums[half - 1] + sums[half]  # median_quarter
            outliers = self.outliers
            if outliers is not None and n >= MIN_VENUES:
                if median != self.kept_median or not self.kept_by_median:
                    self.kept_range = outliers.kept_range(sums, median)
                    self.kept_median = median
                low, high = self.kept_range
                outside = sums[0] < low or sums[-1] > high
            else:
                outside = False
            if outside or self.n_outliers:
                columns = self._without_outliers(sums, median)
                if columns is not live:
                    sums = columns.sorted_sums
                    median = median_quarter(sums)
            price_of = self.price_of
            if price_of is None:
                price, confidence = median * QUARTER_TO_PRICE, None
            else:
                price, confidence = price_of(columns, sums, median, self.weight_cap)
                price *= QUARTER_TO_PRICE
                if confidence is not None:
                    confidence *= QUARTER_TO_PRICE
            bids = columns.bids
            asks = columns.asks
            current = self.current
            if row < 0 or columns is not live or not self.bbo_live or current is None:
                bid = max(bids)
                bid_size, bid_venues = at_best(bids, bid, columns.bid_sizes, columns.solos, columns.names)
                ask = min(asks)
                ask_size, ask_venues = at_best(asks, ask, columns.ask_sizes, columns.solos, columns.names)
                self.bbo_live = columns is live
            else:  # the same result as above, from the last one
                name, solo = live.names[row], live.solos[row]
                bid, bid_size, bid_venues = current.bid, current.bid_size, current.bid_venues
                ask, ask_size, ask_venues = current.ask, current.ask_size, current.ask_venues
                quoted_bid, quoted_ask = bids[row], asks[row]
                if (
                    quoted_bid < bid and quoted_ask > ask
                    and name not in bid_venues and name not in ask_venues
                    and price == current.price and confidence == current.confidence
                    and current.basis is self.basis
                ):
                    return None  # neither side nor the price moved: nothing visible changed
                if quoted_bid > bid:
                    bid, bid_size, bid_venues = quoted_bid, live.bid_sizes[row], solo
                elif quoted_bid == bid and bid_venues is solo:
                    bid_size = live.bid_sizes[row]
                elif quoted_bid == bid or name in bid_venues:
                    bid = max(bids)
                    bid_size, bid_venues = at_best(bids, bid, live.bid_sizes, live.solos, live.names)
                if quoted_ask < ask:
                    ask, ask_size, ask_venues = quoted_ask, live.ask_sizes[row], solo
                elif quoted_ask == ask and ask_venues is solo:
                    ask_size = live.ask_sizes[row]
                elif quoted_ask == ask or name in ask_venues:
                    ask = min(asks)
                    ask_size, ask_venues = at_best(asks, ask, live.ask_sizes, live.solos, live.names)
        current = self.current
        basis = self.basis
        if (
            current is not None
            and current.bid == bid
            and current.ask == ask
            and current.price == price
            and current.bid_size == bid_size
            and current.ask_size == ask_size
            and current.basis is basis
            and current.confidence == confidence
            and current.bid_venues == bid_venues
            and current.ask_venues == ask_venues
        ):
            return None
        update = ConsolidatedQuote(
            self.symbol, bid, bid_size, bid_venues, ask, ask_size, ask_venues,
            NORMAL if bid < ask else CROSSED if bid > ask else LOCKED,
            price, confidence, self.price_scale, basis, recv_ns, exchange_ns, venue,
        )
        self.current = update
        if self.throttled:
            published = self.published
            if (
                published is not None
                and published.basis is basis
                and abs(price - published.price) * 1_000_000 < self.deviation * published.price
            ):
                return None
        self.published = update
        return update

    def heartbeat(self, now_ns: int, wall_ns: int) -> ConsolidatedQuote | None:
        """The current view again (``venue`` "", ``recv_ns=wall_ns``) if nothing was published
        for ``heartbeat_ns`` by ``now_ns``; a publication is timed at the first call after it."""
        published = self.published
        if published is not self.heartbeat_seen:
            self.heartbeat_seen = published
            self.published_at_ns = now_ns
            return None
        current = self.current
        if current is None or now_ns - self.published_at_ns < self.heartbeat_ns:
            return None
        update = msgspec.structs.replace(current, recv_ns=wall_ns, exchange_ns=0, venue="")
        self.current = self.published = self.heartbeat_seen = update
        self.published_at_ns = now_ns
        return update

    # -- membership (cold) ----------------------------------------------------------------------

    def emit_empty(self, recv_ns: int, venue: str) -> ConsolidatedQuote | None:
        """The view without any usable source: no prices, and the reason in its basis."""
        current = self.current
        if current is not None and current.basis is self.basis:
            return None
        update = ConsolidatedQuote(
            self.symbol, 0, 0, _NO_VENUES, 0, 0, _NO_VENUES, "", 0, None, self.price_scale,
            self.basis, recv_ns, 0, venue,
        )
        self.current = self.published = update
        return update

    def set_exclusion(self, source: Source, reason: str) -> bool:
        """Make ``source`` live (``reason`` "") or leave it out for ``reason``; True when that
        changed anything (the caller then calls ``consolidate``)."""
        if source.exclusion == reason:
            return False
        if source.exclusion != _NEW or reason:
            self.counts.count(self.symbol, source.name, reason)
        source.exclusion = reason
        if reason:
            source.outlier = False
        self._rebuild()
        return True

    def _rebuild(self) -> None:
        live = sorted(
            (s for s in self.sources.values() if not s.exclusion), key=lambda s: s.name
        )
        quotes = [s.quote for s in live]
        for row, source in enumerate(live):
            source.row = row
        for source in self.sources.values():
            if source.exclusion:
                source.row = -1
        self.live_sources = live
        self.live = Columns(
            [s.name for s in live],
            [q.bid for q in quotes],
            [q.bid_size for q in quotes],
            [q.ask for q in quotes],
            [q.ask_size for q in quotes],
        )
        self.n_outliers = sum(s.outlier for s in live)
        self.single = len(live) == 1 and not self.n_outliers
        self.bbo_live = False
        self._refresh_membership()

    def _without_outliers(self, sums: list[int], median: int) -> Columns:
        """Flag this update's outliers (counting who leaves and comes back); the columns of the
        venues used."""
        live = self.live
        outliers = self.outliers
        if outliers is None:
            flags = [False] * len(sums)
        else:
            flags = outliers.flags(live.mid_sums, sums, median)
        changed = False
        for source, flag in zip(self.live_sources, flags):
            if source.outlier != flag:
                source.outlier = flag
                self.counts.count(self.symbol, source.name, OUTLIER if flag else "")
                changed = True
        self.n_outliers = sum(flags)
        self.single = len(flags) == 1 and not self.n_outliers
        if changed:
            self._refresh_membership()
        if not self.n_outliers:
            return live
        return live.subset([not flag for flag in flags])

    def _refresh_membership(self) -> None:
        """A new ``basis`` if the sources used or left out changed (an unchanged one stays the
        same object, so that views compare it by identity)."""
        sources = sorted(self.sources.values(), key=lambda s: s.name)
        used = tuple(s.name for s in sources if not s.exclusion and not s.outlier)
        excluded = {s.name: s.exclusion or OUTLIER for s in sources if s.exclusion or s.outlier}
        basis = self.basis
        if used == basis.used and excluded == basis.excluded:
            return
        reasons = set(excluded.values())
        if used:
            status = OK
        elif len(reasons) == 1:
            (status,) = reasons
        else:
            status = UNAVAILABLE
        self.basis = PriceBasis(self.method, status, len(used), used, excluded)
