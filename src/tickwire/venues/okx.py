"""OKX v5 public market data (spot and perpetual swaps), sans-I/O.

Payloads arrive as ``{"arg":{"channel":..,"instId":..},"data":[..]}``; prices, sizes and ``ts``
(ms) are strings. Best bid/offer comes from ``bbo-tbt`` (tick by tick, ``seqId`` per instrument);
``tickers`` gives the last price and, when ``bbo-tbt`` is not subscribed, the best bid/offer as
well; ``trades`` gives trades with the taker side. Instruments: spot ``BTC-USDT`` is canonical
``BTC-USDT``, the perpetual swap ``BTC-USDT-SWAP`` is ``BTC-USDT-PERP`` (``BTC-USD-SWAP`` the
inverse one, ``BTC-USD-PERP``). Dated futures and options have no canonical name yet.

SIZES OF SWAPS ARE CONTRACTS, NOT COINS. OKX counts SWAP/FUTURES sizes (book, bbo, tickers and
trades) in contracts of ``ctVal`` (e.g. 0.01 BTC for BTC-USDT-SWAP, 10 USD for inverse swaps).
Without instrument metadata this adapter passes those sizes through as contract counts; spot
sizes are in the base coin. Convert with ``ctVal`` from ``/api/v5/public/instruments`` before
comparing sizes across venues.

Keepalive: the client sends the text ``ping`` every 20 s and the server answers the text
``pong``; the server closes a connection that received nothing for 30 s. A ``notice`` event
announces a service upgrade disconnect, and the adapter then asks for a reconnect.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Sequence
from urllib.parse import urlsplit

import msgspec

from tickwire.fixedpoint import DecimalTextError, PriceCache
from tickwire.instruments import Instrument
from tickwire.model import BUY, SELL, Event, Quote, Ticker, Trade
from tickwire.venues.base import (
    NO_EVENTS,
    Channel,
    DecodeStats,
    SymbolState,
    price_reason,
    quote_rejection,
    validation_reason,
)

__all__ = [
    "OKX_PUBLIC_URL",
    "OkxBbo",
    "OkxPublic",
    "OkxTicker",
    "OkxTrade",
    "venue_symbol",
]

OKX_PUBLIC_URL = "wss://ws.okx.com:8443/ws/v5/public"
_PUBLIC_PATH = "/ws/v5/public"
PING = b"ping"
PONG = b"pong"
MS = 1_000_000
_MAX_INT_DIGITS = 19  # int64 ids and ms times; longer texts are refused, never converted

_CHANNEL_STREAM = {Channel.BBO: "bbo-tbt", Channel.TRADES: "trades", Channel.TICKER: "tickers"}
_KIND_SUFFIX = {"": "", "PERP": "-SWAP"}


def venue_symbol(instrument: Instrument) -> str:
    """OKX's instId: ``BTC-USDT`` (spot), ``BTC-USDT-SWAP`` (canonical ``BTC-USDT-PERP``)."""
    suffix = _KIND_SUFFIX.get(instrument.kind)
    if suffix is None:
        raise ValueError(f"okx: no instrument for {instrument.symbol} (kind {instrument.kind!r})")
    return f"{instrument.base}-{instrument.quote}{suffix}"


class OkxArg(msgspec.Struct, gc=False):
    channel: str
    instId: str = ""


class OkxLevel(msgspec.Struct, array_like=True, gc=False):
    price: str
    size: str


class OkxBbo(msgspec.Struct, gc=False):
    asks: list[OkxLevel]
    bids: list[OkxLevel]
    ts: str
    seqId: int


class OkxTicker(msgspec.Struct, gc=False):
    last: str
    bidPx: str
    bidSz: str
    askPx: str
    askSz: str
    ts: str


class OkxTrade(msgspec.Struct, gc=False):
    tradeId: str
    px: str
    sz: str
    side: Literal["buy", "sell"]
    ts: str


class OkxBboMessage(msgspec.Struct, gc=False):
    arg: OkxArg
    data: list[OkxBbo]


class OkxTickerMessage(msgspec.Struct, gc=False):
    arg: OkxArg
    data: list[OkxTicker]


class OkxTradeMessage(msgspec.Struct, gc=False):
    arg: OkxArg
    data: list[OkxTrade]


class OkxFrame(msgspec.Struct, gc=False):
    """Any frame: a channel push, an event (ack, error, notice)."""

    arg: OkxArg | None = None
    data: msgspec.Raw = msgspec.Raw()
    event: str = ""
    code: str | int = ""
    msg: str = ""


_STREAMS = {
    # channel: (decoder of the whole frame, decoder of its "data" alone)
    b"bbo-tbt": (OkxBboMessage, list[OkxBbo]),
    b"tickers": (OkxTickerMessage, list[OkxTicker]),
    b"trades": (OkxTradeMessage, list[OkxTrade]),
}
_FRAME_DECODERS = {k: msgspec.json.Decoder(v[0]) for k, v in _STREAMS.items()}
_DATA_DECODERS = {k: msgspec.json.Decoder(v[1]) for k, v in _STREAMS.items()}
_frame_decoder = msgspec.json.Decoder(OkxFrame)
_CHANNEL_PREFIX = b'{"arg":{"channel":"'
_CHANNEL_START = len(_CHANNEL_PREFIX)
_CONTROL_EVENTS = frozenset(("subscribe", "unsubscribe", "channel-conn-count"))
_encoder = msgspec.json.Encoder()


class OkxFieldError(ValueError):
    """A text field that must hold a non-negative integer (``ts``, ``tradeId``) but does not."""


def integer_text(text: str, field: str) -> int:
    """The integer in ``text`` (ASCII digits only); raises OkxFieldError naming ``field``."""
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_INT_DIGITS:
        raise OkxFieldError(f"{field} is not an integer: {text[:32]!r}")
    return int(text)


class OkxPublic:
    """OKX v5 public adapter (spot and perpetual swaps): subscribe, keepalive, decoder.

    ``decode`` returns the events a frame carries (never raises); dropped frames are counted in
    ``stats.errors`` by reason. Swap sizes are contract counts (see the module docstring).
    """

    name: ClassVar[str] = "okx"
    default_url: ClassVar[str] = OKX_PUBLIC_URL
    instrument_kinds: ClassVar[frozenset[str]] = frozenset(_KIND_SUFFIX)
    keepalive_interval: ClassVar[float | None] = 20.0
    max_connection_age: ClassVar[float | None] = None

    def __init__(
        self, instruments: Sequence[Instrument], channels: frozenset[str] = frozenset({Channel.BBO})
    ) -> None:
        unknown = channels - Channel.ALL
        if unknown:
            raise ValueError(f"okx: unknown channel(s) {', '.join(sorted(unknown))}")
        self.stats = DecodeStats()
        caches: dict[int, PriceCache] = {}
        self._symbols = {venue_symbol(i): SymbolState(i, caches) for i in instruments}
        self.args = [
            {"channel": _CHANNEL_STREAM[channel], "instId": inst_id}
            for channel in sorted(channels)
            for inst_id in self._symbols
        ]
        # bbo-tbt is the quote source when subscribed; tickers' slower bid/ask must not interleave.
        self._quotes_from_tickers = Channel.BBO not in channels
        self._reconnect_requested = False
        handlers = {b"bbo-tbt": self._bbo, b"tickers": self._tickers, b"trades": self._trades}
        self._fast_path = {k: (_FRAME_DECODERS[k].decode, h) for k, h in handlers.items()}
        self._slow_path = {k: (_DATA_DECODERS[k].decode, h) for k, h in handlers.items()}

    def connect_url(self, endpoint: str | None) -> str:
        """``endpoint`` as given when it has a path, else with ``/ws/v5/public``."""
        url = endpoint or self.default_url
        if urlsplit(url).path in ("", "/"):
            url = url.rstrip("/") + _PUBLIC_PATH
        return url

    def on_connected(self) -> list[bytes]:
        """Forget per-connection state; return the subscribe request to send."""
        self._reconnect_requested = False
        for state in self._symbols.values():
            state.last_update_id = -1
        if not self.args:
            return []
        return [_encoder.encode({"op": "subscribe", "args": self.args})]

    def keepalive_message(self) -> bytes | None:
        """The text ``ping`` (not JSON); the server answers ``pong``."""
        return PING

    def wants_reconnect(self) -> bool:
        """True once the venue announced a service upgrade that will cut this connection."""
        return self._reconnect_requested

    def decode(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        """Events carried by one text frame (none for control frames or errors)."""
        if payload.startswith(_CHANNEL_PREFIX):
            # Compact layout (what OKX sends): the channel name picks the typed decoder.
            end = payload.find(b'"', _CHANNEL_START)
            channel = payload[_CHANNEL_START:end]
            route = self._fast_path.get(channel)
            if route is not None:
                decode_frame, handle = route
                try:
                    message = decode_frame(payload)
                    return handle(message.arg.instId, message.data, recv_ns)
                except (msgspec.DecodeError, DecimalTextError, OkxFieldError) as exc:
                    self._count_failure(exc, channel)
                    return NO_EVENTS
        if payload == PONG:
            self.stats.control += 1
            return NO_EVENTS
        return self._decode_any_layout(payload, recv_ns)

    def _decode_any_layout(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        try:
            frame = _frame_decoder.decode(payload)
        except msgspec.ValidationError as exc:
            self.stats.error("unknown_message", str(exc))
            return NO_EVENTS
        except msgspec.DecodeError as exc:
            self.stats.error("malformed_json", str(exc))
            return NO_EVENTS
        if frame.event:
            return self._event(frame)
        if frame.arg is None or not frame.data:
            self.stats.error("unknown_message", "no arg with data, and no event")
            return NO_EVENTS
        channel = frame.arg.channel.encode()
        route = self._slow_path.get(channel)
        if route is None:
            self.stats.error("unknown_message", f"channel {frame.arg.channel!r}")
            return NO_EVENTS
        decode_data, handle = route
        try:
            return handle(frame.arg.instId, decode_data(frame.data), recv_ns)
        except (msgspec.DecodeError, DecimalTextError, OkxFieldError) as exc:
            self._count_failure(exc, channel)
            return NO_EVENTS

    def _count_failure(self, exc: Exception, channel: bytes) -> None:
        if isinstance(exc, DecimalTextError):
            self.stats.error(price_reason(exc), f"{channel.decode()}: {exc}")
        elif isinstance(exc, msgspec.ValidationError):
            self.stats.error(validation_reason(str(exc)), f"{channel.decode()}: {exc}")
        elif isinstance(exc, OkxFieldError):
            self.stats.error("wrong_type", f"{channel.decode()}: {exc}")
        else:
            self.stats.error("malformed_json", str(exc))

    def _event(self, frame: OkxFrame) -> Sequence[Event]:
        stats = self.stats
        if frame.event == "error":
            message = f"okx error {frame.code}: {frame.msg or 'no message'}"
            stats.error("venue_error", message)
            stats.venue_errors.append(message)
        elif frame.event == "notice":
            stats.control += 1
            self._reconnect_requested = True
        elif frame.event in _CONTROL_EVENTS:
            stats.control += 1
        else:
            stats.error("unknown_message", f"event {frame.event!r}")
        return NO_EVENTS

    def _symbol(self, inst_id: str) -> SymbolState | None:
        state = self._symbols.get(inst_id)
        if state is None:
            self.stats.error("unknown_symbol", inst_id)
        return state

    def _bbo(self, inst_id: str, data: list[OkxBbo], recv_ns: int) -> Sequence[Event]:
        state = self._symbol(inst_id)
        if state is None:
            return NO_EVENTS
        events: list[Event] = []
        for book in data:
            if not (book.bids and book.asks):
                self.stats.error("missing_field", f"{inst_id} bbo-tbt without a bid or an ask")
                continue
            best_bid, best_ask = book.bids[0], book.asks[0]
            quote = self._quote(state, best_bid.price, best_bid.size, best_ask.price, best_ask.size,
                                recv_ns, integer_text(book.ts, "ts") * MS, book.seqId)
            if quote is None:
                continue
            if book.seqId <= state.last_update_id:
                self.stats.error("stale_update", f"{inst_id} seqId={book.seqId} after {state.last_update_id}")
                continue
            state.last_update_id = book.seqId
            events.append(quote)
        return tuple(events)

    def _quote(
        self,
        state: SymbolState,
        bid_text: str,
        bid_size_text: str,
        ask_text: str,
        ask_size_text: str,
        recv_ns: int,
        exchange_ns: int,
        update_id: int,
    ) -> Quote | None:
        price_memo, size_memo = state.price_memo, state.size_memo
        bid = price_memo.get(bid_text) or state.prices.parse(bid_text)
        ask = price_memo.get(ask_text) or state.prices.parse(ask_text)
        bid_size = size_memo.get(bid_size_text) or state.sizes.parse(bid_size_text)
        ask_size = size_memo.get(ask_size_text) or state.sizes.parse(ask_size_text)
        if 0 < bid < ask and bid_size > 0 and ask_size > 0:
            return Quote("okx", state.symbol, bid, bid_size, ask, ask_size, recv_ns, exchange_ns, update_id)
        reason = quote_rejection(bid, bid_size, ask, ask_size)
        detail = f"{state.symbol} bid={bid_text}x{bid_size_text} ask={ask_text}x{ask_size_text}"
        self.stats.error(reason, detail)
        return None

    def _tickers(self, inst_id: str, data: list[OkxTicker], recv_ns: int) -> Sequence[Event]:
        state = self._symbol(inst_id)
        if state is None:
            return NO_EVENTS
        events: list[Event] = []
        for ticker in data:
            exchange_ns = integer_text(ticker.ts, "ts") * MS
            if self._quotes_from_tickers:
                quote = self._quote(state, ticker.bidPx, ticker.bidSz, ticker.askPx, ticker.askSz,
                                    recv_ns, exchange_ns, 0)
                if quote is not None:
                    events.append(quote)
            last = state.price_memo.get(ticker.last) or state.prices.parse(ticker.last)
            if last > 0:
                events.append(Ticker("okx", state.symbol, last, recv_ns, exchange_ns))
            else:
                self.stats.error("zero_price", f"{inst_id} last={ticker.last}")
        return tuple(events)

    def _trades(self, inst_id: str, data: list[OkxTrade], recv_ns: int) -> Sequence[Event]:
        state = self._symbol(inst_id)
        if state is None:
            return NO_EVENTS
        events: list[Event] = []
        price_memo, size_memo = state.price_memo, state.size_memo
        for trade in data:
            price = price_memo.get(trade.px) or state.prices.parse(trade.px)
            size = size_memo.get(trade.sz) or state.sizes.parse(trade.sz)
            exchange_ns = integer_text(trade.ts, "ts") * MS
            trade_id = integer_text(trade.tradeId, "tradeId")
            if price <= 0 or size <= 0:
                reason = "zero_price" if price <= 0 else "zero_size"
                self.stats.error(reason, f"{inst_id} {trade.sz}@{trade.px}")
                continue
            side = BUY if trade.side == "buy" else SELL
            events.append(
                Trade("okx", state.symbol, price, size, side, trade_id, recv_ns, exchange_ns)
            )
        return tuple(events)
