"""Bitstamp WebSocket API v2 public market data server, without I/O: ``BitstampSimVenue``.

Clients connect to ``/`` and send ``{"event":"bts:subscribe","data":{"channel":…}}`` per channel
(``bts:unsubscribe`` alike), each acknowledged as ``{"event":"bts:subscription_succeeded",
"channel":…,"data":{}}``, and ``{"event":"bts:heartbeat"}``, answered with a success; the server
sends no heartbeat of its own and keeps silent clients. Errors are ``bts:error`` with the
messages the real venue sends: ``Incorrect JSON format.`` for text that is not JSON, ``Bad
subscription string.`` for a request without a channel or with an unknown event, ``Invalid
channel provided.`` for a malformed channel name. A well-formed channel of a pair the venue does
not list is acknowledged and then stays silent, as on the real venue.

The synthetic market feeds ``order_book_<pair>`` (a full top-100 book on every quote, best level
first, never a snapshot at subscription: the first frame is the next change) and
``live_trades_<pair>`` (one ``trade`` per fill, ``type`` 0 for a taker buy, 1 for a sell, exact
``*_str`` fields beside the JSON numbers). Data frames put ``channel`` after ``data``, as
Bitstamp does. Prices have as many decimals as the symbol's tick needs, amounts 8.
"""

from __future__ import annotations

import random
import re
from itertools import accumulate
from collections.abc import Sequence
from functools import lru_cache

import msgspec

from tickwire.instruments import parse_symbol
from tickwire.model import BUY
from tickwire.sim.market import (
    MarketEvent,
    MarketQuote,
    MarketTrade,
    SymbolSpec,
    VenueView,
)
from tickwire.sim.venue import (
    SessionReply,
    SimSession,
    SimVenue,
    format_units,
    format_units_short,
    step_decimals,
    unknown_path,
)

__all__ = [
    "BOOK_LEVELS",
    "BitstampSession",
    "BitstampSimVenue",
    "is_valid_channel",
    "parse_recorded_line",
]

BOOK_LEVELS = 100
"""Levels per side of an ``order_book`` frame."""

_CHANNEL_RE = re.compile(
    r"(?:live_trades|order_book|detail_order_book|diff_order_book|live_orders|funding_rate)"
    r"_[a-z0-9]+(?:-perp)?"
)
_AMOUNT_DECIMALS = 8
_MAX_LADDER_STEP_TICKS = 3
_ORDER_ID_BASE = 1_790_000_000_000_000  # real order ids are about this large
_TAKER_ORDER_ID_BASE = _ORDER_ID_BASE + 10**13  # taker orders are newer than the makers they hit
_US_PER_MS = 1_000
_MS_PER_SECOND = 1_000


def is_valid_channel(channel: str) -> bool:
    """True for a well-formed public channel name such as ``order_book_btcusd``, listed or not."""
    return _CHANNEL_RE.fullmatch(channel) is not None


class _ErrorBody(msgspec.Struct, gc=False):
    code: int | None
    message: str


class _Message(msgspec.Struct, gc=False):
    event: str
    channel: str
    data: object


class _Data(msgspec.Struct, gc=False):
    """A data frame: ``channel`` after ``data``, as Bitstamp sends it."""

    data: object
    channel: str
    event: str


class _Book(msgspec.Struct, gc=False):
    timestamp: str
    microtimestamp: str
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]


class _Trade(msgspec.Struct, gc=False):
    id: int
    timestamp: str
    amount: msgspec.Raw
    amount_str: str
    price: msgspec.Raw
    price_str: str
    type: int
    microtimestamp: str
    buy_order_id: int
    sell_order_id: int


class _RequestData(msgspec.Struct, gc=False):
    channel: str = ""


class _Request(msgspec.Struct, gc=False):
    event: str = ""
    data: _RequestData = msgspec.field(default_factory=_RequestData)


class _RecordedLine(msgspec.Struct, gc=False):
    event: str
    channel: str = ""


_encode = msgspec.json.Encoder().encode
_decode_request = msgspec.json.Decoder(_Request).decode
_decode_recorded_line = msgspec.json.Decoder(_RecordedLine).decode


def _error(message: str) -> bytes:
    return _encode(_Message("bts:error", "", _ErrorBody(None, message)))


_HEARTBEAT_ANSWER = _encode(_Message("bts:heartbeat", "", {"status": "success"}))
_INCORRECT_JSON = _error("Incorrect JSON format.")
_BAD_SUBSCRIPTION = _error("Bad subscription string.")
_INVALID_CHANNEL = _error("Invalid channel provided.")
_ACK_EVENTS = {
    "bts:subscribe": "bts:subscription_succeeded",
    "bts:unsubscribe": "bts:unsubscription_succeeded",
}


def parse_recorded_line(line: bytes) -> tuple[str, bytes]:
    """The channel of one recorded market data frame and the line itself; control frames
    (``bts:*`` events) get the topic "". Raises ValueError for a line without an ``event``."""
    frame = _decode_recorded_line(line)
    return ("" if frame.event.startswith("bts:") else frame.channel), line


class BitstampSession(SimSession):
    """One connection: ``topics`` are the channel names it subscribed to."""

    def on_text(self, message: bytes, now_ns: int) -> SessionReply:
        """Answer one client request (see the module docstring)."""
        try:
            request = _decode_request(message)
        except msgspec.ValidationError:
            return SessionReply((_BAD_SUBSCRIPTION,))
        except msgspec.DecodeError:
            return SessionReply((_INCORRECT_JSON,))
        if request.event == "bts:heartbeat":
            return SessionReply((_HEARTBEAT_ANSWER,))
        ack_event = _ACK_EVENTS.get(request.event)
        channel = request.data.channel
        if ack_event is None or not channel:
            return SessionReply((_BAD_SUBSCRIPTION,))
        if not is_valid_channel(channel):
            return SessionReply((_INVALID_CHANNEL,))
        subscribe = request.event == "bts:subscribe"
        if subscribe:
            self.topics[channel] = None
        else:
            self.topics.pop(channel, None)
        return SessionReply((_encode(_Message(ack_event, channel, {})),), subscribed=subscribe)


@lru_cache(maxsize=1 << 16)
def _units_text(units: int, decimals: int) -> str:
    return format_units(units, decimals)


class _Pair:
    """One listed pair: channel names, price decimals and the fixed shape of its deeper book."""

    def __init__(self, spec: SymbolSpec, max_lots: int) -> None:
        instrument = parse_symbol(spec.symbol)
        pair = (instrument.base + instrument.quote).lower()
        self.book_topics = (f"order_book_{pair}",)
        self.trade_topics = (f"live_trades_{pair}",)
        self.tick = spec.tick
        self.price_decimals = step_decimals(spec.tick)
        rng = random.Random(f"bitstamp-book/{spec.symbol}")
        steps = [rng.randint(1, _MAX_LADDER_STEP_TICKS) for _ in range(BOOK_LEVELS - 1)]
        self.depth_ticks = list(accumulate(steps))
        self.depth_amounts = [
            _units_text(rng.randint(1, max_lots) * spec.lot, _AMOUNT_DECIMALS)
            for _ in range(BOOK_LEVELS - 1)
        ]
        self.last_microtimestamp = 0

    def levels(self, best: int, best_amount: int, direction: int) -> list[tuple[str, str]]:
        """``best`` then the deeper levels, away from it in ``direction`` (-1 bids, 1 asks)."""
        decimals, tick = self.price_decimals, self.tick
        levels = [(_units_text(best, decimals), _units_text(best_amount, _AMOUNT_DECIMALS))]
        for ticks, amount in zip(self.depth_ticks, self.depth_amounts):
            price = best + direction * ticks * tick
            if price <= 0:
                break
            levels.append((_units_text(price, decimals), amount))
        return levels

    def next_microtimestamp(self, time_ms: int) -> int:
        """``time_ms`` in µs, or 1 µs after the previous book if that is not later."""
        self.last_microtimestamp = max(time_ms * _US_PER_MS, self.last_microtimestamp + 1)
        return self.last_microtimestamp


class BitstampSimVenue(SimVenue):
    """Bitstamp WebSocket API v2 public channels at ``/`` (see the module docstring)."""

    name = "bitstamp"
    default_path = "/"
    quote_interval_ms = 80  # order_book frames of a busy pair come at least ~80 ms apart

    def __init__(self, view: VenueView | None) -> None:
        super().__init__(view)
        self._pairs: dict[str, _Pair] = (
            {spec.symbol: _Pair(spec, view.profile.max_book_size_lots) for spec in view.specs}
            if view is not None
            else {}
        )

    def accept(self, path: str) -> BitstampSession:
        """A session for ``/``; 404 for any other path."""
        if path != "/":
            raise unknown_path(path)
        return BitstampSession()

    def topics(self, event: MarketEvent) -> tuple[str, ...]:
        """``order_book_<pair>`` for a quote, ``live_trades_<pair>`` for a trade, nothing for
        statistics (Bitstamp has no ticker channel)."""
        if isinstance(event, MarketQuote):
            return self._pairs[event.symbol].book_topics
        if isinstance(event, MarketTrade):
            return self._pairs[event.symbol].trade_topics
        return ()

    def render(self, event: MarketEvent, topic: str) -> Sequence[bytes]:
        """A book frame for a quote; one ``trade`` frame per fill of a trade."""
        pair = self._pairs[event.symbol]
        if isinstance(event, MarketQuote):
            microtimestamp = pair.next_microtimestamp(event.time_ms)
            book = _Book(
                timestamp=str(microtimestamp // (_US_PER_MS * _MS_PER_SECOND)),
                microtimestamp=str(microtimestamp),
                bids=pair.levels(event.bid, event.bid_size, -1),
                asks=pair.levels(event.ask, event.ask_size, 1),
            )
            return (_encode(_Data(book, topic, "data")),)
        assert isinstance(event, MarketTrade)
        return [_encode(_Data(trade, topic, "trade")) for trade in _trades(pair, event)]

    def recorded_frame(self, line: bytes) -> tuple[str, bytes]:
        """See ``parse_recorded_line``."""
        return parse_recorded_line(line)

    def reconnect_message(self, now_ms: int) -> bytes:
        """``bts:request_reconnect``: Bitstamp asks the client to reconnect at once."""
        return b'{"event":"bts:request_reconnect","channel":"","data":""}'


def _trades(pair: _Pair, trade: MarketTrade) -> list[_Trade]:
    price_text = _units_text(trade.price, pair.price_decimals)
    price_number = msgspec.Raw(format_units_short(trade.price).encode())
    seconds = str(trade.time_ms // _MS_PER_SECOND)
    microtimestamp = str(trade.time_ms * _US_PER_MS)
    taker_buys = trade.taker_side == BUY
    taker_order_id = _TAKER_ORDER_ID_BASE + trade.aggregate_id
    trades = []
    for fill, size in enumerate(trade.fill_sizes):
        trade_id = trade.first_trade_id + fill
        maker_order_id = _ORDER_ID_BASE + trade_id
        amount_text = _units_text(size, _AMOUNT_DECIMALS)
        trades.append(
            _Trade(
                id=trade_id,
                timestamp=seconds,
                amount=msgspec.Raw(format_units_short(size).encode()),
                amount_str=amount_text,
                price=price_number,
                price_str=price_text,
                type=0 if taker_buys else 1,
                microtimestamp=microtimestamp,
                buy_order_id=taker_order_id if taker_buys else maker_order_id,
                sell_order_id=maker_order_id if taker_buys else taker_order_id,
            )
        )
    return trades

