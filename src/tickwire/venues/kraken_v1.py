"""Kraken spot public market data, WebSocket v1 (frozen, array frames), sans-I/O.

Channel payloads are arrays ``[channelID, payload, channelName, pair]`` with pairs spelled the
legacy way (``XBT/USD``); prices and volumes are decimal strings, times epoch seconds with a
decimal fraction. The ``ticker`` channel gives the best bid/offer (``a``/``b``: price, whole lot
volume, lot volume) and the last trade (``c``); ``trade`` gives trades without ids (``trade_id``
is 0). Events (``heartbeat``, ``systemStatus``, ``subscriptionStatus``, ``pong``) are JSON
objects. The server sends a heartbeat about once a second when idle, so no client ping is needed.
Kept for the recorded v1 frames and for venues that still speak v1; ``kraken`` (v2) is current.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Sequence

import msgspec

from tickwire.instruments import Instrument
from tickwire.model import BUY, SELL, Event, Quote, Ticker, Trade
from tickwire.times import decimal_seconds_to_ns
from tickwire.venues.base import DECODE_ERRORS, NO_EVENTS, Channel, quote_rejection
from tickwire.venues.kraken import KrakenBase, kraken_symbols

__all__ = [
    "KRAKEN_V1_URL",
    "KrakenSpotV1",
    "KrakenV1Ticker",
    "KrakenV1Trade",
]

KRAKEN_V1_URL = "wss://ws.kraken.com"


class KrakenV1Level(msgspec.Struct, array_like=True, gc=False):
    price: str
    whole_lot_volume: int
    lot_volume: str


class KrakenV1LastTrade(msgspec.Struct, array_like=True, gc=False):
    price: str


class KrakenV1Ticker(msgspec.Struct, gc=False):
    a: KrakenV1Level
    b: KrakenV1Level
    c: KrakenV1LastTrade


class KrakenV1Trade(msgspec.Struct, array_like=True, gc=False):
    price: str
    volume: str
    time: str
    side: Literal["b", "s"]


class KrakenV1TickerFrame(msgspec.Struct, array_like=True, gc=False):
    channel_id: int
    ticker: KrakenV1Ticker
    channel_name: str
    pair: str


class KrakenV1TradeFrame(msgspec.Struct, array_like=True, gc=False):
    channel_id: int
    trades: list[KrakenV1Trade]
    channel_name: str
    pair: str


class _ExactTickerFrame(KrakenV1TickerFrame, forbid_unknown_fields=True):
    """A ticker frame of exactly four elements, so that its channel name is the one the general
    path finds (the second to last string)."""


class _ExactTradeFrame(KrakenV1TradeFrame, forbid_unknown_fields=True):
    """A trade frame of exactly four elements (see _ExactTickerFrame)."""


class KrakenV1Event(msgspec.Struct, gc=False):
    event: str
    status: str = ""
    errorMessage: str = ""
    pair: str = ""


_FRAME_DECODERS = {
    b"ticker": msgspec.json.Decoder(KrakenV1TickerFrame),
    b"trade": msgspec.json.Decoder(KrakenV1TradeFrame),
}
_decode_ticker_frame = msgspec.json.Decoder(_ExactTickerFrame).decode
_decode_trade_frame = msgspec.json.Decoder(_ExactTradeFrame).decode
_OBJECT = ord("{")
_event_decoder = msgspec.json.Decoder(KrakenV1Event)
_any_decoder = msgspec.json.Decoder()
_CONTROL_EVENTS = frozenset(("heartbeat", "systemStatus", "subscriptionStatus", "pong"))
_encoder = msgspec.json.Encoder()


def channel_name(payload: bytes) -> bytes:
    """The channel name of an array frame: the second to last string, found from the end."""
    pair_close = payload.rfind(b'"')
    pair_open = payload.rfind(b'"', 0, pair_close)
    name_close = payload.rfind(b'"', 0, pair_open)
    return payload[payload.rfind(b'"', 0, name_close) + 1 : name_close]


class KrakenSpotV1(KrakenBase):
    """Kraken spot v1 adapter: subscribe messages and the array-frame decoder.

    ``decode`` returns the events a frame carries (never raises); dropped frames are counted in
    ``stats.errors`` by reason. Ticker frames give a Quote and, when the ticker channel was asked
    for, a Ticker with the last price.
    """

    name: ClassVar[str] = "kraken_v1"
    default_url: ClassVar[str] = KRAKEN_V1_URL

    def __init__(
        self, instruments: Sequence[Instrument], channels: frozenset[str] = frozenset({Channel.BBO})
    ) -> None:
        super().__init__(instruments, channels)
        self._handlers = {b"ticker": self._ticker, b"trade": self._trades}

    def on_connected(self) -> list[bytes]:
        """Forget per-connection state; return the subscribe requests to send, in order."""
        for state in self._states:
            state.reset()
        pairs = [kraken_symbols(state.instrument)[1] for state in self._states]
        if not pairs:
            return []
        names = []
        if self._ticker_channel:
            names.append("ticker")
        if Channel.TRADES in self.channels:
            names.append("trade")
        return [
            _encoder.encode({"event": "subscribe", "pair": pairs, "subscription": {"name": name}})
            for name in names
        ]

    def decode(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        """Events carried by one text frame (none for control frames or errors)."""
        # A channel frame's second element is an object for a ticker, an array for trades:
        # decode with the struct that shape implies and keep it if the frame's name agrees.
        handle = None
        if payload[:1] == b"[":
            try:
                if payload[payload.find(b",") + 1] == _OBJECT:
                    frame = _decode_ticker_frame(payload)
                    handle = self._ticker if frame.channel_name == "ticker" else None
                else:
                    frame = _decode_trade_frame(payload)
                    handle = self._trades if frame.channel_name == "trade" else None
            except (*DECODE_ERRORS, IndexError):
                pass
        if handle is None:
            return self._decode_other(payload, recv_ns)
        try:
            return handle(frame, recv_ns)
        except ValueError as exc:  # a number refused, a time that is not one
            self._count_failure(exc, frame.channel_name)
            return NO_EVENTS

    def _decode_other(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        if not payload.startswith(b"["):
            return self._event(payload)
        kind = channel_name(payload)
        decoder = _FRAME_DECODERS.get(kind)
        if decoder is None:
            return self._unknown_array(payload, kind)
        try:
            return self._handlers[kind](decoder.decode(payload), recv_ns)
        except ValueError as exc:
            self._count_failure(exc, kind.decode())
        return NO_EVENTS

    def _unknown_array(self, payload: bytes, kind: bytes) -> Sequence[Event]:
        try:
            _any_decoder.decode(payload)
        except DECODE_ERRORS as exc:
            self.stats.error("malformed_json", str(exc))
            return NO_EVENTS
        self.stats.error("unknown_message", f"channel {kind[:32]!r}")
        return NO_EVENTS

    def _event(self, payload: bytes) -> Sequence[Event]:
        stats = self.stats
        event = self._decode_or_count(_event_decoder, payload)
        if event is None:
            return NO_EVENTS
        if event.status == "error" or event.event == "error":
            message = f"kraken_v1 {event.event}: {event.errorMessage or 'error without a message'}"
            if event.pair:
                message += f" ({event.pair})"
            self._venue_error(message)
        elif event.event in _CONTROL_EVENTS:
            stats.control += 1
        else:
            stats.error("unknown_message", f"event {event.event!r}")
        return NO_EVENTS

    def _ticker(self, frame: KrakenV1TickerFrame, recv_ns: int) -> Sequence[Event]:
        state = self._symbols.get(frame.pair)
        if state is None:
            self.stats.error("unknown_symbol", frame.pair)
            return NO_EVENTS
        ticker = frame.ticker
        price_memo, size_memo = state.price_memo, state.size_memo
        prices, sizes = state.prices, state.sizes
        bid_level, ask_level = ticker.b, ticker.a
        bid = price_memo.get(bid_level.price) or prices.parse(bid_level.price)
        ask = price_memo.get(ask_level.price) or prices.parse(ask_level.price)
        bid_size = size_memo.get(bid_level.lot_volume) or sizes.parse(bid_level.lot_volume)
        ask_size = size_memo.get(ask_level.lot_volume) or sizes.parse(ask_level.lot_volume)
        if not (0 < bid < ask and bid_size > 0 and ask_size > 0):
            reason = quote_rejection(bid, bid_size, ask, ask_size)
            self.stats.error(reason, f"{frame.pair} bid={ticker.b} ask={ticker.a}")
            return NO_EVENTS
        quote = Quote("kraken_v1", state.symbol, bid, bid_size, ask, ask_size, recv_ns)
        if not self._tickers_wanted:
            return (quote,)
        last = price_memo.get(ticker.c.price) or prices.parse(ticker.c.price)
        if last <= 0:
            self.stats.error("zero_price", f"{frame.pair} last={ticker.c.price}")
            return (quote,)
        return (quote, Ticker("kraken_v1", state.symbol, last, recv_ns))

    def _trades(self, frame: KrakenV1TradeFrame, recv_ns: int) -> Sequence[Event]:
        state = self._state(frame.pair)
        if state is None:
            return NO_EVENTS
        events: list[Event] = []
        price_memo, size_memo = state.price_memo, state.size_memo
        for trade in frame.trades:
            price = price_memo.get(trade.price) or state.prices.parse(trade.price)
            size = size_memo.get(trade.volume) or state.sizes.parse(trade.volume)
            if price <= 0 or size <= 0:
                reason = "zero_price" if price <= 0 else "zero_size"
                self.stats.error(reason, f"{frame.pair} {trade.volume}@{trade.price}")
                continue
            side = BUY if trade.side == "b" else SELL
            exchange_ns = decimal_seconds_to_ns(trade.time)
            events.append(Trade("kraken_v1", state.symbol, price, size, side, 0, recv_ns, exchange_ns))
        return tuple(events)
