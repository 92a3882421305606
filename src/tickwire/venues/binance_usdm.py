"""Binance USD-M futures public market data (JSON WebSocket streams), sans-I/O.

The frames, requests and replies are the spot ones (``venues.binance``) with two differences:
``bookTicker`` carries ``T``, the matching time, and the venue routes streams by URL path.
``/public`` serves ``@bookTicker`` (and books), ``/market`` serves ``@aggTrade``, ``@ticker`` and
everything else. Unrouted URLs were retired on 2026-04-23, and no path serves both. So there are
two adapters, one connection each: ``BinanceUsdm`` (BBO, ``/public/stream``) and
``BinanceUsdmMarket`` (trades and 24 h ticker, ``/market/stream``). Each subscribes to the
channels its path serves. The server pings every 3 min and the transport answers. Connections
are cut after 24 h, so the session reconnects before that.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

from tickwire.instruments import Instrument
from tickwire.venues.base import Channel
from tickwire.venues.binance import BinanceSpot

__all__ = [
    "BINANCE_USDM_MARKET_URL",
    "BINANCE_USDM_PUBLIC_URL",
    "BinanceUsdm",
    "BinanceUsdmMarket",
]

BINANCE_USDM_PUBLIC_URL = "wss://fstream.binance.com/public/stream"
BINANCE_USDM_MARKET_URL = "wss://fstream.binance.com/market/stream"


class BinanceUsdm(BinanceSpot):
    """Binance USD-M perpetuals, ``/public`` connection: BBO from ``<symbol>@bookTicker``.

    Quotes carry the matching time ``T`` as ``exchange_ns``. Raises ValueError when none of
    ``channels`` is served on this connection's path.
    """

    name: ClassVar[str] = "binance_usdm"
    default_url: ClassVar[str] = BINANCE_USDM_PUBLIC_URL
    instrument_kinds: ClassVar[frozenset[str]] = frozenset({"PERP"})
    perp_quotes: ClassVar[frozenset[str] | None] = frozenset({"USDT", "USDC"})  # linear only
    stream_kinds: ClassVar[dict[str, str]] = {Channel.BBO: "bookTicker"}

    def __init__(
        self, instruments: Sequence[Instrument], channels: frozenset[str] = Channel.ALL
    ) -> None:
        super().__init__(instruments, channels)
        if not channels & self.stream_kinds.keys():
            raise ValueError(
                f"{self.name} serves only {', '.join(sorted(self.stream_kinds))}; "
                f"asked for {', '.join(sorted(channels)) or 'nothing'}"
            )


class BinanceUsdmMarket(BinanceUsdm):
    """Binance USD-M perpetuals, ``/market`` connection: trades from ``<symbol>@aggTrade`` and
    the last price from ``<symbol>@ticker`` (both timed by the venue)."""

    name: ClassVar[str] = "binance_usdm_market"
    default_url: ClassVar[str] = BINANCE_USDM_MARKET_URL
    stream_kinds: ClassVar[dict[str, str]] = {Channel.TRADES: "aggTrade", Channel.TICKER: "ticker"}
