"""A bounded single-producer/single-consumer ring of fixed-size records in shared memory.

It carries venue events from a worker process to the aggregator process (``tickwire.workers``)
without locks, pickling or system calls on the way.

Layout: a header of 64-byte lines, each written by one side only, then ``slots`` records of
``SLOT_BYTES``. ``head`` (records written) belongs to the producer, ``tail`` (records read) to
the consumer; both are 64-bit counters that only grow, so a slot is ``position % slots`` and
wrap-around needs no special case. The producer writes a record into its slot (one
``pack_into``), then stores the new head; the consumer loads the head, reads the slots below it
(one ``unpack_from`` each), then stores the new tail. The counters are read and written through
a memoryview of native unsigned 64-bit integers at 8-byte aligned offsets: one load or one store
each on x86-64.

Why no lock is needed: on x86-64 (TSO) stores become visible to other cores in program order
and loads are not reordered with other loads, so a consumer that sees the new head sees the
whole record written before it. When the ring is full the producer drops the newest record
(counted in ``drops``) instead of overwriting one the consumer may be reading, so a slot is
never written while it is read: a torn read is impossible by construction. As a guard, each
record starts and ends with its sequence number (``position + 1``); the consumer accepts a
record only when both equal the position it expects, and otherwise stops (counted in
``torn``) and reads that slot again on its next poll. ``Ring.create`` refuses other
architectures, where this ordering argument does not hold.

The memory is an anonymous shared mapping made before the workers are forked: it has no name
in ``/dev/shm``, so nothing is left behind however a process ends.

A consumer that found the ring empty for a while may sleep on a ``Doorbell`` (an eventfd): it
sets ``waiting`` in the header, looks once more, then waits; a producer that sees ``waiting``
rings the doorbell after its store. The two sides store then load different lines, which x86
may reorder, so a wake-up can be missed: the consumer must bound its sleep.
"""

from __future__ import annotations

import mmap
import os
import platform
import struct
import time

__all__ = [
    "DOWN",
    "HEARD",
    "QUOTE",
    "RECORD",
    "SLOT_BYTES",
    "TICKER",
    "TRADE",
    "Doorbell",
    "Ring",
    "RingError",
]

QUOTE = 1  # price=bid size=bid_size price2=ask size2=ask_size ident=update_id
TRADE = 2  # price size price2=side ident=trade_id
TICKER = 3  # price=last
HEARD = 4  # the venue sent frames since the last HEARD (liveness); recv_ns: when it last did
DOWN = 5  # the venue's connection ended; recv_ns: when (wall clock)

RECORD = struct.Struct("@QqqqqqqqqqQQqQ")
"""seq, kind, venue, instrument, price, size, price2, size2, recv_ns, exchange_ns, ident,
ident_high, sent_ns, seq again: native order and size, no padding (all 8 bytes)."""
SLOT_BYTES = 128  # two cache lines per record, so no record shares a line with another
assert RECORD.size <= SLOT_BYTES

_LINE = 64
_HEAD, _TAIL, _DROPS, _WAITING, _SLOTS = (i * _LINE // 8 for i in range(5))
_HEADER_BYTES = 6 * _LINE
_IDENT_MASK = (1 << 64) - 1
_EMPTY: list[tuple[int, ...]] = []


class RingError(ValueError):
    """A ring size that cannot be used, or a platform without the ordering the ring needs."""


class Doorbell:
    """An eventfd a consumer can sleep on and producers ring (shared across a fork)."""

    def __init__(self) -> None:
        self.fd = os.eventfd(0, os.EFD_NONBLOCK)

    def ring(self) -> None:
        os.eventfd_write(self.fd, 1)

    def clear(self) -> None:
        """Consume the rings so far (the consumer, before it looks at the rings again)."""
        try:
            os.eventfd_read(self.fd)
        except BlockingIOError:
            pass

    def close(self) -> None:
        os.close(self.fd)


class Ring:
    """One ring; the producer process calls only ``push``, the consumer only ``pop``, ``arm``
    and ``disarm``. Make it with ``create`` before forking.

    ``full_policy`` says what ``push`` does when the ring is full: ``drop`` (drop the newest
    record at once) or ``wait`` (yield the CPU until the consumer frees a slot, at most
    ``wait_limit_ns``, then drop): back-pressure that holds the producer's socket reads back.
    """

    FULL_POLICIES = ("drop", "wait")

    __slots__ = (
        "_memory", "_counters", "_buffer", "slots", "_mask", "doorbell", "full_policy",
        "wait_limit_ns", "_head", "_tail_seen", "_tail", "drops", "unencodable", "torn",
    )

    def __init__(self, memory: mmap.mmap, doorbell: Doorbell | None, full_policy: str,
                 wait_limit_ns: int) -> None:
        self._memory = memory
        self._counters = memoryview(memory)[:_HEADER_BYTES].cast("Q")
        self._buffer = memoryview(memory)
        self.slots = self._counters[_SLOTS]
        self._mask = self.slots - 1
        self.doorbell = doorbell
        self.full_policy = full_policy
        self.wait_limit_ns = wait_limit_ns
        self._head = 0  # the producer's copy of its counter
        self._tail_seen = 0  # the producer's last look at the consumer's counter
        self._tail = 0  # the consumer's copy of its counter
        self.drops = 0  # producer side: records dropped because the ring was full
        self.unencodable = 0  # producer side: values that do not fit a record (e.g. > 64 bits)
        self.torn = 0  # consumer side: reads of a slot whose sequence numbers did not match

    @classmethod
    def check(cls, slots: int, full_policy: str) -> None:
        """Raise RingError unless ``create`` can make such a ring here."""
        if platform.machine().lower() not in ("x86_64", "amd64"):
            raise RingError(f"shared-memory rings need x86-64 store ordering (this is {platform.machine()})")
        if slots < 2 or slots & (slots - 1):
            raise RingError(f"ring_slots must be a power of two >= 2, got {slots}")
        if full_policy not in cls.FULL_POLICIES:
            raise RingError(f"ring_full must be one of {', '.join(cls.FULL_POLICIES)}, got {full_policy!r}")

    @classmethod
    def create(cls, slots: int, doorbell: Doorbell | None = None, *, full_policy: str = "drop",
               wait_limit_ns: int = 1_000_000_000) -> Ring:
        """A new empty ring of ``slots`` records (a power of two, at least 2). Raises
        RingError for another size, an unknown policy, or a CPU that is not x86-64."""
        cls.check(slots, full_policy)
        size = _HEADER_BYTES + slots * SLOT_BYTES
        memory = mmap.mmap(-1, size, mmap.MAP_SHARED)
        for page in range(0, size, mmap.PAGESIZE):  # fault every page in now, not on the hot path
            memory[page] = 0
        memoryview(memory)[:_HEADER_BYTES].cast("Q")[_SLOTS] = slots
        return cls(memory, doorbell, full_policy, wait_limit_ns)

    # -- producer ---------------------------------------------------------------------------------

    def push(self, kind: int, venue: int, instrument: int, price: int, size: int, price2: int,
             size2: int, recv_ns: int, exchange_ns: int, ident: int, sent_ns: int) -> bool:
        """Append one record; False if it was dropped (ring full, or a value out of range)."""
        head = self._head
        if head - self._tail_seen >= self.slots:
            self._tail_seen = self._counters[_TAIL]
            if head - self._tail_seen >= self.slots and not self._wait_for_room(head):
                self.drops += 1
                self._counters[_DROPS] = self.drops
                return False
        seq = head + 1
        ident_high = 0
        if ident > _IDENT_MASK:
            ident_high = ident >> 64
            ident &= _IDENT_MASK
        try:
            RECORD.pack_into(
                self._buffer, _HEADER_BYTES + (head & self._mask) * SLOT_BYTES, seq, kind, venue,
                instrument, price, size, price2, size2, recv_ns, exchange_ns, ident, ident_high,
                sent_ns, seq,
            )
        except struct.error:
            self.unencodable += 1
            return False
        self._head = seq
        counters = self._counters
        counters[_HEAD] = seq  # publishes the record (after its bytes, in store order)
        if counters[_WAITING] and self.doorbell is not None:
            self.doorbell.ring()
        return True

    def _wait_for_room(self, head: int) -> bool:
        if self.full_policy != "wait":
            return False
        deadline = time.monotonic_ns() + self.wait_limit_ns
        while time.monotonic_ns() < deadline:
            os.sched_yield()
            self._tail_seen = self._counters[_TAIL]
            if head - self._tail_seen < self.slots:
                return True
        return False

    # -- consumer ---------------------------------------------------------------------------------

    def pop(self, limit: int = 256) -> list[tuple[int, ...]]:
        """The next records written (at most ``limit``), each the ``RECORD`` fields in order;
        they are consumed (their slots may be written again). The empty list returned when
        there is nothing is shared: do not add to it."""
        tail = self._tail
        available = self._counters[_HEAD] - tail
        if available <= 0:
            return _EMPTY
        buffer = self._buffer
        mask = self._mask
        unpack_from = RECORD.unpack_from
        records = []
        for position in range(tail, tail + min(available, limit)):
            record = unpack_from(buffer, _HEADER_BYTES + (position & mask) * SLOT_BYTES)
            seq = position + 1
            if record[0] != seq or record[13] != seq:
                self.torn += 1
                break
            records.append(record)
        self._tail = tail = tail + len(records)
        self._counters[_TAIL] = tail
        return records

    def arm(self) -> bool:
        """Ask the producer to ring the doorbell after its next record; True if the ring is
        still empty (else the consumer must not sleep)."""
        self._counters[_WAITING] = 1
        return self._counters[_HEAD] == self._tail

    def disarm(self) -> None:
        self._counters[_WAITING] = 0

    # -- either side ------------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Records written and not yet read (a snapshot)."""
        counters = self._counters
        return counters[_HEAD] - counters[_TAIL]

    @property
    def written(self) -> int:
        return self._counters[_HEAD]

    @property
    def dropped(self) -> int:
        """Records the producer dropped because the ring was full (readable by either side)."""
        return self._counters[_DROPS]

    def close(self) -> None:
        """Unmap (after the last push or pop of this process)."""
        self._counters.release()
        self._buffer.release()
        self._memory.close()
