"""Multi-core mode (``tickwire run --workers N``): venue worker processes feeding one
aggregator process through shared-memory rings (``tickwire.ring``).

Each worker owns some venues (round-robin over ``config.venues``), runs their sessions and
adapters as the single process does, and pushes every decoded event as one fixed-size record
into its own ring. Every sweep interval it also pushes a ``HEARD`` record per venue that sent
any frame since the last one, and a ``DOWN`` record as soon as a venue's connection ends, so
staleness and reconnects reach the aggregator as in one process. Control records that find the
ring full wait in the worker and go first at the next sweep; data records are dropped and
counted (``[process] ring_full`` chooses how hard the worker tries first).

The aggregator process polls every ring from its event loop: each poll turn reads up to
``POLL_BATCH`` records per ring, applies them to the aggregator and writes the updates to the
sinks, then flushes the sinks once. After ``poll_spin`` empty turns it sleeps on a doorbell the
workers ring, at most ``poll_wait_max`` seconds.

The rings are anonymous shared mappings made before the fork, so no shared-memory name is left
behind however a process ends. Workers leave when the aggregator stops them (SIGTERM), when they
are interrupted, or when they find their parent gone; the aggregator stops (exit status 1) when
a worker dies under it, after dropping that worker's venues.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Sequence

import msgspec

from tickwire.affinity import cpu_plan
from tickwire.config import Config
from tickwire.engine import Engine
from tickwire.metrics import FAST_BUCKET, FAST_LIMIT_NS, LatencyHistogram, micros
from tickwire.model import Quote, Ticker, Trade
from tickwire.ring import DOWN, HEARD, QUOTE, TICKER, TRADE, Doorbell, Ring
from tickwire.transport.session import FrameConsumer
from tickwire.venues.base import Channel, VenueAdapter

__all__ = [
    "POLL_BATCH", "RingAggregator", "VenueWorker", "WorkerProcess", "assign_venues", "conflated", "run_workers",
]

POLL_BATCH = 256  # records read from one ring per poll turn
_STOP_WAIT_S = 5.0  # how long a stopped worker may take to leave before it is killed


def assign_venues(venues: Sequence[str], workers: int) -> list[list[str]]:
    """Venues dealt round-robin to ``workers`` workers (each gets at least one)."""
    return [list(venues[i::workers]) for i in range(min(workers, len(venues)))]


class VenueWorker(Engine):
    """A worker process's engine: its venues' sessions, every event pushed into ``ring``.

    Venues and instruments travel as their index in ``config.venues`` and ``config.symbols``
    (the aggregator has the same configuration).
    """

    def __init__(self, config: Config, venues: Sequence[str], ring: Ring, parent_pid: int) -> None:
        self.ring = ring
        self.parent_pid = parent_pid
        self.venue_ids = {name: i for i, name in enumerate(config.venues)}
        self.instrument_ids = {symbol: i for i, symbol in enumerate(config.symbols)}
        self._unsent: list[tuple[int, str, int]] = []  # control records that found the ring full
        super().__init__(msgspec.structs.replace(config, venues=list(venues)), sinks=[])

    def frame_consumer(self, adapter: VenueAdapter, venue_recorder: None = None) -> FrameConsumer:
        """Decode, then one ring record per event (no aggregation here; a worker never records:
        ``--record`` is refused with ``--workers``)."""
        decode = adapter.decode
        push = self.ring.push
        venue = self.venue_ids[adapter.name]
        instrument_ids = self.instrument_ids
        time_ns = self.clock
        quote_type, trade_type = Quote, Trade

        def on_frame(payload: bytes, recv_ns: int, last_in_buffer: bool) -> None:
            if not payload:  # the end of a read: records go out as they come, nothing waits
                return
            events = decode(payload, recv_ns)
            if not events:
                return
            sent_ns = time_ns()
            for event in events:
                event_type = type(event)
                instrument = instrument_ids[event.symbol]
                if event_type is quote_type:
                    push(QUOTE, venue, instrument, event.bid, event.bid_size, event.ask,  # type: ignore[union-attr]
                         event.ask_size, recv_ns, event.exchange_ns, event.update_id, sent_ns)  # type: ignore[union-attr]
                elif event_type is trade_type:
                    push(TRADE, venue, instrument, event.price, event.size, event.side, 0,  # type: ignore[union-attr]
                         recv_ns, event.exchange_ns, event.trade_id, sent_ns)  # type: ignore[union-attr]
                else:
                    push(TICKER, venue, instrument, event.last, 0, 0, 0, recv_ns,  # type: ignore[union-attr]
                         event.exchange_ns, 0, sent_ns)

        return on_frame

    def _venue_down_handler(self, venue: str, venue_recorder: object):  # type: ignore[no-untyped-def]
        def on_down() -> None:
            if not self.stopping:  # leaving: the last prices stay the last word, as in one process
                self._control(DOWN, venue, self.clock())

        return on_down

    def _control(self, kind: int, venue: str, stamp_ns: int) -> None:
        if self._unsent or not self.ring.push(
            kind, self.venue_ids[venue], 0, 0, 0, 0, 0, stamp_ns, 0, 0, self.clock()
        ):
            self._unsent.append((kind, venue, stamp_ns))

    async def _sweep_aggregator(self) -> None:
        """Every sweep interval: leave if the aggregator is gone, send the control records
        that waited, then ``HEARD`` for each venue that sent a frame since the last sweep."""
        seen = {session.name: 0 for session in self.sessions}
        while True:
            await asyncio.sleep(self.aggregator.sweep_interval_ns / 1e9)
            if os.getppid() != self.parent_pid:
                self.stop()
                return
            unsent, self._unsent = self._unsent, []
            for kind, venue, stamp_ns in unsent:
                self._control(kind, venue, stamp_ns)
            for session in self.sessions:
                last_frame_ns = session.stats.last_frame_ns
                if last_frame_ns != seen[session.name]:
                    seen[session.name] = last_frame_ns
                    self._control(HEARD, session.name, last_frame_ns)


class WorkerProcess:
    """The aggregator's handle on one forked worker."""

    __slots__ = ("number", "pid", "venues", "ring", "cpu", "status")

    def __init__(self, number: int, pid: int, venues: list[str], ring: Ring, cpu: int | None) -> None:
        self.number = number
        self.pid = pid
        self.venues = venues
        self.ring = ring
        self.cpu = cpu
        self.status: int | None = None  # exit status once it ended

    def reap(self) -> bool:
        """True once the worker has ended (``status`` then says how)."""
        if self.status is None:
            pid, wait_status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(wait_status)
        return self.status is not None


class RingAggregator(Engine):
    """The aggregator process: every worker's ring -> aggregator -> sinks.

    It is the single-process engine without sessions: the poller takes the place of the frame
    callbacks, ``HEARD`` and ``DOWN`` records the place of the sessions' liveness.
    """

    def __init__(self, config: Config, workers: list[WorkerProcess], doorbell: Doorbell) -> None:
        super().__init__(msgspec.structs.replace(config, venues=[]))
        self.config = config
        self.workers = workers
        self.doorbell = doorbell
        self.failed: WorkerProcess | None = None
        self.records = 0
        self._conflated = 0  # quotes ``conflated`` left out of ring batches
        self.ring_hop = LatencyHistogram()  # a record's push -> its poll turn (oldest of a batch)
        self.recv_to_published = LatencyHistogram()
        self._heard: set[int] = set()  # venue ids with records since the last sweep
        self._venue_names = tuple(config.venues)
        self._symbols = tuple(config.symbols)
        channels = frozenset(config.channels)
        self._trades = Channel.TRADES in channels
        self._tickers = Channel.TICKER in channels
        self._waiter: asyncio.Future[None] | None = None

    def poll(self) -> int:
        """One poll turn: the records waiting in every ring, applied and published; the sinks
        flushed if anything was. With ``conflate``, each ring's batch goes through ``conflated``
        first. Returns the count of records."""
        on_quote = self.aggregator.on_quote
        sinks = self.sinks
        venue_names = self._venue_names
        symbols = self._symbols
        time_ns = self.clock
        fast_bucket, fast_limit = FAST_BUCKET, FAST_LIMIT_NS
        whole = self.recv_to_published.counts
        quote = Quote
        heard = self._heard.add
        conflating = self.config.conflate
        total = 0
        for worker in self.workers:
            records = worker.ring.pop(POLL_BATCH)
            if not records:
                continue
            total += len(records)
            self.ring_hop.record(time_ns() - records[0][12])
            if conflating and len(records) > 1:
                records, left_out = conflated(records)
                self._conflated += left_out
            for (_, kind, venue, instrument, price, size, price2, size2, recv_ns, exchange_ns,
                 ident, ident_high, _, _) in records:
                heard(venue)  # any record means a frame came: liveness as in one process
                if kind == QUOTE:
                    update = on_quote(quote(venue_names[venue], symbols[instrument], price, size,
                                            price2, size2, recv_ns, exchange_ns,
                                            ident | ident_high << 64 if ident_high else ident))
                    if update is not None:
                        publish_ns = time_ns()
                        for sink in sinks:
                            sink.publish(update, publish_ns)
                        self.updates += 1
                        took = publish_ns - recv_ns
                        if 0 <= took < fast_limit:
                            whole[fast_bucket[took]] += 1
                        else:
                            self.recv_to_published.record(took)
                else:
                    self._apply_other(kind, venue_names[venue], symbols[instrument], price, size,
                                      price2, recv_ns, exchange_ns, ident | ident_high << 64)
        if total:
            self.records += total
            for sink in sinks:
                sink.flush()
        return total

    @property
    def conflated(self) -> int:
        """Quotes left out of ring batches (``config.conflate``; see ``conflated``)."""
        return self._conflated

    def _apply_other(self, kind: int, venue: str, symbol: str, price: int, size: int, side: int,
                     recv_ns: int, exchange_ns: int, ident: int) -> None:
        if kind == TRADE:
            trade = Trade(venue, symbol, price, size, side, ident, recv_ns, exchange_ns)
            self.aggregator.on_trade(trade)
            if self._trades:
                publish_ns = self.clock()
                for sink in self.sinks:
                    sink.publish_trade(trade, publish_ns)
        elif kind == TICKER:
            if self._tickers:
                publish_ns = self.clock()
                for sink in self.sinks:
                    sink.publish_ticker(Ticker(venue, symbol, price, recv_ns, exchange_ns), publish_ns)
        elif kind == DOWN:
            self._publish_all(self.aggregator.drop_venue(venue, recv_ns), recv_ns)

    async def _poll_rings(self) -> None:
        process = self.config.process
        spin, wait_max = process.poll_spin, process.poll_wait_max
        rings = [worker.ring for worker in self.workers]
        loop = asyncio.get_running_loop()
        idle = 0
        while not self.stopping:  # checked before each turn: no publishing once stopping
            if self.poll():
                idle = 0
            elif idle < spin:
                idle += 1
            else:
                idle = 0
                self.doorbell.clear()
                if all([ring.arm() for ring in rings]):
                    self._waiter = loop.create_future()
                    timer = loop.call_later(wait_max, self._wake)
                    await self._waiter
                    timer.cancel()
                for ring in rings:
                    ring.disarm()
                continue
            await asyncio.sleep(0)

    def _wake(self) -> None:
        """The doorbell rang (or the sleep timed out): poll at once, in this callback, then let
        the poller spin again."""
        self.doorbell.clear()
        if not self.stopping:
            self.poll()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _sweep_aggregator(self) -> None:
        """Every sweep interval: check the workers are alive, then sweep with the venues that
        sent records (``HEARD`` or events) since the last sweep. The ring poller runs alongside,
        started here because the engine starts this task once the sinks are started."""
        loop = asyncio.get_running_loop()
        loop.add_reader(self.doorbell.fd, self._wake)
        poller = asyncio.create_task(self._poll_rings(), name="ring-poller")
        try:
            while True:
                await asyncio.sleep(self.aggregator.sweep_interval_ns / 1e9)
                for worker in self.workers:
                    if worker.reap() and self.failed is None and not self.stopping:
                        self._worker_lost(worker)
                heard, self._heard = self._heard, set()
                self.sweep(time.monotonic_ns(), self.clock(), [self._venue_names[v] for v in heard])
        finally:
            loop.remove_reader(self.doorbell.fd)
            poller.cancel()

    def _worker_lost(self, worker: WorkerProcess) -> None:
        self.failed = worker
        print(
            f"tickwire: worker {worker.number} ({', '.join(worker.venues)}) ended with status "
            f"{worker.status}; stopping", file=sys.stderr, flush=True,
        )
        now = self.clock()
        for venue in worker.venues:
            self._publish_all(self.aggregator.drop_venue(venue, now), now)
        self.stop()

    async def run(self, duration: float | None = None) -> None:
        """Poll the rings and sweep until ``stop`` (SIGINT/SIGTERM, ``duration``, a worker
        lost); then stop every worker and wait for it to leave."""
        try:
            await super().run(duration)
        finally:
            self.stop()
            await self._stop_workers()

    async def _stop_workers(self) -> None:
        for worker in self.workers:
            if not worker.reap():
                os.kill(worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_WAIT_S
        while not all(worker.reap() for worker in self.workers):
            if time.monotonic() > deadline:
                for worker in self.workers:
                    if not worker.reap():
                        os.kill(worker.pid, signal.SIGKILL)
                        os.waitpid(worker.pid, 0)
                        worker.status = -signal.SIGKILL
                break
            await asyncio.sleep(0.02)

    def summary(self) -> str:
        """The aggregator's counters and each ring's (the workers print their venues' own)."""
        lines = super().summary().splitlines()
        hop = ", ".join(f"{p} {micros(v)}" for p, v in zip(
            ("p50", "p99", "p99.9"), self.ring_hop.percentiles((0.5, 0.99, 0.999))))
        whole = ", ".join(f"{p} {micros(v)}" for p, v in zip(
            ("p50", "p99", "p99.9"), self.recv_to_published.percentiles((0.5, 0.99, 0.999))))
        lines.insert(1, f"tickwire: {self.records} ring records read; ring hop µs {hop}; "
                        f"recv->published µs {whole}")
        for index, worker in enumerate(self.workers, 2):
            ring = worker.ring
            cpu = "" if worker.cpu is None else f", cpu {worker.cpu}"
            lines.insert(index, f"tickwire: worker {worker.number} ({', '.join(worker.venues)}): "
                         f"pid {worker.pid}{cpu}, {ring.written} records, {ring.dropped} dropped "
                         f"(ring full), {ring.torn} torn reads retried, exit status {worker.status}")
        return "\n".join(lines)


def conflated(records: list[tuple[int, ...]]) -> tuple[list[tuple[int, ...]], int]:
    """One ring batch with each venue and instrument's latest quote only (and no quote of a
    venue from before its ``DOWN`` record): the other records in their order, then the latest
    quotes; and how many quotes were left out."""
    latest: dict[tuple[int, int], tuple[int, ...]] = {}
    others = []
    left_out = 0
    for record in records:
        kind, venue = record[1], record[2]
        if kind == QUOTE:
            key = (venue, record[3])
            if key in latest:
                left_out += 1
            latest[key] = record
        else:
            if kind == DOWN:  # what that connection said before it ended is not published
                gone = [key for key in latest if key[0] == venue]
                for key in gone:
                    del latest[key]
                left_out += len(gone)
            others.append(record)
    others.extend(latest.values())
    return others, left_out


def _run_loop(main: object) -> None:
    import uvloop

    uvloop.run(main)  # type: ignore[arg-type]


def _worker_main(config: Config, venues: list[str], ring: Ring, parent_pid: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # until the worker's loop handles it
    worker = VenueWorker(config, venues, ring, parent_pid)
    _run_loop(worker.run())  # until the aggregator stops it
    print("\n".join(worker.summary().splitlines()[1:]), file=sys.stderr)
    return 0


def run_workers(config: Config, duration: float | None = None) -> int:
    """``tickwire run`` with ``config.process.workers`` worker processes: fork them, pin every
    process if asked, run the aggregator here until stopped; the exit status. Call it before
    any event loop runs in this process."""
    process = config.process
    groups = assign_venues(config.venues, process.workers)
    cpus: list[int | None] = [None] * (1 + len(groups))
    if process.pin is not None:
        cpus = list(cpu_plan(process.pin, 1 + len(groups), os.sched_getaffinity(0)))
    doorbell = Doorbell()
    parent_pid = os.getpid()
    workers: list[WorkerProcess] = []
    sys.stdout.flush()
    sys.stderr.flush()
    for number, venues in enumerate(groups, 1):
        ring = Ring.create(process.ring_slots, doorbell, full_policy=process.ring_full)
        cpu = cpus[number]
        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                if cpu is not None:
                    os.sched_setaffinity(0, {cpu})
                status = _worker_main(config, venues, ring, parent_pid)
            except KeyboardInterrupt:
                status = 130
            finally:
                sys.stderr.flush()
                os._exit(status)
        workers.append(WorkerProcess(number, pid, venues, ring, cpu))
    if cpus[0] is not None:
        os.sched_setaffinity(0, {cpus[0]})
    aggregator = RingAggregator(config, workers, doorbell)
    try:
        _run_loop(aggregator.run(duration))
    finally:
        for worker in workers:
            if not worker.reap():  # the loop did not get to stop it (interrupted early)
                os.kill(worker.pid, signal.SIGTERM)
                os.waitpid(worker.pid, 0)
        print(aggregator.summary(), file=sys.stderr)
        for worker in workers:
            worker.ring.close()
        doorbell.close()
    return 1 if aggregator.failed is not None else 0
