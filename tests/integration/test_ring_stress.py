"""Two real processes on one small ring, lapping it thousands of times: the consumer gets every
record in order, each field consistent with its sequence number (a torn record would mix two
laps), and with the drop policy exactly the records the producer did not drop."""

from __future__ import annotations

import multiprocessing

import pytest

from tickwire.ring import QUOTE, Ring

RECORDS = 1_000_000
SLOTS = 1024
MASK62 = (1 << 62) - 1


def fields(n: int) -> tuple[int, ...]:
    """The push arguments of record ``n``: every field a different function of ``n``."""
    return (QUOTE, n % 31, n % 1000, n * 7919 & MASK62, n * 104729 & MASK62, -n, n ^ 0x5555,
            n << 20, n * 3 + 1, n, (n * 2654435761) & MASK62)


def produce(ring: Ring) -> None:
    for n in range(1, RECORDS + 1):
        ring.push(*fields(n))


@pytest.mark.parametrize("policy", ["wait", "drop"])
def test_a_million_records_cross_between_processes_whole_and_in_order(policy):
    ring = Ring.create(SLOTS, full_policy=policy)
    producer = multiprocessing.get_context("fork").Process(target=produce, args=(ring,))
    producer.start()
    received = 0
    last = 0
    bad = []
    while True:
        records = ring.pop(512)
        if not records:
            if not producer.is_alive() and ring.depth == 0:
                break
            continue
        for record in records:
            n = record[10]
            if n <= last or record[1:10] + record[12:13] != fields(n)[:9] + fields(n)[10:]:
                bad.append(record)
            last = n
        received += len(records)
    producer.join(10)
    assert producer.exitcode == 0
    assert bad == []
    assert ring.torn == 0
    assert received == ring.written
    assert received + ring.dropped == RECORDS
    if policy == "wait":
        assert received == RECORDS and last == RECORDS
    ring.close()
