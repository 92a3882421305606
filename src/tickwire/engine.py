"""Wiring: venue sessions -> codecs -> aggregator -> sinks, in one synchronous call chain.

``Engine.frame_consumer`` builds the per-venue hot path: decode the frame, apply each quote to
the aggregator, encode every changed consolidated view into the sinks' buffers, and flush the
sinks when picows says the frame was the last one of the socket read.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from typing import Protocol

from tickwire.aggregate import Aggregator
from tickwire.config import Config
from tickwire.metrics import LatencyRing
from tickwire.model import ConsolidatedQuote, Quote, Ticker, Trade
from tickwire.sinks.stdout import StdoutSink
from tickwire.transport.session import FrameConsumer, SessionSettings, VenueSession
from tickwire.venues.base import Channel, VenueAdapter
from tickwire.venues.registry import VENUES, instruments_for

__all__ = ["Engine", "Sink"]


class Sink(Protocol):
    def publish(self, update: ConsolidatedQuote, publish_ns: int) -> None: ...

    def publish_trade(self, trade: Trade, publish_ns: int) -> None: ...

    def publish_ticker(self, ticker: Ticker, publish_ns: int) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class Engine:
    """One process: every configured venue session feeding one aggregator and the sinks."""

    def __init__(self, config: Config, sinks: list[Sink] | None = None) -> None:
        self.config = config
        instruments = config.instrument_list()
        self.aggregator = Aggregator(instruments)
        if sinks is None:
            sinks = self._configured_sinks(instruments)
        self.sinks = sinks
        self.latency = LatencyRing()
        self.updates = 0
        channels = frozenset(config.channels)
        self._publish_trades = Channel.TRADES in channels
        self._publish_tickers = Channel.TICKER in channels
        transport = config.transport
        settings = SessionSettings(
            connect_timeout=transport.connect_timeout,
            silence_timeout=transport.silence_timeout,
            max_frame_bytes=transport.max_frame_bytes,
            backoff=transport.backoff,
            ca_file=transport.ca_file,
            max_connection_age=transport.max_connection_age,
        )
        rng = random.Random()
        self.sessions: list[VenueSession] = []
        for name in config.venues:
            adapter = VENUES[name](instruments_for(name, instruments), channels)
            self.sessions.append(
                VenueSession(
                    adapter,
                    config.endpoints.get(name),
                    self.frame_consumer(adapter),
                    self._venue_down_handler(name),
                    settings,
                    rng,
                )
            )
        self._stopped = asyncio.Event()

    def _configured_sinks(self, instruments: list) -> list[Sink]:  # type: ignore[type-arg]
        sinks: list[Sink] = []
        if "stdout" in self.config.sinks:
            sinks.append(
                StdoutSink(
                    {i.symbol: i.size_scale for i in instruments},
                    {i.symbol: i.price_scale for i in instruments},
                    on_reader_gone=self.stop,
                )
            )
        return sinks

    def frame_consumer(self, adapter: VenueAdapter) -> FrameConsumer:
        """The hot path for one venue's frames."""
        decode = adapter.decode
        on_quote = self.aggregator.on_quote
        on_trade = self.aggregator.on_trade
        sinks = tuple(self.sinks)
        publishers = tuple(s.publish for s in sinks)
        trade_publishers = tuple(s.publish_trade for s in sinks) if self._publish_trades else ()
        ticker_publishers = tuple(s.publish_ticker for s in sinks) if self._publish_tickers else ()
        flushers = tuple(s.flush for s in sinks)
        record_latency = self.latency.record
        time_ns = time.time_ns
        quote_type = Quote
        trade_type = Trade

        def on_frame(payload: bytes, recv_ns: int, last_in_buffer: bool) -> None:
            for event in decode(payload, recv_ns):
                event_type = type(event)
                if event_type is quote_type:
                    update = on_quote(event)  # type: ignore[arg-type]
                    if update is not None:
                        publish_ns = time_ns()
                        for publish in publishers:
                            publish(update, publish_ns)
                        record_latency(publish_ns - recv_ns)
                        self.updates += 1
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

        return on_frame

    def _venue_down_handler(self, venue: str):  # type: ignore[no-untyped-def]
        def on_down() -> None:
            if self._stopped.is_set():
                return  # shutting down: the last prices published stay the last word
            now = time.time_ns()
            for update in self.aggregator.drop_venue(venue, now):
                for sink in self.sinks:
                    sink.publish(update, now)
            for sink in self.sinks:
                sink.flush()

        return on_down

    async def run(self, duration: float | None = None) -> None:
        """Run every session until ``stop`` (or SIGINT/SIGTERM, or ``duration`` seconds)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.stop)
            except (NotImplementedError, RuntimeError):
                pass
        tasks = [asyncio.create_task(s.run(), name=f"session-{s.name}") for s in self.sessions]
        try:
            await asyncio.wait_for(self._stopped.wait(), duration)
        except asyncio.TimeoutError:
            pass
        finally:
            self._stopped.set()  # from here on a closing session is not a venue going down
            for session in self.sessions:
                session.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sink in self.sinks:
                sink.close()

    def summary(self) -> str:
        """Counters of the run so far, one line per venue (for stderr at exit)."""
        lines = [f"tickwire: {self.updates} consolidated updates published"]
        for session in self.sessions:
            stats = session.stats
            decode = session.adapter.stats
            errors = ", ".join(f"{k} {v}" for k, v in sorted(decode.errors.items())) or "none"
            lines.append(
                f"tickwire: {session.name}: {stats.frames} frames, {stats.bytes} bytes, "
                f"{stats.connects} connects, {stats.reconnects} reconnects, "
                f"{stats.connect_failures} failed connects, dropped frames: {errors}"
            )
        return "\n".join(lines)

    def stop(self) -> None:
        """End ``run``: sessions close, sinks flush."""
        self._stopped.set()
