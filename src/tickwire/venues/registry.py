"""The venues tickwire speaks, by name."""

from __future__ import annotations

from typing import Sequence

from tickwire.instruments import Instrument
from tickwire.venues.base import VenueAdapter
from tickwire.venues.binance import BinanceSpot

__all__ = ["VENUES", "instruments_for"]

VENUES: dict[str, type[VenueAdapter]] = {
    BinanceSpot.name: BinanceSpot,
}


def instruments_for(venue: str, instruments: Sequence[Instrument]) -> list[Instrument]:
    """The instruments among ``instruments`` that ``venue``'s connection carries."""
    kinds = VENUES[venue].instrument_kinds
    return [i for i in instruments if i.kind in kinds]
