"""The shared-memory SPSC ring: records come out whole, in order, exactly once; a full ring
drops the newest and counts it; a slot whose sequence numbers disagree is never accepted."""

from __future__ import annotations

import os
from collections import deque

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tickwire.ring import QUOTE, RECORD, SLOT_BYTES, TRADE, Doorbell, Ring, RingError

INT64 = st.integers(-(2**63), 2**63 - 1)
FIELDS = st.tuples(
    st.sampled_from([QUOTE, TRADE]), st.integers(0, 30), st.integers(0, 1000), INT64, INT64,
    INT64, INT64, INT64, INT64, st.integers(0, 2**128 - 1), INT64,
)


def payload(record: tuple[int, ...]) -> tuple[int, ...]:
    """The pushed arguments back from a popped record (sequence numbers left out)."""
    (_, kind, venue, instrument, price, size, price2, size2, recv_ns, exchange_ns, ident,
     ident_high, sent_ns, _) = record
    return (kind, venue, instrument, price, size, price2, size2, recv_ns, exchange_ns,
            ident | ident_high << 64, sent_ns)


class RingMachine(RuleBasedStateMachine):
    """A small ring driven through many laps against a deque of what it should hold."""

    def __init__(self) -> None:
        super().__init__()
        self.ring: Ring | None = None
        self.model: deque[tuple[int, ...]] = deque()
        self.pushed = 0
        self.dropped = 0

    @precondition(lambda self: self.ring is None)
    @rule(exponent=st.integers(1, 4))
    def create(self, exponent: int) -> None:
        self.ring = Ring.create(2**exponent)

    @precondition(lambda self: self.ring is not None)
    @rule(fields=FIELDS)
    def push(self, fields: tuple[int, ...]) -> None:
        assert self.ring is not None
        full = len(self.model) == self.ring.slots
        accepted = self.ring.push(*fields)
        assert accepted is not full
        if accepted:
            self.model.append(fields)
            self.pushed += 1
        else:
            self.dropped += 1

    @precondition(lambda self: self.ring is not None)
    @rule(limit=st.integers(1, 20))
    def pop(self, limit: int) -> None:
        assert self.ring is not None
        records = self.ring.pop(limit)
        assert len(records) == min(limit, len(self.model))
        for record in records:
            assert payload(record) == self.model.popleft()

    @invariant()
    def counters_agree(self) -> None:
        if self.ring is not None:
            assert self.ring.depth == len(self.model)
            assert self.ring.written == self.pushed
            assert self.ring.dropped == self.ring.drops == self.dropped
            assert self.ring.torn == 0

    def teardown(self) -> None:
        if self.ring is not None:
            self.ring.close()


TestRingStateMachine = RingMachine.TestCase


def test_a_slot_published_before_its_last_bytes_landed_is_not_read_until_they_do():
    ring = Ring.create(4)
    ring.push(QUOTE, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    assert len(ring.pop()) == 1
    # the second record as a reordered store would leave it: head published, trailing
    # sequence number still the previous lap's
    torn = (2, QUOTE, 1, 2, 30, 40, 50, 60, 70, 80, 90, 0, 100, 0)
    second_slot = ring._buffer.nbytes - 3 * SLOT_BYTES  # the slots are the last bytes
    RECORD.pack_into(ring._buffer, second_slot, *torn)
    ring._counters[0] = 2  # head
    assert ring.pop() == []
    assert ring.torn == 1 and ring.depth == 1
    RECORD.pack_into(ring._buffer, second_slot, *torn[:-1], 2)
    assert [payload(r)[3] for r in ring.pop()] == [30]
    ring.close()


def test_a_value_that_does_not_fit_is_counted_and_nothing_is_published():
    ring = Ring.create(2)
    assert not ring.push(QUOTE, 1, 2, 2**63, 1, 1, 1, 1, 1, 0, 1)
    assert not ring.push(TRADE, 1, 2, 1, 1, 1, 1, 1, 1, -5, 1)
    assert (ring.unencodable, ring.depth) == (2, 0)
    assert ring.push(QUOTE, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    assert [payload(r) for r in ring.pop()] == [(QUOTE, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)]
    ring.close()


def test_a_full_ring_under_the_wait_policy_drops_only_after_the_wait_limit():
    ring = Ring.create(2, full_policy="wait", wait_limit_ns=2_000_000)
    for _ in range(3):
        ring.push(QUOTE, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    assert (ring.depth, ring.drops) == (2, 1)
    ring.close()


def test_an_armed_consumer_is_woken_by_the_next_record_and_an_unarmed_one_is_not():
    doorbell = Doorbell()
    ring = Ring.create(4, doorbell)
    ring.push(QUOTE, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    assert not ring.arm()  # not empty: no sleeping
    ring.pop()
    assert ring.arm()
    ring.push(QUOTE, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    ring.disarm()
    ring.push(QUOTE, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    assert os.eventfd_read(doorbell.fd) == 1
    ring.close()
    doorbell.close()


@pytest.mark.parametrize("slots", [0, 1, 3, 100])
def test_ring_sizes_must_be_powers_of_two(slots):
    with pytest.raises(RingError, match="ring_slots must be a power of two"):
        Ring.create(slots)


def test_an_unknown_full_policy_is_refused():
    with pytest.raises(RingError, match="drop, wait"):
        Ring.create(4, full_policy="block")
