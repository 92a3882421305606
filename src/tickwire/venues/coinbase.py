"""Coinbase Advanced Trade public market data (JSON WebSocket), sans-I/O.

One subscribe message per channel (``ticker``, ``market_trades``, ``heartbeats``). Frames arrive as
``{"channel": ..., "timestamp": "<RFC 3339>", "sequence_num": N, "events": [...]}``, where
``sequence_num`` counts every frame of the connection, whatever its channel, so a jump proves a
loss. The ``heartbeats`` subscription keeps quiet channels open; no client ping is needed.

The best bid and offer come from ``ticker``, which Coinbase sends on every match (not on every book
change). ``market_trades`` starts with a snapshot of the last trades before the subscription; those
are history (and repeated on every reconnect), so only the updates after it become Trade events.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import msgspec
from msgspec import UNSET, UnsetType

from tickwire.fixedpoint import DecimalTextError, PriceCache
from tickwire.instruments import Instrument
from tickwire.model import BUY, SELL, Event, Quote, Ticker, Trade
from tickwire.times import TimestampError, rfc3339_to_ns
from tickwire.venues.base import (
    NO_EVENTS,
    Channel,
    DecodeStats,
    SymbolState,
    price_reason,
    quote_rejection,
    validation_reason,
)

__all__ = [
    "COINBASE_ADVANCED_URL",
    "CoinbaseAdvanced",
    "CoinbaseTicker",
    "CoinbaseTickerMessage",
    "CoinbaseTrade",
    "CoinbaseTradesMessage",
    "product_id",
]

COINBASE_ADVANCED_URL = "wss://advanced-trade-ws.coinbase.com"

# Advanced Trade serves the -USD book under every -USDC product id except these two, so any other
# -USDC subscription would be USD prices under a USDC name.
REAL_USDC_BOOKS = frozenset({"USDT-USDC", "EURC-USDC"})

# Every channel name Advanced Trade frames carry (``level2`` arrives as ``l2_data``). Frames of one
# this adapter did not subscribe to are counted as unknown_message, saying so.
KNOWN_CHANNELS = frozenset(
    {
        "heartbeats", "subscriptions", "ticker", "ticker_batch", "market_trades", "l2_data",
        "candles", "status", "user", "futures_balance_summary",
    }
)

_TAKER_SIDE = {"BUY": SELL, "SELL": BUY}  # market_trades ``side`` is the maker's side


class CoinbaseTicker(msgspec.Struct, gc=False):
    """One product's ticker; absent fields keep their value from the previous ticker."""

    product_id: str
    price: str | UnsetType = UNSET
    best_bid: str | UnsetType = UNSET
    best_bid_quantity: str | UnsetType = UNSET
    best_ask: str | UnsetType = UNSET
    best_ask_quantity: str | UnsetType = UNSET


class CoinbaseTickerEvent(msgspec.Struct, gc=False):
    tickers: list[CoinbaseTicker]
    type: str = "update"


class CoinbaseTickerMessage(msgspec.Struct, gc=False):
    sequence_num: int
    timestamp: str
    events: list[CoinbaseTickerEvent]


class CoinbaseTrade(msgspec.Struct, gc=False):
    product_id: str
    trade_id: str
    price: str
    size: str
    side: str
    time: str


class CoinbaseTradesEvent(msgspec.Struct, gc=False):
    trades: list[CoinbaseTrade]
    type: str = "update"


class CoinbaseTradesMessage(msgspec.Struct, gc=False):
    sequence_num: int
    events: list[CoinbaseTradesEvent]


class CoinbaseSequenced(msgspec.Struct, gc=False):
    """A heartbeat or a subscriptions acknowledgement: only its place in the sequence matters."""

    sequence_num: int


class CoinbaseFrame(msgspec.Struct, gc=False):
    """Any frame: a channel message or an error (``{"type":"error","message":...}``)."""

    channel: str = ""
    sequence_num: int | None = None
    type: str = ""
    message: str = ""
    reason: str = ""


_frame_decoder = msgspec.json.Decoder(CoinbaseFrame)
_ticker_decoder = msgspec.json.Decoder(CoinbaseTickerMessage)
_trades_decoder = msgspec.json.Decoder(CoinbaseTradesMessage)
_sequenced_decoder = msgspec.json.Decoder(CoinbaseSequenced)
_CHANNEL_PREFIX = b'{"channel":"'
_CHANNEL_START = len(_CHANNEL_PREFIX)
_encoder = msgspec.json.Encoder()
_FRACTION_NS = tuple(10 ** (9 - digits) for digits in range(10))


def product_id(instrument: Instrument) -> str:
    """Coinbase's name of a spot instrument: the canonical ``BASE-QUOTE``."""
    return f"{instrument.base}-{instrument.quote}"


class CoinbaseSymbolState(SymbolState):
    """SymbolState plus the merged top of book from tickers (0 = not seen on this connection)."""

    __slots__ = ("bid", "bid_size", "ask", "ask_size")

    def __init__(self, instrument: Instrument, caches: dict[int, PriceCache]) -> None:
        super().__init__(instrument, caches)
        self.reset()

    def reset(self) -> None:
        """Forget the top of book (a new connection)."""
        self.bid = self.bid_size = self.ask = self.ask_size = 0


class _UtcClock:
    """RFC 3339 UTC text -> ns, exactly, converting the date and time of day once per second.

    Envelope and trade times of one second share their first 19 characters; only the fraction
    differs. Anything else (offsets, no fraction, more than 9 digits) goes to ``rfc3339_to_ns``.
    """

    __slots__ = ("_second", "_second_ns")

    def __init__(self) -> None:
        self._second = ""
        self._second_ns = 0

    def ns(self, text: str) -> int:
        second = text[:19]
        fraction = text[20:-1]
        if (
            text[19:20] == "."
            and text[-1:] == "Z"
            and 0 < len(fraction) <= 9
            and fraction.isascii()
            and fraction.isdigit()
        ):
            if second != self._second:
                self._second_ns = rfc3339_to_ns(second + "Z")
                self._second = second
            return self._second_ns + int(fraction) * _FRACTION_NS[len(fraction)]
        return rfc3339_to_ns(text)


class CoinbaseAdvanced:
    """Coinbase Advanced Trade adapter (spot): subscribe messages, sequence checks, decoder.

    ``decode`` returns the events a frame carries (never raises); dropped frames and tickers or
    trades are counted in ``stats.errors`` by reason, jumps of ``sequence_num`` in
    ``stats.sequence_gaps``. -USDC instruments other than USDT-USDC and EURC-USDC are not
    subscribed (Coinbase would send -USD prices for them); ``stats.venue_errors`` says so.
    """

    name: ClassVar[str] = "coinbase"
    default_url: ClassVar[str] = COINBASE_ADVANCED_URL
    instrument_kinds: ClassVar[frozenset[str]] = frozenset({""})
    keepalive_interval: ClassVar[float | None] = None
    max_connection_age: ClassVar[float | None] = None

    def __init__(
        self, instruments: Sequence[Instrument], channels: frozenset[str] = frozenset({Channel.BBO})
    ) -> None:
        unknown = channels - Channel.ALL
        if unknown:
            raise ValueError(f"coinbase: unknown channel(s) {', '.join(sorted(unknown))}")
        self.stats = DecodeStats()
        caches: dict[int, PriceCache] = {}
        self._symbols: dict[str, CoinbaseSymbolState] = {}
        for instrument in instruments:
            name = product_id(instrument)
            if instrument.quote == "USDC" and name not in REAL_USDC_BOOKS:
                self.stats.venue_errors.append(
                    f"coinbase: {name} not subscribed: Advanced Trade serves "
                    f"{instrument.base}-USD data under that name (only "
                    f"{' and '.join(sorted(REAL_USDC_BOOKS))} are USDC books)"
                )
                continue
            self._symbols[name] = CoinbaseSymbolState(instrument, caches)
        self._quotes_wanted = Channel.BBO in channels
        self._tickers_wanted = Channel.TICKER in channels
        self._routes: dict[bytes, tuple] = {b"heartbeats": (_sequenced_decoder.decode, self._control)}
        self.channels: list[str] = []
        if self._quotes_wanted or self._tickers_wanted:
            self.channels.append("ticker")
            self._routes[b"ticker"] = (_ticker_decoder.decode, self._tickers)
        if Channel.TRADES in channels:
            self.channels.append("market_trades")
            self._routes[b"market_trades"] = (_trades_decoder.decode, self._trades)
        self._routes[b"subscriptions"] = (_sequenced_decoder.decode, self._control)
        self._clock = _UtcClock()
        self._last_sequence = -1

    def connect_url(self, endpoint: str | None) -> str:
        """``endpoint`` (or the real venue) as given: Advanced Trade streams on the root path."""
        return endpoint or self.default_url

    def on_connected(self) -> list[bytes]:
        """Forget per-connection state; return one subscribe message per channel, in order."""
        self._last_sequence = -1
        for state in self._symbols.values():
            state.reset()
        products = list(self._symbols)
        messages = [
            _encoder.encode({"type": "subscribe", "product_ids": products, "channel": channel})
            for channel in self.channels
            if products
        ]
        messages.append(_encoder.encode({"type": "subscribe", "channel": "heartbeats"}))
        return messages

    def keepalive_message(self) -> bytes | None:
        """None: the ``heartbeats`` subscription keeps the connection and its channels open."""
        return None

    def wants_reconnect(self) -> bool:
        """Always False: Advanced Trade sends no "please reconnect" message."""
        return False

    def decode(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        """Events carried by one text frame (often one, none for control frames or errors)."""
        if payload.startswith(_CHANNEL_PREFIX):
            # Coinbase's own layout: the channel name picks the typed decoder of the whole frame.
            end = payload.find(b'"', _CHANNEL_START)
            route = self._routes.get(payload[_CHANNEL_START:end])
            if route is not None:
                return self._decode_routed(route, payload, recv_ns)
        return self._decode_any_layout(payload, recv_ns)

    def _decode_routed(self, route: tuple, payload: bytes, recv_ns: int) -> Sequence[Event]:
        decode_frame, handle = route
        try:
            message = decode_frame(payload)
        except msgspec.ValidationError as exc:
            self.stats.error(validation_reason(str(exc)), str(exc))
            return NO_EVENTS
        except msgspec.DecodeError as exc:
            self.stats.error("malformed_json", str(exc))
            return NO_EVENTS
        if not self._in_sequence(message.sequence_num):
            return NO_EVENTS
        return handle(message, recv_ns)

    def _decode_any_layout(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        try:
            frame = _frame_decoder.decode(payload)
        except msgspec.ValidationError as exc:
            self.stats.error("unknown_message", str(exc))
            return NO_EVENTS
        except msgspec.DecodeError as exc:
            self.stats.error("malformed_json", str(exc))
            return NO_EVENTS
        if frame.type == "error":
            message = f"coinbase error: {frame.message or 'no message'}"
            if frame.reason:
                message += f" ({frame.reason})"
            self.stats.error("venue_error", message)
            self.stats.venue_errors.append(message)
            return NO_EVENTS
        route = self._routes.get(frame.channel.encode())
        if route is not None:  # a channel we read, in another key order or spacing
            return self._decode_routed(route, payload, recv_ns)
        if frame.sequence_num is not None and not self._in_sequence(frame.sequence_num):
            return NO_EVENTS
        if frame.channel in KNOWN_CHANNELS:
            self.stats.error("unknown_message", f"channel {frame.channel!r} was not subscribed")
        else:
            self.stats.error("unknown_message", f"channel {frame.channel!r}" if frame.channel else "no channel")
        return NO_EVENTS

    def _in_sequence(self, sequence_num: int) -> bool:
        last = self._last_sequence
        if sequence_num <= last:
            self.stats.error("stale_update", f"sequence_num {sequence_num} after {last}")
            return False
        if last >= 0 and sequence_num != last + 1:
            self.stats.sequence_gaps += 1
        self._last_sequence = sequence_num
        return True

    def _control(self, message: CoinbaseSequenced, recv_ns: int) -> Sequence[Event]:
        self.stats.control += 1
        return NO_EVENTS

    def _state(self, name: str) -> CoinbaseSymbolState | None:
        state = self._symbols.get(name)
        if state is None:
            self.stats.error("unknown_symbol", name)
        return state

    def _tickers(self, message: CoinbaseTickerMessage, recv_ns: int) -> Sequence[Event]:
        try:
            exchange_ns = self._clock.ns(message.timestamp)
        except TimestampError as exc:
            self.stats.error("wrong_type", f"ticker timestamp: {exc}")
            return NO_EVENTS
        events: list[Event] = []
        for event in message.events:
            snapshot = event.type == "snapshot"
            for ticker in event.tickers:
                state = self._state(ticker.product_id)
                if state is None:
                    continue
                try:
                    self._ticker(state, ticker, snapshot, message.sequence_num, exchange_ns, recv_ns, events)
                except DecimalTextError as exc:
                    self.stats.error(price_reason(exc), f"ticker {ticker.product_id}: {exc}")
        return tuple(events) if events else NO_EVENTS

    def _ticker(
        self,
        state: CoinbaseSymbolState,
        ticker: CoinbaseTicker,
        snapshot: bool,
        sequence_num: int,
        exchange_ns: int,
        recv_ns: int,
        events: list[Event],
    ) -> None:
        if self._quotes_wanted:
            # Parse every field before touching the state, so a bad number changes nothing. A
            # snapshot replaces the top of book; an update keeps the fields it does not carry.
            if snapshot:
                bid = bid_size = ask = ask_size = 0
            else:
                bid, bid_size, ask, ask_size = state.bid, state.bid_size, state.ask, state.ask_size
            price_memo, size_memo = state.price_memo, state.size_memo
            text = ticker.best_bid
            if text is not UNSET:
                bid = price_memo.get(text) or state.prices.parse(text)
            text = ticker.best_ask
            if text is not UNSET:
                ask = price_memo.get(text) or state.prices.parse(text)
            text = ticker.best_bid_quantity
            if text is not UNSET:
                bid_size = size_memo.get(text) or state.sizes.parse(text)
            text = ticker.best_ask_quantity
            if text is not UNSET:
                ask_size = size_memo.get(text) or state.sizes.parse(text)
            state.bid, state.bid_size, state.ask, state.ask_size = bid, bid_size, ask, ask_size
            if 0 < bid < ask and bid_size > 0 and ask_size > 0:
                events.append(
                    Quote("coinbase", state.symbol, bid, bid_size, ask, ask_size, recv_ns, exchange_ns, sequence_num)
                )
            else:
                self._reject_quote(ticker, bid, bid_size, ask, ask_size)
        if self._tickers_wanted and ticker.price is not UNSET:
            last = state.price_memo.get(ticker.price) or state.prices.parse(ticker.price)
            if last > 0:
                events.append(Ticker("coinbase", state.symbol, last, recv_ns, exchange_ns))
            else:
                self.stats.error("zero_price", f"ticker {ticker.product_id} price={ticker.price}")

    def _reject_quote(self, ticker: CoinbaseTicker, bid: int, bid_size: int, ask: int, ask_size: int) -> None:
        fields = (
            ("best_bid", ticker.best_bid, bid),
            ("best_bid_quantity", ticker.best_bid_quantity, bid_size),
            ("best_ask", ticker.best_ask, ask),
            ("best_ask_quantity", ticker.best_ask_quantity, ask_size),
        )
        unseen = [name for name, text, value in fields if text is UNSET and not value]
        if unseen:
            self.stats.error(
                "missing_field", f"ticker {ticker.product_id}: no {', '.join(unseen)} on this connection yet"
            )
            return
        self.stats.error(
            quote_rejection(bid, bid_size, ask, ask_size),
            f"ticker {ticker.product_id} bid={ticker.best_bid}x{ticker.best_bid_quantity} "
            f"ask={ticker.best_ask}x{ticker.best_ask_quantity}",
        )

    def _trades(self, message: CoinbaseTradesMessage, recv_ns: int) -> Sequence[Event]:
        events: list[Event] = []
        for event in message.events:
            if event.type == "snapshot":
                self.stats.control += 1  # trades from before the subscription: history, not news
                continue
            for trade in event.trades:
                state = self._state(trade.product_id)
                if state is None:
                    continue
                try:
                    self._trade(state, trade, recv_ns, events)
                except DecimalTextError as exc:
                    self.stats.error(price_reason(exc), f"trade {trade.product_id} {trade.trade_id}: {exc}")
                except TimestampError as exc:
                    self.stats.error("wrong_type", f"trade {trade.product_id} {trade.trade_id} time: {exc}")
        return tuple(events) if events else NO_EVENTS

    def _trade(self, state: CoinbaseSymbolState, trade: CoinbaseTrade, recv_ns: int, events: list[Event]) -> None:
        price = state.price_memo.get(trade.price) or state.prices.parse(trade.price)
        size = state.size_memo.get(trade.size) or state.sizes.parse(trade.size)
        exchange_ns = self._clock.ns(trade.time)
        side = _TAKER_SIDE.get(trade.side)
        trade_id = trade.trade_id
        if side is None or not (trade_id.isascii() and trade_id.isdigit()):
            self.stats.error("wrong_type", f"trade {trade.product_id}: side={trade.side!r} trade_id={trade_id!r}")
        elif price <= 0 or size <= 0:
            self.stats.error(
                "zero_price" if price <= 0 else "zero_size", f"trade {trade.product_id} {trade.size}@{trade.price}"
            )
        else:
            events.append(Trade("coinbase", state.symbol, price, size, side, int(trade_id), recv_ns, exchange_ns))
