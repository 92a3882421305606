"""Coinbase Advanced Trade public market data server, without I/O: ``CoinbaseSimVenue``.

Clients connect to the root path and send one ``{"type":"subscribe","product_ids":[…],
"channel":…}`` per channel (``unsubscribe`` alike; ``heartbeats`` takes no products). Every frame
is ``{"channel":…,"timestamp":"<RFC 3339>","sequence_num":N,"events":[…]}``, numbered per
connection from 0 across all channels: snapshots, ``subscriptions`` acknowledgements, heartbeats
and updates alike. Errors (``{"type":"error","message":…}``) carry no number. The layout follows
the frames recorded from the real venue in 2026-08: no ``client_id``, keys in this order, numbers
as decimal text without trailing zeros, times in UTC with up to 9 fraction digits.

The synthetic market feeds ``ticker`` (on every quote and trade: the venue's touch and 24 h
statistics) and ``market_trades`` (each taker order as one update, fills newest first, ``side``
the maker's). A subscription gets a snapshot per product first (the ticker now, the trades this
venue published lately), then its acknowledgement, as the real venue orders them. ``level2``,
``candles``, ``ticker_batch`` and ``status`` are accepted for listed products and carry only
what a replayed recording holds. Unknown products or channels answer ``failure to subscribe``
and change nothing. Heartbeats go out every second to connections subscribed to
``heartbeats``; without them the data channels of a connection close after 60 quiet seconds.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import msgspec

from tickwire.instruments import parse_symbol
from tickwire.model import BUY
from tickwire.sim.market import MarketEvent, MarketQuote, MarketTicker, MarketTrade, VenueView
from tickwire.sim.venue import (
    SessionReply,
    SimSession,
    SimVenue,
    format_units_short,
    unknown_path,
)

__all__ = [
    "CHANNEL_IDLE_SECONDS",
    "MARKET_TRADES_SNAPSHOT_SIZE",
    "CoinbaseSession",
    "CoinbaseSimVenue",
    "parse_recorded_line",
    "rfc3339_nano",
]

CHANNEL_IDLE_SECONDS = 60
"""Quiet seconds after which a connection without ``heartbeats`` loses its data channels."""
MARKET_TRADES_SNAPSHOT_SIZE = 50
"""Most recent trades per product in a ``market_trades`` snapshot."""

HEARTBEATS = "heartbeats"
PRODUCT_CHANNELS = frozenset(
    ("ticker", "ticker_batch", "level2", "market_trades", "candles", "status")
)
"""Public channels that take product ids; only ``ticker`` and ``market_trades`` are synthetic."""

_FRAME_CHANNELS = {"l2_data": "level2"}  # channel names in frames that differ from subscribe's
_PRODUCT_ID_RE = re.compile(r"[A-Z0-9]{1,16}-[A-Z0-9]{1,16}")
_EVENTS_KEY = b',"events":'
_SEQUENCE_NUM_RE = re.compile(rb',"sequence_num":\d+')
_NS_PER_SECOND = 1_000_000_000
_NS_PER_MS = 1_000_000
_HUNDRED_PERCENT = 100 * 10**8

_SUBSCRIBE_OR_UNSUBSCRIBE_REQUIRED = (
    b'{"type":"error","message":"subscribe or unsubscribe required"}'
)
_FAILURE_TO_SUBSCRIBE = b'{"type":"error","message":"failure to subscribe"}'


def rfc3339_nano(time_ns: int) -> str:
    """``time_ns`` since the epoch as Coinbase writes times: UTC, ``Z``, the fraction of the
    second without trailing zeros and without a dot when it is zero (Go's RFC3339Nano)."""
    seconds, fraction_ns = divmod(time_ns, _NS_PER_SECOND)
    if not fraction_ns:
        return f"{_utc_second(seconds)}Z"
    return f"{_utc_second(seconds)}.{fraction_ns:09d}".rstrip("0") + "Z"


@lru_cache(maxsize=4)
def _utc_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _go_time(time_ns: int, uptime_ns: int) -> str:
    """Go's ``time.Time.String()`` of a UTC time with a monotonic reading, as in heartbeats."""
    uptime_s, uptime_fraction = divmod(uptime_ns, _NS_PER_SECOND)
    day_time = rfc3339_nano(time_ns)[:-1].replace("T", " ")
    return f"{day_time} +0000 UTC m=+{uptime_s}.{uptime_fraction:09d}"


def _percent_change(old: int, new: int) -> str:
    change = abs(new - old) * _HUNDRED_PERCENT // old
    return format_units_short(-change if new < old else change)


# -- wire structs ---------------------------------------------------------------------------------


class _Envelope(msgspec.Struct, gc=False):
    """A frame without its ``sequence_num``, which ``CoinbaseSession`` adds per connection."""

    channel: str
    timestamp: str
    events: Sequence[Any]


class _Ticker(msgspec.Struct, gc=False, tag_field="type", tag="ticker"):
    product_id: str
    price: str
    volume_24_h: str
    low_24_h: str
    high_24_h: str
    low_52_w: str
    high_52_w: str
    price_percent_chg_24_h: str
    best_bid: str
    best_ask: str
    best_bid_quantity: str
    best_ask_quantity: str


class _TickerEvent(msgspec.Struct, gc=False):
    type: str
    tickers: Sequence[_Ticker]


class _Trade(msgspec.Struct, gc=False):
    product_id: str
    trade_id: str
    price: str
    size: str
    time: str
    side: str


class _TradesEvent(msgspec.Struct, gc=False):
    type: str
    trades: Sequence[_Trade]


class _SubscriptionsEvent(msgspec.Struct, gc=False):
    subscriptions: dict[str, list[str]]


class _HeartbeatEvent(msgspec.Struct, gc=False):
    current_time: str
    heartbeat_counter: int


class _Request(msgspec.Struct, gc=False):
    type: str = ""
    channel: str = ""
    product_ids: list[str] = []


_encode = msgspec.json.Encoder().encode
_decode_request = msgspec.json.Decoder(_Request).decode


def _ticker(product: str, ticker: MarketTicker) -> _Ticker:
    return _Ticker(
        product_id=product,
        price=format_units_short(ticker.last),
        volume_24_h=format_units_short(ticker.volume),
        low_24_h=format_units_short(ticker.low),
        high_24_h=format_units_short(ticker.high),
        low_52_w=format_units_short(ticker.low),
        high_52_w=format_units_short(ticker.high),
        price_percent_chg_24_h=_percent_change(ticker.open, ticker.last),
        best_bid=format_units_short(ticker.bid),
        best_ask=format_units_short(ticker.ask),
        best_bid_quantity=format_units_short(ticker.bid_size),
        best_ask_quantity=format_units_short(ticker.ask_size),
    )


def _trades(product: str, trade: MarketTrade) -> list[_Trade]:
    """The fills of ``trade``, newest first."""
    price = format_units_short(trade.price)
    time_text = rfc3339_nano(trade.time_ms * _NS_PER_MS)
    side = "SELL" if trade.taker_side == BUY else "BUY"  # the maker's side, as Coinbase says
    first_id = trade.first_trade_id
    return [
        _Trade(product, str(first_id + fill), price, format_units_short(size), time_text, side)
        for fill, size in reversed(list(enumerate(trade.fill_sizes)))
    ]


# -- recordings -----------------------------------------------------------------------------------


class _RecordedItem(msgspec.Struct, gc=False):
    product_id: str = ""


class _RecordedEvent(msgspec.Struct, gc=False):
    product_id: str = ""
    tickers: list[_RecordedItem] = []
    trades: list[_RecordedItem] = []
    candles: list[_RecordedItem] = []


class _RecordedFrame(msgspec.Struct, gc=False):
    channel: str = ""
    events: list[_RecordedEvent] = []


_decode_recorded_frame = msgspec.json.Decoder(_RecordedFrame).decode


def _recorded_product(event: _RecordedEvent) -> str:
    if event.product_id:
        return event.product_id
    for items in (event.tickers, event.trades, event.candles):
        if items:
            return items[0].product_id
    return ""


def parse_recorded_line(line: bytes) -> tuple[str, bytes]:
    """The topic (``<channel>:<product>``, "" for control frames) and the payload of one recorded
    frame: the line without its ``sequence_num``, which the replaying session numbers anew.

    The product is the first one the frame names; ``l2_data`` frames belong to ``level2``.
    Raises ValueError for a line that is not a JSON object.
    """
    frame = _decode_recorded_frame(line)
    payload = _SEQUENCE_NUM_RE.sub(b"", line, count=1)
    channel = _FRAME_CHANNELS.get(frame.channel, frame.channel)
    if channel not in PRODUCT_CHANNELS or not frame.events:
        return "", payload
    product = _recorded_product(frame.events[0])
    return (f"{channel}:{product}" if product else ""), payload


# -- sessions -------------------------------------------------------------------------------------


class CoinbaseSession(SimSession):
    """One Advanced Trade connection: its subscriptions, its frame numbering and quiet time.

    ``topics`` are ``<channel>:<product>`` for every product channel subscribed; ``channels``
    lists the products per channel as the ``subscriptions`` acknowledgement shows them.
    """

    def __init__(self, venue: CoinbaseSimVenue) -> None:
        super().__init__()
        self.venue = venue
        self.channels: dict[str, dict[str, None]] = {}
        self.next_sequence_num = 0
        self.quiet_seconds = 0

    @property
    def framing(self) -> CoinbaseSession:
        """This session: its frames are numbered for it alone."""
        return self

    def frame(self, topic: str, payload: bytes) -> bytes:
        """``payload`` with this connection's next ``sequence_num`` before its ``events``."""
        return self.numbered(payload)

    def numbered(self, payload: bytes) -> bytes:
        """See ``frame``; a payload without ``events`` (an error) goes out as it is."""
        at = payload.find(_EVENTS_KEY)
        if at < 0:
            return payload
        number = self.next_sequence_num
        self.next_sequence_num = number + 1
        return b'%b,"sequence_num":%d%b' % (payload[:at], number, payload[at:])

    def on_text(self, message: bytes, now_ns: int) -> SessionReply:
        """Apply one subscribe or unsubscribe: snapshots then the acknowledgement, or an error."""
        try:
            request = _decode_request(message)
        except msgspec.DecodeError:
            return SessionReply((_SUBSCRIBE_OR_UNSUBSCRIBE_REQUIRED,))
        subscribe = request.type == "subscribe"
        if not subscribe and request.type != "unsubscribe":
            return SessionReply((_SUBSCRIBE_OR_UNSUBSCRIBE_REQUIRED,))
        channel = request.channel
        products = tuple(dict.fromkeys(request.product_ids))
        if channel == HEARTBEATS:
            products = (HEARTBEATS,)
        elif (
            channel not in PRODUCT_CHANNELS
            or not all(map(self.venue.lists, products))
            or (subscribe and not products)
        ):
            return SessionReply((_FAILURE_TO_SUBSCRIBE,))
        if subscribe:
            frames = [self.numbered(p) for p in self.venue.snapshots(channel, products, now_ns)]
            self.channels.setdefault(channel, {}).update(dict.fromkeys(products))
        else:
            frames = []
            self._unsubscribe(channel, products)
        if channel != HEARTBEATS:
            self.topics = {
                f"{name}:{product}": None
                for name, subscribed in self.channels.items()
                if name != HEARTBEATS
                for product in subscribed
            }
        frames.append(self.numbered(self.venue.subscriptions(self.channels, now_ns)))
        return SessionReply(frames, subscribed=subscribe)

    def _unsubscribe(self, channel: str, products: Iterable[str]) -> None:
        subscribed = self.channels.get(channel, {})
        for product in products or tuple(subscribed):
            subscribed.pop(product, None)
        if not subscribed:
            self.channels.pop(channel, None)

    def heartbeat(self, now_ms: int, quiet: bool) -> bytes | None:
        """A numbered heartbeat while subscribed to ``heartbeats``. Otherwise count quiet seconds
        and close the data channels after ``CHANNEL_IDLE_SECONDS`` of them."""
        if HEARTBEATS in self.channels:
            return self.numbered(self.venue.heartbeat(now_ms))
        self.quiet_seconds = self.quiet_seconds + 1 if quiet and self.topics else 0
        if self.quiet_seconds >= CHANNEL_IDLE_SECONDS:
            self.channels.clear()
            self.topics.clear()
            self.quiet_seconds = 0
        return None


# -- the venue ------------------------------------------------------------------------------------


class CoinbaseSimVenue(SimVenue):
    """Coinbase Advanced Trade public market data at the root path (see the module docstring)."""

    name = "coinbase"
    default_path = ""
    heartbeat_interval = 1.0

    def __init__(self, view: VenueView | None) -> None:
        super().__init__(view)
        self._products: dict[str, str] = {}
        self._ticker_topics: dict[str, tuple[str]] = {}
        self._trade_topics: dict[str, tuple[str, str]] = {}
        self._recent_trades: dict[str, deque[_Trade]] = {}
        for spec in view.specs if view is not None else ():
            instrument = parse_symbol(spec.symbol)
            product = f"{instrument.base}-{instrument.quote}"
            self._products[product] = spec.symbol
            self._ticker_topics[spec.symbol] = (f"ticker:{product}",)
            self._trade_topics[spec.symbol] = (f"market_trades:{product}", f"ticker:{product}")
            self._recent_trades[product] = deque(maxlen=MARKET_TRADES_SNAPSHOT_SIZE)
        self._first_heartbeat_ms: int | None = None

    def accept(self, path: str) -> CoinbaseSession:
        """A session for the root path; 404 for any other."""
        if path != "/":
            raise unknown_path(path)
        return CoinbaseSession(self)

    def lists(self, product: str) -> bool:
        """True for a product of the synthetic market (for any well-formed id while replaying)."""
        if self.view is None:
            return _PRODUCT_ID_RE.fullmatch(product) is not None
        return product in self._products

    def topics(self, event: MarketEvent) -> tuple[str, ...]:
        """``ticker:<product>`` for a quote; ``market_trades:<product>`` then the ticker for a
        trade; nothing for statistics alone (they ride on every ticker)."""
        if isinstance(event, MarketQuote):
            return self._ticker_topics[event.symbol]
        if isinstance(event, MarketTrade):
            return self._trade_topics[event.symbol]
        return ()

    def render(self, event: MarketEvent, topic: str) -> Sequence[bytes]:
        """The update payload of ``topic`` for ``event``, just produced by the venue's view (a
        ticker shows the view's statistics and touch now, or the quote's touch for a quote)."""
        timestamp = rfc3339_nano(event.time_ms * _NS_PER_MS)
        channel, _, product = topic.partition(":")
        if channel == "market_trades":
            assert isinstance(event, MarketTrade)
            trades = _trades(product, event)
            self._recent_trades[product].extend(reversed(trades))
            events: tuple[Any, ...] = (_TradesEvent("update", trades),)
        else:
            assert self.view is not None
            ticker = self.view.ticker(event.symbol, event.time_ms)
            if isinstance(event, MarketQuote):
                ticker = msgspec.structs.replace(
                    ticker,
                    bid=event.bid,
                    bid_size=event.bid_size,
                    ask=event.ask,
                    ask_size=event.ask_size,
                )
            events = (_TickerEvent("update", (_ticker(product, ticker),)),)
        return (_encode(_Envelope(channel, timestamp, events)),)

    def recorded_frame(self, line: bytes) -> tuple[str, bytes]:
        """See ``parse_recorded_line``."""
        return parse_recorded_line(line)

    def snapshots(self, channel: str, products: Sequence[str], now_ns: int) -> list[bytes]:
        """One snapshot payload per product of a new ``ticker`` or ``market_trades``
        subscription; none for other channels or while replaying."""
        view = self.view
        if view is None or channel not in ("ticker", "market_trades"):
            return []
        timestamp = rfc3339_nano(now_ns)
        payloads = []
        for product in products:
            if channel == "ticker":
                ticker = view.ticker(self._products[product], now_ns // _NS_PER_MS)
                event: Any = _TickerEvent("snapshot", (_ticker(product, ticker),))
            else:
                event = _TradesEvent("snapshot", tuple(reversed(self._recent_trades[product])))
            payloads.append(_encode(_Envelope(channel, timestamp, (event,))))
        return payloads

    def subscriptions(self, channels: dict[str, dict[str, None]], now_ns: int) -> bytes:
        """The ``subscriptions`` payload listing ``channels`` (channel names sorted)."""
        listed = {name: list(channels[name]) for name in sorted(channels)}
        return _encode(
            _Envelope("subscriptions", rfc3339_nano(now_ns), (_SubscriptionsEvent(listed),))
        )

    def heartbeat(self, now_ms: int) -> bytes:
        """The ``heartbeats`` payload at ``now_ms``; the counter counts seconds since the
        venue's first heartbeat, as the real one counts its server's uptime."""
        if self._first_heartbeat_ms is None:
            self._first_heartbeat_ms = now_ms
        uptime_ns = (now_ms - self._first_heartbeat_ms) * _NS_PER_MS
        now_ns = now_ms * _NS_PER_MS
        event = _HeartbeatEvent(_go_time(now_ns, uptime_ns), uptime_ns // _NS_PER_SECOND)
        return _encode(_Envelope(HEARTBEATS, rfc3339_nano(now_ns), (event,)))
