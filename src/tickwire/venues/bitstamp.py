"""Bitstamp WebSocket API v2 public market data, sans-I/O.

One ``bts:subscribe`` message per channel (at most 1024 channels per connection; Bitstamp closes
the socket silently on the 1025th). Frames arrive as ``{"data": {...}, "channel": "<name>",
"event": "<event>"}``. The best bid and offer come from ``order_book_<pair>``, a top-100 snapshot
in every message (self-healing, unlike ``diff_order_book``, which has no snapshot and no sequence);
trades from ``live_trades_<pair>``, read from the exact ``*_str`` fields. The client keeps the
connection alive with ``bts:heartbeat`` and reconnects when Bitstamp sends
``bts:request_reconnect``. Bitstamp has no ticker channel.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import msgspec

from tickwire.instruments import Instrument
from tickwire.model import BUY, SELL, Event, Quote, Trade
from tickwire.venues.base import (
    DECODE_ERRORS,
    NO_EVENTS,
    AdapterBase,
    Channel,
    SymbolState,
    narrowed,
    quote_rejection,
    symbol_states,
    validation_reason,
)

__all__ = [
    "BITSTAMP_URL",
    "BitstampBook",
    "BitstampLevel",
    "BitstampSpot",
    "BitstampTrade",
    "pair",
]

BITSTAMP_URL = "wss://ws.bitstamp.net/"
MAX_CHANNELS_PER_CONNECTION = 1024
US = 1_000

BOOK_PREFIX = "order_book_"
TRADES_PREFIX = "live_trades_"
# Channels Bitstamp serves that this adapter never subscribes to: counted as unknown_message.
UNSUBSCRIBED_PREFIXES = ("diff_order_book_", "detail_order_book_", "live_orders_", "funding_rate_")
CONTROL_EVENTS = frozenset({"bts:subscription_succeeded", "bts:unsubscription_succeeded", "bts:heartbeat"})

_TAKER_SIDE = (BUY, SELL)  # trade ``type``: 0 = buy, 1 = sell (the taker's side)


class BitstampLevel(msgspec.Struct, array_like=True, gc=False):
    """One book level, ``["price", "amount"]``."""

    price: str
    amount: str


class BitstampBook(msgspec.Struct, gc=False):
    """A top-100 snapshot; the sides stay raw JSON, only their best level is decoded."""

    microtimestamp: str
    bids: msgspec.Raw
    asks: msgspec.Raw


class _ExactLevel(BitstampLevel, forbid_unknown_fields=True):
    """A level of exactly two strings (what ``best_level`` reads from any level it accepts)."""


class _BestLevel(msgspec.Struct, array_like=True, gc=False):
    """A non-empty book side read as its first level; msgspec skips the other 99 unread."""

    level: _ExactLevel


class BitstampTrade(msgspec.Struct, gc=False):
    id: int
    price_str: str
    amount_str: str
    type: int
    microtimestamp: str


class BitstampBookMessage(msgspec.Struct, gc=False):
    data: BitstampBook
    channel: str
    event: str


class BitstampTradeMessage(msgspec.Struct, gc=False):
    data: BitstampTrade
    channel: str
    event: str


class BitstampFrame(msgspec.Struct, gc=False):
    """Any frame: channel data, an acknowledgement, a heartbeat answer or an error."""

    event: str = ""
    channel: str = ""
    data: msgspec.Raw = msgspec.Raw()


class BitstampErrorBody(msgspec.Struct, gc=False):
    code: int | None = None
    message: str = ""


_frame_decoder = msgspec.json.Decoder(BitstampFrame)
# An order_book frame of the usual shape, read in one pass without copying the sides; any other
# shape (an empty side, an odd first level) fails to decode into it and takes the general path.
_decode_top_of_book = msgspec.json.Decoder(
    narrowed(BitstampBookMessage, data=narrowed(BitstampBook, bids=_BestLevel, asks=_BestLevel))
).decode
_error_decoder = msgspec.json.Decoder(BitstampErrorBody)
_level_decoder = msgspec.json.Decoder(BitstampLevel)
# channel prefix: (decoder of the whole frame, decoder of its "data" alone, event name)
_KINDS = {
    BOOK_PREFIX: (msgspec.json.Decoder(BitstampBookMessage), msgspec.json.Decoder(BitstampBook), "data"),
    TRADES_PREFIX: (msgspec.json.Decoder(BitstampTradeMessage), msgspec.json.Decoder(BitstampTrade), "trade"),
}
_CHANNEL_KEY = b'"channel":"'
_CHANNEL_KEY_LENGTH = len(_CHANNEL_KEY)
_BOOK_PREFIX = BOOK_PREFIX.encode()
_TRADES_PREFIX = TRADES_PREFIX.encode()
_encoder = msgspec.json.Encoder()
_HEARTBEAT = _encoder.encode({"event": "bts:heartbeat"})


def pair(instrument: Instrument) -> str:
    """Bitstamp's name of a spot instrument: BASE and QUOTE run together, lower case (``btcusd``)."""
    return (instrument.base + instrument.quote).lower()


def best_level(side: msgspec.Raw) -> BitstampLevel | None:
    """The first level of a raw ``[["price","amount"], ...]`` side, None when the side is empty.

    Decodes only that level (a snapshot holds 100 per side). Raises msgspec.ValidationError when
    the side is not an array of levels.
    """
    text = bytes(side)
    if text[:1] != b"[":
        raise msgspec.ValidationError(f"Expected `array` of levels, got {text[:32]!r}")
    rest = text[1:].lstrip()
    if rest[:1] == b"]":
        return None
    end = rest.find(b"]")
    if rest[:1] != b"[" or end < 0:
        raise msgspec.ValidationError(f"Expected a level `array`, got {rest[:32]!r}")
    try:
        return _level_decoder.decode(rest[: end + 1])
    except msgspec.ValidationError:
        raise
    except msgspec.DecodeError as exc:  # the first ']' was inside a string: not a price level
        raise msgspec.ValidationError(f"Expected a level of two strings: {exc}") from None


def _microseconds(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise msgspec.ValidationError(f"Expected `microtimestamp` digits, got {text[:32]!r}")
    return int(text)


class BitstampSpot(AdapterBase):
    """Bitstamp spot adapter: subscribe messages, heartbeat, reconnect requests and the decoder.

    ``decode`` returns the events a frame carries (never raises); dropped frames are counted in
    ``stats.errors`` by reason. ``Channel.TICKER`` is accepted but subscribes nothing (Bitstamp
    has no ticker channel). ``wants_reconnect`` once Bitstamp sent ``bts:request_reconnect``.
    """

    name: ClassVar[str] = "bitstamp"
    default_url: ClassVar[str] = BITSTAMP_URL
    keepalive_interval: ClassVar[float | None] = 20.0
    keepalive: ClassVar[bytes | None] = _HEARTBEAT  # Bitstamp sends no heartbeat of its own

    def __init__(
        self, instruments: Sequence[Instrument], channels: frozenset[str] = frozenset({Channel.BBO})
    ) -> None:
        super().__init__(channels)
        states = symbol_states(instruments, pair)
        self._pairs = frozenset(states)
        prefixes = [p for c, p in ((Channel.BBO, BOOK_PREFIX), (Channel.TRADES, TRADES_PREFIX)) if c in channels]
        # channel name -> its instrument, for the channels subscribed only
        self._channels = {prefix + name: state for prefix in prefixes for name, state in states.items()}
        self._books = {channel: state for channel, state in self._channels.items() if channel.startswith(BOOK_PREFIX)}
        if len(self._channels) > MAX_CHANNELS_PER_CONNECTION:
            raise ValueError(
                f"bitstamp: {len(self._channels)} channels, more than the "
                f"{MAX_CHANNELS_PER_CONNECTION} one connection may carry"
            )
        self._handlers = {BOOK_PREFIX: self._book, TRADES_PREFIX: self._trade}

    def on_connected(self) -> list[bytes]:
        """Forget per-connection state; return one ``bts:subscribe`` per channel, books first."""
        self._reconnect_requested = False
        for state in self._channels.values():
            state.last_update_id = -1
        return [
            _encoder.encode({"event": "bts:subscribe", "data": {"channel": channel}})
            for channel in self._channels
        ]

    def decode(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        """Events carried by one text frame (one or none)."""
        # Bitstamp puts "channel" after "data": find it from the end to pick the typed decoder.
        # (A tagged union would make msgspec look ahead through the whole top-100 book for it.)
        at = payload.rfind(_CHANNEL_KEY)
        if at >= 0:
            start = at + _CHANNEL_KEY_LENGTH
            if payload.startswith(_BOOK_PREFIX, start):
                # Read the best levels in one pass and leave the other 99 a side unread; any
                # other shape, or a field refused, is read and counted below.
                try:
                    top = _decode_top_of_book(payload)
                    state = self._books.get(top.channel)
                    if state is not None and top.event == "data":
                        book = top.data
                        return self._quote(
                            state, _microseconds(book.microtimestamp), book.bids.level, book.asks.level, recv_ns
                        )
                except ValueError:
                    pass
                kind: str | None = BOOK_PREFIX
            elif payload.startswith(_TRADES_PREFIX, start):
                kind = TRADES_PREFIX
            else:
                kind = None
            if kind is not None:
                decode_frame, _, event = _KINDS[kind]
                try:
                    message = decode_frame.decode(payload)
                except DECODE_ERRORS:
                    pass  # an acknowledgement for that channel, or a bad frame: read it below
                else:
                    if message.event == event and message.channel.startswith(kind):
                        return self._decoded(kind, message.channel, message.data, recv_ns)
        return self._decode_other(payload, recv_ns)

    def _decode_other(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        stats = self.stats
        frame = self._decode_or_count(_frame_decoder, payload)
        if frame is None:
            return NO_EVENTS
        event, channel = frame.event, frame.channel
        if event in CONTROL_EVENTS:
            stats.control += 1
        elif event == "bts:request_reconnect":
            stats.control += 1
            self._reconnect_requested = True
        elif event == "bts:error":
            self._error_event(frame)
        elif event in ("data", "trade"):
            for kind, (_, decode_data, kind_event) in _KINDS.items():
                if channel.startswith(kind) and event == kind_event:
                    if not frame.data:
                        stats.error("missing_field", f"{channel}: no data")
                        return NO_EVENTS
                    try:
                        data = decode_data.decode(frame.data)
                    except msgspec.ValidationError as exc:
                        stats.error(validation_reason(str(exc)), f"{channel}: {exc}")
                        return NO_EVENTS
                    except UnicodeDecodeError as exc:  # a string of the data that is not UTF-8
                        stats.error("malformed_json", f"{channel}: {exc}")
                        return NO_EVENTS
                    return self._decoded(kind, channel, data, recv_ns)
            if channel.startswith(UNSUBSCRIBED_PREFIXES):
                stats.error("unknown_message", f"channel {channel!r} was not subscribed")
            else:
                stats.error("unknown_message", f"{event} on channel {channel!r}")
        else:
            stats.error("unknown_message", f"event {event!r}" if event else "no event")
        return NO_EVENTS

    def _error_event(self, frame: BitstampFrame) -> None:
        try:
            body = _error_decoder.decode(frame.data)
        except DECODE_ERRORS:
            body = BitstampErrorBody(message=bytes(frame.data).decode(errors="replace")[:200])
        code = "" if body.code is None else f" {body.code}"
        message = f"bitstamp error{code}: {body.message or 'no message'}"
        if frame.channel:
            message += f" (channel {frame.channel})"
        self._venue_error(message)

    def _decoded(
        self, kind: str, channel: str, data: BitstampBook | BitstampTrade, recv_ns: int
    ) -> Sequence[Event]:
        state = self._channels.get(channel)
        if state is None:
            name = channel[len(kind) :]
            if name in self._pairs:
                self.stats.error("unknown_message", f"channel {channel!r} was not subscribed")
            else:
                self.stats.error("unknown_symbol", name)
            return NO_EVENTS
        try:
            return self._handlers[kind](state, data, recv_ns)
        except ValueError as exc:
            self._count_failure(exc, channel)
        return NO_EVENTS

    def _book(self, state: SymbolState, book: BitstampBook, recv_ns: int) -> Sequence[Event]:
        microtimestamp = _microseconds(book.microtimestamp)
        best_bid = best_level(book.bids)
        best_ask = best_level(book.asks)
        if best_bid is None or best_ask is None:
            side = "bids" if best_bid is None else "asks"
            self.stats.error("missing_field", f"{state.symbol} book: no {side}")
            return NO_EVENTS
        return self._quote(state, microtimestamp, best_bid, best_ask, recv_ns)

    def _quote(
        self, state: SymbolState, microtimestamp: int, best_bid: BitstampLevel, best_ask: BitstampLevel, recv_ns: int
    ) -> Sequence[Event]:
        """The Quote of a book's best levels, or none after counting why; raises ValueError for
        a number refused, before counting anything."""
        price_memo, size_memo = state.price_memo, state.size_memo
        bid = price_memo.get(best_bid.price) or state.prices.parse(best_bid.price)
        ask = price_memo.get(best_ask.price) or state.prices.parse(best_ask.price)
        bid_size = size_memo.get(best_bid.amount) or state.sizes.parse(best_bid.amount)
        ask_size = size_memo.get(best_ask.amount) or state.sizes.parse(best_ask.amount)
        if not (0 < bid < ask) or not (bid_size > 0 and ask_size > 0):
            self.stats.error(
                quote_rejection(bid, bid_size, ask, ask_size),
                f"{state.symbol} bid={best_bid.price}x{best_bid.amount} ask={best_ask.price}x{best_ask.amount}",
            )
            return NO_EVENTS
        if microtimestamp < state.last_update_id:
            self.stats.error("stale_update", f"{state.symbol} book of {microtimestamp} after {state.last_update_id}")
            return NO_EVENTS
        state.last_update_id = microtimestamp
        return (Quote("bitstamp", state.symbol, bid, bid_size, ask, ask_size, recv_ns, microtimestamp * US),)

    def _trade(self, state: SymbolState, trade: BitstampTrade, recv_ns: int) -> Sequence[Event]:
        microtimestamp = _microseconds(trade.microtimestamp)
        price = state.price_memo.get(trade.price_str) or state.prices.parse(trade.price_str)
        size = state.size_memo.get(trade.amount_str) or state.sizes.parse(trade.amount_str)
        if trade.type not in (0, 1):
            self.stats.error("wrong_type", f"{state.symbol} trade {trade.id}: type {trade.type}")
            return NO_EVENTS
        if price <= 0 or size <= 0:
            self.stats.error(
                "zero_price" if price <= 0 else "zero_size", f"{state.symbol} {trade.amount_str}@{trade.price_str}"
            )
            return NO_EVENTS
        side = _TAKER_SIDE[trade.type]
        return (Trade("bitstamp", state.symbol, price, size, side, trade.id, recv_ns, microtimestamp * US),)
