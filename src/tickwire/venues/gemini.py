"""Gemini market data, WebSocket v2 (``wss://api.gemini.com/v2/marketdata``), sans-I/O.

One request subscribes every instrument to the ``l2`` feed:
``{"type":"subscribe","subscriptions":[{"name":"l2","symbols":["BTCUSD",…]}]}``. Gemini then
sends, per symbol, a first ``l2_updates`` message holding the whole book (with ``trades``, the
recent trades, and ``auction_events``), later ``l2_updates`` with changed levels
(``["buy"|"sell", price, quantity]``, the new absolute quantity; 0 deletes the level), and a
``trade`` message per trade (``side`` is the taker's, ``timestamp`` in ms). Prices and quantities
are strings. ``{"type":"heartbeat"}`` arrives every 5 s; the client sends no keepalive.

Gemini publishes no best bid/offer on this feed, so quotes come from the book: each symbol's
levels are kept in a ``LevelBook``, and a Quote is emitted after every message that changes the
top level of either side. ``l2_updates`` carry no time, so those quotes have ``exchange_ns`` 0;
trades carry the venue's ms time. The recent trades of the first message are history, not new
trades, and are not emitted. v2 has no sequence numbers: a lost message cannot be detected.

Symbols: ``BTCUSD`` is ``BTC-USD``; a perpetual, ``BTCUSDCPERP`` (quoted in USDC), is
``BTC-USDC-PERP``. Any listed pair can be asked for; Gemini answers an unknown one with an error.
Gemini also documents a newer API (``wss://ws.gemini.com``, Binance-like ``@bookTicker``); it
is not used here because no real frames of it were available to test against.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Sequence

import msgspec

from tickwire.instruments import Instrument
from tickwire.model import BUY, SELL, Event, Trade
from tickwire.venues.base import NO_EVENTS, AdapterBase, Channel, symbol_states
from tickwire.venues.book_quotes import BookState, book_quote

__all__ = [
    "GEMINI_V2_URL",
    "GeminiL2Updates",
    "GeminiMarketData",
    "GeminiTradeMessage",
    "venue_symbol",
]

GEMINI_V2_URL = "wss://api.gemini.com/v2/marketdata"
MS = 1_000_000

_KIND_SUFFIX = {"": "", "PERP": "PERP"}
_NonNegative = Annotated[int, msgspec.Meta(ge=0)]
_encoder = msgspec.json.Encoder()


def venue_symbol(instrument: Instrument) -> str:
    """Gemini's v2 symbol: ``BTCUSD`` (spot), ``BTCUSDCPERP`` (canonical ``BTC-USDC-PERP``)."""
    suffix = _KIND_SUFFIX.get(instrument.kind)
    if suffix is None:
        raise ValueError(f"gemini: no instrument for {instrument.symbol} (kind {instrument.kind!r})")
    return f"{instrument.base}{instrument.quote}{suffix}"


class GeminiL2Updates(msgspec.Struct, tag_field="type", tag="l2_updates", gc=False):
    symbol: str
    changes: list[tuple[Literal["buy", "sell"], str, str]]
    trades: msgspec.Raw = msgspec.Raw()  # only in the first message of a symbol: the whole book


class GeminiTradeMessage(msgspec.Struct, tag_field="type", tag="trade", gc=False):
    symbol: str
    tid: _NonNegative
    timestamp: _NonNegative  # ms
    price: str
    quantity: str
    side: Literal["buy", "sell"]


class GeminiMessage(msgspec.Struct, gc=False):
    """Any message, read for its type: heartbeats, error replies, and frames in another layout."""

    type: str = ""
    result: str = ""
    reason: str = ""
    message: str = ""


_l2_updates_decoder = msgspec.json.Decoder(GeminiL2Updates)
_trade_decoder = msgspec.json.Decoder(GeminiTradeMessage)
_message_decoder = msgspec.json.Decoder(GeminiMessage)
# Gemini writes keys in alphabetical order, so the first key tells the type of a data message
_FIRST_KEYS = {b'{"changes":': "l2_updates", b'{"auction_events":': "l2_updates", b'{"event_id":': "trade"}


class GeminiMarketData(AdapterBase):
    """Gemini v2 market data adapter (spot and perpetuals): subscribe request and decoder.

    ``decode`` returns the events a frame carries (never raises); dropped frames are counted in
    ``stats.errors`` by reason. ``Channel.TICKER`` is accepted but gives nothing (v2 has no
    ticker). A message with a number the adapter refuses leaves the symbol's book unknown, so
    the adapter asks for a new connection (and a new book).
    """

    name: ClassVar[str] = "gemini"
    default_url: ClassVar[str] = GEMINI_V2_URL
    instrument_kinds: ClassVar[frozenset[str]] = frozenset(_KIND_SUFFIX)

    def __init__(
        self, instruments: Sequence[Instrument], channels: frozenset[str] = frozenset({Channel.BBO})
    ) -> None:
        super().__init__(channels)
        self._symbols: dict[str, BookState] = symbol_states(instruments, venue_symbol, BookState)
        self._quotes_wanted = Channel.BBO in channels
        self._trades_wanted = Channel.TRADES in channels
        self._routes = {
            "l2_updates": (_l2_updates_decoder.decode, self._l2_updates),
            "trade": (_trade_decoder.decode, self._trade),
        }

    def on_connected(self) -> list[bytes]:
        """Forget the books; return the subscribe request (trades come on the ``l2`` feed too)."""
        self._reconnect_requested = False
        for state in self._symbols.values():
            state.reset()
        if not self._symbols or not (self._quotes_wanted or self._trades_wanted):
            return []
        subscription = {"name": "l2", "symbols": list(self._symbols)}
        return [_encoder.encode({"type": "subscribe", "subscriptions": [subscription]})]

    def decode(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        """Events carried by one text frame (none for heartbeats or errors)."""
        kind = _FIRST_KEYS.get(payload[: payload.find(b":") + 1])
        if kind is None:
            message = self._decode_or_count(_message_decoder, payload)
            if message is None:
                return NO_EVENTS
            kind = message.type
            if kind not in self._routes:
                return self._other(message)
        decode_message, handle = self._routes[kind]
        try:
            return handle(decode_message(payload), recv_ns)
        except ValueError as exc:  # not a message of its type's shape, a number refused
            self._count_failure(exc, kind)
            return NO_EVENTS

    def _other(self, message: GeminiMessage) -> Sequence[Event]:
        if message.type == "heartbeat":
            self.stats.control += 1
        elif message.result == "error" or message.type == "error":
            self._venue_error(f"gemini error {message.reason or 'unknown'}: {message.message or 'no message'}")
        else:
            self.stats.error("unknown_message", f"type {message.type!r}" if message.type else "no type")
        return NO_EVENTS

    def _l2_updates(self, message: GeminiL2Updates, recv_ns: int) -> Sequence[Event]:
        if not self._quotes_wanted:
            return NO_EVENTS
        state = self._state(message.symbol)
        if state is None:
            return NO_EVENTS
        book = state.book
        if message.trades:  # the first message: the whole book
            book.clear()
            state.synced = True
        elif not state.synced:
            self.stats.error("stale_update", f"{message.symbol} l2_updates before its book")
            return NO_EVENTS
        price_memo, parse_price = state.price_memo, state.prices.parse
        size_memo, parse_size = state.size_memo, state.sizes.parse
        set_bid, set_ask = book.set_bid, book.set_ask
        try:
            for side, price_text, size_text in message.changes:
                price = price_memo.get(price_text) or parse_price(price_text)
                size = size_memo.get(size_text) or parse_size(size_text)
                if side == "buy":
                    set_bid(price, size)
                else:
                    set_ask(price, size)
        except ValueError:
            # levels before the refused one are applied, the rest are not: the book is unknown
            state.reset()
            self._reconnect_requested = True
            raise
        return book_quote("gemini", self.stats, state, recv_ns)

    def _trade(self, message: GeminiTradeMessage, recv_ns: int) -> Sequence[Event]:
        if not self._trades_wanted:
            return NO_EVENTS
        state = self._state(message.symbol)
        if state is None:
            return NO_EVENTS
        price = state.price_memo.get(message.price) or state.prices.parse(message.price)
        size = state.size_memo.get(message.quantity) or state.sizes.parse(message.quantity)
        if price <= 0 or size <= 0:
            reason = "zero_price" if price <= 0 else "zero_size"
            self.stats.error(reason, f"{message.symbol} trade {message.tid}")
            return NO_EVENTS
        side = BUY if message.side == "buy" else SELL
        return (
            Trade("gemini", state.symbol, price, size, side, message.tid, recv_ns, message.timestamp * MS),
        )
