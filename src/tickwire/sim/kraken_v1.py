"""Kraken spot WebSocket v1 server, without I/O: ``KrakenV1SimVenue`` for ``tickwire.sim.server``.

v1 lives at the root path (``wss://ws.kraken.com``). Clients send ``subscribe`` / ``unsubscribe``
events for ``ticker``, ``trade`` and ``book`` (with a ``depth``) over legacy pair names
(``XBT/USD``, ``XDG/USD``) and ``ping``; every pair gets its own ``subscriptionStatus``
(``subscribed`` with a ``channelID``, or ``error`` with an ``errorMessage``). Channel payloads are
arrays ``[channelID, payload, channelName, pair]`` with prices and volumes as 8-decimal strings.
The server sends ``{"event":"heartbeat"}`` about once a second to a subscribed client it sent
nothing else.

The synthetic market feeds ``ticker`` (a push per quote and per ticker event, the current ticker
right after subscribing) and ``trade``; ``book`` frames come only from replayed recordings, such
as the real samples, which replay verbatim to the clients subscribed to their channel and pair.
Not simulated: the ``systemStatus`` event sent on connect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from tickwire.instruments import parse_symbol
from tickwire.model import BUY
from tickwire.sim.kraken import is_pair_name, order_type, quote_ticker, ticker_statistics
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
    SessionReply, SimSession, SimVenue, format_units,
    unknown_path,
)
from tickwire.venues.kraken import kraken_symbols

__all__ = ["HEARTBEAT", "KrakenV1Session", "KrakenV1SimVenue", "parse_recorded_line"]

HEARTBEAT = b'{"event":"heartbeat"}'

_ONE = 10**PRICE_DECIMALS
_BOOK_DEPTHS = (10, 25, 100, 500, 1000)
_DEFAULT_BOOK_DEPTH = 10
_FIRST_CHANNEL_ID = 100
_NS_PER_MS = 1_000_000
_SUBSCRIPTION_STATUS = "subscriptionStatus"


# -- wire shapes ----------------------------------------------------------------------------------


class _Subscription(msgspec.Struct, omit_defaults=True):
    depth: int | None = None
    name: str = ""


class _Status(msgspec.Struct, omit_defaults=True, kw_only=True):
    channelID: int | None = None
    channelName: str | None = None
    errorMessage: str | None = None
    event: str
    pair: str | None = None
    reqid: int | None = None
    status: str
    subscription: _Subscription | None = None


class _Event(msgspec.Struct, omit_defaults=True, kw_only=True):
    errorMessage: str | None = None
    event: str
    reqid: int | None = None


class _Ticker(msgspec.Struct, gc=False):
    a: tuple[str, int, str]
    b: tuple[str, int, str]
    c: tuple[str, str]
    v: tuple[str, str]
    p: tuple[str, str]
    t: tuple[int, int]
    l: tuple[str, str]  # noqa: E741 - Kraken's field name
    h: tuple[str, str]
    o: tuple[str, str]


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def _error_event(message: str, reqid: int | None = None) -> bytes:
    return _encode(_Event(errorMessage=message, event="error", reqid=reqid))


def _level(price: int, size: int) -> tuple[str, int, str]:
    return format_units(price), size // _ONE, format_units(size)


def _seconds(time_ms: int) -> str:
    seconds, millis = divmod(time_ms, 1000)
    return f"{seconds}.{millis:03d}000"


def _both(value: int) -> tuple[str, str]:
    """A (today, last 24 hours) pair: the view's statistics cover both."""
    text = format_units(value)
    return text, text


def parse_recorded_line(line: bytes) -> tuple[str, bytes, int | None]:
    """The topic (``ticker:XBT/USD``, ``book-1000:XBT/USD``…), payload and channel id of one
    recorded v1 frame; events (heartbeats, statuses) have topic "" and no channel id.

    Raises ValueError for a line that is neither a channel array nor an event object.
    """
    message = _decode(line)
    if isinstance(message, dict):
        return "", line, None
    if (
        isinstance(message, list)
        and len(message) >= 4
        and type(message[0]) is int
        and isinstance(message[-2], str)
        and isinstance(message[-1], str)
    ):
        return f"{message[-2]}:{message[-1]}", line, message[0]
    raise ValueError("not a Kraken v1 frame: expected [channelID, …, channelName, pair] or {…}")


# -- the session ----------------------------------------------------------------------------------


class _SubscriptionError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KrakenV1Session(SimSession):
    """One v1 connection: its subscriptions (topics ``ticker:XBT/USD``, ``trade:XBT/USD``,
    ``book-10:XBT/USD``) and the replies to its events."""

    def __init__(self, venue: KrakenV1SimVenue) -> None:
        super().__init__()
        self.venue = venue

    def on_text(self, message: bytes, now_ns: int) -> SessionReply:
        """Answer one event: a ``subscriptionStatus`` per pair (then the current tickers), a
        ``pong``, or an ``error`` event."""
        try:
            request = _decode(message)
        except msgspec.DecodeError:
            return SessionReply((_error_event("Malformed request"),))
        if not isinstance(request, dict):
            return SessionReply((_error_event("Malformed request"),))
        raw_reqid = request.get("reqid")
        reqid = raw_reqid if type(raw_reqid) is int else None
        event = request.get("event")
        if event == "ping":
            return SessionReply((_encode(_Event(event="pong", reqid=reqid)),))
        if event not in ("subscribe", "unsubscribe"):
            return SessionReply((_error_event(f"Unsupported event: {event}", reqid),))
        try:
            subscription = _subscription(request.get("subscription"))
            pairs = _pairs(request.get("pair"))
        except _SubscriptionError as exc:
            return SessionReply((_error_event(exc.message, reqid),))
        return self._subscription(event == "subscribe", subscription, pairs, reqid, now_ns)

    def heartbeat(self, now_ms: int, quiet: bool) -> bytes | None:
        """``{"event":"heartbeat"}`` when the client is subscribed and got nothing else."""
        return HEARTBEAT if quiet and self.topics else None

    def _subscription(
        self,
        subscribing: bool,
        subscription: _Subscription,
        pairs: list[str],
        reqid: int | None,
        now_ns: int,
    ) -> SessionReply:
        venue = self.venue
        channel = (
            f"book-{subscription.depth}" if subscription.name == "book" else subscription.name
        )
        replies: list[bytes] = []
        snapshots: list[bytes] = []
        acked = False
        for pair in pairs:
            topic = f"{channel}:{pair}"
            if not venue.lists(pair):
                problem = "Currency pair not supported"
            elif subscribing:
                problem = "Already subscribed" if topic in self.topics else ""
            else:
                problem = "" if topic in self.topics else "Subscription Not Found"
            if problem:
                status = _Status(
                    errorMessage=problem,
                    event=_SUBSCRIPTION_STATUS,
                    pair=pair,
                    reqid=reqid,
                    status="error",
                    subscription=subscription,
                )
                replies.append(_encode(status))
                continue
            if subscribing:
                self.topics[topic] = None
            else:
                del self.topics[topic]
            status = _Status(
                channelID=venue.channel_id(channel, pair),
                channelName=channel,
                event=_SUBSCRIPTION_STATUS,
                pair=pair,
                reqid=reqid,
                status="subscribed" if subscribing else "unsubscribed",
                subscription=subscription,
            )
            replies.append(_encode(status))
            acked = True
            if subscribing and channel == "ticker":
                snapshots.extend(venue.current_ticker(pair, now_ns // _NS_PER_MS))
        return SessionReply((*replies, *snapshots), subscribing and acked)


def _subscription(raw: Any) -> _Subscription:
    if not isinstance(raw, dict):
        raise _SubscriptionError("Subscription field must be an object")
    name = raw.get("name")
    if name not in ("ticker", "trade", "book"):
        raise _SubscriptionError("Subscription name invalid")
    if name != "book":
        return _Subscription(name=name)
    depth = raw.get("depth", _DEFAULT_BOOK_DEPTH)
    if depth not in _BOOK_DEPTHS or type(depth) is not int:
        raise _SubscriptionError("Subscription depth not supported")
    return _Subscription(depth=depth, name=name)


def _pairs(raw: Any) -> list[str]:
    if not (isinstance(raw, list) and raw and all(isinstance(pair, str) for pair in raw)):
        raise _SubscriptionError("Pair field must be a non-empty array of strings")
    return list(dict.fromkeys(raw))


# -- the venue ------------------------------------------------------------------------------------


class KrakenV1SimVenue(SimVenue):
    """Kraken spot WebSocket v1 at the root path: ``ticker``, ``trade``, and ``book`` from
    recordings.

    Quotes and the market's tickers become full ``ticker`` payloads (best ask/bid with whole-lot
    and lot volumes, last trade, volumes, vwap, trade counts, low, high, open), trades one
    ``trade`` payload per taker order with one entry per fill. Channel ids are per channel and
    pair, the same for every connection; while replaying they are the recording's, and any
    ``BASE/QUOTE`` pair is accepted.
    """

    name = "kraken_v1"
    heartbeat_interval = 1.0

    def __init__(self, view: VenueView | None) -> None:
        super().__init__(view)
        self._channel_ids: dict[tuple[str, str], int] = {}
        self._next_channel_id = _FIRST_CHANNEL_ID
        self._pairs: dict[str, str] = {}
        self._topics = EventTopics()
        self._ticker_ids: dict[str, int] = {}
        self._trade_ids: dict[str, int] = {}
        for spec in view.specs if view is not None else ():
            pair = kraken_symbols(parse_symbol(spec.symbol))[1]
            self._pairs[spec.symbol] = pair
            ticker_topic = (f"ticker:{pair}",)
            self._topics.set(MarketQuote, spec.symbol, ticker_topic)
            self._topics.set(MarketTicker, spec.symbol, ticker_topic)
            self._topics.set(MarketTrade, spec.symbol, (f"trade:{pair}",))
            self._ticker_ids[spec.symbol] = self.channel_id("ticker", pair)
            self._trade_ids[spec.symbol] = self.channel_id("trade", pair)
        self._listed = {pair: symbol for symbol, pair in self._pairs.items()}

    def accept(self, path: str) -> KrakenV1Session:
        """A session for the root path; RequestPathError 404 for any other path."""
        if path.rstrip("/"):
            raise unknown_path(path)
        return KrakenV1Session(self)

    def lists(self, pair: str) -> bool:
        """Whether legacy ``pair`` can be subscribed (any ``BASE/QUOTE`` while replaying)."""
        if self.view is None:
            return is_pair_name(pair)
        return pair in self._listed

    def channel_id(self, channel: str, pair: str) -> int:
        """The channel id of ``channel`` (``ticker``, ``book-10``…) for ``pair``."""
        key = (channel, pair)
        channel_id = self._channel_ids.get(key)
        if channel_id is None:
            channel_id = self._channel_ids[key] = self._next_channel_id
            self._next_channel_id += 1
        return channel_id

    def topics(self, event: MarketEvent) -> tuple[str, ...]:
        """The one topic ``event`` feeds: ``ticker:XBT/USD`` or ``trade:XBT/USD``."""
        return self._topics.of(event)

    def render(self, event: MarketEvent, topic: str) -> Sequence[bytes]:
        """The ``ticker`` or ``trade`` payload for ``event``."""
        if isinstance(event, MarketTrade):
            return (self._trade(event),)
        if isinstance(event, MarketQuote):
            assert self.view is not None  # events come from the view
            event = quote_ticker(self.view, event)
        return (self._ticker(event),)

    def current_ticker(self, pair: str, now_ms: int) -> tuple[bytes, ...]:
        """The ``ticker`` payload of listed ``pair`` at ``now_ms``; none while replaying."""
        if self.view is None:
            return ()
        return (self._ticker(self.view.ticker(self._listed[pair], now_ms)),)

    def recorded_frame(self, line: bytes) -> tuple[str, bytes]:
        """See ``parse_recorded_line``; the recording's channel ids are kept for the acks."""
        topic, payload, channel_id = parse_recorded_line(line)
        if channel_id is not None:
            channel, _, pair = topic.partition(":")
            self._channel_ids.setdefault((channel, pair), channel_id)
            self._next_channel_id = max(self._next_channel_id, channel_id + 1)
        return topic, payload

    def _ticker(self, ticker: MarketTicker) -> bytes:
        payload = _Ticker(
            a=_level(ticker.ask, ticker.ask_size),
            b=_level(ticker.bid, ticker.bid_size),
            c=(format_units(ticker.last), format_units(ticker.last_size)),
            v=_both(ticker.volume),
            p=_both(ticker_statistics(ticker).vwap),
            t=(ticker.trade_count, ticker.trade_count),
            l=_both(ticker.low),
            h=_both(ticker.high),
            o=_both(ticker.open),
        )
        pair = self._pairs[ticker.symbol]
        return _encode([self._ticker_ids[ticker.symbol], payload, "ticker", pair])

    def _trade(self, trade: MarketTrade) -> bytes:
        price = format_units(trade.price)
        time = _seconds(trade.time_ms)
        side = "b" if trade.taker_side == BUY else "s"
        kind = order_type(trade)[0]
        fills = [(price, format_units(size), time, side, kind, "") for size in trade.fill_sizes]
        pair = self._pairs[trade.symbol]
        return _encode([self._trade_ids[trade.symbol], fills, "trade", pair])
