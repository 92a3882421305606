"""The venues the simulator can serve, by name (the ``--venues`` names and URL prefixes)."""

from __future__ import annotations

from tickwire.sim.binance import BinanceSimVenue
from tickwire.sim.venue import SimVenue

__all__ = ["SIM_VENUES"]

SIM_VENUES: dict[str, type[SimVenue]] = {
    BinanceSimVenue.name: BinanceSimVenue,
}
