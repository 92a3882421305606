"""Binance spot public market data (JSON WebSocket streams), sans-I/O.

Combined-stream connection (``/stream``) with live SUBSCRIBE/UNSUBSCRIBE by id; payloads arrive
as ``{"stream": "<symbol>@<kind>", "data": {...}}``. The server pings every 20 s and the transport
answers with a pong; connections are cut after 24 h, so the session reconnects before that.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Literal, Sequence

import msgspec

from tickwire.instruments import Instrument
from tickwire.model import BUY, SELL, Event, Quote, Ticker, Trade
from tickwire.venues.base import (
    DECODE_ERRORS,
    NO_EVENTS,
    AdapterBase,
    Channel,
    SymbolState,
    narrowed,
    quote_rejection,
    symbol_states,
    tagged_union,
)

__all__ = [
    "BINANCE_SPOT_URL",
    "BinanceAggTrade",
    "BinanceBookTicker",
    "BinanceSpot",
    "BinanceTicker",
    "BinanceTrade",
]

BINANCE_SPOT_URL = "wss://stream.binance.com:9443/stream"
MAX_STREAMS_PER_SUBSCRIBE = 200
MS = 1_000_000

_STREAM_KIND = {Channel.BBO: "bookTicker", Channel.TRADES: "aggTrade", Channel.TICKER: "ticker"}


class BinanceErrorBody(msgspec.Struct, gc=False):
    code: int = 0
    msg: str = ""


class BinanceFrame(msgspec.Struct, gc=False):
    """Any frame: a stream payload, a reply to a request, or a bare event."""

    stream: str = ""
    data: msgspec.Raw = msgspec.Raw()
    id: int | str | None = None
    error: BinanceErrorBody | None = None
    e: str = ""


class BinanceBookTicker(msgspec.Struct, gc=False):
    u: int
    s: str
    b: str
    B: str
    a: str
    A: str
    T: int = 0  # matching time (ms): futures only, spot bookTicker carries no time


class BinanceTrade(msgspec.Struct, gc=False):
    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool


class BinanceAggTrade(msgspec.Struct, gc=False):
    s: str
    a: int
    p: str
    q: str
    T: int
    m: bool


class BinanceTicker(msgspec.Struct, gc=False):
    E: int
    s: str
    c: str


class BinanceBookTickerMessage(msgspec.Struct, gc=False):
    data: BinanceBookTicker


class BinanceTradeMessage(msgspec.Struct, gc=False):
    data: BinanceTrade


class BinanceAggTradeMessage(msgspec.Struct, gc=False):
    data: BinanceAggTrade


class BinanceTickerMessage(msgspec.Struct, gc=False):
    data: BinanceTicker


_frame_decoder = msgspec.json.Decoder(BinanceFrame)
_STREAM_KINDS = {
    # stream kind: (struct of the whole frame, struct of its "data" alone)
    b"bookTicker": (BinanceBookTickerMessage, BinanceBookTicker),
    b"trade": (BinanceTradeMessage, BinanceTrade),
    b"aggTrade": (BinanceAggTradeMessage, BinanceAggTrade),
    b"ticker": (BinanceTickerMessage, BinanceTicker),
}
_FRAME_DECODERS = {k: msgspec.json.Decoder(v[0]) for k, v in _STREAM_KINDS.items()}
_DATA_DECODERS = {k: msgspec.json.Decoder(v[1]) for k, v in _STREAM_KINDS.items()}
_STREAM_PREFIX = b'{"stream":"'
_STREAM_START = len(_STREAM_PREFIX)
_encoder = msgspec.json.Encoder()


def venue_symbol(instrument: Instrument) -> str:
    """Binance's name of a spot instrument: BASE and QUOTE run together (``BTCUSDT``)."""
    return instrument.base + instrument.quote


class BinanceSpot(AdapterBase):
    """Binance spot adapter: subscribe messages, keepalive rules and the frame decoder.

    ``decode`` returns the events a frame carries (never raises); dropped frames are counted in
    ``stats.errors`` by reason. Replies to requests and venue errors are control frames. No
    application-level ping (the server pings, the transport pongs); ``wants_reconnect`` once the
    venue announced a shutdown of this connection.
    """

    name: ClassVar[str] = "binance"
    default_url: ClassVar[str] = BINANCE_SPOT_URL
    max_connection_age: ClassVar[float | None] = 23.5 * 3600.0
    # The channels this connection serves and the stream kind of each.
    stream_kinds: ClassVar[dict[str, str]] = _STREAM_KIND

    def __init__(
        self, instruments: Sequence[Instrument], channels: frozenset[str] = frozenset({Channel.BBO})
    ) -> None:
        super().__init__(channels)
        self._symbols = symbol_states(instruments, venue_symbol)
        self.streams = [
            f"{name.lower()}@{self.stream_kinds[channel]}"
            for name in self._symbols
            for channel in sorted(channels)
            if channel in self.stream_kinds
        ]
        self._next_request_id = 1
        self._pending: dict[int, list[str]] = {}
        self.subscribed: set[str] = set()
        handlers: dict[bytes, Callable[[SymbolState, Any, int], Sequence[Event]]] = {
            b"bookTicker": self._book_ticker,
            b"aggTrade": self._agg_trade,
            b"trade": self._trade,
            b"ticker": self._ticker,
        }
        self._fast_path = {k: (_FRAME_DECODERS[k].decode, h) for k, h in handlers.items()}
        self._slow_path = {k: (_DATA_DECODERS[k].decode, h) for k, h in handlers.items()}
        # The frames of the subscribed streams, each parsed once: msgspec picks the struct by
        # the stream name (the tag) and checks that ``s`` is a subscribed symbol as it reads the
        # frame, giving that symbol's own string (so the state lookup cannot miss and hashes
        # nothing). The data structs are shared by all streams of a kind, so the attribute
        # reads of the handlers always meet the same class.
        names = Literal[tuple(self._symbols)]  # type: ignore[valid-type]
        frame_structs = {}
        routes = {}
        for stream in self.streams:
            kind = stream.rpartition("@")[2]
            frame_struct, data_struct = _STREAM_KINDS[kind.encode()]
            frame_structs[stream] = narrowed(frame_struct, data=narrowed(data_struct, s=names))
            routes[stream] = (handlers[kind.encode()], kind)
        decoder, tags = tagged_union("stream", frame_structs)
        self._decode_subscribed = decoder.decode
        self._subscribed_routes = {struct: routes[stream] for struct, stream in tags.items()}

    def on_connected(self) -> list[bytes]:
        """Forget per-connection state; return the SUBSCRIBE requests to send, in order."""
        self._pending.clear()
        self.subscribed.clear()
        self._reconnect_requested = False
        for state in self._symbols.values():
            state.last_update_id = -1
        return [
            self._request("SUBSCRIBE", self.streams[i : i + MAX_STREAMS_PER_SUBSCRIBE])
            for i in range(0, len(self.streams), MAX_STREAMS_PER_SUBSCRIBE)
        ]

    def unsubscribe_message(self, streams: list[str]) -> bytes:
        """An UNSUBSCRIBE request for ``streams``."""
        return self._request("UNSUBSCRIBE", streams)

    def _request(self, method: str, params: list[str]) -> bytes:
        request_id = self._next_request_id
        self._next_request_id += 1
        self._pending[request_id] = params
        return _encoder.encode({"method": method, "params": params, "id": request_id})

    def decode(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        """Events carried by one text frame (often one, none for control frames or errors)."""
        try:
            message = self._decode_subscribed(payload)
            handle, kind = self._subscribed_routes[message.__class__]
        except (*DECODE_ERRORS, KeyError):
            # Not a well-formed frame of a subscribed stream with a subscribed symbol: a reply,
            # an error, another stream or symbol, a bad frame.
            return self._decode_other(payload, recv_ns)
        data = message.data
        try:
            return handle(self._symbols[data.s], data, recv_ns)
        except ValueError as exc:  # a number the price cache refuses
            self._count_failure(exc, kind)
            return NO_EVENTS

    def _decode_other(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        if payload.startswith(_STREAM_PREFIX):
            # Compact envelope (what Binance sends): the stream kind picks the typed decoder.
            end = payload.find(b'"', _STREAM_START)
            kind = payload[payload.rfind(b"@", _STREAM_START, end) + 1 : end]
            route = self._fast_path.get(kind)
            if route is None:
                self.stats.error("unknown_message", f"stream {payload[_STREAM_START:end]!r}")
                return NO_EVENTS
            decode_frame, handle = route
            try:
                return self._handle(handle, decode_frame(payload).data, recv_ns)
            except ValueError as exc:
                self._count_failure(exc, kind.decode())
                return NO_EVENTS
        frame = self._decode_or_count(_frame_decoder, payload)
        if frame is None:
            return NO_EVENTS
        if not frame.stream:
            return self._control(frame)
        kind = frame.stream.rpartition("@")[2].encode()
        route = self._slow_path.get(kind)
        if route is None:
            self.stats.error("unknown_message", f"stream {frame.stream!r}")
            return NO_EVENTS
        decode_data, handle = route
        try:
            return self._handle(handle, decode_data(frame.data), recv_ns)
        except ValueError as exc:
            self._count_failure(exc, kind.decode())
            return NO_EVENTS

    def _handle(
        self, handle: Callable[[SymbolState, Any, int], Sequence[Event]], msg: Any, recv_ns: int
    ) -> Sequence[Event]:
        state = self._state(msg.s)
        if state is None:
            return NO_EVENTS
        return handle(state, msg, recv_ns)

    def _control(self, frame: BinanceFrame) -> Sequence[Event]:
        stats = self.stats
        if frame.error is not None:
            self._venue_error(f"{self.name} error {frame.error.code}: {frame.error.msg} (request id {frame.id})")
            return NO_EVENTS
        if frame.id is not None:
            stats.control += 1
            params = self._pending.pop(frame.id, None)  # type: ignore[arg-type]
            if params is not None:
                self.subscribed.update(params)
            return NO_EVENTS
        if frame.e == "serverShutdown":
            stats.control += 1
            self._reconnect_requested = True
            return NO_EVENTS
        stats.error("unknown_message", frame.e or "no stream, id or event")
        return NO_EVENTS

    def _book_ticker(self, state: SymbolState, msg: BinanceBookTicker, recv_ns: int) -> Sequence[Event]:
        price_memo = state.price_memo
        size_memo = state.size_memo
        bid = price_memo.get(msg.b) or state.prices.parse(msg.b)
        ask = price_memo.get(msg.a) or state.prices.parse(msg.a)
        bid_size = size_memo.get(msg.B) or state.sizes.parse(msg.B)
        ask_size = size_memo.get(msg.A) or state.sizes.parse(msg.A)
        u = msg.u
        if 0 < bid < ask and bid_size > 0 and ask_size > 0 and u > state.last_update_id:
            state.last_update_id = u
            return (Quote(self.name, state.symbol, bid, bid_size, ask, ask_size, recv_ns, msg.T * MS, u),)
        if not (0 < bid < ask and bid_size > 0 and ask_size > 0):
            reason = quote_rejection(bid, bid_size, ask, ask_size)
            self.stats.error(reason, f"{msg.s} bid={msg.b}x{msg.B} ask={msg.a}x{msg.A}")
        else:
            self.stats.error("stale_update", f"{msg.s} u={u} after {state.last_update_id}")
        return NO_EVENTS

    def _agg_trade(self, state: SymbolState, msg: BinanceAggTrade, recv_ns: int) -> Sequence[Event]:
        return self._trade_event(state, msg.s, msg.p, msg.q, msg.m, msg.a, msg.T, recv_ns)

    def _trade(self, state: SymbolState, msg: BinanceTrade, recv_ns: int) -> Sequence[Event]:
        return self._trade_event(state, msg.s, msg.p, msg.q, msg.m, msg.t, msg.T, recv_ns)

    def _trade_event(
        self,
        state: SymbolState,
        name: str,
        price_text: str,
        size_text: str,
        buyer_is_maker: bool,
        trade_id: int,
        trade_ms: int,
        recv_ns: int,
    ) -> Sequence[Event]:
        price = state.prices.parse(price_text)
        size = state.sizes.parse(size_text)
        if price <= 0 or size <= 0:
            self.stats.error("zero_price" if price <= 0 else "zero_size", f"{name} {size_text}@{price_text}")
            return NO_EVENTS
        side = SELL if buyer_is_maker else BUY
        return (Trade(self.name, state.symbol, price, size, side, trade_id, recv_ns, trade_ms * MS),)

    def _ticker(self, state: SymbolState, msg: BinanceTicker, recv_ns: int) -> Sequence[Event]:
        last = state.prices.parse(msg.c)
        if last <= 0:
            self.stats.error("zero_price", f"{msg.s} c={msg.c}")
            return NO_EVENTS
        return (Ticker(self.name, state.symbol, last, recv_ns, msg.E * MS),)
