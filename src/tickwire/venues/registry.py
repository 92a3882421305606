"""The venues tickwire speaks, by name."""

from __future__ import annotations

from typing import Callable, Sequence

from tickwire.instruments import Instrument
from tickwire.venues.base import VenueAdapter
from tickwire.venues.binance import BinanceSpot

__all__ = ["VENUES"]

VENUES: dict[str, Callable[[Sequence[Instrument], frozenset[str]], VenueAdapter]] = {
    BinanceSpot.name: BinanceSpot,
}
