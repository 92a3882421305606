"""The venues tickwire speaks, by name."""

from __future__ import annotations

from typing import Sequence

from tickwire.instruments import Instrument
from tickwire.venues.base import VenueAdapter
from tickwire.venues.binance import BinanceSpot
from tickwire.venues.binance_usdm import BinanceUsdm, BinanceUsdmMarket
from tickwire.venues.bitfinex import BitfinexPublic
from tickwire.venues.bitstamp import BitstampSpot
from tickwire.venues.bybit import BybitLinear, BybitSpot
from tickwire.venues.coinbase import CoinbaseAdvanced
from tickwire.venues.gemini import GeminiMarketData
from tickwire.venues.kraken import KrakenSpot
from tickwire.venues.kraken_v1 import KrakenSpotV1
from tickwire.venues.okx import OkxPublic

__all__ = ["VENUES", "instruments_for"]

VENUES: dict[str, type[VenueAdapter]] = {
    BinanceSpot.name: BinanceSpot,
    BinanceUsdm.name: BinanceUsdm,
    BinanceUsdmMarket.name: BinanceUsdmMarket,
    BitfinexPublic.name: BitfinexPublic,
    BitstampSpot.name: BitstampSpot,
    BybitSpot.name: BybitSpot,
    BybitLinear.name: BybitLinear,
    CoinbaseAdvanced.name: CoinbaseAdvanced,
    GeminiMarketData.name: GeminiMarketData,
    KrakenSpot.name: KrakenSpot,
    KrakenSpotV1.name: KrakenSpotV1,
    OkxPublic.name: OkxPublic,
}


def instruments_for(venue: str, instruments: Sequence[Instrument]) -> list[Instrument]:
    """The instruments among ``instruments`` that ``venue``'s connection carries."""
    adapter = VENUES[venue]
    kinds, perp_quotes = adapter.instrument_kinds, adapter.perp_quotes
    return [
        i for i in instruments
        if i.kind in kinds and (i.kind != "PERP" or perp_quotes is None or i.quote in perp_quotes)
    ]
