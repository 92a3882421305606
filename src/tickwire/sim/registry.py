"""The venues the simulator can serve, by name (the ``--venues`` names and URL prefixes)."""

from __future__ import annotations

from tickwire.sim.binance import BinanceSimVenue
from tickwire.sim.binance_usdm import BinanceUsdmSimVenue
from tickwire.sim.bitfinex import BitfinexSimVenue
from tickwire.sim.bitstamp import BitstampSimVenue
from tickwire.sim.bybit import BybitLinearSimVenue, BybitSpotSimVenue
from tickwire.sim.coinbase import CoinbaseSimVenue
from tickwire.sim.gemini import GeminiSimVenue
from tickwire.sim.kraken import KrakenSimVenue
from tickwire.sim.kraken_v1 import KrakenV1SimVenue
from tickwire.sim.okx import OkxSimVenue
from tickwire.sim.venue import SimVenue

__all__ = ["SIM_VENUES"]

SIM_VENUES: dict[str, type[SimVenue]] = {
    BinanceSimVenue.name: BinanceSimVenue,
    BinanceUsdmSimVenue.name: BinanceUsdmSimVenue,
    BitfinexSimVenue.name: BitfinexSimVenue,
    BitstampSimVenue.name: BitstampSimVenue,
    BybitSpotSimVenue.name: BybitSpotSimVenue,
    BybitLinearSimVenue.name: BybitLinearSimVenue,
    CoinbaseSimVenue.name: CoinbaseSimVenue,
    GeminiSimVenue.name: GeminiSimVenue,
    KrakenSimVenue.name: KrakenSimVenue,
    KrakenV1SimVenue.name: KrakenV1SimVenue,
    OkxSimVenue.name: OkxSimVenue,
}
