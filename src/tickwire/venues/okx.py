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

from typing import Callable, ClassVar, Literal, Sequence

import msgspec

from tickwire.instruments import Instrument
from tickwire.model import BUY, SELL, Event, Quote, Ticker, Trade
from tickwire.venues.base import (
    NO_EVENTS,
    AdapterBase,
    Channel,
    SymbolState,
    quote_rejection,
    symbol_states,
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
# A push whose arg was recognised by its bytes: its data alone is read (the arg is skipped).
_PUSH_DECODERS = {
    k: msgspec.json.Decoder(msgspec.defstruct("OkxPush", [("data", v[1])], gc=False)) for k, v in _STREAMS.items()
}
_frame_decoder = msgspec.json.Decoder(OkxFrame)
_CHANNEL_PREFIX = b'{"arg":{"channel":"'
_CHANNEL_START = len(_CHANNEL_PREFIX)
_ARG_END = b"}"
_CONTROL_EVENTS = frozenset(("subscribe", "unsubscribe", "channel-conn-count"))
_encoder = msgspec.json.Encoder()


class OkxFieldError(ValueError):
    """A text field that must hold a non-negative integer (``ts``, ``tradeId``) but does not."""


def integer_text(text: str, field: str) -> int:
    """The integer in ``text`` (ASCII digits only); raises OkxFieldError naming ``field``."""
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_INT_DIGITS:
        raise OkxFieldError(f"{field} is not an integer: {text[:32]!r}")
    return int(text)


def arg_prefix(channel: str, inst_id: str) -> bytes:
    """How OKX begins a push of ``channel`` for ``inst_id``, up to the end of its ``arg`` object."""
    return b'{"arg":{"channel":"%s","instId":"%s"}' % (channel.encode(), inst_id.encode())


class OkxPublic(AdapterBase):
    """OKX v5 public adapter (spot and perpetual swaps): subscribe, keepalive, decoder.

    ``decode`` returns the events a frame carries (never raises); dropped frames are counted in
    ``stats.errors`` by reason. Swap sizes are contract counts (see the module docstring).
    ``wants_reconnect`` once the venue announced a service upgrade that will cut the connection.
    """

    name: ClassVar[str] = "okx"
    default_url: ClassVar[str] = OKX_PUBLIC_URL
    instrument_kinds: ClassVar[frozenset[str]] = frozenset(_KIND_SUFFIX)
    keepalive_interval: ClassVar[float | None] = 20.0
    keepalive: ClassVar[bytes | None] = PING  # the text ``ping`` (not JSON); the server answers ``pong``

    def __init__(
        self, instruments: Sequence[Instrument], channels: frozenset[str] = frozenset({Channel.BBO})
    ) -> None:
        super().__init__(channels)
        self._symbols = symbol_states(instruments, venue_symbol)
        self.args = [
            {"channel": _CHANNEL_STREAM[channel], "instId": inst_id}
            for channel in sorted(channels)
            for inst_id in self._symbols
        ]
        # bbo-tbt is the quote source when subscribed; tickers' slower bid/ask must not interleave.
        self._quotes_from_tickers = Channel.BBO not in channels
        handlers = {b"bbo-tbt": self._bbo, b"tickers": self._tickers, b"trades": self._trades}
        self._fast_path = {k: (_FRAME_DECODERS[k].decode, h) for k, h in handlers.items()}
        self._slow_path = {k: (_DATA_DECODERS[k].decode, h) for k, h in handlers.items()}
        # A subscribed push begins with the same bytes every time, up to the end of its ``arg``:
        # those bytes pick the decoder, the handler and the instrument state at once.
        self._subscribed: dict[bytes, tuple] = {}
        for arg in self.args:
            channel = arg["channel"].encode()
            self._subscribed[arg_prefix(arg["channel"], arg["instId"])] = (
                _PUSH_DECODERS[channel].decode, handlers[channel], self._symbols[arg["instId"]], channel
            )

    def on_connected(self) -> list[bytes]:
        """Forget per-connection state; return the subscribe request to send."""
        self._reconnect_requested = False
        for state in self._symbols.values():
            state.last_update_id = -1
        if not self.args:
            return []
        return [_encoder.encode({"op": "subscribe", "args": self.args})]

    def decode(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        """Events carried by one text frame (none for control frames or errors)."""
        route = self._subscribed.get(payload[: payload.find(_ARG_END) + 1])
        if route is None:
            return self._decode_other(payload, recv_ns)
        decode_frame, handle, state, channel = route
        try:
            return handle(state, decode_frame(payload).data, recv_ns)
        except ValueError as exc:  # not a frame of that channel's shape, a number or field refused
            self._count_failure(exc, channel.decode())
            return NO_EVENTS

    def _decode_other(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        if payload.startswith(_CHANNEL_PREFIX):
            # Compact layout (what OKX sends): the channel name picks the typed decoder.
            end = payload.find(b'"', _CHANNEL_START)
            channel = payload[_CHANNEL_START:end]
            route = self._fast_path.get(channel)
            if route is not None:
                decode_frame, handle = route
                try:
                    message = decode_frame(payload)
                    return self._handle(handle, message.arg.instId, message.data, recv_ns)
                except ValueError as exc:
                    self._count_failure(exc, channel.decode())
                    return NO_EVENTS
        if payload == PONG:
            self.stats.control += 1
            return NO_EVENTS
        frame = self._decode_or_count(_frame_decoder, payload)
        if frame is None:
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
            return self._handle(handle, frame.arg.instId, decode_data(frame.data), recv_ns)
        except ValueError as exc:
            self._count_failure(exc, channel.decode())
            return NO_EVENTS

    def _handle(
        self, handle: Callable[..., Sequence[Event]], inst_id: str, data: list, recv_ns: int
    ) -> Sequence[Event]:
        state = self._state(inst_id)
        if state is None:
            return NO_EVENTS
        return handle(state, data, recv_ns)

    def _event(self, frame: OkxFrame) -> Sequence[Event]:
        if frame.event == "error":
            self._venue_error(f"okx error {frame.code}: {frame.msg or 'no message'}")
        elif frame.event == "notice":
            self.stats.control += 1
            self._reconnect_requested = True
        elif frame.event in _CONTROL_EVENTS:
            self.stats.control += 1
        else:
            self.stats.error("unknown_message", f"event {frame.event!r}")
        return NO_EVENTS

    def _bbo(self, state: SymbolState, data: list[OkxBbo], recv_ns: int) -> Sequence[Event]:
        events: list[Event] = []
        price_memo, size_memo = state.price_memo, state.size_memo
        for book in data:
            bids, asks = book.bids, book.asks
            if not (bids and asks):
                self.stats.error("missing_field", f"{_inst_id(state)} bbo-tbt without a bid or an ask")
                continue
            ts = book.ts
            if not (ts.isdigit() and ts.isascii() and len(ts) <= _MAX_INT_DIGITS):
                integer_text(ts, "ts")  # raises OkxFieldError
            best_bid, best_ask = bids[0], asks[0]
            bid = price_memo.get(best_bid.price) or state.prices.parse(best_bid.price)
            ask = price_memo.get(best_ask.price) or state.prices.parse(best_ask.price)
            bid_size = size_memo.get(best_bid.size) or state.sizes.parse(best_bid.size)
            ask_size = size_memo.get(best_ask.size) or state.sizes.parse(best_ask.size)
            if not (0 < bid < ask and bid_size > 0 and ask_size > 0):
                self._reject_quote(state, best_bid.price, best_bid.size, best_ask.price, best_ask.size)
                continue
            seq_id = book.seqId
            if seq_id <= state.last_update_id:
                self.stats.error("stale_update", f"{_inst_id(state)} seqId={seq_id} after {state.last_update_id}")
                continue
            state.last_update_id = seq_id
            events.append(
                Quote("okx", state.symbol, bid, bid_size, ask, ask_size, recv_ns, int(ts) * MS, seq_id)
            )
        return tuple(events)

    def _reject_quote(
        self, state: SymbolState, bid_text: str, bid_size_text: str, ask_text: str, ask_size_text: str
    ) -> None:
        bid, ask = state.prices.parse(bid_text), state.prices.parse(ask_text)
        bid_size, ask_size = state.sizes.parse(bid_size_text), state.sizes.parse(ask_size_text)
        self.stats.error(
            quote_rejection(bid, bid_size, ask, ask_size),
            f"{state.symbol} bid={bid_text}x{bid_size_text} ask={ask_text}x{ask_size_text}",
        )

    def _tickers(self, state: SymbolState, data: list[OkxTicker], recv_ns: int) -> Sequence[Event]:
        events: list[Event] = []
        price_memo, size_memo = state.price_memo, state.size_memo
        for ticker in data:
            ts = ticker.ts
            if not (ts.isdigit() and ts.isascii() and len(ts) <= _MAX_INT_DIGITS):
                integer_text(ts, "ts")  # raises OkxFieldError
            exchange_ns = int(ts) * MS
            if self._quotes_from_tickers:
                bid = price_memo.get(ticker.bidPx) or state.prices.parse(ticker.bidPx)
                ask = price_memo.get(ticker.askPx) or state.prices.parse(ticker.askPx)
                bid_size = size_memo.get(ticker.bidSz) or state.sizes.parse(ticker.bidSz)
                ask_size = size_memo.get(ticker.askSz) or state.sizes.parse(ticker.askSz)
                if 0 < bid < ask and bid_size > 0 and ask_size > 0:
                    events.append(
                        Quote("okx", state.symbol, bid, bid_size, ask, ask_size, recv_ns, exchange_ns, 0)
                    )
                else:
                    self._reject_quote(state, ticker.bidPx, ticker.bidSz, ticker.askPx, ticker.askSz)
            last = price_memo.get(ticker.last) or state.prices.parse(ticker.last)
            if last > 0:
                events.append(Ticker("okx", state.symbol, last, recv_ns, exchange_ns))
            else:
                self.stats.error("zero_price", f"{_inst_id(state)} last={ticker.last}")
        return tuple(events)

    def _trades(self, state: SymbolState, data: list[OkxTrade], recv_ns: int) -> Sequence[Event]:
        events: list[Event] = []
        price_memo, size_memo = state.price_memo, state.size_memo
        for trade in data:
            price = price_memo.get(trade.px) or state.prices.parse(trade.px)
            size = size_memo.get(trade.sz) or state.sizes.parse(trade.sz)
            exchange_ns = integer_text(trade.ts, "ts") * MS
            trade_id = integer_text(trade.tradeId, "tradeId")
            if price <= 0 or size <= 0:
                reason = "zero_price" if price <= 0 else "zero_size"
                self.stats.error(reason, f"{_inst_id(state)} {trade.sz}@{trade.px}")
                continue
            side = BUY if trade.side == "buy" else SELL
            events.append(
                Trade("okx", state.symbol, price, size, side, trade_id, recv_ns, exchange_ns)
            )
        return tuple(events)


def _inst_id(state: SymbolState) -> str:
    """The instId of a subscribed instrument, for error messages."""
    return venue_symbol(state.instrument)
