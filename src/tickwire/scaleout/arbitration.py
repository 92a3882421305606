"""Which copy of a venue event counts, and when a venue is stale, on an aggregate node (pure).

Several ingest nodes may carry the same venue. Like A/B feed arbitration, the aggregator takes
whichever copy of a quote arrives first and drops the later copies:

- where the venue numbers its book updates across all connections (``VENUE_WIDE_UPDATE_IDS``),
  a quote counts when its ``update_id`` is above the last one taken, from whichever node;
- otherwise (no id, or an id that only counts one connection's messages) the aggregator follows
  one node per stream, the leader, until that node's copy of the venue goes down or stale;
- a trade counts once per ``trade_id`` (the last ``TRADE_IDS_KEPT`` ids of a stream are kept).

A node's copy of a venue is live from its first status or event until it says the venue is down
or stays silent for the ``stale_after_ns`` its statuses announce. A venue is stale when no node's
copy of it is live; then its quotes leave the consolidated view.
"""

from __future__ import annotations

from collections import deque

__all__ = [
    "TRADE_IDS_KEPT",
    "VENUE_WIDE_UPDATE_IDS",
    "Liveness",
    "QuoteArbiter",
    "SourceState",
    "TradeArbiter",
]

VENUE_WIDE_UPDATE_IDS: dict[str, bool] = {
    "binance": True,  # bookTicker "u": the book's update id
    "binance_usdm": True,  # bookTicker "u"
    "binance_usdm_market": False,  # no quotes
    "bitfinex": False,  # "seq" (sequencing flag) counts one connection's messages
    "bitstamp": False,  # no update id
    "bybit": True,  # orderbook "seq": one counter per symbol
    "bybit_linear": True,  # orderbook "seq", tickers "cs": the same counter
    "coinbase": False,  # "sequence_num" counts one connection's messages
    "gemini": False,  # no update id
    "kraken": False,  # no update id
    "kraken_v1": False,  # no update id
    "okx": True,  # bbo-tbt "seqId" (quotes from tickers carry none and follow the leader)
}
"""Per venue: whether a Quote's ``update_id`` orders the venue's updates across connections."""

TRADE_IDS_KEPT = 4096


class QuoteArbiter:
    """One quote (or ticker) stream of one venue and symbol, fed by one or more nodes."""

    __slots__ = ("keyed", "last_key", "leader")

    def __init__(self, keyed: bool) -> None:
        self.keyed = keyed
        self.last_key = 0
        self.leader = ""

    def admit(self, node: str, update_id: int) -> bool:
        """True when this copy counts; False for a copy already taken, or an older update."""
        if self.keyed and update_id:
            if update_id <= self.last_key:
                return False
            self.last_key = update_id
            return True
        leader = self.leader
        if leader == node:
            return True
        if leader:
            return False
        self.leader = node
        return True

    def forget(self, node: str) -> None:
        """``node`` no longer feeds this stream: the next node to deliver leads."""
        if self.leader == node:
            self.leader = ""

    def reset(self) -> None:
        """The venue went stale: start again from whatever comes next (ids may have restarted)."""
        self.last_key = 0
        self.leader = ""


class TradeArbiter:
    """One trade stream of one venue and symbol: each ``trade_id`` counts once."""

    __slots__ = ("_seen", "_order")

    def __init__(self) -> None:
        self._seen: set[int] = set()
        self._order: deque[int] = deque()

    def admit(self, trade_id: int) -> bool:
        """True for a trade id not among the last ``TRADE_IDS_KEPT`` taken."""
        seen = self._seen
        if trade_id in seen:
            return False
        seen.add(trade_id)
        order = self._order
        order.append(trade_id)
        if len(order) > TRADE_IDS_KEPT:
            seen.discard(order.popleft())
        return True


class SourceState:
    """One node's copy of one venue."""

    __slots__ = ("node", "venue", "live", "last_seen_ns", "stale_after_ns")

    def __init__(self, node: str, venue: str, stale_after_ns: int) -> None:
        self.node = node
        self.venue = venue
        self.live = False
        self.last_seen_ns = 0
        self.stale_after_ns = stale_after_ns


class Liveness:
    """Every node's copy of every venue seen so far, and which venues are live."""

    def __init__(self, default_stale_after_ns: int) -> None:
        self.default_stale_after_ns = default_stale_after_ns
        self._sources: dict[tuple[str, str], SourceState] = {}
        self._live_count: dict[str, int] = {}

    def source(self, node: str, venue: str) -> SourceState:
        """The state of ``node``'s copy of ``venue`` (created not live)."""
        key = (node, venue)
        state = self._sources.get(key)
        if state is None:
            state = self._sources[key] = SourceState(node, venue, self.default_stale_after_ns)
        return state

    def came_up(self, source: SourceState, now_ns: int) -> bool:
        """Mark ``source`` live; True when its venue was stale until now."""
        source.last_seen_ns = now_ns
        if source.live:
            return False
        source.live = True
        count = self._live_count.get(source.venue, 0)
        self._live_count[source.venue] = count + 1
        return count == 0

    def went_down(self, source: SourceState) -> bool:
        """Mark ``source`` not live; True when that leaves its venue with no live source."""
        if not source.live:
            return False
        source.live = False
        count = self._live_count[source.venue] - 1
        self._live_count[source.venue] = count
        return count == 0

    def expired(self, now_ns: int) -> list[SourceState]:
        """The live sources silent for longer than their ``stale_after_ns`` (still marked live)."""
        return [
            s for s in self._sources.values()
            if s.live and now_ns - s.last_seen_ns > s.stale_after_ns
        ]

    def venue_live(self, venue: str) -> bool:
        """True while some node's copy of ``venue`` is live."""
        return self._live_count.get(venue, 0) > 0

    def live_sources(self, venue: str) -> int:
        """How many nodes' copies of ``venue`` are live."""
        return self._live_count.get(venue, 0)

    def last_seen_ns(self, venue: str) -> int:
        """When any node's copy of ``venue`` was last heard of (0: never)."""
        return max((s.last_seen_ns for s in self._sources.values() if s.venue == venue), default=0)
