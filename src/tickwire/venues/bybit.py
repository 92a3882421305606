"""Bybit v5 public market data, spot and linear perpetuals (JSON WebSocket), sans-I/O.

One connection per category; the URL path names it (``/v5/public/spot``, ``/v5/public/linear``).
Requests are ``{"req_id":"1","op":"subscribe","args":[topics]}``, sent in batches of at most 10
topics (the spot limit; linear states none). Replies carry ``success``. Payloads arrive as
``{"topic":"<kind>.<SYMBOL>","type":"snapshot"|"delta","ts":..,"data":..}``. The client sends
``{"op":"ping"}`` every 20 s; with neither ping nor data the venue cuts the connection after 10 min.

Best bid/offer comes from ``orderbook.1.<SYMBOL>`` (a snapshot every 10 ms). Deeper books
(a snapshot, then deltas) are merged per topic into a price -> size map. Linear
``tickers.<SYMBOL>`` also carries ``bid1Price``/``bid1Size``/``ask1Price``/``ask1Size``, and its
deltas omit unchanged fields, so they are merged into the last snapshot. A quote's ``update_id``
is the venue's cross sequence (orderbook ``seq``, tickers ``cs``: one counter per symbol). A quote
older than the last one emitted for its symbol is not emitted, so neither source can move the
price back.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Sequence

import msgspec

from tickwire.book import LevelBook
from tickwire.fixedpoint import format_scaled
from tickwire.instruments import Instrument
from tickwire.model import BUY, SELL, Event, Quote, Ticker, Trade
from tickwire.venues.base import (
    DECODE_ERRORS,
    NO_EVENTS,
    AdapterBase,
    Channel,
    TopOfBookState,
    narrowed,
    quote_rejection,
    single,
    symbol_states,
    tagged_union,
)

__all__ = [
    "BYBIT_LINEAR_URL",
    "BYBIT_SPOT_URL",
    "BybitBookMessage",
    "BybitLinear",
    "BybitReply",
    "BybitSpot",
    "BybitTickerMessage",
    "BybitTradeMessage",
    "trade_id",
    "venue_symbol",
]

BYBIT_SPOT_URL = "wss://stream.bybit.com/v5/public/spot"
BYBIT_LINEAR_URL = "wss://stream.bybit.com/v5/public/linear"
MAX_ARGS_PER_SUBSCRIBE = 10
MAX_ARGS_CHARS = 21_000  # all topics of one connection together
PING = b'{"op":"ping"}'
MS = 1_000_000

_TOPIC_KIND = {Channel.BBO: "orderbook.1", Channel.TRADES: "publicTrade", Channel.TICKER: "tickers"}
_CONTROL_OPS = frozenset(("subscribe", "unsubscribe", "ping", "pong"))
_SIDES = {"Buy": BUY, "Sell": SELL}


class BybitReply(msgspec.Struct, gc=False):
    """Any frame: a topic payload or a reply to a request (subscribe, ping)."""

    topic: str = ""
    op: str = ""
    success: bool | None = None
    ret_msg: str = ""
    req_id: str = ""


class BybitBook(msgspec.Struct, gc=False):
    s: str
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]
    u: int
    seq: int


class BybitBookFrame(msgspec.Struct, gc=False):
    """An orderbook push without its topic (the topic picked this struct)."""

    type: str
    ts: int
    data: BybitBook
    cts: int = 0


class BybitBookMessage(BybitBookFrame, kw_only=True):
    topic: str


class BybitTrade(msgspec.Struct, gc=False):
    T: int
    s: str
    S: str
    v: str
    p: str
    i: str


class BybitTradeMessage(msgspec.Struct, gc=False):
    data: list[BybitTrade]


class BybitTicker(msgspec.Struct, gc=False):
    symbol: str
    lastPrice: str | None = None
    bid1Price: str | None = None
    bid1Size: str | None = None
    ask1Price: str | None = None
    ask1Size: str | None = None


class BybitTickerMessage(msgspec.Struct, gc=False):
    type: str
    ts: int
    cs: int
    data: BybitTicker


def _one_level_push(names: Any) -> Any:
    """The struct of the usual ``orderbook.1`` push: a snapshot of one level a side of one of the
    symbols ``names`` (a Literal), read without lists; any other push fails to decode into it."""
    level = single(tuple[str, str])
    data = narrowed(BybitBook, s=names, b=level, a=level)
    return narrowed(BybitBookFrame, type=Literal["snapshot"], data=data)


_reply_decoder = msgspec.json.Decoder(BybitReply)
_TOPIC_DECODERS = {  # topic kind: decoder of any frame of that kind, topic and all
    b"orderbook": msgspec.json.Decoder(BybitBookMessage),
    b"publicTrade": msgspec.json.Decoder(BybitTradeMessage),
    b"tickers": msgspec.json.Decoder(BybitTickerMessage),
}
_TOPIC_PREFIX = b'{"topic":"'
_TOPIC_START = len(_TOPIC_PREFIX)
_encoder = msgspec.json.Encoder()


def venue_symbol(instrument: Instrument) -> str:
    """Bybit's name of an instrument: BASE and QUOTE run together (``BTCUSDT``); a USDC
    perpetual is BASE + ``PERP`` (``BTCPERP``)."""
    if instrument.kind == "PERP" and instrument.quote == "USDC":
        return instrument.base + "PERP"
    return instrument.base + instrument.quote


def trade_id(text: str) -> int:
    """A Bybit trade id as an int, or -1 if it is neither form Bybit uses.

    Spot ids are decimal digits. Derivative ids are UUIDs: their 128-bit value is used, and
    ``uuid.UUID(int=...)`` gives the text back.
    """
    try:
        if text.isascii() and text.isdigit():
            return int(text)
        if len(text) == 36 and text[8] == text[13] == text[18] == text[23] == "-":
            digits = text.replace("-", "")
            if len(digits) == 32 and digits.isascii() and digits.isalnum():
                return int(digits, 16)
    except ValueError:
        pass
    return -1


class BybitSpot(AdapterBase):
    """Bybit spot adapter: subscribe requests, the ping rule and the frame decoder.

    ``decode`` returns the events a frame carries and never raises. Dropped frames are counted in
    ``stats.errors`` by reason, replies to requests in ``stats.control``. A refused request is a
    ``venue_error`` with its message in ``stats.venue_errors``. ``u`` gaps on orderbook topics are
    counted in ``stats.sequence_gaps``. A gap in a delta topic leaves its book unusable, so the
    adapter then asks for a reconnect, which brings a fresh snapshot.
    """

    name: ClassVar[str] = "bybit"
    default_url: ClassVar[str] = BYBIT_SPOT_URL
    keepalive_interval: ClassVar[float | None] = 20.0
    keepalive: ClassVar[bytes | None] = PING

    def __init__(
        self, instruments: Sequence[Instrument], channels: frozenset[str] = frozenset({Channel.BBO})
    ) -> None:
        super().__init__(channels)
        # The merged top of book of each symbol's ``tickers`` topic; Bybit counts a field never
        # sent as 0 (a zero price), so the state starts from 0, not UNSEEN.
        self._symbols: dict[str, TopOfBookState] = symbol_states(instruments, venue_symbol, TopOfBookState)
        for state in self._symbols.values():
            state.reset(unseen=0)
        self.topics = [
            f"{_TOPIC_KIND[channel]}.{name}" for name in self._symbols for channel in sorted(channels)
        ]
        if sum(map(len, self.topics)) > MAX_ARGS_CHARS:
            raise ValueError(
                f"{self.name}: {len(self.topics)} topics exceed Bybit's {MAX_ARGS_CHARS} characters "
                "per connection; split the instruments"
            )
        self._books: dict[str, LevelBook] = {}  # per orderbook topic, since its snapshot
        self._book_u: dict[str, int] = {}  # the last ``u`` applied to each of them
        self._next_request_id = 1
        self._pending: dict[str, list[str]] = {}
        self.subscribed: set[str] = set()
        handlers = {
            b"orderbook": self._orderbook,
            b"publicTrade": self._public_trade,
            b"tickers": self._tickers,
        }
        self._routes = {k: (_TOPIC_DECODERS[k].decode, h) for k, h in handlers.items()}
        # The frames of the subscribed topics, each parsed once: msgspec picks the struct by the
        # topic (the tag) as it reads the frame. An orderbook.1 push is read as one level a side
        # of a subscribed symbol (msgspec gives that symbol's own string, so its state lookup
        # cannot miss and hashes nothing); a push of another shape (a delta, more levels) fails
        # that decode and takes the general route (``_routes``). The structs are shared by all
        # topics of a kind, so the handlers' attribute reads always meet the same class.
        kinds = {
            Channel.BBO: (_one_level_push(Literal[tuple(self._symbols)]), self._one_level_snapshot),
            Channel.TICKER: (BybitTickerMessage, self._tickers),
            Channel.TRADES: (BybitTradeMessage, self._public_trade),
        }
        structs: dict[str, Any] = {}
        routes: dict[str, tuple] = {}
        for name in self._symbols:
            for channel in sorted(channels):
                topic = f"{_TOPIC_KIND[channel]}.{name}"
                structs[topic], handle = kinds[channel]
                routes[topic] = (handle, topic)
        decoder, tags = tagged_union("topic", structs)
        self._decode_subscribed = decoder.decode
        self._subscribed_routes = {struct: routes[topic] for struct, topic in tags.items()}

    def on_connected(self) -> list[bytes]:
        """Forget per-connection state; return the subscribe requests to send, in order."""
        self._pending.clear()
        self.subscribed.clear()
        self._books.clear()
        self._book_u.clear()
        self._reconnect_requested = False
        for state in self._symbols.values():
            state.reset(unseen=0)
        return [
            self._request("subscribe", self.topics[i : i + MAX_ARGS_PER_SUBSCRIBE])
            for i in range(0, len(self.topics), MAX_ARGS_PER_SUBSCRIBE)
        ]

    def _request(self, op: str, topics: list[str]) -> bytes:
        request_id = str(self._next_request_id)
        self._next_request_id += 1
        self._pending[request_id] = topics
        return _encoder.encode({"req_id": request_id, "op": op, "args": topics})

    def decode(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        """Events carried by one text frame (none for replies and dropped frames)."""
        try:
            message = self._decode_subscribed(payload)
            handle, topic = self._subscribed_routes[message.__class__]
        except (*DECODE_ERRORS, KeyError):
            # Not a subscribed topic's frame of the usual shape: a reply, another topic, a frame
            # to read with the general struct of its kind, a bad frame.
            return self._decode_other(payload, recv_ns)
        try:
            return handle(message, topic, recv_ns)
        except ValueError as exc:  # a number the price cache refuses
            self._count_failure(exc, topic.partition(".")[0])
            return NO_EVENTS

    def _decode_other(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        if payload.startswith(_TOPIC_PREFIX):
            # What Bybit sends: the topic comes first and its kind picks the typed decoder.
            kind = payload[_TOPIC_START : payload.find(b".", _TOPIC_START)]
            return self._decode_topic(kind, payload, recv_ns)
        reply = self._decode_or_count(_reply_decoder, payload)
        if reply is None:
            return NO_EVENTS
        if reply.topic:
            return self._decode_topic(reply.topic.partition(".")[0].encode(), payload, recv_ns)
        return self._control(reply)

    def _decode_topic(self, kind: bytes, payload: bytes, recv_ns: int) -> Sequence[Event]:
        route = self._routes.get(kind)
        if route is None:
            self.stats.error("unknown_message", f"topic kind {kind[:40]!r}")
            return NO_EVENTS
        decode_message, handle = route
        try:
            message = decode_message(payload)
            return handle(message, getattr(message, "topic", ""), recv_ns)
        except ValueError as exc:
            self._count_failure(exc, kind.decode())
        return NO_EVENTS

    def _control(self, reply: BybitReply) -> Sequence[Event]:
        stats = self.stats
        if reply.success is False:
            topics = self._pending.pop(reply.req_id, None)
            asked = f" (req_id {reply.req_id}: {' '.join(topics)})" if topics else ""
            self._venue_error(f"{self.name} {reply.op or 'request'} failed: {reply.ret_msg}{asked}")
            return NO_EVENTS
        if reply.op in _CONTROL_OPS:
            stats.control += 1
            topics = self._pending.pop(reply.req_id, None)
            if topics is not None and reply.op == "subscribe":
                self.subscribed.update(topics)
            return NO_EVENTS
        stats.error("unknown_message", f"op {reply.op!r}" if reply.op else "no topic or op")
        return NO_EVENTS

    @staticmethod
    def _levels(state: TopOfBookState, data: BybitBook) -> tuple[dict[int, int], dict[int, int]]:
        """Price -> size of the frame's bids and asks (a price given twice keeps its last size,
        as if the levels were applied in order)."""
        price_memo, parse_price = state.price_memo, state.prices.parse
        size_memo, parse_size = state.size_memo, state.sizes.parse
        bids: dict[int, int] = {}
        for price, size in data.b:
            level = price_memo.get(price) or parse_price(price)
            bids[level] = size_memo.get(size) or parse_size(size)
        asks: dict[int, int] = {}
        for price, size in data.a:
            level = price_memo.get(price) or parse_price(price)
            asks[level] = size_memo.get(size) or parse_size(size)
        return bids, asks

    def _orderbook(self, msg: BybitBookFrame, topic: str, recv_ns: int) -> Sequence[Event]:
        data = msg.data
        state = self._symbols.get(data.s)
        if state is None:
            self.stats.error("unknown_symbol", data.s)
            return NO_EVENTS
        if msg.type == "snapshot":
            bids, asks = self._levels(state, data)
            bid, ask = (max(bids) if bids else 0), (min(asks) if asks else 0)  # 0: side empty
            return self._snapshot(msg, topic, state, bids, asks, bid, bids.get(bid, 0), ask, asks.get(ask, 0), recv_ns)
        if msg.type != "delta":
            self.stats.error("unknown_message", f"{topic} type {msg.type!r}")
            return NO_EVENTS
        u = data.u
        book = self._books.get(topic)
        last_u = self._book_u.get(topic, 0)
        if book is not None and u > last_u + 1:
            self.stats.sequence_gaps += 1
            del self._books[topic]
            book = None
            self._reconnect_requested = True
        if book is None:  # no snapshot on this connection, or none since a gap
            self.stats.error("stale_update", f"{topic} delta u={u} without a current snapshot")
            return NO_EVENTS
        if u <= last_u:
            self.stats.error("stale_update", f"{topic} delta u={u} after {last_u}")
            return NO_EVENTS
        bids, asks = self._levels(state, data)
        before = book.top()
        book.apply(bids, asks)
        self._book_u[topic] = u
        top = book.top()
        if top == before:
            return NO_EVENTS  # a change below the top of the book
        bid, bid_size, ask, ask_size = top
        return self._quote(state, bid, bid_size, ask, ask_size, data.seq, recv_ns, (msg.cts or msg.ts) * MS)

    def _one_level_snapshot(self, msg: Any, topic: str, recv_ns: int) -> Sequence[Event]:
        """``_orderbook`` for the usual orderbook.1 push (see ``_one_level_push``)."""
        data = msg.data
        state = self._symbols[data.s]
        bid_text, bid_size_text = data.b.item
        ask_text, ask_size_text = data.a.item
        price_memo, size_memo = state.price_memo, state.size_memo
        bid = price_memo.get(bid_text) or state.prices.parse(bid_text)
        bid_size = size_memo.get(bid_size_text) or state.sizes.parse(bid_size_text)
        ask = price_memo.get(ask_text) or state.prices.parse(ask_text)
        ask_size = size_memo.get(ask_size_text) or state.sizes.parse(ask_size_text)
        return self._snapshot(msg, topic, state, {bid: bid_size}, {ask: ask_size}, bid, bid_size, ask, ask_size, recv_ns)

    def _snapshot(
        self,
        msg: BybitBookFrame,
        topic: str,
        state: TopOfBookState,
        bids: dict[int, int],
        asks: dict[int, int],
        bid: int,
        bid_size: int,
        ask: int,
        ask_size: int,
        recv_ns: int,
    ) -> Sequence[Event]:
        """Replace the topic's book with a snapshot's levels and quote its top."""
        data = msg.data
        u = data.u
        book = self._books.get(topic)
        if book is None:
            book = self._books[topic] = LevelBook()
        elif u != 1:  # u == 1: the service restarted and a new sequence begins
            last_u = self._book_u[topic]
            if u < last_u:
                self.stats.error("stale_update", f"{topic} snapshot u={u} after {last_u}")
                return NO_EVENTS
            if u > last_u + 1:
                self.stats.sequence_gaps += 1
        book.replace(bids, asks, bid, ask)
        self._book_u[topic] = u
        exchange_ns = (msg.cts or msg.ts) * MS
        seq = data.seq
        if 0 < bid < ask and bid_size > 0 and ask_size > 0 and seq >= state.last_update_id:
            state.last_update_id = seq
            return (Quote(self.name, state.symbol, bid, bid_size, ask, ask_size, recv_ns, exchange_ns, seq),)
        return self._quote(state, bid, bid_size, ask, ask_size, seq, recv_ns, exchange_ns)  # not a new quote

    def _quote(
        self,
        state: TopOfBookState,
        bid: int,
        bid_size: int,
        ask: int,
        ask_size: int,
        cross_seq: int,
        recv_ns: int,
        exchange_ns: int,
    ) -> tuple[Quote, ...]:
        if not (0 < bid < ask and bid_size > 0 and ask_size > 0):
            prices, sizes = state.instrument.price_scale, state.instrument.size_scale
            self.stats.error(
                quote_rejection(bid, bid_size, ask, ask_size),
                f"{state.symbol} bid={format_scaled(bid, prices)}x{format_scaled(bid_size, sizes)} "
                f"ask={format_scaled(ask, prices)}x{format_scaled(ask_size, sizes)}",
            )
            return NO_EVENTS
        if cross_seq < state.last_update_id:
            return NO_EVENTS  # the other topic already gave a newer top of book: nothing new here
        state.last_update_id = cross_seq
        return (
            Quote(self.name, state.symbol, bid, bid_size, ask, ask_size, recv_ns, exchange_ns, cross_seq),
        )

    def _public_trade(self, msg: BybitTradeMessage, topic: str, recv_ns: int) -> Sequence[Event]:
        events: list[Event] = []
        for trade in msg.data:
            state = self._symbols.get(trade.s)
            if state is None:
                self.stats.error("unknown_symbol", trade.s)
                return NO_EVENTS
            price = state.price_memo.get(trade.p) or state.prices.parse(trade.p)
            size = state.size_memo.get(trade.v) or state.sizes.parse(trade.v)
            if price <= 0 or size <= 0:
                reason = "zero_price" if price <= 0 else "zero_size"
                self.stats.error(reason, f"publicTrade {trade.s} {trade.v}@{trade.p}")
                return NO_EVENTS
            side = _SIDES.get(trade.S)
            number = trade_id(trade.i)
            if side is None or number < 0:
                self.stats.error("wrong_type", f"publicTrade {trade.s} side {trade.S!r} id {trade.i!r}")
                return NO_EVENTS
            events.append(
                Trade(self.name, state.symbol, price, size, side, number, recv_ns, trade.T * MS)
            )
        return events or NO_EVENTS

    def _tickers(self, msg: BybitTickerMessage, topic: str, recv_ns: int) -> Sequence[Event]:
        data = msg.data
        state = self._symbols.get(data.symbol)
        if state is None:
            self.stats.error("unknown_symbol", data.symbol)
            return NO_EVENTS
        snapshot = msg.type == "snapshot"
        if not snapshot and msg.type != "delta":
            self.stats.error("unknown_message", f"tickers.{data.symbol} type {msg.type!r}")
            return NO_EVENTS
        # Every field is parsed before any state changes, so a bad field changes nothing. A
        # snapshot replaces the merged top of book; a delta keeps the fields it leaves out (None).
        if snapshot:
            bid = bid_size = ask = ask_size = 0
        else:
            bid, bid_size, ask, ask_size = state.bid, state.bid_size, state.ask, state.ask_size
        price_memo, size_memo = state.price_memo, state.size_memo
        text = data.lastPrice
        last = -1 if text is None else price_memo.get(text) or state.prices.parse(text)  # -1: none here
        text = data.bid1Price
        if text is not None:
            bid = price_memo.get(text) or state.prices.parse(text)
        text = data.bid1Size
        if text is not None:
            bid_size = size_memo.get(text) or state.sizes.parse(text)
        text = data.ask1Price
        if text is not None:
            ask = price_memo.get(text) or state.prices.parse(text)
        text = data.ask1Size
        if text is not None:
            ask_size = size_memo.get(text) or state.sizes.parse(text)
        state.bid, state.bid_size = bid, bid_size
        state.ask, state.ask_size = ask, ask_size
        exchange_ns = msg.ts * MS
        if (
            data.bid1Price is not None
            or data.bid1Size is not None
            or data.ask1Price is not None
            or data.ask1Size is not None
        ):  # spot tickers never carry the best bid/offer
            events = self._quote(state, bid, bid_size, ask, ask_size, msg.cs, recv_ns, exchange_ns)
        else:
            events = NO_EVENTS
        if last > 0:
            return (*events, Ticker(self.name, state.symbol, last, recv_ns, exchange_ns))
        if last == 0:
            self.stats.error("zero_price", f"tickers.{data.symbol} lastPrice={data.lastPrice}")
        return events


class BybitLinear(BybitSpot):
    """Bybit linear (USDT and USDC) perpetuals: as spot, and ``tickers`` also gives quotes."""

    name: ClassVar[str] = "bybit_linear"
    default_url: ClassVar[str] = BYBIT_LINEAR_URL
    instrument_kinds: ClassVar[frozenset[str]] = frozenset({"PERP"})
    perp_quotes: ClassVar[frozenset[str] | None] = frozenset({"USDT", "USDC"})  # linear only
