"""``tickwire run --role aggregate``: venue events from NATS -> aggregator -> sinks and NATS.

The node subscribes ``tickwire.*.*.<symbol>`` for each instrument of its shard and
``tickwire.status.*``. Per message: decode the envelope, count sequence gaps (losses on the way),
keep the sending node's copy of the venue live, let the arbiter drop copies already taken (several
ingest nodes may carry one venue), then the same aggregator as the single process, and every
changed consolidated view to the local sinks and to ``tickwire.price.<symbol>``. Local sinks are
flushed when the subscription's queue is empty (the end of a burst).

Stages timed per venue (``AGGREGATE_STAGES``): per message, ``sent_to_arrived`` (the NATS hop:
sent on the ingest node -> handed to this node's callback) and ``recv_to_arrived`` (the venue
frame received on the ingest node -> here); per consolidated update, ``arrived_to_published``
(this node's work) and ``recv_to_published`` (the venue frame received on the ingest node ->
published here). Times taken on two machines are only as comparable as their clocks (PTP or NTP).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

import msgspec

from tickwire.aggregate import Aggregator, composite_instrument
from tickwire.config import Config
from tickwire.engine import Sink, local_sinks, stop_on_signals
from tickwire.exposition import aggregation_families, histograms_status, left_out_by_venue
from tickwire.families import MetricFamily
from tickwire.instruments import Instrument
from tickwire.metrics import NamedStages, merged, micros
from tickwire.model import ConsolidatedQuote, Quote, Ticker, Trade
from tickwire.scaleout.arbitration import (
    VENUE_WIDE_UPDATE_IDS,
    Liveness,
    QuoteArbiter,
    SourceState,
    TradeArbiter,
)
from tickwire.scaleout.codec import (
    PREFIX,
    QUOTE,
    TICKER,
    TRADE,
    Envelope,
    Outbound,
    Shard,
    VenueStatus,
    event_of,
    parse_shard,
    price_subject,
    status_subject,
    symbol_filter,
)
from tickwire.scaleout.ingest import STALE_AFTER_HEARTBEATS, default_node_name
from tickwire.scaleout.link import NatsLink
from tickwire.venues.base import Channel
from tickwire.venues.registry import VENUES

__all__ = ["AGGREGATE_STAGES", "SWEEP_SECONDS", "AggregateNode", "NatsPriceSink"]

AGGREGATE_STAGES = ("sent_to_arrived", "recv_to_arrived", "arrived_to_published", "recv_to_published")

SWEEP_SECONDS = 0.1  # how often silent nodes are looked for

log = logging.getLogger("tickwire.aggregate_node")

_DECODERS: dict[str, Any] = {
    QUOTE: msgspec.msgpack.Decoder(Envelope[Quote]),
    TRADE: msgspec.msgpack.Decoder(Envelope[Trade]),
    TICKER: msgspec.msgpack.Decoder(Envelope[Ticker]),
}
_STATUS = msgspec.msgpack.Decoder(VenueStatus)


class NatsPriceSink:
    """Consolidated updates to ``tickwire.price.<symbol>`` as ``Envelope[ConsolidatedQuote]``."""

    def __init__(self, link: NatsLink, node: str, instruments: list[Instrument]) -> None:
        self._publish = link.publish
        self._node = node
        self._encode = msgspec.msgpack.Encoder().encode
        self.outbound = {
            i.symbol: Outbound(price_subject(i.symbol), i.price_scale, i.size_scale)
            for i in instruments
        }

    def publish(self, update: ConsolidatedQuote, publish_ns: int) -> None:
        """Hand ``update`` to the NATS client (written when the event loop next runs)."""
        out = self.outbound[update.symbol]
        seq = out.seq = out.seq + 1
        message = Envelope(self._node, seq, publish_ns, out.price_scale, out.size_scale, update)
        if self._publish(out.subject, self._encode(message)):
            out.published += 1
        else:
            out.lost += 1

    def publish_trade(self, trade: Trade, publish_ns: int) -> None:
        """Nothing: trades are on NATS already, from the ingest nodes."""

    def publish_ticker(self, ticker: Ticker, publish_ns: int) -> None:
        """Nothing: tickers are on NATS already, from the ingest nodes."""

    def flush(self) -> None:
        """Nothing: the NATS client's flusher writes everything pending at once."""

    def close(self) -> None:
        """Nothing: the node closes its NATS connection after the last update."""


class _Cursor:
    """One node's messages on one subject: the last sequence number and the node's venue state."""

    __slots__ = ("seq", "source")

    def __init__(self, source: SourceState) -> None:
        self.seq = 0
        self.source = source


class _Route:
    """One subject of venue events this node consumes."""

    __slots__ = ("handle", "decode", "venue", "symbol", "price_scale", "size_scale", "arbiter", "cursors",
                 "stages", "messages", "bytes", "duplicates", "lost")

    def __init__(self, handle: Callable[..., None], kind: str, venue: str, instrument: Instrument,
                 arbiter: QuoteArbiter | TradeArbiter, stages: NamedStages) -> None:
        self.handle = handle
        self.decode = _DECODERS[kind].decode
        self.venue = venue
        self.symbol = instrument.symbol
        self.price_scale = instrument.price_scale
        self.size_scale = instrument.size_scale
        self.arbiter = arbiter
        self.cursors: dict[str, _Cursor] = {}
        self.stages = stages.by_name
        self.messages = 0
        self.bytes = 0
        self.duplicates = 0
        self.lost = 0


class _Feed:
    """One subscription: every message to the node, then a flush of the local sinks when the
    subscription has nothing more queued."""

    def __init__(self, on_message: Callable[[str, bytes, int], None], flush: Callable[[], None]) -> None:
        self.on_message = on_message
        self.flush = flush
        self.subscription: Any = None

    async def deliver(self, msg: Any) -> None:
        self.on_message(msg.subject, msg.data, time.time_ns())
        subscription = self.subscription
        if subscription is None or not subscription.pending_msgs:
            self.flush()


class AggregateNode:
    """The aggregator of one shard of the instruments, fed from NATS."""

    role = "aggregate"
    stage_names = AGGREGATE_STAGES

    def __init__(self, config: Config, sinks: list[Sink] | None = None,
                 link: NatsLink | None = None) -> None:
        settings = config.nats
        self.node = settings.node or default_node_name()
        assert settings.url is not None, "validated by load_config"
        self.link = link or NatsLink(settings.url, self.node)
        self.shard = parse_shard(settings.shard) if settings.shard else Shard()
        aggregation = config.aggregation
        every = config.instrument_list()
        self.instruments = {  # by the consolidated symbol, so merged quotes stay together
            i.symbol: i for i in every
            if self.shard.owns(composite_instrument(i, aggregation.merge_quotes).symbol)
        }
        self.instrument_count = len(every)
        owned = list(self.instruments.values())
        self.aggregator = Aggregator(owned, aggregation.rules, aggregation.merge_quotes)
        if sinks is None:
            consolidated = [view.instrument for view in self.aggregator.views.values()]
            sinks = [*local_sinks(config, owned, self.stop),
                     NatsPriceSink(self.link, self.node, consolidated)]
        self.sinks = sinks
        channels = frozenset(config.channels)
        self._trade_sinks = tuple(s.publish_trade for s in sinks) if Channel.TRADES in channels else ()
        self._ticker_sinks = tuple(s.publish_ticker for s in sinks) if Channel.TICKER in channels else ()
        self._publishers = tuple(s.publish for s in sinks)
        self._flushers = tuple(s.flush for s in sinks)
        self.jetstream_replay = settings.jetstream_replay
        self.liveness = Liveness(int(settings.heartbeat * STALE_AFTER_HEARTBEATS * 1e9))
        self.routes: dict[str, _Route] = {}
        self._heard: set[str] = set()  # venues that spoke since the aggregator's last sweep
        self._venue_arbiters: dict[str, list[QuoteArbiter]] = {}
        self.stages: dict[str, NamedStages] = {}  # per venue, as its first message arrives
        self.messages = 0
        self.updates = 0
        self.duplicates = 0
        self.lost = 0
        self.restarts = 0
        self.rejected: dict[str, int] = {}
        self.stale_marks: dict[str, int] = {}
        self.reports: dict[tuple[str, str], VenueStatus] = {}
        self._stopped = asyncio.Event()

    # -- per message ------------------------------------------------------------------------------

    def on_message(self, subject: str, data: bytes, arrive_ns: int) -> None:
        """One venue event from NATS, received at ``arrive_ns``."""
        self.messages += 1
        route = self.routes.get(subject)
        if route is None:
            route = self._route(subject)
            if route is None:
                return
        try:
            message = route.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._reject("malformed")
            return
        route.messages += 1
        route.bytes += len(data)
        event = event_of(message)
        if (
            message.price_scale != route.price_scale
            or message.size_scale != route.size_scale
            or event.symbol != route.symbol
            or event.venue != route.venue
        ):
            self._reject("scale_or_name_mismatch")  # never read integers at another scale
            return
        node = message.node
        seq = message.seq
        cursor = route.cursors.get(node)
        if cursor is None:
            cursor = route.cursors[node] = _Cursor(self.liveness.source(node, route.venue))
        elif seq != cursor.seq + 1:
            if seq > cursor.seq:
                self.lost += seq - cursor.seq - 1
                route.lost += seq - cursor.seq - 1
            else:
                self.restarts += 1  # the node started again: its numbering too
        cursor.seq = seq
        self._heard.add(route.venue)
        source = cursor.source
        if source.live:
            source.last_seen_ns = arrive_ns
        elif self.liveness.came_up(source, arrive_ns):
            self._venue_live(source)
        stages = route.stages
        stages["sent_to_arrived"].record(arrive_ns - message.sent_ns)
        stages["recv_to_arrived"].record(arrive_ns - event.recv_ns)
        route.handle(route, node, event, arrive_ns)

    def _on_quote(self, route: _Route, node: str, quote: Quote, arrive_ns: int) -> None:
        if not route.arbiter.admit(node, quote.update_id):  # type: ignore[call-arg]
            self.duplicates += 1
            route.duplicates += 1
            return
        update = self.aggregator.on_quote(quote)
        if update is not None:
            publish_ns = time.time_ns()
            for publish in self._publishers:
                publish(update, publish_ns)
            self.updates += 1
            stages = route.stages
            stages["arrived_to_published"].record(publish_ns - arrive_ns)
            stages["recv_to_published"].record(publish_ns - quote.recv_ns)

    def _on_trade(self, route: _Route, node: str, trade: Trade, arrive_ns: int) -> None:
        if not route.arbiter.admit(trade.trade_id):  # type: ignore[call-arg]
            self.duplicates += 1
            route.duplicates += 1
            return
        self.aggregator.on_trade(trade)
        if self._trade_sinks:
            publish_ns = time.time_ns()
            for publish_trade in self._trade_sinks:
                publish_trade(trade, publish_ns)

    def _on_ticker(self, route: _Route, node: str, ticker: Ticker, arrive_ns: int) -> None:
        if not route.arbiter.admit(node, 0):  # type: ignore[call-arg]
            self.duplicates += 1
            route.duplicates += 1
            return
        if self._ticker_sinks:
            publish_ns = time.time_ns()
            for publish_ticker in self._ticker_sinks:
                publish_ticker(ticker, publish_ns)

    def _route(self, subject: str) -> _Route | None:
        parts = subject.split(".")
        instrument = self.instruments.get(parts[-1])
        if len(parts) != 4 or parts[0] != PREFIX or parts[2] not in VENUES or instrument is None:
            self._reject("unknown_subject")
            return None
        kind, venue = parts[1], parts[2]
        arbiter: QuoteArbiter | TradeArbiter
        if kind == QUOTE:
            handle: Callable[..., None] = self._on_quote
            arbiter = QuoteArbiter(VENUE_WIDE_UPDATE_IDS[venue])
        elif kind == TICKER:
            handle, arbiter = self._on_ticker, QuoteArbiter(False)
        elif kind == TRADE:
            handle, arbiter = self._on_trade, TradeArbiter()
        else:
            self._reject("unknown_subject")
            return None
        if isinstance(arbiter, QuoteArbiter):
            self._venue_arbiters.setdefault(venue, []).append(arbiter)
        stages = self.stages.get(venue)
        if stages is None:
            stages = self.stages[venue] = NamedStages(AGGREGATE_STAGES)
        route = self.routes[subject] = _Route(handle, kind, venue, instrument, arbiter, stages)
        return route

    def _reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def flush(self) -> None:
        """Write what the local sinks hold."""
        for flush in self._flushers:
            flush()

    # -- venue liveness ---------------------------------------------------------------------------

    def on_status(self, data: bytes, arrive_ns: int) -> None:
        """One ingest node's ``VenueStatus``."""
        try:
            status = _STATUS.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._reject("malformed_status")
            return
        key = (status.node, status.venue)
        previous = self.reports.get(key)
        if previous is None or status.last_frame_ns > previous.last_frame_ns:
            self._heard.add(status.venue)  # the venue sent a frame (data or heartbeat) meanwhile
        self.reports[key] = status
        source = self.liveness.source(status.node, status.venue)
        source.stale_after_ns = status.stale_after_ns
        if not status.live:
            self._source_down(source, "its ingest node says the venue is down")
        elif self.liveness.came_up(source, arrive_ns):
            self._venue_live(source)

    def sweep(self, wall_ns: int, monotonic_ns: int) -> None:
        """Count as down every node's venue that has been silent too long, and let the
        aggregator apply its own staleness and heartbeat rules."""
        for source in self.liveness.expired(wall_ns):
            self._source_down(source, "nothing from its ingest node in time")
        heard, self._heard = self._heard, set()
        updates = self.aggregator.sweep(monotonic_ns, wall_ns, heard)
        for update in updates:
            for publish in self._publishers:
                publish(update, wall_ns)
        self.updates += len(updates)
        if updates:
            self.flush()

    def _source_down(self, source: SourceState, why: str) -> None:
        venue, node = source.venue, source.node
        arbiters = self._venue_arbiters.get(venue, ())
        for arbiter in arbiters:
            arbiter.forget(node)
        if not self.liveness.went_down(source):
            return
        for arbiter in arbiters:
            arbiter.reset()
        self.stale_marks[venue] = self.stale_marks.get(venue, 0) + 1
        log.warning("venue %s stale: no ingest node carries it live (%s: %s)", venue, node, why)
        now = time.time_ns()
        for update in self.aggregator.drop_venue(venue, now):
            for publish in self._publishers:
                publish(update, now)
            self.updates += 1
        self.flush()

    def _venue_live(self, source: SourceState) -> None:
        if self.stale_marks.get(source.venue):
            log.warning("venue %s live again (from %s)", source.venue, source.node)
        else:
            log.info("venue %s live (from %s)", source.venue, source.node)

    # -- running ----------------------------------------------------------------------------------

    async def _serve(self) -> None:
        await self.link.connect()
        if self.jetstream_replay:
            from tickwire.scaleout.jetstream import replay_last_quotes

            await replay_last_quotes(self.link, list(self.instruments), self.on_message)
            self.flush()
        status = _Feed(lambda subject, data, arrive_ns: self.on_status(data, arrive_ns), self.flush)
        status.subscription = await self.link.subscribe(status_subject("*"), status.deliver)
        for symbol in self.instruments:
            feed = _Feed(self.on_message, self.flush)
            feed.subscription = await self.link.subscribe(symbol_filter(symbol), feed.deliver)
        interval = min(SWEEP_SECONDS, self.aggregator.sweep_interval_ns / 1e9)
        while True:
            await asyncio.sleep(interval)
            self.sweep(time.time_ns(), time.monotonic_ns())

    async def run(self, duration: float | None = None) -> None:
        """Connect (retrying until NATS answers), subscribe and aggregate until ``stop`` (or
        SIGINT/SIGTERM, or ``duration`` seconds)."""
        stop_on_signals(self.stop)
        serve = asyncio.create_task(self._serve(), name="aggregate-node")
        stopped = asyncio.create_task(self._stopped.wait())
        try:
            await asyncio.wait((serve, stopped), timeout=duration, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._stopped.set()
            serve.cancel()
            await asyncio.gather(serve, stopped, return_exceptions=True)
            for sink in self.sinks:
                sink.close()
            await self.link.close()
        if not serve.cancelled() and serve.exception() is not None:
            raise serve.exception()  # type: ignore[misc]

    def stop(self) -> None:
        """End ``run``."""
        self._stopped.set()

    def summary(self) -> str:
        """Counters of the run so far (for stderr at exit)."""
        link = self.link
        rejected = ", ".join(f"{k} {v}" for k, v in sorted(self.rejected.items())) or "none"
        name = f"tickwire aggregate {self.node}"
        lines = [
            f"{name}: shard {self.shard.index}/{self.shard.count}: "
            f"{len(self.instruments)} of {self.instrument_count} instruments: "
            f"{', '.join(self.instruments) or 'none'}",
            f"{name}: {self.updates} consolidated updates published; {self.messages} messages "
            f"from NATS, {self.duplicates} duplicate copies dropped, {self.lost} lost on the way "
            f"(sequence gaps), {self.restarts} sender restarts, {link.slow_consumer_drops} "
            f"slow-consumer drops, rejected: {rejected}",
            f"{name}: NATS: {link.published} published, {link.lost} lost, "
            f"{link.disconnects} disconnects, {link.reconnects} reconnects",
        ]
        for stage in AGGREGATE_STAGES:
            histogram = merged(stages.by_name[stage] for stages in self.stages.values())
            p50, p99 = (micros(v) for v in histogram.percentiles((0.5, 0.99)))
            lines.append(f"{name}: {stage} µs p50 {p50} p99 {p99} ({histogram.count} samples)")
        lines.extend(f"{name}: {line}" for line in self.aggregator.exclusion_lines())
        venues = sorted({venue for _, venue in self.reports} | set(self.stale_marks))
        for venue in venues:
            state = "live" if self.liveness.venue_live(venue) else "stale"
            nodes = ", ".join(
                f"{r.node} ({'live' if r.live else 'down'}, {r.published} published, {r.lost} lost)"
                for (_, v), r in sorted(self.reports.items()) if v == venue
            )
            lines.append(
                f"{name}: venue {venue}: {state}, stale {self.stale_marks.get(venue, 0)} times; "
                f"ingest nodes: {nodes}"
            )
        return "\n".join(lines)

    # -- observability ----------------------------------------------------------------------------

    def _venues(self) -> list[str]:
        """Every venue this node has heard of (messages or status reports), sorted."""
        return sorted({route.venue for route in self.routes.values()}
                      | {venue for _, venue in self.reports} | set(self.stale_marks))

    def _per_venue(self, count: Callable[[_Route], int]) -> dict[str, int]:
        totals = dict.fromkeys(self._venues(), 0)
        for route in self.routes.values():
            totals[route.venue] += count(route)
        return totals

    def metric_families(self) -> list[MetricFamily]:
        """What ``/metrics`` shows of this node besides its stages."""
        venues = self._venues()

        def per_venue(count: Callable[[_Route], int]) -> list[tuple[dict[str, str], float]]:
            return [({"venue": venue}, value) for venue, value in self._per_venue(count).items()]

        return [
            *aggregation_families(self.updates, self.aggregator.exclusions),
            MetricFamily("tickwire_nats_messages_received_total", "counter",
                         "Venue events received from NATS.", per_venue(lambda r: r.messages)),
            MetricFamily("tickwire_nats_received_bytes_total", "counter",
                         "Bytes of the venue events received from NATS.", per_venue(lambda r: r.bytes)),
            MetricFamily("tickwire_nats_duplicates_total", "counter",
                         "Copies of a venue event already taken from another ingest node, dropped.",
                         per_venue(lambda r: r.duplicates)),
            MetricFamily("tickwire_nats_sequence_lost_total", "counter",
                         "Venue events lost between an ingest node and this one (sequence gaps).",
                         per_venue(lambda r: r.lost)),
            MetricFamily("tickwire_nats_sender_restarts_total", "counter",
                         "Times an ingest node's numbering started again.", [({}, self.restarts)]),
            MetricFamily("tickwire_nats_rejected_total", "counter",
                         "Messages from NATS dropped, by reason.",
                         [({"reason": reason}, count) for reason, count in sorted(self.rejected.items())]),
            MetricFamily("tickwire_venue_live", "gauge",
                         "1 while some ingest node carries the venue live.",
                         [({"venue": v}, int(self.liveness.venue_live(v))) for v in venues]),
            MetricFamily("tickwire_venue_live_nodes", "gauge",
                         "Ingest nodes that carry the venue live.",
                         [({"venue": v}, self.liveness.live_sources(v)) for v in venues]),
            MetricFamily("tickwire_venue_stale_total", "counter",
                         "Times the venue went stale (no ingest node carried it live).",
                         [({"venue": v}, self.stale_marks.get(v, 0)) for v in venues]),
            *self.link.metric_families(),
        ]

    def venue_status(self, now_ns: int) -> list[dict[str, Any]]:
        """One ``/debug/status`` venue entry per venue heard of (``tickwire top``)."""
        left_out = left_out_by_venue(self.aggregator.exclusions)
        messages = self._per_venue(lambda r: r.messages)
        received = self._per_venue(lambda r: r.bytes)
        lost = self._per_venue(lambda r: r.lost)
        venues = []
        for venue in self._venues():
            last_seen_ns = self.liveness.last_seen_ns(venue)
            stages = self.stages.get(venue)
            venues.append({
                "name": venue,
                "state": "live" if self.liveness.venue_live(venue) else "stale",
                "frames": messages[venue],
                "bytes": received[venue],
                "connects": 0,
                "reconnects": self.stale_marks.get(venue, 0),
                "connect_failures": 0,
                "errors": 0,
                "errors_by_reason": {},
                "sequence_gaps": lost[venue],
                "left_out": left_out.get(venue, 0),
                "last_frame_age_ns": now_ns - last_seen_ns if last_seen_ns else None,
                "receive_queue_bytes": None,
                "last_error": "",
                "stages": histograms_status(stages) if stages is not None else {},
            })
        return venues
