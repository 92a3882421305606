"""Latency samples recorded on the hot path at the cost of a list store; read off it."""

from __future__ import annotations

__all__ = ["LatencyRing", "percentile"]


class LatencyRing:
    """The last ``capacity`` latency samples (ns) in a preallocated list.

    ``record`` is one store and one add; ``snapshot`` copies the samples for percentiles.
    ``count`` is the total ever recorded.
    """

    __slots__ = ("_samples", "_mask", "count")

    def __init__(self, capacity: int = 1 << 16) -> None:
        if capacity & (capacity - 1):
            raise ValueError("capacity must be a power of two")
        self._samples = [0] * capacity
        self._mask = capacity - 1
        self.count = 0

    def record(self, value_ns: int) -> None:
        """Store one sample, overwriting the oldest once full."""
        count = self.count
        self._samples[count & self._mask] = value_ns
        self.count = count + 1

    def snapshot(self) -> list[int]:
        """The samples held now, sorted ascending."""
        held = min(self.count, len(self._samples))
        if held == len(self._samples):
            return sorted(self._samples)
        return sorted(self._samples[:held])


def percentile(sorted_samples: list[int], fraction: float) -> int | None:
    """Nearest-rank percentile of already sorted samples (None when there are none)."""
    if not sorted_samples:
        return None
    rank = max(0, min(len(sorted_samples) - 1, int(fraction * len(sorted_samples) + 0.5) - 1))
    return sorted_samples[rank]
