"""Replay: recorded frames through the engine's own codecs, aggregator and sinks, with the
recorded receive times as the clock.

Every FRAME record goes to the venue's frame consumer (the live hot path) with its recorded
``recv_ns``; a CONNECT resets the venue adapter as a new connection does; a DISCONNECT (other
than at shutdown) drops the venue as the live run did. The engine's clock returns the time of
the record being replayed, so ``publish_ns`` (and the time of a venue-down update) is that
record's time, and the same input always gives byte-identical output, at any speed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

import msgspec

from tickwire.config import Config
from tickwire.engine import Engine
from tickwire.instruments import parse_symbol
from tickwire.record.capture import CaptureFile
from tickwire.record.format import STOPPED, SWEEP_TIME, RecordingError, RecordKind
from tickwire.record.sources import ReplaySource
from tickwire.transport.rest import NeedsMetadata
from tickwire.venues.registry import instruments_for

__all__ = ["ReplayClock", "Replayer"]

_FLUSH_EVERY = 512  # frames between sink flushes when replaying as fast as possible


class ReplayClock:
    """The engine's clock during a replay: the time of the record being replayed."""

    __slots__ = ("now_ns",)

    def __init__(self) -> None:
        self.now_ns = 0

    def time_ns(self) -> int:
        """The current record's time."""
        return self.now_ns


class Replayer:
    """Replays ``sources`` in order. Consecutive sources with the same configuration (the
    rotated files of one run) share one engine, so state carries over between files; another
    configuration starts a new engine.

    ``venues`` (None: all) limits the replay to those venues; ``sinks`` replaces the recorded
    sinks (e.g. ``["stdout"]``); ``speed`` is a multiple of the recorded pace (None: as fast as
    possible). Raises RecordingError when a source has none of ``venues``.
    """

    def __init__(
        self,
        sources: Sequence[ReplaySource],
        *,
        venues: Sequence[str] | None = None,
        sinks: Sequence[str] = ("stdout",),
        speed: float | None = None,
    ) -> None:
        self.sources = sources
        self.speed = speed
        self.clock = ReplayClock()
        self._configs = [_replayed_config(s, venues, sinks) for s in sources]
        self.frames: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.updates = 0
        self.engines: list[Engine] = []
        self.interrupted = False
        self._first_ns = 0  # the first record's time and the wall time it was replayed at
        self._started_wall = 0

    def run(self) -> None:
        """Replay everything (or until interrupted, or until the output's reader goes away)."""
        engine: Engine | None = None
        config: Config | None = None
        try:
            for source, replayed in zip(self.sources, self._configs):
                if engine is None or replayed != config:
                    if engine is not None:
                        self._close(engine)
                    engine = Engine(replayed, clock=self.clock.time_ns)
                    self.engines.append(engine)
                    config = replayed
                self._replay(source, engine)
                if engine.stopping:
                    break
        except KeyboardInterrupt:
            self.interrupted = True
        finally:
            if engine is not None:
                self._close(engine)

    def _replay(self, source: ReplaySource, engine: Engine) -> None:
        sessions = {session.name: session for session in engine.sessions}
        clock = self.clock
        frames = self.frames
        sinks = engine.sinks
        speed = self.speed
        pending = 0
        # A recording holds the live run's sweeps; a capture gets one per sweep interval of
        # recorded time, each naming the venues heard since the one before.
        sweeps = _SweepSchedule(engine) if isinstance(source, CaptureFile) else None
        for record in source.records():
            time_ns = clock.now_ns = record.time_ns
            if sweeps is not None:
                sweeps.advance(time_ns)
            if record.kind is RecordKind.SWEEP:
                (now_ns,) = SWEEP_TIME.unpack_from(record.payload)
                heard = [source.venues[i] for i in record.payload[SWEEP_TIME.size :]]
                engine.sweep(now_ns, time_ns, [venue for venue in heard if venue in sessions])
                continue
            session = sessions.get(record.venue)
            if session is None:
                self.skipped[f"venue {record.venue} not replayed"] += 1
                continue
            if speed is not None:
                if not self._first_ns:
                    self._first_ns, self._started_wall = time_ns, time.monotonic_ns()
                due = self._started_wall + int((time_ns - self._first_ns) / speed)
                wait_ns = due - time.monotonic_ns()
                if wait_ns > 0:
                    for sink in sinks:
                        sink.flush()
                    time.sleep(wait_ns / 1e9)
            kind = record.kind
            if kind is RecordKind.FRAME:
                frames[record.venue] += 1
                if sweeps is not None:
                    sweeps.heard.add(record.venue)
                pending += 1
                session.on_frame(record.payload, time_ns, pending >= _FLUSH_EVERY)
                if pending >= _FLUSH_EVERY:
                    pending = 0
                    if engine.stopping:
                        return
            elif kind is RecordKind.CONNECT:
                session.adapter.on_connected()
            elif kind is RecordKind.DISCONNECT and record.payload != STOPPED:
                session.on_down()
            elif kind is RecordKind.HTTP and isinstance(session.adapter, NeedsMetadata):
                url, _, body = record.payload.partition(b"\n")
                try:
                    session.adapter.load_metadata(url.decode(), body)
                except ValueError:  # not the answer it waits for (a capture has all kinds)
                    self.skipped[f"{record.venue} metadata answers"] += 1
        for sink in sinks:
            sink.flush()

    def _close(self, engine: Engine) -> None:
        for sink in engine.sinks:
            sink.close()
        self.updates += engine.updates

    def summary(self) -> str:
        """What was replayed, read and dropped, one line each (for stderr)."""
        lines = [f"tickwire replay: {self.updates} consolidated updates published"]
        if self.interrupted:
            lines.append("tickwire replay: interrupted before the end")
        for source in self.sources:
            if source.torn:
                lines.append(f"tickwire replay: {source.path}: torn tail, stopped there: {source.torn}")
            if isinstance(source, CaptureFile):
                lines.extend(f"tickwire replay: {note}" for note in source.notes())
        for what, count in sorted(self.skipped.items()):
            lines.append(f"tickwire replay: {count} records skipped: {what}")
        for engine in self.engines:
            for session in engine.sessions:
                decode = session.adapter.stats
                errors = ", ".join(f"{k} {v}" for k, v in sorted(decode.errors.items())) or "none"
                detail = f" (last: {decode.last_error[:120]})" if decode.errors else ""
                lines.append(
                    f"tickwire replay: {session.name}: {self.frames[session.name]} frames, "
                    f"{decode.control} control, dropped: {errors}{detail}"
                )
        return "\n".join(lines)


class _SweepSchedule:
    """The engine's periodic aggregator sweeps, at recorded times, for sources without them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._interval = engine.aggregator.sweep_interval_ns
        self._next = 0
        self.heard: set[str] = set()

    def advance(self, time_ns: int) -> None:
        """Sweep at every interval that ended by ``time_ns``."""
        if not self._next:
            self._next = time_ns + self._interval
        while self._next <= time_ns:
            self._engine.sweep(self._next, self._next, sorted(self.heard))
            self.heard.clear()
            self._next += self._interval


def _replayed_config(source: ReplaySource, venues: Sequence[str] | None, sinks: Sequence[str]) -> Config:
    """The source's configuration with only ``venues`` (and the symbols they carry) and ``sinks``."""
    config = source.config
    kept = list(config.venues) if venues is None else [v for v in config.venues if v in venues]
    if not kept:
        raise RecordingError(
            f"{source.path}: none of the venues {', '.join(venues or ())} is in it "
            f"(it has {', '.join(config.venues)})"
        )
    instruments = [parse_symbol(s) for s in config.symbols]
    carried = {i.symbol for venue in kept for i in instruments_for(venue, instruments)}
    return msgspec.structs.replace(
        config,
        venues=kept,
        symbols=[s for s in config.symbols if s in carried],
        sinks=list(sinks),
        conflate=False,  # socket reads are not recorded: a replay publishes every quote
    )
