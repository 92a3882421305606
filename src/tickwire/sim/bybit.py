"""Bybit v5 public streams, spot and linear perpetuals, without I/O: ``BybitSpotSimVenue`` and
``BybitLinearSimVenue`` for ``tickwire.sim.server``.

Each category is a connection of its own, at the real venue's path: ``/v5/public/spot``
(``bybit``) and ``/v5/public/linear`` (``bybit_linear``, the ``PERP`` instruments). Clients send
``{"req_id":"1","op":"subscribe"|"unsubscribe","args":[topics]}`` and ``{"op":"ping"}``, and get
one reply per request, with ``success``. A subscribe request is all or nothing: an unknown topic
or symbol, a topic already subscribed or (spot) more than 10 args refuse it whole. The server
closes a client that sent nothing for 10 min.

Market events become, per symbol:

- ``orderbook.1.<SYMBOL>``: every message a snapshot of the best level; ``u`` steps by one per
  new book, and a book unchanged for 3 s is sent again with the same ``u``;
- ``publicTrade.<SYMBOL>``: one message per taker order, one entry per fill;
- ``tickers.<SYMBOL>``: spot, a snapshot of the 24 h statistics per ticker event; linear, a
  snapshot on subscribe, then after each quote and trade a delta of the fields that changed
  (best bid/offer included, each price with its size).

A new subscription gets the current book or ticker right after the ack. Orderbook ``seq``,
tickers ``cs`` and trade ``seq`` are the symbol's cross sequence, the market's quote update id.
Spot numbers are in their shortest form (``65140.5``); linear ones keep the decimals of the tick
and the lot (``65114.20``, ``0.0100``).

Not simulated: deeper books (``orderbook.50`` …), klines and the other topics (refused as
unknown while the market runs, accepted while replaying a recording), the limit of 21,000
characters of topics per connection and that of 500 connections per 5 minutes.
"""

from __future__ import annotations

import itertools
import re
import uuid
from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import msgspec
from msgspec import UNSET, UnsetType

from tickwire.instruments import parse_symbol
from tickwire.model import BUY
from tickwire.sim.market import (
    PRICE_DECIMALS,
    MarketEvent,
    MarketQuote,
    MarketTicker,
    MarketTrade,
    SymbolSpec,
    VenueView,
)
from tickwire.sim.venue import (
    EventTopics,
    SessionReply,
    SimSession,
    SimVenue,
    format_units,
    format_units_short,
    step_decimals,
    unknown_path,
)
from tickwire.venues.bybit import venue_symbol

__all__ = [
    "BOOK_REPEAT_MS",
    "MAX_SPOT_ARGS",
    "BybitLinearSimVenue",
    "BybitSession",
    "BybitSimVenue",
    "BybitSpotSimVenue",
]

BOOK_REPEAT_MS = 3_000
MAX_SPOT_ARGS = 10

_BOOK = "orderbook.1"
_TRADES = "publicTrade"
_TICKERS = "tickers"
_SIMULATED_KINDS = frozenset((_BOOK, _TRADES, _TICKERS))
_REAL_TOPIC_RE = re.compile(
    r"(?:orderbook\.(?:1|50|200|1000)|publicTrade|tickers|allLiquidation"
    r"|kline\.(?:1|3|5|15|30|60|120|240|360|720|D|W|M))\.[A-Z0-9][A-Z0-9-]{0,31}"
)
_NS_PER_MS = 1_000_000


# -- wire shapes ----------------------------------------------------------------------------------


class _Request(msgspec.Struct):
    op: str = ""
    req_id: str | UnsetType = UNSET
    args: list[str] | None = None


class _Reply(msgspec.Struct, kw_only=True):
    success: bool
    ret_msg: str
    conn_id: str
    req_id: str | UnsetType = UNSET
    op: str


class _LinearPong(msgspec.Struct):
    req_id: str
    op: str
    args: list[str]
    conn_id: str


class _BookData(msgspec.Struct, gc=False):
    s: str
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]
    u: int
    seq: int


class _SpotBook(msgspec.Struct, kw_only=True, gc=False):
    topic: str
    ts: int
    type: str
    data: _BookData
    cts: int


class _LinearBook(msgspec.Struct, kw_only=True, gc=False):
    topic: str
    type: str
    ts: int
    data: _BookData
    cts: int


class _SpotTrade(msgspec.Struct, kw_only=True, gc=False):
    i: str
    T: int
    p: str
    v: str
    S: str
    seq: int
    s: str
    BT: bool = False
    RPI: bool = False


class _LinearTrade(msgspec.Struct, kw_only=True, gc=False):
    T: int
    s: str
    S: str
    v: str
    p: str
    L: str
    i: str
    BT: bool = False
    RPI: bool = False
    seq: int


class _SpotTrades(msgspec.Struct, kw_only=True, gc=False):
    topic: str
    ts: int
    type: str
    data: list[_SpotTrade]


class _LinearTrades(msgspec.Struct, kw_only=True, gc=False):
    topic: str
    type: str
    ts: int
    data: list[_LinearTrade]


class _SpotTickerData(msgspec.Struct, gc=False):
    symbol: str
    lastPrice: str
    highPrice24h: str
    lowPrice24h: str
    prevPrice24h: str
    volume24h: str
    turnover24h: str
    price24hPcnt: str


class _SpotTickers(msgspec.Struct, kw_only=True, gc=False):
    topic: str
    ts: int
    type: str
    cs: int
    data: _SpotTickerData


# A linear ticker; a delta leaves the fields that did not change at None (not sent).
class _LinearTickerData(msgspec.Struct, omit_defaults=True, gc=False):
    symbol: str
    price24hPcnt: str | None = None
    lastPrice: str | None = None
    prevPrice24h: str | None = None
    highPrice24h: str | None = None
    lowPrice24h: str | None = None
    turnover24h: str | None = None
    volume24h: str | None = None
    bid1Price: str | None = None
    bid1Size: str | None = None
    ask1Price: str | None = None
    ask1Size: str | None = None


class _LinearTickers(msgspec.Struct, kw_only=True, gc=False):
    topic: str
    type: str
    data: _LinearTickerData
    cs: int
    ts: int


# Fields a linear delta sends together when any of them changed (a price with its size).
_LINEAR_TICKER_GROUPS = (
    ("price24hPcnt", "lastPrice"),
    ("prevPrice24h",),
    ("highPrice24h",),
    ("lowPrice24h",),
    ("turnover24h", "volume24h"),
    ("bid1Price", "bid1Size"),
    ("ask1Price", "ask1Size"),
)


class _RecordedFrame(msgspec.Struct):
    topic: str = ""


_encode = msgspec.json.Encoder().encode
_decode_request = msgspec.json.Decoder(_Request).decode
_decode_recorded = msgspec.json.Decoder(_RecordedFrame).decode


def _ratio(numerator: int, denominator: int, decimals: int) -> int:
    """``numerator / denominator`` in ``10**-8`` units, cut toward zero to ``decimals`` places."""
    step = 10 ** (PRICE_DECIMALS - decimals)
    magnitude = abs(numerator) * 10**PRICE_DECIMALS // denominator // step * step
    return -magnitude if numerator < 0 else magnitude


# -- one connection -------------------------------------------------------------------------------


class BybitSession(SimSession):
    """One connection: its topics (``orderbook.1.BTCUSDT`` …), its ``conn_id``, and when it alone
    last got each book (its snapshot on subscribe, or a repeat of an unchanged book)."""

    def __init__(self, venue: BybitSimVenue, conn_id: str) -> None:
        super().__init__()
        self.venue = venue
        self.conn_id = conn_id
        self.book_sent_ms: dict[str, int] = {}

    def on_text(self, message: bytes, now_ns: int) -> SessionReply:
        """Answer a ping with a pong, a request with its reply (then, for a subscription, the
        current books and tickers), anything else with an error reply."""
        venue = self.venue
        now_ms = now_ns // _NS_PER_MS
        try:
            request = _decode_request(message)
        except msgspec.DecodeError as exc:
            problem = f"Failed to decode incoming data:{exc}"
            return SessionReply((venue.reply(self, "", UNSET, problem),))
        op, req_id = request.op, request.req_id
        if op == "ping":
            return SessionReply((venue.pong(self, req_id, now_ms),))
        if op not in ("subscribe", "unsubscribe"):
            return SessionReply((venue.reply(self, op, req_id, "error:invalid op"),))
        topics = list(dict.fromkeys(request.args or ()))
        if op == "unsubscribe":
            for topic in topics:
                self.topics.pop(topic, None)
                self.book_sent_ms.pop(topic, None)
            return SessionReply((venue.reply(self, op, req_id),))
        refusal = venue.refusal(topics, self.topics)
        if refusal:
            return SessionReply((venue.reply(self, op, req_id, refusal),))
        self.topics.update(dict.fromkeys(topics))
        snapshots = venue.snapshots(self, topics, now_ms)
        return SessionReply((venue.reply(self, op, req_id), *snapshots), subscribed=True)

    def heartbeat(self, now_ms: int, quiet: bool) -> bytes | None:
        """The repeat of this client's book that has been unchanged longest, once 3 s old."""
        return self.venue.book_repeat(self, now_ms)


# -- the venues -----------------------------------------------------------------------------------


# One listed symbol: its Bybit name, its number formats and what its pushes carry over.
class _Listing:
    def __init__(self, spec: SymbolSpec, name: str, quote: MarketQuote) -> None:
        self.symbol = spec.symbol
        self.name = name
        self.price_decimals = step_decimals(spec.tick)
        self.size_decimals = step_decimals(spec.lot)
        self.book_update_id = quote.update_id  # the quote the book's ``u`` was last counted for
        self.book_u = quote.update_id // 100  # a count of its own, well below the cross sequence
        self.book_pushed_ms = 0  # when the book topic last went to all its subscribers
        self.ticker: _LinearTickerData | None = None  # the linear ticker as last sent
        self.last_trade_price = 0
        self.tick_direction = "ZeroPlusTick"


class BybitSimVenue(SimVenue):
    """What Bybit spot and linear share; ``BybitSpotSimVenue`` and ``BybitLinearSimVenue`` are
    the categories, served as two venues."""

    idle_timeout = 600.0
    quote_interval_ms = 10  # orderbook.1 pushes every 10 ms
    heartbeat_interval = 0.5  # how often books are checked for a 3 s repeat
    category: ClassVar[str]
    max_args: ClassVar[int | None] = None
    event_kinds: ClassVar[dict[type, tuple[str, ...]]]
    """The topic kinds each type of market event feeds."""
    _acks_name_op: ClassVar[bool]
    _req_id_always: ClassVar[bool]

    def __init__(self, view: VenueView | None) -> None:
        super().__init__(view)
        self._topics = EventTopics()
        self._topic_listings: dict[str, tuple[str, _Listing]] = {}
        listed = [(spec, view.quote(spec.symbol)) for spec in view.specs] if view else []
        for spec, quote in listed:
            name = venue_symbol(parse_symbol(spec.symbol))
            listing = _Listing(spec, name, quote)
            for kind in _SIMULATED_KINDS:
                self._topic_listings[f"{kind}.{name}"] = (kind, listing)
            for event_type, kinds in self.event_kinds.items():
                self._topics.set(event_type, spec.symbol, tuple(f"{kind}.{name}" for kind in kinds))
        self._connection_numbers = itertools.count(1)

    def accept(self, path: str) -> BybitSession:
        """A session for the category's path; RequestPathError 404 for any other path."""
        if path.rstrip("/") != self.default_path:
            raise unknown_path(path)
        return BybitSession(self, f"{self.category}-{next(self._connection_numbers):08x}")

    def topics(self, event: MarketEvent) -> tuple[str, ...]:
        """The topics ``event`` feeds, e.g. ``("orderbook.1.BTCUSDT", "tickers.BTCUSDT")``."""
        return self._topics.of(event)

    def render(self, event: MarketEvent, topic: str) -> Sequence[bytes]:
        """The push of ``topic`` for ``event``: a book, a trade message or a ticker (none for a
        linear ticker left unchanged)."""
        kind, listing = self._topic_listings[topic]
        if kind == _BOOK:
            assert isinstance(event, MarketQuote)
            listing.book_pushed_ms = event.time_ms
            return (self._book(listing, event, event.time_ms),)
        if kind == _TRADES:
            assert isinstance(event, MarketTrade)
            return (self._trades(listing, event),)
        return self._ticker_push(listing, event)

    def recorded_frame(self, line: bytes) -> tuple[str, bytes]:
        """The topic a recorded push names (``orderbook.200.BTCUSDT`` …); replies to requests
        reach no one."""
        return _decode_recorded(line).topic, line

    # -- requests ---------------------------------------------------------------------------------

    def reply(
        self,
        session: BybitSession,
        op: str,
        req_id: str | UnsetType,
        error: str | None = None,
    ) -> bytes:
        """The reply to a request: success, or failure with ``error`` as ``ret_msg``."""
        if req_id is UNSET and self._req_id_always:
            req_id = ""
        if error is None:
            ret_msg = op if self._acks_name_op else ""
        else:
            ret_msg = error
        reply = _Reply(
            success=error is None, ret_msg=ret_msg, conn_id=session.conn_id, req_id=req_id, op=op
        )
        return _encode(reply)

    @abstractmethod
    def pong(self, session: BybitSession, req_id: str | UnsetType, now_ms: int) -> bytes:
        """The answer to ``{"op":"ping"}``."""

    def refusal(self, topics: list[str], subscribed: dict[str, None]) -> str | None:
        """Why a subscribe request for ``topics`` is refused (the reply's ``ret_msg``), or None."""
        if not topics:
            return "error:args is empty"
        if self.max_args is not None and len(topics) > self.max_args:
            return f"args size >{self.max_args}"
        for topic in topics:
            if topic in subscribed:
                return f"error:already subscribed,topic:{topic}"
            if self.view is None:
                if _REAL_TOPIC_RE.fullmatch(topic) is None:
                    return f"error:handler not found,topic:{topic}"
            elif topic not in self._topic_listings:
                if topic.rpartition(".")[0] in _SIMULATED_KINDS:
                    return self._unknown_symbol(topic)
                return f"error:handler not found,topic:{topic}"
        return None

    def snapshots(self, session: BybitSession, topics: list[str], now_ms: int) -> list[bytes]:
        """What new subscriptions to ``topics`` get after the ack: the current book of each
        ``orderbook.1`` topic and ticker of each ``tickers`` topic (nothing while replaying)."""
        view = self.view
        if view is None:
            return []
        frames = []
        for topic in topics:
            kind, listing = self._topic_listings[topic]
            if kind == _BOOK:
                frames.append(self._book(listing, view.quote(listing.symbol), now_ms))
                session.book_sent_ms[topic] = now_ms
            elif kind == _TICKERS:
                frames.append(self._ticker_snapshot(listing, now_ms))
        return frames

    def book_repeat(self, session: BybitSession, now_ms: int) -> bytes | None:
        """The book of ``session`` that nobody was sent for longest, again with the same ``u``,
        once that is 3 s ago; None if no book is due."""
        view = self.view
        if view is None:
            return None
        sent_ms = session.book_sent_ms

        def last_sent_ms(topic: str) -> int:
            return max(sent_ms[topic], self._topic_listings[topic][1].book_pushed_ms)

        due_topic = min(sent_ms, key=last_sent_ms, default="")
        if not due_topic or now_ms - last_sent_ms(due_topic) < BOOK_REPEAT_MS:
            return None
        session.book_sent_ms[due_topic] = now_ms
        listing = self._topic_listings[due_topic][1]
        return self._book(listing, view.quote(listing.symbol), now_ms)

    # -- pushes -----------------------------------------------------------------------------------

    def _book(self, listing: _Listing, quote: MarketQuote, now_ms: int) -> bytes:
        if quote.update_id != listing.book_update_id:
            listing.book_update_id = quote.update_id
            listing.book_u += 1
        data = _BookData(
            listing.name,
            [(self._price(listing, quote.bid), self._size(listing, quote.bid_size))],
            [(self._price(listing, quote.ask), self._size(listing, quote.ask_size))],
            listing.book_u,
            quote.update_id,
        )
        return _encode(self._book_message(f"{_BOOK}.{listing.name}", now_ms, data, quote.time_ms))

    def _cross_sequence(self, listing: _Listing) -> int:
        assert self.view is not None
        return self.view.quote(listing.symbol).update_id

    def _price(self, listing: _Listing, value: int) -> str:
        return self._number(value, listing.price_decimals)

    def _size(self, listing: _Listing, value: int) -> str:
        return self._number(value, listing.size_decimals)

    def _unknown_symbol(self, topic: str) -> str:
        return f"error:handler not found,topic:{topic}"

    @abstractmethod
    def _number(self, value: int, decimals: int) -> str:
        ...

    @abstractmethod
    def _book_message(
        self, topic: str, now_ms: int, data: _BookData, matched_ms: int
    ) -> _SpotBook | _LinearBook:
        ...

    @abstractmethod
    def _trades(self, listing: _Listing, trade: MarketTrade) -> bytes:
        ...

    @abstractmethod
    def _ticker_push(self, listing: _Listing, event: MarketEvent) -> Sequence[bytes]:
        ...

    @abstractmethod
    def _ticker_snapshot(self, listing: _Listing, now_ms: int) -> bytes:
        ...


class BybitSpotSimVenue(BybitSimVenue):
    """Bybit spot at ``/v5/public/spot``: at most 10 topics per subscribe request, acks and pongs
    with ``success``, shortest-form numbers, a ticker snapshot per ticker event."""

    name = "bybit"
    default_path = "/v5/public/spot"
    category = "spot"
    max_args = MAX_SPOT_ARGS
    event_kinds = {
        MarketQuote: (_BOOK,),
        MarketTrade: (_TRADES,),
        MarketTicker: (_TICKERS,),
    }
    _acks_name_op = True
    _req_id_always = False

    def pong(self, session: BybitSession, req_id: str | UnsetType, now_ms: int) -> bytes:
        """``{"success":true,"ret_msg":"pong","conn_id":…,"op":"ping"}`` (with the request's
        ``req_id`` if it had one)."""
        pong = _Reply(
            success=True, ret_msg="pong", conn_id=session.conn_id, req_id=req_id, op="ping"
        )
        return _encode(pong)

    def _unknown_symbol(self, topic: str) -> str:
        return f"Invalid symbol :[{topic}]"

    def _number(self, value: int, decimals: int) -> str:
        return format_units_short(value)

    def _book_message(
        self, topic: str, now_ms: int, data: _BookData, matched_ms: int
    ) -> _SpotBook:
        return _SpotBook(
            topic=topic, ts=now_ms, type="snapshot", data=data, cts=matched_ms or now_ms
        )

    def _trades(self, listing: _Listing, trade: MarketTrade) -> bytes:
        price = self._price(listing, trade.price)
        side = "Buy" if trade.taker_side == BUY else "Sell"
        cross_sequence = self._cross_sequence(listing)
        fills = [
            _SpotTrade(
                i=str(trade.first_trade_id + fill),
                T=trade.time_ms,
                p=price,
                v=self._size(listing, size),
                S=side,
                seq=cross_sequence,
                s=listing.name,
            )
            for fill, size in enumerate(trade.fill_sizes)
        ]
        topic = f"{_TRADES}.{listing.name}"
        return _encode(_SpotTrades(topic=topic, ts=trade.time_ms, type="snapshot", data=fills))

    def _ticker_push(self, listing: _Listing, event: MarketEvent) -> tuple[bytes]:
        assert isinstance(event, MarketTicker)
        return (self._spot_ticker(listing, event),)

    def _ticker_snapshot(self, listing: _Listing, now_ms: int) -> bytes:
        assert self.view is not None
        return self._spot_ticker(listing, self.view.ticker(listing.symbol, now_ms))

    def _spot_ticker(self, listing: _Listing, ticker: MarketTicker) -> bytes:
        data = _SpotTickerData(
            symbol=listing.name,
            lastPrice=self._price(listing, ticker.last),
            highPrice24h=self._price(listing, ticker.high),
            lowPrice24h=self._price(listing, ticker.low),
            prevPrice24h=self._price(listing, ticker.open),
            volume24h=self._size(listing, ticker.volume),
            turnover24h=format_units_short(ticker.quote_volume),
            price24hPcnt=format_units_short(_ratio(ticker.last - ticker.open, ticker.open, 4)),
        )
        message = _SpotTickers(
            topic=f"{_TICKERS}.{listing.name}",
            ts=ticker.time_ms,
            type="snapshot",
            cs=self._cross_sequence(listing),
            data=data,
        )
        return _encode(message)


class BybitLinearSimVenue(BybitSimVenue):
    """Bybit linear perpetuals at ``/v5/public/linear``: acks with an empty ``ret_msg``, pongs as
    ``{"op":"pong","args":[ms]}``, numbers with the tick's and the lot's decimals, tickers as a
    snapshot then deltas that carry the best bid/offer, trade ids as UUIDs and tick directions."""

    name = "bybit_linear"
    default_path = "/v5/public/linear"
    instrument_kinds = frozenset(("PERP",))
    category = "linear"
    event_kinds = {
        MarketQuote: (_BOOK, _TICKERS),
        MarketTrade: (_TRADES, _TICKERS),
        MarketTicker: (),  # the statistics change with trades, which already push them
    }
    _acks_name_op = False
    _req_id_always = True

    def pong(self, session: BybitSession, req_id: str | UnsetType, now_ms: int) -> bytes:
        """``{"req_id":…,"op":"pong","args":["<ms>"],"conn_id":…}``."""
        request_id = "" if req_id is UNSET else req_id
        return _encode(_LinearPong(request_id, "pong", [str(now_ms)], session.conn_id))

    def _number(self, value: int, decimals: int) -> str:
        return format_units(value, decimals)

    def _book_message(
        self, topic: str, now_ms: int, data: _BookData, matched_ms: int
    ) -> _LinearBook:
        return _LinearBook(
            topic=topic, type="snapshot", ts=now_ms, data=data, cts=matched_ms or now_ms
        )

    def _trades(self, listing: _Listing, trade: MarketTrade) -> bytes:
        price = self._price(listing, trade.price)
        side = "Buy" if trade.taker_side == BUY else "Sell"
        cross_sequence = self._cross_sequence(listing)
        fills = []
        for fill, size in enumerate(trade.fill_sizes):
            fills.append(
                _LinearTrade(
                    T=trade.time_ms,
                    s=listing.name,
                    S=side,
                    v=self._size(listing, size),
                    p=price,
                    L=self._tick_direction(listing, trade.price),
                    i=str(uuid.UUID(int=trade.first_trade_id + fill)),
                    seq=cross_sequence,
                )
            )
        topic = f"{_TRADES}.{listing.name}"
        return _encode(_LinearTrades(topic=topic, type="snapshot", ts=trade.time_ms, data=fills))

    @staticmethod
    def _tick_direction(listing: _Listing, price: int) -> str:
        previous = listing.last_trade_price
        if price > previous:
            listing.tick_direction = "PlusTick"
        elif price < previous:
            listing.tick_direction = "MinusTick"
        elif listing.tick_direction in ("PlusTick", "ZeroPlusTick"):
            listing.tick_direction = "ZeroPlusTick"
        else:
            listing.tick_direction = "ZeroMinusTick"
        listing.last_trade_price = price
        return listing.tick_direction

    def _ticker_push(self, listing: _Listing, event: MarketEvent) -> tuple[bytes, ...]:
        previous = listing.ticker
        if previous is None:  # a client of subscribe_all, which never subscribed
            return (self._ticker_snapshot(listing, event.time_ms),)
        current = self._linear_ticker(listing, event.time_ms)
        changed = {
            field: getattr(current, field)
            for group in _LINEAR_TICKER_GROUPS
            if any(getattr(current, field) != getattr(previous, field) for field in group)
            for field in group
        }
        if not changed:
            return ()
        listing.ticker = current
        delta = _LinearTickerData(symbol=listing.name, **changed)
        return (self._ticker_message(listing, "delta", delta, event.time_ms),)

    def _ticker_snapshot(self, listing: _Listing, now_ms: int) -> bytes:
        listing.ticker = self._linear_ticker(listing, now_ms)
        return self._ticker_message(listing, "snapshot", listing.ticker, now_ms)

    def _ticker_message(
        self, listing: _Listing, kind: str, data: _LinearTickerData, now_ms: int
    ) -> bytes:
        message = _LinearTickers(
            topic=f"{_TICKERS}.{listing.name}",
            type=kind,
            data=data,
            cs=self._cross_sequence(listing),
            ts=now_ms,
        )
        return _encode(message)

    def _linear_ticker(self, listing: _Listing, now_ms: int) -> _LinearTickerData:
        assert self.view is not None
        ticker = self.view.ticker(listing.symbol, now_ms)
        price, size = self._price, self._size
        return _LinearTickerData(
            symbol=listing.name,
            price24hPcnt=format_units(_ratio(ticker.last - ticker.open, ticker.open, 6), 6),
            lastPrice=price(listing, ticker.last),
            prevPrice24h=price(listing, ticker.open),
            highPrice24h=price(listing, ticker.high),
            lowPrice24h=price(listing, ticker.low),
            turnover24h=format_units(ticker.quote_volume, 4),
            volume24h=size(listing, ticker.volume),
            bid1Price=price(listing, ticker.bid),
            bid1Size=size(listing, ticker.bid_size),
            ask1Price=price(listing, ticker.ask),
            ask1Size=size(listing, ticker.ask_size),
        )
