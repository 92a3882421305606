"""Latency histograms recorded on the hot path with a few integer operations; read off it.

A ``LatencyHistogram`` is a preallocated list of counts over log-linear buckets of nanoseconds:
exact below 64 ns, then 32 buckets per power of two, so a bucket is at most 1/32 of its lower
bound wide and its midpoint is within 1/64 (1.6 %) of every value in it — from 64 ns to 2**64 ns.

Recording is ``counts[FAST_BUCKET[value_ns]] += 1`` for values below ``FAST_LIMIT_NS`` (the
bucket of every such value is precomputed), and ``histogram.record(value_ns)`` for any other
value. Percentiles, sums and Prometheus buckets are computed from the counts when asked, never
per sample.
"""

from __future__ import annotations

import asyncio
import bisect
import ipaddress
import math
import operator
import time
from itertools import accumulate, compress
from typing import Iterable

__all__ = [
    "BUCKETS",
    "FAST_BUCKET",
    "FAST_LIMIT_NS",
    "STAGES",
    "LatencyHistogram",
    "LoopLagProbe",
    "NamedStages",
    "VenueStages",
    "bucket_bounds",
    "bucket_index",
    "is_loopback",
    "merged",
    "micros",
    "parse_address",
]

_EXACT_BITS = 6  # values below 2**6 ns have a bucket each
_SUB_BITS = 5  # then 2**5 buckets per power of two
BUCKETS = (64 - _EXACT_BITS) * (1 << _SUB_BITS) + (1 << _EXACT_BITS)
FAST_LIMIT_NS = 1 << 16


def bucket_index(value_ns: int) -> int:
    """The bucket of a value >= 0 (values past 2**64 ns share the last bucket)."""
    shift = (value_ns | ((1 << _EXACT_BITS) - 1)).bit_length() - _EXACT_BITS
    if shift > 64 - _EXACT_BITS:
        return BUCKETS - 1
    return (shift << _SUB_BITS) + (value_ns >> shift)


def bucket_bounds(index: int) -> tuple[int, int]:
    """``(low, high)``: the bucket holds the values ``low <= v < high`` (ns)."""
    if index < 1 << _EXACT_BITS:
        return index, index + 1
    shift = (index >> _SUB_BITS) - 1
    mantissa = index - (shift << _SUB_BITS)
    return mantissa << shift, (mantissa + 1) << shift


_INDEXES = list(range(BUCKETS))  # one int object per bucket, shared by the table's entries
FAST_BUCKET: list[int] = [_INDEXES[bucket_index(v)] for v in range(FAST_LIMIT_NS)]
"""``FAST_BUCKET[v]`` is ``bucket_index(v)`` for ``0 <= v < FAST_LIMIT_NS``."""


def _midpoint(index: int) -> int:
    low, high = bucket_bounds(index)
    return (low + high) // 2


_MIDPOINTS = [_midpoint(index) for index in range(BUCKETS)]


class LatencyHistogram:
    """Counts of latencies (ns) per log-linear bucket.

    ``counts`` may be incremented directly (see the module docstring); ``negative`` counts the
    values below 0 that ``record`` put in the lowest bucket (a clock that disagrees).
    """

    __slots__ = ("counts", "negative")

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.negative = 0

    def record(self, value_ns: int) -> None:
        """Count one value of any size or sign."""
        if value_ns < 0:
            self.negative += 1
            value_ns = 0
        self.counts[bucket_index(value_ns)] += 1

    def merge(self, other: LatencyHistogram) -> None:
        """Add ``other``'s counts to this one."""
        self.counts = [a + b for a, b in zip(self.counts, other.counts)]
        self.negative += other.negative

    def since(self, earlier: LatencyHistogram) -> LatencyHistogram:
        """The values recorded after ``earlier`` (an older copy of this histogram)."""
        window = LatencyHistogram()
        window.counts = [a - b for a, b in zip(self.counts, earlier.counts)]
        window.negative = self.negative - earlier.negative
        return window

    def sparse(self) -> dict[int, int]:
        """The non-empty buckets: index -> count."""
        counts = self.counts
        return dict(zip(compress(range(BUCKETS), counts), filter(None, counts)))

    @classmethod
    def from_sparse(cls, counts: dict[int, int], negative: int = 0) -> LatencyHistogram:
        """The histogram that ``sparse`` described (indexes outside the buckets are ignored)."""
        histogram = cls()
        for index, count in counts.items():
            if 0 <= index < BUCKETS:
                histogram.counts[index] = count
        histogram.negative = negative
        return histogram

    @property
    def count(self) -> int:
        """Values recorded."""
        return sum(self.counts)

    def sum_ns(self) -> int:
        """The sum of the values, each taken as its bucket's midpoint (within 1.6 %)."""
        counts = self.counts
        return sum(map(operator.mul, compress(counts, counts), compress(_MIDPOINTS, counts)))

    def percentiles(self, fractions: Iterable[float]) -> list[int | None]:
        """Nearest-rank percentiles (ns, bucket midpoints); None for each when empty."""
        cumulative = list(accumulate(self.counts))
        total = cumulative[-1]
        if not total:
            return [None for _ in fractions]
        result: list[int | None] = []
        for fraction in fractions:
            rank = min(total, max(1, math.ceil(fraction * total)))
            result.append(_MIDPOINTS[bisect.bisect_left(cumulative, rank)])
        return result

    def cumulative_below(self, indexes: Iterable[int]) -> tuple[list[int], int]:
        """For each bucket index, how many values lie in the buckets below it (below its
        lower bound); and the count of all values."""
        cumulative = [0, *accumulate(self.counts)]
        return [cumulative[index] for index in indexes], cumulative[-1]


def micros(value_ns: int | None) -> str:
    """A latency in µs with one decimal, or "-" for none."""
    return "-" if value_ns is None else f"{value_ns / 1000:.1f}"


STAGES = (
    "exchange_to_recv",
    "recv_to_decoded",
    "decoded_to_aggregated",
    "aggregated_to_published",
    "recv_to_published",
    "published_to_flushed",
)
"""Stage names, in pipeline order; ``recv_to_published`` is the headline."""


class VenueStages:
    """One venue's stage histograms (attribute per name in ``STAGES``).

    Per consolidated update of a staged frame (see ``Engine.frame_consumer``; at a quiet moment
    every frame is staged): ``recv_to_decoded`` (the frame's decode), ``decoded_to_aggregated``
    (from the end of the previous stage of the same frame to the aggregator's answer),
    ``aggregated_to_published`` (encoding into every sink buffer), ``recv_to_published`` (all of
    it: from the frame's receipt to the update in every sink buffer) and ``exchange_to_recv``
    where the venue sends an event time. Per flush of the sinks at the end of a socket read that
    holds such an update: ``published_to_flushed`` (from the first of them put in the buffer to
    the end of the write).
    """

    __slots__ = STAGES
    exchange_to_recv: LatencyHistogram
    recv_to_decoded: LatencyHistogram
    decoded_to_aggregated: LatencyHistogram
    aggregated_to_published: LatencyHistogram
    recv_to_published: LatencyHistogram
    published_to_flushed: LatencyHistogram

    def __init__(self) -> None:
        for stage in STAGES:
            setattr(self, stage, LatencyHistogram())

    def histograms(self) -> list[tuple[str, LatencyHistogram]]:
        """``(stage, histogram)`` in pipeline order."""
        return [(stage, getattr(self, stage)) for stage in STAGES]

    def record_update(
        self, recv_ns: int, decoded_ns: int, start_ns: int, aggregated_ns: int, published_ns: int
    ) -> None:
        """Record one update's stages, whatever the stamps (the hot path's slow lane)."""
        self.recv_to_decoded.record(decoded_ns - recv_ns)
        self.decoded_to_aggregated.record(aggregated_ns - start_ns)
        self.aggregated_to_published.record(published_ns - aggregated_ns)
        self.recv_to_published.record(published_ns - recv_ns)


class NamedStages:
    """One venue's histograms of the stages ``names`` (those of a NATS node), in ``by_name``."""

    __slots__ = ("by_name",)

    def __init__(self, names: Iterable[str]) -> None:
        self.by_name = {name: LatencyHistogram() for name in names}

    def histograms(self) -> list[tuple[str, LatencyHistogram]]:
        """``(stage, histogram)`` in the order of ``names``."""
        return list(self.by_name.items())


def merged(histograms: Iterable[LatencyHistogram]) -> LatencyHistogram:
    """One histogram holding the values of all ``histograms``."""
    total = LatencyHistogram()
    for histogram in histograms:
        total.merge(histogram)
    return total


class LoopLagProbe:
    """How long a task that is ready to run waits for the event loop, sampled every ``interval``
    seconds: the time from yielding (``asyncio.sleep(0)``) to running again, which is the time
    the loop spends on whatever else is ready (frame callbacks, other tasks) plus one poll.

    ``lag`` holds every sample (ns); ``last_ns`` the latest. Run ``run()`` as a task.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.lag = LatencyHistogram()
        self.last_ns = 0

    async def run(self) -> None:
        """Measure until cancelled."""
        clock = time.monotonic_ns
        while True:
            await asyncio.sleep(self.interval)
            started = clock()
            await asyncio.sleep(0)
            self.last_ns = clock() - started
            self.lag.record(self.last_ns)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) of the metrics endpoint -> (host, port).

    Raises ValueError."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"metrics address must be HOST:PORT, got {text!r}")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"metrics port must be 0..65535, got {port}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
