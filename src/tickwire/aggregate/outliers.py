"""Which venues' mids are too far from the median mid to be used (pure, integers only).

A venue is an outlier when its mid is further than a band from the median of all candidate
mids: a fixed band (``BandRule``) or one from the median absolute deviation (``MadRule``).
With fewer than ``MIN_VENUES`` candidates there is no majority to judge by, and when more than
half would be outliers there is none either: then no venue is left out.

A rule answers with the range of mid sums (``bid + ask``) it keeps, so that the check per update
is two comparisons: the lowest and highest mid sums are the first to fall out.
"""

from __future__ import annotations

from tickwire.aggregate.methods import median_quarter
from tickwire.aggregate.rules import PriceRules, hundredths

__all__ = ["MIN_VENUES", "BandRule", "MadRule", "OutlierRule", "outlier_rule"]

MIN_VENUES = 3

_PPM = 1_000_000
_Z_LIMIT = 35_000  # 3.5, the modified z-score limit (Iglewicz and Hoaglin), in ten-thousandths
_Z_FACTOR = 6_745  # 0.6745, the normal 75th percentile, in ten-thousandths


class OutlierRule:
    """A band around the median mid (``median`` in quarter units, four times the price).

    ``by_median`` is True when the band depends on the median alone, so that a caller may keep
    ``kept_range`` for as long as the median does not move.
    """

    __slots__ = ()

    by_median = False

    def max_deviation(self, sorted_sums: list[int], median: int) -> int:
        """The largest ``abs(2 * s - median)`` of a mid sum ``s`` that is kept."""
        raise NotImplementedError

    def kept_range(self, sorted_sums: list[int], median: int) -> tuple[int, int]:
        """``(low, high)``: the mid sums ``s`` with ``low <= s <= high`` are kept."""
        deviation = self.max_deviation(sorted_sums, median)
        return (median - deviation + 1) >> 1, (median + deviation) >> 1

    def flags(self, mid_sums: list[int], sorted_sums: list[int], median: int) -> list[bool]:
        """Per mid sum (in ``mid_sums`` order), whether that venue is left out."""
        n = len(mid_sums)
        if n < MIN_VENUES:
            return [False] * n
        low, high = self.kept_range(sorted_sums, median)
        flags = [not low <= s <= high for s in mid_sums]
        if sum(flags) << 1 > n:
            return [False] * n
        return flags


class BandRule(OutlierRule):
    """Outside ``band`` parts per million of the median."""

    __slots__ = ("band",)

    by_median = True

    def __init__(self, band_ppm: int) -> None:
        self.band = band_ppm

    def max_deviation(self, sorted_sums: list[int], median: int) -> int:
        return self.band * median // _PPM  # |d| * 10**6 > band * median  <=>  |d| > this


class MadRule(OutlierRule):
    """Modified z-score above 3.5 (``|x - M| > 5.19 MAD``), with the band that gives bounded
    to ``floor``..``cap`` parts per million of the median, so that a MAD of 0 (most venues on
    one mid) does not leave out every other venue, nor a wide one keep anything."""

    __slots__ = ("floor", "cap")

    def __init__(self, floor_ppm: int, cap_ppm: int) -> None:
        self.floor = floor_ppm
        self.cap = cap_ppm

    def max_deviation(self, sorted_sums: list[int], median: int) -> int:
        # twice the MAD in quarter units; both sides scaled by 2 * 0.6745 * 10**4 * 10**6
        twice_mad = median_quarter(sorted([abs((s << 1) - median) for s in sorted_sums]))
        scale = _Z_FACTOR * 2 * _PPM
        by_mad = _Z_LIMIT * twice_mad * _PPM
        to_ppm = median * _Z_FACTOR * 2
        return min(max(by_mad, self.floor * to_ppm), self.cap * to_ppm) // scale


def outlier_rule(rules: PriceRules) -> OutlierRule | None:
    """A new outlier rule as ``rules`` asks (one per instrument); None for ``off``."""
    if rules.outliers == "band":
        return BandRule(hundredths(rules.outlier_band_bp))
    if rules.outliers == "mad":
        return MadRule(hundredths(rules.mad_floor_bp), hundredths(rules.mad_cap_bp))
    return None
