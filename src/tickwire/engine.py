"""Wiring: venue sessions -> codecs -> aggregator -> sinks, in one synchronous call chain.

``Engine.frame_consumer`` builds the per-venue hot path: decode the frame, apply each quote to
the aggregator, encode every changed consolidated view into the sinks' buffers, and flush the
sinks when picows says the frame was the last one of the socket read.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Protocol

from tickwire.aggregate import Aggregator
from tickwire.config import Config
from tickwire.conflation import QuoteHold
from tickwire.instruments import Instrument
from tickwire.metrics import FAST_BUCKET, FAST_LIMIT_NS, VenueStages, micros
from tickwire.model import ConsolidatedQuote, Quote, Ticker, Trade
from tickwire.sinks.stdout import StdoutSink
from tickwire.sinks.ws import WsSink
from tickwire.transport.rest import NeedsMetadata, metadata_loader
from tickwire.transport.session import FrameConsumer, SessionSettings, VenueSession
from tickwire.venues.base import Channel, VenueAdapter
from tickwire.venues.registry import VENUES, instruments_for

if TYPE_CHECKING:
    from tickwire.record.writer import Recorder, VenueRecorder

__all__ = ["Engine", "Sink", "local_sinks", "sink_status", "start_local_sinks"]


class Sink(Protocol):
    def publish(self, update: ConsolidatedQuote, publish_ns: int) -> None: ...

    def publish_trade(self, trade: Trade, publish_ns: int) -> None: ...

    def publish_ticker(self, ticker: Ticker, publish_ns: int) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGINT and SIGTERM (where the running event loop can catch them)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop)
        except (NotImplementedError, RuntimeError):
            pass


def session_settings(config: Config) -> SessionSettings:
    """The venue sessions' transport knobs from ``config.transport``."""
    transport = config.transport
    return SessionSettings(
        connect_timeout=transport.connect_timeout,
        silence_timeout=transport.silence_timeout,
        max_frame_bytes=transport.max_frame_bytes,
        max_frames_per_second=transport.max_frames_per_second,
        backoff=transport.backoff,
        ca_file=transport.ca_file,
        max_connection_age=transport.max_connection_age,
    )


def local_sinks(
    config: Config, instruments: list[Instrument], on_reader_gone: Callable[[], None]
) -> list[Sink]:
    """The sinks ``config.sinks`` names that write on this machine (stdout, the consumer
    WebSocket API); ``start_local_sinks`` attaches them to the event loop."""
    sinks: list[Sink] = []
    size_scales = {i.symbol: i.size_scale for i in instruments}
    price_scales = {i.symbol: i.price_scale for i in instruments}
    if "stdout" in config.sinks:
        sinks.append(
            StdoutSink(size_scales, price_scales, on_reader_gone=on_reader_gone,
                       wait_for_reader=config.stdout_when_full == "wait")
        )
    if "ws" in config.sinks:
        ws = config.ws
        sinks.append(WsSink(size_scales, price_scales, ws.host, ws.port, ws.token, ws.max_buffer_bytes))
    return sinks


async def start_local_sinks(sinks: list[Sink]) -> None:
    """Attach the local sinks to the running event loop: stdout stops blocking on a full pipe
    (a bounded backlog instead), the consumer API listens (and says where on stderr). Raises
    ValueError when it cannot listen."""
    for sink in sinks:
        if isinstance(sink, (StdoutSink, WsSink)):
            await sink.start()
        if isinstance(sink, WsSink):
            print(f"tickwire: consumer API on {sink.url}", file=sys.stderr, flush=True)


def sink_status(sinks: list[Sink]) -> list[dict[str, Any]]:
    """The counters of the local sinks (for ``/debug/status`` and ``/metrics``)."""
    return [sink.status() for sink in sinks if isinstance(sink, (StdoutSink, WsSink))]


async def busy_poll() -> None:
    """Keep the event loop from sleeping until cancelled: with a callback always ready, every
    loop iteration polls the sockets without a timeout, so a frame is read as soon as it arrives
    instead of after the thread is woken, and the CPU never idles into a cold cache."""
    loop = asyncio.get_running_loop()
    call_soon = loop.call_soon
    give_way = os.sched_yield
    spinning = True

    def spin() -> None:
        if spinning:
            give_way()  # another thread ready on this CPU (a reader of our output) runs now
            call_soon(spin)

    call_soon(spin)
    try:
        await asyncio.Event().wait()
    finally:
        spinning = False


class Engine:
    """One process: every configured venue session feeding one aggregator and the sinks.

    ``clock`` gives the time of everything the engine stamps itself (``publish_ns``, a venue
    going down); a replay passes the recorded time. With a ``recorder``, every session's
    connection events and every frame (before it is decoded) are recorded. With ``timed``,
    ``stages`` holds each venue's stage latency histograms (see ``frame_consumer``).
    """

    def __init__(
        self,
        config: Config,
        sinks: list[Sink] | None = None,
        *,
        clock: Callable[[], int] = time.time_ns,
        recorder: Recorder | None = None,
        timed: bool = False,
    ) -> None:
        self.config = config
        self.clock = clock
        self.recorder = recorder
        instruments = config.instrument_list()
        aggregation = config.aggregation
        self.aggregator = Aggregator(instruments, aggregation.rules, aggregation.merge_quotes)
        if sinks is None:  # with merged quote currencies, consolidated symbols of their own
            sinks = self._configured_sinks(
                [*instruments, *(view.instrument for view in self.aggregator.views.values())]
            )
        self.sinks = sinks
        self.stages = {name: VenueStages() for name in config.venues} if timed else {}
        self.updates = 0
        self.quote_holds: dict[str, QuoteHold] = {}  # conflating: by venue, made by frame_consumer
        channels = frozenset(config.channels)
        self._publish_trades = Channel.TRADES in channels
        self._publish_tickers = Channel.TICKER in channels
        transport = config.transport
        settings = session_settings(config)
        rng = random.Random()
        self.sessions: list[VenueSession] = []
        for name in config.venues:
            adapter = VENUES[name](instruments_for(name, instruments), channels)
            venue_recorder = None if recorder is None else recorder.venue(name)
            on_frame = self.frame_consumer(adapter, venue_recorder)
            self.sessions.append(
                VenueSession(
                    adapter,
                    config.endpoints.get(name),
                    on_frame,
                    self._venue_down_handler(name, venue_recorder),
                    settings,
                    rng,
                    venue_recorder,
                    prepare=metadata_loader(
                        _recorded_metadata(adapter, venue_recorder),
                        config.endpoints.get(name),
                        config.rest_endpoints.get(name),
                        timeout=transport.connect_timeout,
                        ca_file=transport.ca_file,
                    ),
                )
            )
        self._stopped = asyncio.Event()

    def _configured_sinks(self, instruments: list) -> list[Sink]:  # type: ignore[type-arg]
        return local_sinks(self.config, instruments, self.stop)

    def frame_consumer(self, adapter: VenueAdapter, venue_recorder: VenueRecorder | None = None) -> FrameConsumer:
        """The hot path for one venue's frames (each first kept for ``venue_recorder``, if any,
        with its receive time).

        When timed, a staged frame is stamped after its decode, each of its updates after the
        aggregator (its ``publish_ns``) and after the sinks encoded it, and the flush after its
        write; each stage goes into the venue's ``VenueStages`` with a list increment
        (``tickwire.metrics``) after the frame's flush, so the bookkeeping never delays the
        line. Staged are every frame that ends a socket read (so every frame
        at a quiet moment) and, inside a burst, every ``config.stage_sample``-th frame.
        """
        decode = adapter.decode
        on_quote = self.aggregator.on_quote
        on_trade = self.aggregator.on_trade
        sinks = tuple(self.sinks)
        publishers = tuple(s.publish for s in sinks)
        trade_publishers = tuple(s.publish_trade for s in sinks) if self._publish_trades else ()
        ticker_publishers = tuple(s.publish_ticker for s in sinks) if self._publish_tickers else ()
        flushers = tuple(s.flush for s in sinks)
        time_ns = self.clock
        quote_type = Quote
        trade_type = Trade
        stages = self.stages.get(adapter.name)
        timed = stages is not None
        if stages is not None:
            fast_bucket = FAST_BUCKET
            fast_limit = FAST_LIMIT_NS
            decoded = stages.recv_to_decoded.counts
            aggregated = stages.decoded_to_aggregated.counts
            published = stages.aggregated_to_published.counts
            whole = stages.recv_to_published.counts
            record_update = stages.record_update
            record_exchange = stages.exchange_to_recv.record
            flushed = stages.published_to_flushed.counts
            record_flush = stages.published_to_flushed.record

            def record_staged(
                recv_ns: int, decoded_ns: int, start_ns: int, publish_ns: int, published_ns: int,
                exchange_ns: int,
            ) -> None:
                if recv_ns <= decoded_ns <= start_ns <= publish_ns <= published_ns < recv_ns + fast_limit:
                    decoded[fast_bucket[decoded_ns - recv_ns]] += 1
                    aggregated[fast_bucket[publish_ns - start_ns]] += 1
                    published[fast_bucket[published_ns - publish_ns]] += 1
                    whole[fast_bucket[published_ns - recv_ns]] += 1
                else:
                    record_update(recv_ns, decoded_ns, start_ns, publish_ns, published_ns)
                if exchange_ns:
                    record_exchange(recv_ns - exchange_ns)

        recording = venue_recorder is not None
        if venue_recorder is not None:  # KeptRecords.add, inline (one Python call less per frame)
            kept = venue_recorder.recorder.kept
            kept_prefixes, kept_times, kept_payloads = kept.prefixes, kept.times, kept.payloads
        conflating = self.config.conflate
        hold = self.quote_holds[adapter.name] = QuoteHold()
        held, let_through = hold.held, hold.let_through

        sample_every = self.config.stage_sample
        countdown = sample_every  # frames of a burst until the next one timed at every stage
        pending_since = 0  # publish_ns of the first line of a staged frame not yet flushed

        def on_frame(payload: bytes, recv_ns: int, last_in_buffer: bool) -> None:
            nonlocal countdown, pending_since
            if payload:
                if recording:
                    kept_prefixes.append(venue_recorder.frame_prefix)  # type: ignore[union-attr]
                    kept_times.append(recv_ns)
                    kept_payloads.append(payload)
                events = decode(payload, recv_ns)
            else:  # no frame: the read ended on one that is no data (a ping, a close)
                events = ()
            if conflating and (held or not last_in_buffer):  # a lone frame goes straight through
                events = let_through(events, last_in_buffer)
            staged = False
            if timed:
                countdown -= 1
                if last_in_buffer or not countdown:
                    countdown = sample_every
                    staged = True
                    decoded_ns = start_ns = time_ns()
            staged_publish_ns = 0  # the staged frame's update whose stages wait for the flush
            for event in events:
                event_type = type(event)
                if event_type is quote_type:
                    update = on_quote(event)  # type: ignore[arg-type]
                    if update is not None:
                        if staged_publish_ns:  # a second update of a staged frame
                            record_staged(recv_ns, decoded_ns, start_ns, staged_publish_ns, published_ns,
                                          exchange_ns)
                            start_ns = published_ns
                        publish_ns = time_ns()
                        for publish in publishers:
                            publish(update, publish_ns)
                        self.updates += 1
                        if staged:
                            published_ns = time_ns()
                            staged_publish_ns = publish_ns
                            exchange_ns = update.exchange_ns
                            if not pending_since:
                                pending_since = publish_ns
                elif event_type is trade_type:
                    on_trade(event)  # type: ignore[arg-type]
                    if trade_publishers:
                        publish_ns = time_ns()
                        for publish_trade in trade_publishers:
                            publish_trade(event, publish_ns)  # type: ignore[arg-type]
                elif ticker_publishers:
                    publish_ns = time_ns()
                    for publish_ticker in ticker_publishers:
                        publish_ticker(event, publish_ns)  # type: ignore[arg-type]
            if last_in_buffer:
                for flush in flushers:
                    flush()
                if pending_since:
                    wait_ns = time_ns() - pending_since
                    if 0 <= wait_ns < fast_limit:
                        flushed[fast_bucket[wait_ns]] += 1
                    else:
                        record_flush(wait_ns)
                    pending_since = 0
            if staged_publish_ns:  # bookkeeping after the write, off the line's latency
                record_staged(recv_ns, decoded_ns, start_ns, staged_publish_ns, published_ns, exchange_ns)

        return on_frame

    def _venue_down_handler(self, venue: str, venue_recorder: VenueRecorder | None):  # type: ignore[no-untyped-def]
        def on_down() -> None:
            now = self.clock()
            hold = self.quote_holds.get(venue)
            if hold is not None:  # the connection broke inside a read: held quotes never go out
                hold.forget()
            stopping = self._stopped.is_set()
            if venue_recorder is not None:  # recorded here, so a replay drops it at this very time
                session = next(s for s in self.sessions if s.name == venue)
                venue_recorder.disconnected(session.stats.last_error or "connection closed", now, stopping)
            if stopping:
                return  # shutting down: the last prices published stay the last word
            self._publish_all(self.aggregator.drop_venue(venue, now), now)

        return on_down

    def _publish_all(self, updates: list[ConsolidatedQuote], now: int) -> None:
        for update in updates:
            for sink in self.sinks:
                sink.publish(update, now)
        self.updates += len(updates)
        for sink in self.sinks:
            sink.flush()

    async def _sweep_aggregator(self) -> None:
        """Every ``aggregator.sweep_interval_ns``, tell the aggregator which venues sent any
        frame (their session's last-frame stamp moved) and publish what staleness and
        heartbeats change. Liveness is timed on the monotonic clock."""
        aggregator = self.aggregator
        seen = {session.name: 0 for session in self.sessions}
        while True:
            await asyncio.sleep(aggregator.sweep_interval_ns / 1e9)
            heard = []
            for session in self.sessions:
                last_frame_ns = session.stats.last_frame_ns
                if last_frame_ns != seen[session.name]:
                    seen[session.name] = last_frame_ns
                    heard.append(session.name)
            self.sweep(time.monotonic_ns(), self.clock(), heard)

    def sweep(self, now_ns: int, wall_ns: int, heard: list[str]) -> None:
        """One aggregator sweep (staleness, heartbeats) at monotonic ``now_ns`` and wall time
        ``wall_ns``, ``heard`` naming the venues that sent a frame since the last one; what it
        changes is published. Recorded when recording, so a replay sweeps at the same point."""
        if self.recorder is not None:
            self.recorder.sweep(now_ns, wall_ns, heard)
        self._publish_all(self.aggregator.sweep(now_ns, wall_ns, heard), wall_ns)

    async def run(self, duration: float | None = None) -> None:
        """Run every session until ``stop`` (or SIGINT/SIGTERM, or ``duration`` seconds).
        Raises ValueError, before connecting, when a local sink cannot listen."""
        await start_local_sinks(self.sinks)
        stop_on_signals(self.stop)
        tasks = [asyncio.create_task(s.run(), name=f"session-{s.name}") for s in self.sessions]
        sweeper = asyncio.create_task(self._sweep_aggregator(), name="aggregator-sweep")
        helpers = [sweeper]
        if self.config.transport.busy_poll:
            helpers.append(asyncio.create_task(busy_poll(), name="busy-poll"))
        try:
            await asyncio.wait_for(self._stopped.wait(), duration)
        except asyncio.TimeoutError:
            pass
        finally:
            self._stopped.set()  # from here on a closing session is not a venue going down
            for helper in helpers:
                helper.cancel()
            for session in self.sessions:
                session.stop()
            await asyncio.gather(*tasks, *helpers, return_exceptions=True)
            for sink in self.sinks:
                sink.close()
            if self.recorder is not None:
                self.recorder.close()  # after the sessions: their disconnects are recorded too

    @property
    def conflated(self) -> int:
        """Quotes never aggregated (``config.conflate``): a later one of the same socket read
        replaced them, or their connection broke before the read ended."""
        return sum(hold.conflated for hold in self.quote_holds.values())

    def summary(self) -> str:
        """Counters of the run so far, one line per venue (for stderr at exit)."""
        conflated = f" ({self.conflated} quotes conflated)" if self.config.conflate else ""
        lines = [f"tickwire: {self.updates} consolidated updates published{conflated}"]
        for session in self.sessions:
            stats = session.stats
            decode = session.adapter.stats
            errors = ", ".join(f"{k} {v}" for k, v in sorted(decode.errors.items())) or "none"
            failures = ", ".join(f"{k} {v}" for k, v in sorted(stats.connect_failure_reasons.items()))
            lines.append(
                f"tickwire: {session.name}: {stats.frames} frames, {stats.bytes} bytes, "
                f"{stats.connects} connects, {stats.reconnects} reconnects, "
                f"{stats.connect_failures} failed connects{f' ({failures})' if failures else ''}, "
                f"dropped frames: {errors}"
            )
            venue_stages = self.stages.get(session.name)
            if isinstance(venue_stages, VenueStages):  # a NATS ingest node's are its own
                whole = venue_stages.recv_to_published
                p50, p99, p999 = (micros(v) for v in whole.percentiles((0.5, 0.99, 0.999)))
                lines.append(
                    f"tickwire: {session.name}: recv->published µs p50 {p50} p99 {p99} "
                    f"p99.9 {p999} ({whole.count} updates)"
                )
        lines.extend(f"tickwire: {line}" for line in self.aggregator.exclusion_lines())
        for sink in self.sinks:
            if isinstance(sink, (StdoutSink, WsSink)):
                lines.extend(f"tickwire: {line}" for line in sink.report())
        if self.recorder is not None:
            lines.append(self.recorder.summary())
        return "\n".join(lines)

    def stop(self) -> None:
        """End ``run``: sessions close, sinks flush."""
        self._stopped.set()

    @property
    def stopping(self) -> bool:
        """True once ``stop`` was called (or a sink's reader went away)."""
        return self._stopped.is_set()


def _recorded_metadata(adapter: VenueAdapter, venue_recorder: VenueRecorder | None) -> object:
    """``adapter``, or with a recorder and metadata to fetch, ``adapter`` recording its answers."""
    if venue_recorder is None or not isinstance(adapter, NeedsMetadata):
        return adapter
    return _RecordedMetadata(adapter, venue_recorder)


class _RecordedMetadata:
    """An adapter's metadata requests, with every answer recorded before the adapter reads it."""

    def __init__(self, adapter: NeedsMetadata, venue_recorder: VenueRecorder) -> None:
        self._adapter = adapter
        self._recorder = venue_recorder
        self.metadata_requests = adapter.metadata_requests

    def load_metadata(self, url: str, body: bytes) -> None:
        self._recorder.http_answer(url, body, time.time_ns())
        self._adapter.load_metadata(url, body)
