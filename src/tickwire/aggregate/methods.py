"""The arithmetic of a consolidated price, on integers only (pure functions).

Units: a venue's mid is kept as ``bid + ask`` (its "mid sum", twice the mid at the instrument's
price scale), and every method returns its price and confidence in quarter units (four times
the price), where a median of two mids and a Pyth half-spread are still whole numbers.
``to_price`` turns quarter units into the published scale, ``PRICE_EXTRA_DIGITS`` decimals finer
than the quotes, so everything stays exact.
"""

from __future__ import annotations

from operator import add
from typing import Callable, Optional

from tickwire.aggregate.rules import MEDIAN, PYTH, WEIGHTED_MEDIAN

__all__ = [
    "MID_TO_PRICE",
    "PRICE_EXTRA_DIGITS",
    "QUARTER_TO_PRICE",
    "Columns",
    "PriceMethod",
    "at_best",
    "median_quarter",
    "price_method",
    "pyth_price",
    "weighted_median_price",
]

PRICE_EXTRA_DIGITS = 2
QUARTER_TO_PRICE = 10**PRICE_EXTRA_DIGITS // 4
"""Quarter units times this is the price at the instrument's scale plus PRICE_EXTRA_DIGITS."""
MID_TO_PRICE = 10**PRICE_EXTRA_DIGITS // 2
"""A mid sum (``bid + ask``) times this is that mid's price, like ``QUARTER_TO_PRICE``."""

WEIGHT_CAP_ONE = 100_00
"""A weight cap of 100 %, in the ten-thousandths ``rules.hundredths`` gives for percent."""


class Columns:
    """Top of book of a set of venues: one list per field, venues in name order.

    ``solos`` holds each venue's one-name tuple, shared by every update where that venue alone
    is at the best price; ``sorted_sums`` the mid sums in ascending order (whoever changes a mid
    sum keeps it so).
    """

    __slots__ = (
        "names", "solos", "bids", "bid_sizes", "asks", "ask_sizes", "mid_sums", "sorted_sums"
    )

    def __init__(
        self,
        names: list[str],
        bids: list[int],
        bid_sizes: list[int],
        asks: list[int],
        ask_sizes: list[int],
    ) -> None:
        self.names = names
        self.solos = [(name,) for name in names]
        self.bids = bids
        self.bid_sizes = bid_sizes
        self.asks = asks
        self.ask_sizes = ask_sizes
        self.mid_sums = [bid + ask for bid, ask in zip(bids, asks)]
        self.sorted_sums = sorted(self.mid_sums)

    def subset(self, keep: list[bool]) -> Columns:
        """The venues whose ``keep`` entry is True, in the same order."""
        rows = [i for i, kept in enumerate(keep) if kept]
        return Columns(
            [self.names[i] for i in rows],
            [self.bids[i] for i in rows],
            [self.bid_sizes[i] for i in rows],
            [self.asks[i] for i in rows],
            [self.ask_sizes[i] for i in rows],
        )


def at_best(
    prices: list[int], best: int, sizes: list[int], solos: list[tuple[str]], names: list[str]
) -> tuple[int, tuple[str, ...]]:
    """The size summed over the rows quoting ``best`` and their names in row order (the row's
    ``solos`` tuple when it is alone there)."""
    if prices.count(best) == 1:
        row = prices.index(best)
        return sizes[row], solos[row]
    rows = [i for i, p in enumerate(prices) if p == best]
    return sum(sizes[i] for i in rows), tuple(names[i] for i in rows)


def median_quarter(sorted_sums: list[int]) -> int:
    """The median mid in quarter units, from mid sums in ascending order (at least one); an
    even count takes the mean of the two middle mids."""
    n = len(sorted_sums)
    half = n >> 1
    if n & 1:
        return sorted_sums[half] << 1
    return sorted_sums[half - 1] + sorted_sums[half]


PriceMethod = Callable[[Columns, list[int], int, int], tuple[int, Optional[int]]]
"""``(columns, sorted mid sums, median in quarter units, weight cap) -> (price, confidence)``,
both in quarter units; confidence None where the method gives none."""


def weighted_median_price(
    columns: Columns, sorted_sums: list[int], median: int, weight_cap: int
) -> tuple[int, int | None]:
    """The lower weighted median of the mids: sorted by mid, the first whose cumulative weight
    reaches half the total. A venue's weight is its bid size plus ask size, capped at
    ``weight_cap`` ten-thousandths of the total of all weights. No confidence."""
    mid_sums = columns.mid_sums
    weights = list(map(add, columns.bid_sizes, columns.ask_sizes))
    total = sum(weights)
    cap = total * weight_cap
    if max(weights) * WEIGHT_CAP_ONE > cap:  # in ten-thousandths from here on
        weights = [min(w * WEIGHT_CAP_ONE, cap) for w in weights]
        total = sum(weights)
    reached = 0
    for row in sorted(range(len(mid_sums)), key=mid_sums.__getitem__):
        reached += weights[row]
        if reached << 1 >= total:
            break
    return mid_sums[row] << 1, None


def pyth_price(
    columns: Columns, sorted_sums: list[int], median: int, weight_cap: int
) -> tuple[int, int | None]:
    """Pyth's aggregate with each venue as a publisher of (mid, half-spread): every venue votes
    mid - half-spread, mid and mid + half-spread, that is its bid, mid and ask. The price is the
    median vote (the exact mean of the two middle votes for an even count); the confidence is
    the larger of its distances to the votes at ``N >> 2`` and ``N - 1 - (N >> 2)``."""
    bids, asks = columns.bids, columns.asks
    votes = list(map(add, bids, bids))
    votes += columns.mid_sums
    votes += map(add, asks, asks)
    votes.sort()
    n = len(votes)
    price = median_quarter(votes)
    low = votes[n >> 2] << 1
    high = votes[n - 1 - (n >> 2)] << 1
    return price, max(price - low, high - price)


_METHODS: dict[str, PriceMethod | None] = {
    MEDIAN: None,
    WEIGHTED_MEDIAN: weighted_median_price,
    PYTH: pyth_price,
}


def price_method(name: str) -> PriceMethod | None:
    """The function of method ``name`` (one of ``rules.METHODS``); None for ``median``, the
    median mid (``median_quarter``) that every method computes anyway for the outlier test."""
    return _METHODS[name]
