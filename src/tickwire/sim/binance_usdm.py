"""Binance USD-M futures public streams, without I/O: ``BinanceUsdmSimVenue`` for
``tickwire.sim.server``.

The protocol is Binance spot's (``tickwire.sim.binance``: ``/ws``, ``/ws/<streams>``,
``/stream?streams=…``, SUBSCRIBE and the other requests, the combined envelope) behind routed
paths: ``/public`` serves ``@bookTicker`` and ``@depth…``, ``/market`` every other stream, and
an unrouted path (``/stream``) is served as ``/public``. A stream subscribed on a path that does
not serve it is acknowledged and gets nothing, as on the real venue; so is a symbol that is not
listed. Clients may send 10 messages a second. The server pings every 3 min and drops a client
whose pong is 10 min late.

Market events become ``<symbol>@bookTicker`` (with ``e``, ``T`` and ``E``), ``@aggTrade`` and
``@ticker`` payloads in the futures field order, prices and sizes with the decimals of the tick
and the lot (``67031.20``, ``0.0520``).

Not simulated: ``@trade`` (unverified on USD-M), depth, mark price, klines and the all-symbol
streams (accepted, never sent), and the 24 h connection limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import msgspec

from tickwire.model import SELL
from tickwire.sim.binance import (
    BinanceSimVenue,
    BinanceStreamSession,
    parse_request_path,
    ticker_figures,
)
from tickwire.sim.market import MarketQuote, MarketTicker, MarketTrade, VenueView
from tickwire.sim.venue import format_units, step_decimals

__all__ = [
    "MAX_INCOMING_MESSAGES_PER_SECOND",
    "BinanceUsdmSimVenue",
    "is_public_stream",
    "is_valid_stream_name",
]

MAX_INCOMING_MESSAGES_PER_SECOND = 10

_STREAM_NAME_RE = re.compile(
    r"[a-z0-9_]{1,40}@(?:bookTicker|aggTrade|trade|ticker|miniTicker|forceOrder"
    r"|markPrice(?:@1s)?"
    r"|kline_(?:1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M)"
    r"|depth(?:5|10|20)?(?:@100ms|@250ms|@500ms)?)"
    r"|!(?:bookTicker|ticker@arr|miniTicker@arr|forceOrder@arr|markPrice@arr(?:@1s)?)"
)
_PUBLIC_STREAM_RE = re.compile(r"(?:[a-z0-9_]+@|!)(?:bookTicker|depth.*)")
_ROUTES = ("/public", "/market")
_MS_PER_DAY = 86_400_000


def is_valid_stream_name(name: str) -> bool:
    """True for a USD-M futures stream name: ``btcusdt@bookTicker``, ``!markPrice@arr`` …"""
    return _STREAM_NAME_RE.fullmatch(name) is not None


def is_public_stream(name: str) -> bool:
    """True for a stream the ``/public`` path serves (best bid/offer and books); the others are
    served on ``/market``."""
    return _PUBLIC_STREAM_RE.fullmatch(name) is not None


def _is_market_stream(name: str) -> bool:
    return not is_public_stream(name)


class _BookTicker(msgspec.Struct, gc=False, tag_field="e", tag="bookTicker"):
    u: int
    s: str
    b: str
    B: str
    a: str
    A: str
    T: int
    E: int


class _AggTrade(msgspec.Struct, gc=False, tag_field="e", tag="aggTrade"):
    E: int
    a: int
    s: str
    p: str
    q: str
    f: int
    l: int  # noqa: E741 - Binance's field name
    T: int
    m: bool


class _Ticker(msgspec.Struct, gc=False, tag_field="e", tag="24hrTicker"):
    E: int
    s: str
    p: str
    P: str
    w: str
    c: str
    Q: str
    o: str
    h: str
    l: str  # noqa: E741 - Binance's field name
    v: str
    q: str
    O: int  # noqa: E741 - Binance's field name
    C: int
    F: int
    L: int
    n: int


_encode = msgspec.json.Encoder().encode


class BinanceUsdmSimVenue(BinanceSimVenue):
    """Binance USD-M perpetuals: ``/public/…`` (the ``binance_usdm`` adapter) and ``/market/…``
    (``binance_usdm_market``), each path with the Binance spot requests and envelopes."""

    name = "binance_usdm"
    default_path = "/public/stream"
    extra_endpoints = {"binance_usdm_market": "/market/stream"}
    instrument_kinds = frozenset(("PERP",))
    ping_interval = 180.0
    pong_timeout = 600.0

    def __init__(self, view: VenueView | None) -> None:
        super().__init__(view)
        self._decimals = {
            spec.symbol: (step_decimals(spec.tick), step_decimals(spec.lot))
            for spec in (view.specs if view is not None else ())
        }

    def accept(self, path: str) -> BinanceStreamSession:
        """A session for ``/public`` or ``/market`` followed by a Binance stream path, or an
        unrouted one (served as ``/public``); RequestPathError 404 or 400 otherwise."""
        route = next((route for route in _ROUTES if path.startswith(route + "/")), "")
        delivers: Callable[[str], bool] = (
            _is_market_stream if route == "/market" else is_public_stream
        )
        request = parse_request_path(path[len(route) :], is_valid_stream_name)
        return BinanceStreamSession(
            request,
            max_incoming_per_second=MAX_INCOMING_MESSAGES_PER_SECOND,
            is_valid_stream=is_valid_stream_name,
            delivers=delivers,
        )

    def _stream_kinds(self) -> dict[type, tuple[tuple[str, Callable[..., tuple[bytes]]], ...]]:
        return {
            MarketQuote: (("bookTicker", self._book_ticker),),
            MarketTrade: (("aggTrade", self._agg_trade),),
            MarketTicker: (("ticker", self._ticker),),
        }

    def _book_ticker(self, quote: MarketQuote) -> tuple[bytes]:
        prices, sizes = self._decimals[quote.symbol]
        payload = _BookTicker(
            u=quote.update_id,
            s=self._symbols[quote.symbol],
            b=format_units(quote.bid, prices),
            B=format_units(quote.bid_size, sizes),
            a=format_units(quote.ask, prices),
            A=format_units(quote.ask_size, sizes),
            T=quote.time_ms,
            E=quote.time_ms,
        )
        return (_encode(payload),)

    def _agg_trade(self, trade: MarketTrade) -> tuple[bytes]:
        prices, sizes = self._decimals[trade.symbol]
        payload = _AggTrade(
            E=trade.time_ms,
            a=trade.aggregate_id,
            s=self._symbols[trade.symbol],
            p=format_units(trade.price, prices),
            q=format_units(trade.size, sizes),
            f=trade.first_trade_id,
            l=trade.first_trade_id + len(trade.fill_sizes) - 1,
            T=trade.time_ms,
            m=trade.taker_side == SELL,
        )
        return (_encode(payload),)

    def _ticker(self, ticker: MarketTicker) -> tuple[bytes]:
        prices, sizes = self._decimals[ticker.symbol]
        change, percent, weighted_average = ticker_figures(ticker)
        now_ms = ticker.time_ms
        payload = _Ticker(
            E=now_ms,
            s=self._symbols[ticker.symbol],
            p=format_units(change, prices),
            P=percent,
            w=format_units(weighted_average, prices),
            c=format_units(ticker.last, prices),
            Q=format_units(ticker.last_size, sizes),
            o=format_units(ticker.open, prices),
            h=format_units(ticker.high, prices),
            l=format_units(ticker.low, prices),
            v=format_units(ticker.volume, sizes),
            q=format_units(ticker.quote_volume, prices),
            O=now_ms - _MS_PER_DAY,
            C=now_ms,
            F=ticker.first_trade_id,
            L=ticker.last_trade_id,
            n=ticker.trade_count,
        )
        return (_encode(payload),)
