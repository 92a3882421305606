"""How one instrument's consolidated price is made: method, staleness, outliers, publishing.

``PriceRules`` holds the values as a user writes them (seconds, basis points, percent); the
aggregator turns them once into exact integers (``nanoseconds``, ``hundredths``), never per
message.
"""

from __future__ import annotations

import math
from decimal import Decimal

import msgspec

__all__ = [
    "MEDIAN",
    "METHODS",
    "OUTLIER_RULES",
    "PUBLISH_POLICIES",
    "PYTH",
    "PriceRules",
    "WEIGHTED_MEDIAN",
    "hundredths",
    "nanoseconds",
]

MEDIAN = "median"
WEIGHTED_MEDIAN = "weighted-median"
PYTH = "pyth"
METHODS = (MEDIAN, WEIGHTED_MEDIAN, PYTH)
OUTLIER_RULES = ("band", "mad", "off")
PUBLISH_POLICIES = ("change", "deviation")


class PriceRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The settings of one instrument's consolidated price (the ``[aggregation]`` keys).

    - ``method``: ``median`` of venue mids, ``weighted-median`` by top-of-book size (each venue's
      weight capped at ``weight_cap_pct`` of the total), or ``pyth`` (votes bid, mid, ask; the
      confidence is the wider of the distances to the 25th and 75th percentile votes).
    - ``stale_after``: seconds without any frame from a venue before it is left out.
    - ``outliers``: ``band`` leaves out a venue whose mid is more than ``outlier_band_bp`` from
      the median mid; ``mad`` uses 3.5 modified z-scores (5.19 MAD), bounded to
      ``mad_floor_bp``..``mad_cap_bp``; ``off`` keeps every venue.
    - ``publish``: ``change`` publishes every visible change; ``deviation`` publishes when the
      price moved ``deviation_bp`` from the last one published or the venues used changed.
      ``heartbeat`` (seconds, 0 for none) republishes a price nothing published for that long.
    """

    method: str = MEDIAN
    stale_after: float = 5.0
    outliers: str = "band"
    outlier_band_bp: float = 100.0
    mad_floor_bp: float = 10.0
    mad_cap_bp: float = 50.0
    weight_cap_pct: float = 40.0
    publish: str = "change"
    deviation_bp: float = 0.5
    heartbeat: float = 0.0

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        _one_of("method", self.method, METHODS)
        _one_of("outliers", self.outliers, OUTLIER_RULES)
        _one_of("publish", self.publish, PUBLISH_POLICIES)
        if not (math.isfinite(self.stale_after) and self.stale_after > 0):
            raise ValueError(f"stale_after must be > 0 seconds, got {self.stale_after}")
        if not (math.isfinite(self.heartbeat) and self.heartbeat >= 0):
            raise ValueError(f"heartbeat must be >= 0 seconds (0: none), got {self.heartbeat}")
        for name in ("outlier_band_bp", "deviation_bp", "weight_cap_pct"):
            if hundredths(getattr(self, name), name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if hundredths(self.weight_cap_pct, "weight_cap_pct") > 100_00:
            raise ValueError(f"weight_cap_pct must be at most 100, got {self.weight_cap_pct}")
        floor = hundredths(self.mad_floor_bp, "mad_floor_bp")
        cap = hundredths(self.mad_cap_bp, "mad_cap_bp")
        if not 0 <= floor <= cap:
            raise ValueError(
                f"need 0 <= mad_floor_bp <= mad_cap_bp, got {self.mad_floor_bp} and {self.mad_cap_bp}"
            )


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def hundredths(value: float, name: str = "value") -> int:
    """``100 * value`` as an exact integer: basis points become parts per million, percent
    points ten-thousandths. Raises ValueError for more than two decimals or a non-number."""
    exact = Decimal(repr(value)) * 100 if math.isfinite(value) else Decimal("NaN")
    if not exact.is_finite() or exact != exact.to_integral_value():
        raise ValueError(f"{name} takes at most two decimals, got {value}")
    return int(exact)


def nanoseconds(seconds: float) -> int:
    """``seconds`` as integer nanoseconds (exact for what a user writes, e.g. ``0.25``)."""
    return int(Decimal(repr(seconds)) * 1_000_000_000)
