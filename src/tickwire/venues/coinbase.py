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

from tickwire.instruments import Instrument
from tickwire.model import BUY, SELL, Event, Quote, Ticker, Trade
from tickwire.times import Rfc3339Clock, TimestampError
from tickwire.venues.base import (
    DECODE_ERRORS,
    NO_EVENTS,
    UNSEEN,
    AdapterBase,
    Channel,
    TopOfBookState,
    quote_rejection,
    symbol_states,
    tagged_union,
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
_TICKER_FIELDS = ("best_bid", "best_bid_quantity", "best_ask", "best_ask_quantity")


def product_id(instrument: Instrument) -> str:
    """Coinbase's name of a spot instrument: the canonical ``BASE-QUOTE``."""
    return f"{instrument.base}-{instrument.quote}"


class CoinbaseAdvanced(AdapterBase):
    """Coinbase Advanced Trade adapter (spot): subscribe messages, sequence checks, decoder.

    ``decode`` returns the events a frame carries (never raises); dropped frames and tickers or
    trades are counted in ``stats.errors`` by reason, jumps of ``sequence_num`` in
    ``stats.sequence_gaps``. -USDC instruments other than USDT-USDC and EURC-USDC are not
    subscribed (Coinbase would send -USD prices for them); ``stats.venue_errors`` says so. No
    client ping: the ``heartbeats`` subscription keeps the connection and its channels open.
    Advanced Trade sends no "please reconnect" message, so ``wants_reconnect`` stays False.
    """

    name: ClassVar[str] = "coinbase"
    default_url: ClassVar[str] = COINBASE_ADVANCED_URL

    def __init__(
        self, instruments: Sequence[Instrument], channels: frozenset[str] = frozenset({Channel.BBO})
    ) -> None:
        super().__init__(channels)
        subscribed = []
        for instrument in instruments:
            name = product_id(instrument)
            if instrument.quote == "USDC" and name not in REAL_USDC_BOOKS:
                self.stats.venue_errors.append(
                    f"coinbase: {name} not subscribed: Advanced Trade serves "
                    f"{instrument.base}-USD data under that name (only "
                    f"{' and '.join(sorted(REAL_USDC_BOOKS))} are USDC books)"
                )
                continue
            subscribed.append(instrument)
        self._symbols: dict[str, TopOfBookState] = symbol_states(subscribed, product_id, TopOfBookState)
        self._quotes_wanted = Channel.BBO in channels
        self._tickers_wanted = Channel.TICKER in channels
        channel_types: dict[str, tuple[type, object]] = {"heartbeats": (CoinbaseSequenced, self._control)}
        self.channels: list[str] = []
        if self._quotes_wanted or self._tickers_wanted:
            self.channels.append("ticker")
            channel_types["ticker"] = (CoinbaseTickerMessage, self._tickers)
        if Channel.TRADES in channels:
            self.channels.append("market_trades")
            channel_types["market_trades"] = (CoinbaseTradesMessage, self._trades)
        channel_types["subscriptions"] = (CoinbaseSequenced, self._control)
        decoders = {CoinbaseSequenced: _sequenced_decoder, CoinbaseTickerMessage: _ticker_decoder,
                    CoinbaseTradesMessage: _trades_decoder}
        self._routes: dict[bytes, tuple] = {
            name.encode(): (decoders[struct].decode, handle) for name, (struct, handle) in channel_types.items()
        }
        # The frames of the channels read, each parsed once: msgspec picks the struct by the
        # channel name (the tag) as it reads the frame.
        decoder, tags = tagged_union("channel", {name: struct for name, (struct, _) in channel_types.items()})
        self._decode_subscribed = decoder.decode
        self._subscribed_routes = {struct: channel_types[name][1] for struct, name in tags.items()}
        self._time_ns = Rfc3339Clock().to_ns
        self._last_sequence = -1

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

    def decode(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        """Events carried by one text frame (often one, none for control frames or errors)."""
        try:
            message = self._decode_subscribed(payload)
            handle = self._subscribed_routes[message.__class__]
        except (*DECODE_ERRORS, KeyError):
            # Not a well-formed frame of a channel read: an error, another channel, a bad frame.
            return self._decode_other(payload, recv_ns)
        sequence_num = message.sequence_num
        if sequence_num == self._last_sequence + 1:
            self._last_sequence = sequence_num
        elif not self._in_sequence(sequence_num):
            return NO_EVENTS
        return handle(message, recv_ns)

    def _decode_other(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        if payload.startswith(_CHANNEL_PREFIX):
            # Coinbase's own layout: the channel name picks the typed decoder of the whole frame.
            end = payload.find(b'"', _CHANNEL_START)
            route = self._routes.get(payload[_CHANNEL_START:end])
            if route is not None:
                return self._decode_routed(route, payload, recv_ns)
        frame = self._decode_or_count(_frame_decoder, payload)
        if frame is None:
            return NO_EVENTS
        if frame.type == "error":
            message = f"coinbase error: {frame.message or 'no message'}"
            if frame.reason:
                message += f" ({frame.reason})"
            self._venue_error(message)
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

    def _decode_routed(self, route: tuple, payload: bytes, recv_ns: int) -> Sequence[Event]:
        decode_frame, handle = route
        try:
            message = decode_frame(payload)
        except msgspec.ValidationError as exc:
            self.stats.error(validation_reason(str(exc)), str(exc))
            return NO_EVENTS
        except DECODE_ERRORS as exc:
            self.stats.error("malformed_json", str(exc))
            return NO_EVENTS
        if not self._in_sequence(message.sequence_num):
            return NO_EVENTS
        return handle(message, recv_ns)

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

    def _tickers(self, message: CoinbaseTickerMessage, recv_ns: int) -> Sequence[Event]:
        try:
            exchange_ns = self._time_ns(message.timestamp)
        except TimestampError as exc:
            self.stats.error("wrong_type", f"ticker timestamp: {exc}")
            return NO_EVENTS
        events: list[Event] = []
        quotes_wanted = self._quotes_wanted
        for event in message.events:
            snapshot = event.type == "snapshot"
            for ticker in event.tickers:
                state = self._symbols.get(ticker.product_id)
                if state is None:
                    self.stats.error("unknown_symbol", ticker.product_id)
                    continue
                try:
                    if quotes_wanted:
                        # Parse every field before touching the state, so a bad number changes
                        # nothing. A snapshot replaces the top of book; an update keeps the
                        # fields it does not carry.
                        if snapshot:
                            bid = bid_size = ask = ask_size = UNSEEN
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
                            events.append(Quote("coinbase", state.symbol, bid, bid_size, ask, ask_size, recv_ns,
                                                exchange_ns, message.sequence_num))
                        else:
                            self._reject_quote(state, ticker)
                    if self._tickers_wanted and ticker.price is not UNSET:
                        self._last_price(state, ticker, recv_ns, exchange_ns, events)
                except ValueError as exc:  # a number the price cache refuses
                    self._count_failure(exc, f"ticker {ticker.product_id}")
        return tuple(events) if events else NO_EVENTS

    def _last_price(
        self, state: TopOfBookState, ticker: CoinbaseTicker, recv_ns: int, exchange_ns: int, events: list[Event]
    ) -> None:
        last = state.price_memo.get(ticker.price) or state.prices.parse(ticker.price)
        if last > 0:
            events.append(Ticker("coinbase", state.symbol, last, recv_ns, exchange_ns))
        else:
            self.stats.error("zero_price", f"ticker {ticker.product_id} price={ticker.price}")

    def _reject_quote(self, state: TopOfBookState, ticker: CoinbaseTicker) -> None:
        unseen = state.unseen(_TICKER_FIELDS)
        if unseen:
            self.stats.error(
                "missing_field", f"ticker {ticker.product_id}: no {', '.join(unseen)} on this connection yet"
            )
            return
        self.stats.error(
            quote_rejection(state.bid, state.bid_size, state.ask, state.ask_size),
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
                except ValueError as exc:  # a number the price cache refuses, or a bad time
                    where = f"trade {trade.product_id} {trade.trade_id}"
                    self._count_failure(exc, f"{where} time" if isinstance(exc, TimestampError) else where)
        return tuple(events) if events else NO_EVENTS

    def _trade(self, state: TopOfBookState, trade: CoinbaseTrade, recv_ns: int, events: list[Event]) -> None:
        price = state.price_memo.get(trade.price) or state.prices.parse(trade.price)
        size = state.size_memo.get(trade.size) or state.sizes.parse(trade.size)
        exchange_ns = self._time_ns(trade.time)
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
