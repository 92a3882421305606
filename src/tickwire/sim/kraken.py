"""Kraken spot WebSocket v2 server, without I/O: ``KrakenSimVenue`` for ``tickwire.sim.server``.

Clients connect to ``/v2`` (``wss://ws.kraken.com/v2``) and send ``subscribe`` / ``unsubscribe``
requests for the ``ticker`` channel (``event_trigger`` ``bbo``: a push per change of the best
level; ``trades``, the default: the 24 h ticker) and the ``trade`` channel, and ``ping``. Every
symbol gets its own ack or error; a ticker subscription with ``snapshot`` (the default) gets a
``snapshot`` message before the ``update`` messages. Prices and quantities are JSON numbers
written as exact fixed-point text, never a float repr. The server sends ``{"channel":"heartbeat"}``
about once a second to a subscribed client it sent nothing else.

Not simulated: the ``status`` message sent on connect, the recent trades of a ``trade`` snapshot
(none are kept), and the other channels (``book``, ``ohlc``, ``instrument``, …).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from tickwire.instruments import parse_symbol
from tickwire.model import BUY
from tickwire.sim.market import (
    PRICE_DECIMALS,
    MarketEvent,
    MarketQuote,
    MarketTicker,
    MarketTrade,
    VenueView,
)
from tickwire.sim.venue import (
    EventTopics,
    SessionReply,
    SimSession,
    SimVenue,
    format_rfc3339,
    format_units_short,
    unknown_path,
)
from tickwire.venues.kraken import kraken_symbols

__all__ = [
    "HEARTBEAT",
    "KrakenSession",
    "KrakenSimVenue",
    "TickerStatistics",
    "is_pair_name",
    "kraken_number",
    "order_type",
    "quote_ticker",
    "ticker_statistics",
]

HEARTBEAT = b'{"channel":"heartbeat"}'

_ONE = 10**PRICE_DECIMALS
_TRIGGERS = ("bbo", "trades")
_DEFAULT_TRIGGER = "trades"
_PAIR_RE = re.compile(r"[A-Z0-9]{1,16}/[A-Z0-9]{1,16}")
_NS_PER_MS = 1_000_000


def is_pair_name(name: str) -> bool:
    """True for a Kraken pair name such as ``BTC/USD`` or ``XBT/USD`` (letters and digits)."""
    return _PAIR_RE.fullmatch(name) is not None


def kraken_number(value: int) -> msgspec.Raw:
    """``value`` units as a JSON number in Kraken's style (``67011.0``, ``0.00027625``)."""
    return msgspec.Raw(format_units_short(value, min_decimals=1).encode())


def order_type(trade: MarketTrade) -> str:
    """The taker's order type of ``trade``: ``limit`` or ``market``, alternating by order."""
    return "market" if trade.aggregate_id % 2 else "limit"


class TickerStatistics(msgspec.Struct, frozen=True, gc=False):
    """A ticker's derived figures in units: volume-weighted average price, change since the
    open and that change in percent (two decimals, cut toward zero)."""

    vwap: int
    change: int
    change_pct: int


def quote_ticker(view: VenueView, quote: MarketQuote) -> MarketTicker:
    """The view's ticker of ``quote``'s symbol with ``quote``'s top of book and time: Kraken's
    ticker carries both, and pushes it on every change of the best level."""
    return msgspec.structs.replace(
        view.ticker(quote.symbol, quote.time_ms),
        bid=quote.bid,
        bid_size=quote.bid_size,
        ask=quote.ask,
        ask_size=quote.ask_size,
    )


def ticker_statistics(ticker: MarketTicker) -> TickerStatistics:
    """The derived figures of ``ticker`` (the vwap is the last price before any trade)."""
    vwap = ticker.quote_volume * _ONE // ticker.volume if ticker.volume else ticker.last
    change = ticker.last - ticker.open
    hundredths = abs(change) * 10_000 // ticker.open
    change_pct = hundredths * _ONE // 100
    return TickerStatistics(vwap, change, -change_pct if change < 0 else change_pct)


# -- wire shapes ----------------------------------------------------------------------------------


class _SubscriptionResult(msgspec.Struct, omit_defaults=True):
    channel: str
    event_trigger: str | None = None
    snapshot: bool | None = None
    symbol: str = ""


class _Ack(msgspec.Struct, omit_defaults=True):
    method: str
    result: _SubscriptionResult
    success: bool
    time_in: str
    time_out: str
    req_id: int | None = None


class _Error(msgspec.Struct, omit_defaults=True, kw_only=True):
    error: str
    method: str | None = None
    req_id: int | None = None
    success: bool
    symbol: str | None = None
    time_in: str
    time_out: str


class _Pong(msgspec.Struct, omit_defaults=True, kw_only=True):
    method: str
    req_id: int | None = None
    time_in: str
    time_out: str


class _TickerEntry(msgspec.Struct, gc=False):
    symbol: str
    bid: msgspec.Raw
    bid_qty: msgspec.Raw
    ask: msgspec.Raw
    ask_qty: msgspec.Raw
    last: msgspec.Raw
    volume: msgspec.Raw
    vwap: msgspec.Raw
    low: msgspec.Raw
    high: msgspec.Raw
    change: msgspec.Raw
    change_pct: msgspec.Raw
    timestamp: str


class _TickerMessage(msgspec.Struct, gc=False, tag_field="channel", tag="ticker"):
    type: str
    data: list[_TickerEntry]


class _TradeEntry(msgspec.Struct, gc=False):
    symbol: str
    side: str
    price: msgspec.Raw
    qty: msgspec.Raw
    ord_type: str
    trade_id: int
    timestamp: str


class _TradeMessage(msgspec.Struct, gc=False, tag_field="channel", tag="trade"):
    type: str
    data: list[_TradeEntry]


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class _RecordedEntry(msgspec.Struct):
    symbol: str = ""


class _RecordedLine(msgspec.Struct):
    channel: str = ""
    data: list[_RecordedEntry] = []


_decode_recorded_line = msgspec.json.Decoder(_RecordedLine).decode


def _error(
    message: str, method: str | None, req_id: int | None, symbol: str | None, time_in: str
) -> bytes:
    return _encode(
        _Error(
            error=message,
            method=method,
            req_id=req_id,
            success=False,
            symbol=symbol,
            time_in=time_in,
            time_out=time_in,
        )
    )


def _topic(channel: str, symbol: str, trigger: str | None = None) -> str:
    return f"{channel}.{trigger}:{symbol}" if trigger else f"{channel}:{symbol}"


# -- the session ----------------------------------------------------------------------------------


class _RequestError(Exception):
    def __init__(self, message: str, symbol: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.symbol = symbol


class KrakenSession(SimSession):
    """One v2 connection: its subscriptions (topics ``ticker.bbo:BTC/USD``,
    ``ticker.trades:BTC/USD``, ``trade:BTC/USD``) and the replies to its requests."""

    def __init__(self, venue: KrakenSimVenue) -> None:
        super().__init__()
        self.venue = venue

    def on_text(self, message: bytes, now_ns: int) -> SessionReply:
        """Answer one request: acks or errors (one per symbol), then snapshots; or a pong."""
        time_in = format_rfc3339(now_ns // _NS_PER_MS)
        method: str | None = None
        req_id: int | None = None
        try:
            try:
                request = _decode(message)
            except msgspec.DecodeError:
                raise _RequestError("Malformed request") from None
            if not isinstance(request, dict):
                raise _RequestError("Malformed request")
            raw_method, raw_req_id = request.get("method"), request.get("req_id")
            method = raw_method if isinstance(raw_method, str) else None
            req_id = raw_req_id if type(raw_req_id) is int else None
            if raw_req_id is not None and req_id is None:
                raise _RequestError("req_id must be an integer")
            if method == "ping":
                pong = _Pong(method="pong", req_id=req_id, time_in=time_in, time_out=time_in)
                return SessionReply((_encode(pong),))
            if method not in ("subscribe", "unsubscribe"):
                raise _RequestError(f"Method not supported: {raw_method}")
            return self._subscription(method, request.get("params"), req_id, time_in, now_ns)
        except _RequestError as exc:
            return SessionReply((_error(exc.message, method, req_id, exc.symbol, time_in),))

    def heartbeat(self, now_ms: int, quiet: bool) -> bytes | None:
        """``{"channel":"heartbeat"}`` when the client is subscribed and got nothing else."""
        return HEARTBEAT if quiet and self.topics else None

    def _subscription(
        self, method: str, params: Any, req_id: int | None, time_in: str, now_ns: int
    ) -> SessionReply:
        if not isinstance(params, dict):
            raise _RequestError("Missing field: params")
        channel = params.get("channel")
        if channel not in ("ticker", "trade"):
            raise _RequestError(f"Channel not supported: {channel}")
        symbols = params.get("symbol")
        if not (
            isinstance(symbols, list)
            and symbols
            and all(isinstance(symbol, str) for symbol in symbols)
        ):
            raise _RequestError("Missing or invalid field: symbol")
        trigger = None
        if channel == "ticker":
            trigger = params.get("event_trigger", _DEFAULT_TRIGGER)
            if trigger not in _TRIGGERS:
                raise _RequestError(f"Invalid event_trigger: {trigger}")
        snapshot = params.get("snapshot", True)
        if type(snapshot) is not bool:
            raise _RequestError("snapshot must be a boolean")
        subscribing = method == "subscribe"
        replies: list[bytes] = []
        snapshots: list[bytes] = []
        acked = False
        for symbol in dict.fromkeys(symbols):
            problem = self._change(subscribing, _topic(channel, symbol, trigger), symbol)
            if problem:
                replies.append(_error(problem, method, req_id, symbol, time_in))
                continue
            result = _SubscriptionResult(
                channel, trigger, snapshot if subscribing else None, symbol
            )
            replies.append(_encode(_Ack(method, result, True, time_in, time_in, req_id)))
            acked = True
            if subscribing and snapshot and channel == "ticker":
                snapshots.extend(self.venue.ticker_snapshot(symbol, now_ns // _NS_PER_MS))
        return SessionReply((*replies, *snapshots), subscribing and acked)

    def _change(self, subscribing: bool, topic: str, symbol: str) -> str:
        """Add or remove ``topic``; the error text when that is refused, else ""."""
        if not self.venue.lists(symbol):
            return f"Currency pair not supported {symbol}"
        if subscribing:
            if topic in self.topics:
                return "Already subscribed"
            self.topics[topic] = None
        else:
            if topic not in self.topics:
                return "Subscription Not Found"
            del self.topics[topic]
        return ""


# -- the venue ------------------------------------------------------------------------------------


class KrakenSimVenue(SimVenue):
    """Kraken spot WebSocket v2 at ``/v2``: ``ticker`` (bbo and trades triggers) and ``trade``.

    Quotes become ``ticker`` updates for ``event_trigger`` ``bbo`` subscribers, the market's
    tickers ``ticker`` updates for ``trades`` subscribers, and trades one ``trade`` update per
    taker order with one entry per fill (``trade_id`` +1 per fill). Symbols are v2 names
    (``BTC/USD``, ``DOGE/USD``); while replaying, any ``BASE/QUOTE`` is accepted.
    """

    name = "kraken"
    default_path = "/v2"
    heartbeat_interval = 1.0

    def __init__(self, view: VenueView | None) -> None:
        super().__init__(view)
        self._names: dict[str, str] = {}
        self._topics = EventTopics()
        for spec in view.specs if view is not None else ():
            name = kraken_symbols(parse_symbol(spec.symbol))[0]
            self._names[spec.symbol] = name
            self._topics.set(MarketQuote, spec.symbol, (_topic("ticker", name, "bbo"),))
            self._topics.set(MarketTicker, spec.symbol, (_topic("ticker", name, "trades"),))
            self._topics.set(MarketTrade, spec.symbol, (_topic("trade", name),))
        self._listed = {name: symbol for symbol, name in self._names.items()}

    def accept(self, path: str) -> KrakenSession:
        """A session for ``/v2``; RequestPathError 404 for any other path."""
        if path.rstrip("/") != "/v2":
            raise unknown_path(path)
        return KrakenSession(self)

    def lists(self, symbol: str) -> bool:
        """Whether the v2 ``symbol`` can be subscribed (any ``BASE/QUOTE`` while replaying)."""
        if self.view is None:
            return is_pair_name(symbol)
        return symbol in self._listed

    def topics(self, event: MarketEvent) -> tuple[str, ...]:
        """The one topic ``event`` feeds, e.g. ``("ticker.bbo:BTC/USD",)`` for a quote."""
        return self._topics.of(event)

    def render(self, event: MarketEvent, topic: str) -> Sequence[bytes]:
        """The ``ticker`` or ``trade`` update for ``event``."""
        if isinstance(event, MarketTrade):
            return (self._trade(event),)
        if isinstance(event, MarketQuote):
            assert self.view is not None  # events come from the view
            event = quote_ticker(self.view, event)
        return (self._ticker("update", event),)

    def ticker_snapshot(self, symbol: str, now_ms: int) -> tuple[bytes, ...]:
        """The ``ticker`` snapshot of listed v2 ``symbol`` at ``now_ms``; none while replaying."""
        if self.view is None:
            return ()
        return (self._ticker("snapshot", self.view.ticker(self._listed[symbol], now_ms)),)

    def recorded_frame(self, line: bytes) -> tuple[str, bytes]:
        """The topic of a recorded v2 frame: ``ticker`` frames go to ``bbo`` subscribers,
        ``trade`` frames to trade subscribers, anything else (heartbeats, acks) to no one."""
        frame = _decode_recorded_line(line)
        if frame.channel in ("ticker", "trade") and frame.data:
            symbol = frame.data[0].symbol
            return _topic(frame.channel, symbol, "bbo" if frame.channel == "ticker" else None), line
        return "", line

    def _ticker(self, kind: str, ticker: MarketTicker) -> bytes:
        statistics = ticker_statistics(ticker)
        entry = _TickerEntry(
            symbol=self._names[ticker.symbol],
            bid=kraken_number(ticker.bid),
            bid_qty=kraken_number(ticker.bid_size),
            ask=kraken_number(ticker.ask),
            ask_qty=kraken_number(ticker.ask_size),
            last=kraken_number(ticker.last),
            volume=kraken_number(ticker.volume),
            vwap=kraken_number(statistics.vwap),
            low=kraken_number(ticker.low),
            high=kraken_number(ticker.high),
            change=kraken_number(statistics.change),
            change_pct=kraken_number(statistics.change_pct),
            timestamp=format_rfc3339(ticker.time_ms),
        )
        return _encode(_TickerMessage(kind, [entry]))

    def _trade(self, trade: MarketTrade) -> bytes:
        symbol = self._names[trade.symbol]
        side = "buy" if trade.taker_side == BUY else "sell"
        price = kraken_number(trade.price)
        ord_type = order_type(trade)
        timestamp = format_rfc3339(trade.time_ms)
        entries = [
            _TradeEntry(
                symbol,
                side,
                price,
                kraken_number(size),
                ord_type,
                trade.first_trade_id + fill,
                timestamp,
            )
            for fill, size in enumerate(trade.fill_sizes)
        ]
        return _encode(_TradeMessage("update", entries))
