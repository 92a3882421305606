"""``tickwire run --role ingest``: venue sessions and codecs, every event published to NATS.

The hot path per frame is the single process's up to the decode; then each event is wrapped in
an ``Envelope``, encoded to MessagePack and handed to the NATS client's pending buffer in the
same call (``NatsLink.publish``); the client's flusher writes the whole read batch at once.
Every ``heartbeat`` seconds, and at once when a venue's connection ends, the node publishes a
``VenueStatus`` per venue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import TYPE_CHECKING

import msgspec
import nats.errors

from tickwire.config import Config
from tickwire.conflation import QuoteHold
from tickwire.engine import Engine, stop_on_signals
from tickwire.families import MetricFamily
from tickwire.metrics import FAST_BUCKET, FAST_LIMIT_NS, NamedStages, merged, micros
from tickwire.scaleout.codec import (
    KIND_OF,
    Envelope,
    Outbound,
    VenueStatus,
    event_subject,
    status_subject,
    widen,
)
from tickwire.scaleout.link import NatsLink
from tickwire.transport.session import FrameConsumer, SessionState, VenueSession
from tickwire.venues.base import VenueAdapter
from tickwire.venues.registry import instruments_for

if TYPE_CHECKING:
    from tickwire.record.writer import Recorder, VenueRecorder

__all__ = ["INGEST_STAGES", "STALE_AFTER_HEARTBEATS", "IngestNode", "default_node_name"]

log = logging.getLogger("tickwire.ingest")

STALE_AFTER_HEARTBEATS = 3
"""An aggregator counts a node's venue stale after this many heartbeats without a word."""

INGEST_STAGES = ("recv_to_sent",)
"""The ingest node's stage per venue event: frame received -> decoded, wrapped, encoded and
handed to the NATS client."""


def default_node_name() -> str:
    """``<host>-<pid>``: unique among the nodes of one NATS cluster."""
    return f"{socket.gethostname()}-{os.getpid()}"


class IngestNode(Engine):
    """The configured venue sessions, publishing to NATS instead of aggregating.

    It is the single-process ``Engine`` with another frame consumer: sessions, reconnects,
    recording and the run loop are the engine's. Its stages (``INGEST_STAGES``, per venue) are
    always timed.
    """

    role = "ingest"
    stage_names = INGEST_STAGES

    def __init__(
        self, config: Config, link: NatsLink | None = None, recorder: Recorder | None = None
    ) -> None:
        settings = config.nats
        self.node = settings.node or default_node_name()
        assert settings.url is not None, "validated by load_config"
        self.link = link or NatsLink(settings.url, self.node)
        self.heartbeat = settings.heartbeat
        self.jetstream_retention = settings.jetstream_retention
        self.stale_after_ns = int(settings.heartbeat * STALE_AFTER_HEARTBEATS * 1e9)
        self.venue_stages: dict[str, NamedStages] = {}
        self.outbound: dict[str, list[Outbound]] = {}  # per venue
        self._status_encode = msgspec.msgpack.Encoder().encode
        self._leaving = asyncio.Event()
        super().__init__(config, sinks=[], recorder=recorder)
        self.stages = self.venue_stages  # type: ignore[assignment]
        for session in self.sessions:
            self._say_down_too(session)

    def frame_consumer(self, adapter: VenueAdapter, venue_recorder: VenueRecorder | None = None) -> FrameConsumer:
        """The hot path for one venue's frames: record (with ``venue_recorder``), decode, wrap,
        encode, publish."""
        routes: dict[type, dict[str, Outbound]] = {
            kind_type: {
                instrument.symbol: Outbound(
                    event_subject(kind, adapter.name, instrument.symbol),
                    instrument.price_scale,
                    instrument.size_scale,
                )
                for instrument in instruments_for(adapter.name, self.config.instrument_list())
            }
            for kind_type, kind in KIND_OF.items()
        }
        self.outbound[adapter.name] = [out for by_symbol in routes.values() for out in by_symbol.values()]
        decode = adapter.decode
        encode = msgspec.msgpack.Encoder().encode
        publish = self.link.publish
        sent = self.venue_stages[adapter.name] = NamedStages(INGEST_STAGES)
        counts = sent.by_name["recv_to_sent"].counts
        record_sent = sent.by_name["recv_to_sent"].record
        fast_bucket, fast_limit = FAST_BUCKET, FAST_LIMIT_NS
        node = self.node
        time_ns = time.time_ns
        envelope = Envelope
        record = None if venue_recorder is None else venue_recorder.frame
        conflating = self.config.conflate
        hold = self.quote_holds[adapter.name] = QuoteHold()
        held, let_through = hold.held, hold.let_through

        def on_frame(payload: bytes, recv_ns: int, last_in_buffer: bool) -> None:
            if payload:
                if record is not None:
                    record(payload, recv_ns)
                events = decode(payload, recv_ns)
            else:  # no frame: the read ended on one that is no data
                events = ()
            if conflating and (held or not last_in_buffer):  # a lone frame goes straight through
                events = let_through(events, last_in_buffer)
            for event in events:
                out = routes[type(event)][event.symbol]
                seq = out.seq = out.seq + 1
                sent_ns = time_ns()
                message = envelope(node, seq, sent_ns, out.price_scale, out.size_scale, event)
                try:
                    data = encode(message)
                except OverflowError:  # a 128-bit trade id (Bybit linear)
                    data = encode(widen(message))  # type: ignore[arg-type]
                if publish(out.subject, data):
                    out.published += 1
                    took = sent_ns - recv_ns
                    if 0 <= took < fast_limit:
                        counts[fast_bucket[took]] += 1
                    else:
                        record_sent(took)
                else:
                    out.lost += 1

        return on_frame

    def _say_down_too(self, session: VenueSession) -> None:
        """After the engine's own handling of a lost connection, tell the aggregators."""
        engine_on_down = session.on_down

        def on_down() -> None:
            engine_on_down()
            self._publish_status(session, False)

        session.on_down = on_down

    def _publish_status(self, session: VenueSession, live: bool) -> None:
        venue = session.name
        published, lost = self.venue_totals(venue)
        status = VenueStatus(
            self.node, venue, live, time.time_ns(), self.stale_after_ns,
            session.stats.last_frame_ns, published, lost,
        )
        self.link.publish(status_subject(venue), self._status_encode(status))

    async def _heartbeats(self) -> None:
        await self.link.connected.wait()
        while True:
            for session in self.sessions:
                self._publish_status(session, session.state is SessionState.LIVE)
            await asyncio.sleep(self.heartbeat)

    async def _connect(self) -> None:
        await self.link.connect()
        if self.jetstream_retention is not None:
            from tickwire.scaleout.jetstream import keep_quotes

            try:
                await keep_quotes(self.link, self.jetstream_retention)
            except nats.errors.Error as exc:  # JetStream's own errors derive from it
                log.error("JetStream refused the quotes stream (%s); quotes are not kept", exc)

    async def run(self, duration: float | None = None) -> None:
        """Connect to NATS (retrying until it answers), then run the venue sessions until
        ``stop`` (or SIGINT/SIGTERM, or ``duration`` seconds from now); then say every venue is
        down and close. No venue is connected before NATS is, so no frame is lost to the start."""
        stop_on_signals(self.stop)
        started = time.monotonic()
        connect = asyncio.create_task(self._connect(), name="nats-connect")
        leaving = asyncio.create_task(self._leaving.wait())
        heartbeats = asyncio.create_task(self._heartbeats(), name="heartbeats")
        try:
            await asyncio.wait((connect, leaving), timeout=duration, return_when=asyncio.FIRST_COMPLETED)
            if connect.done() and not self._leaving.is_set():
                left = None if duration is None else max(0.0, duration - (time.monotonic() - started))
                await super().run(left)
        finally:
            for task in (heartbeats, connect, leaving):
                task.cancel()
            await asyncio.gather(heartbeats, connect, leaving, return_exceptions=True)
            for session in self.sessions:  # the node leaves: aggregators need not wait it out
                self._publish_status(session, False)
            await self.link.close()

    def stop(self) -> None:
        """End ``run`` (also while it still waits for NATS)."""
        self._leaving.set()
        super().stop()

    def venue_totals(self, venue: str) -> tuple[int, int]:
        """Events of ``venue`` published to NATS and lost, so far."""
        outbound = self.outbound[venue]
        return sum(o.published for o in outbound), sum(o.lost for o in outbound)

    def summary(self) -> str:
        """Counters of the run so far (for stderr at exit)."""
        link = self.link
        recv_to_sent = merged(stages.by_name["recv_to_sent"] for stages in self.venue_stages.values())
        p50, p99 = (micros(v) for v in recv_to_sent.percentiles((0.5, 0.99)))
        lines = [
            f"tickwire ingest {self.node}: {link.published} messages published to NATS, "
            f"{link.lost} lost (NATS away or behind), {link.disconnects} NATS disconnects, "
            f"{link.reconnects} reconnects; recv->sent µs p50 {p50} p99 {p99}"
        ]
        for venue in self.outbound:
            published, lost = self.venue_totals(venue)
            lines.append(
                f"tickwire ingest {self.node}: {venue}: {published} events published, {lost} lost"
            )
        # the engine's per-session lines, without its first line (consolidated updates: none here)
        lines.extend(super().summary().splitlines()[1:])
        return "\n".join(lines)

    def metric_families(self) -> list[MetricFamily]:
        """What ``/metrics`` shows of this node besides the venue sessions and stages."""
        venues = list(self.outbound)
        totals = [self.venue_totals(venue) for venue in venues]
        return [
            MetricFamily("tickwire_nats_events_published_total", "counter",
                         "Venue events handed to the NATS client.",
                         [({"venue": v}, t[0]) for v, t in zip(venues, totals)]),
            MetricFamily("tickwire_nats_events_lost_total", "counter",
                         "Venue events not sent: NATS away or too far behind.",
                         [({"venue": v}, t[1]) for v, t in zip(venues, totals)]),
            *self.link.metric_families(),
        ]
