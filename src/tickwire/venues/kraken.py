"""Kraken spot public market data, WebSocket v2 (JSON objects), sans-I/O.

Best bid/offer comes from the ``ticker`` channel with ``"event_trigger":"bbo"`` (one push per
change of the best level; with the default ``trades`` trigger the same message is the 24 h
ticker), trades from ``trade``. A ticker snapshot comes first, then updates; an update that
carries only one side keeps the other side from the state before it. Prices and quantities
arrive as JSON **numbers**: they are read as ``msgspec.Raw`` and parsed exactly from their text
(an exponent form is refused, never rounded). Times are RFC 3339. v2 trade ids are sequential
per pair, so a jump is counted as a sequence gap.

The server sends ``{"channel":"heartbeat"}`` about once a second when nothing else is sent, so
no client ping is needed. Kraken v2 names assets BTC and DOGE where v1 and REST say XBT and XDG;
both spellings map to the same instrument.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Sequence

import msgspec

from tickwire.fixedpoint import PriceCache, format_scaled
from tickwire.instruments import Instrument
from tickwire.model import BUY, SELL, Event, Quote, Ticker, Trade
from tickwire.times import Rfc3339Clock
from tickwire.venues.base import (
    DECODE_ERRORS,
    NO_EVENTS,
    AdapterBase,
    Channel,
    TopOfBookState,
    parse_json_number,
    quote_rejection,
    validation_reason,
)

__all__ = [
    "KRAKEN_V2_URL",
    "KrakenBase",
    "KrakenSpot",
    "KrakenTicker",
    "KrakenTrade",
    "canonical_asset",
    "kraken_symbols",
    "legacy_asset",
    "symbol_map",
]

KRAKEN_V2_URL = "wss://ws.kraken.com/v2"

# Kraken's legacy asset names (v1, REST) and the canonical ones (also used by v2).
_LEGACY_TO_CANONICAL = {"XBT": "BTC", "XDG": "DOGE"}
_CANONICAL_TO_LEGACY = {v: k for k, v in _LEGACY_TO_CANONICAL.items()}


def canonical_asset(name: str) -> str:
    """``XBT`` -> ``BTC``, ``XDG`` -> ``DOGE``; other names unchanged."""
    return _LEGACY_TO_CANONICAL.get(name, name)


def legacy_asset(name: str) -> str:
    """``BTC`` -> ``XBT``, ``DOGE`` -> ``XDG`` (Kraken v1 and REST names); others unchanged."""
    return _CANONICAL_TO_LEGACY.get(canonical_asset(name), name)


def kraken_symbols(instrument: Instrument) -> tuple[str, str]:
    """The v2 and the v1 name of a spot instrument: (``BTC/USD``, ``XBT/USD``)."""
    base, quote = instrument.base, instrument.quote
    return (
        f"{canonical_asset(base)}/{canonical_asset(quote)}",
        f"{legacy_asset(base)}/{legacy_asset(quote)}",
    )


def symbol_map(
    instruments: Sequence[Instrument],
) -> tuple[list[TopOfBookState], dict[str, TopOfBookState]]:
    """One state per instrument, and every Kraken spelling of its name -> that state."""
    caches: dict[int, PriceCache] = {}
    states = []
    for instrument in instruments:
        if instrument.kind:
            raise ValueError(f"kraken: {instrument.symbol} is not a spot instrument")
        states.append(TopOfBookState(instrument, caches))
    names = {name: state for state in states for name in kraken_symbols(state.instrument)}
    return states, names


class KrakenTicker(msgspec.Struct, gc=False):
    symbol: str
    bid: msgspec.Raw = msgspec.Raw()
    bid_qty: msgspec.Raw = msgspec.Raw()
    ask: msgspec.Raw = msgspec.Raw()
    ask_qty: msgspec.Raw = msgspec.Raw()
    last: msgspec.Raw = msgspec.Raw()
    timestamp: str = ""


class KrakenTrade(msgspec.Struct, gc=False):
    symbol: str
    side: Literal["buy", "sell"]
    price: msgspec.Raw
    qty: msgspec.Raw
    trade_id: int
    timestamp: str


class KrakenTickerMessage(msgspec.Struct, tag_field="channel", tag="ticker", gc=False):
    data: list[KrakenTicker]


class KrakenTradeMessage(msgspec.Struct, tag_field="channel", tag="trade", gc=False):
    data: list[KrakenTrade]


class KrakenHeartbeat(msgspec.Struct, tag_field="channel", tag="heartbeat", gc=False):
    pass


class KrakenStatus(msgspec.Struct, tag_field="channel", tag="status", gc=False):
    pass


class KrakenReply(msgspec.Struct, gc=False):
    """Anything that is not a channel message: method replies (acks, pong) and errors."""

    channel: str = ""
    method: str = ""
    success: bool | None = None
    error: str = ""
    symbol: str = ""
    req_id: int | None = None


_message_decoder = msgspec.json.Decoder(
    KrakenTickerMessage | KrakenTradeMessage | KrakenHeartbeat | KrakenStatus
)
_reply_decoder = msgspec.json.Decoder(KrakenReply)
_CHANNELS = frozenset(("ticker", "trade", "heartbeat", "status"))
_CONTROL_METHODS = frozenset(("subscribe", "unsubscribe", "pong"))
_encoder = msgspec.json.Encoder()


class KrakenBase(AdapterBase):
    """What the v2 and the v1 adapters share: the instruments under both spellings, the channels.

    The server sends heartbeats whenever it has nothing else to send, so no client ping is
    needed; Kraken announces no planned disconnects on the data connection.
    """

    def __init__(
        self, instruments: Sequence[Instrument], channels: frozenset[str] = frozenset({Channel.BBO})
    ) -> None:
        super().__init__(channels)
        self._states, self._symbols = symbol_map(instruments)
        self.channels = channels
        self._tickers_wanted = Channel.TICKER in channels
        # BBO and the last price both come from the ticker channel
        self._ticker_channel = Channel.BBO in channels or self._tickers_wanted


class KrakenSpot(KrakenBase):
    """Kraken spot v2 adapter: subscribe messages and the frame decoder.

    ``decode`` returns the events a frame carries (never raises); dropped frames are counted in
    ``stats.errors`` by reason. Ticker frames give a Quote (BBO) and, when the ticker channel was
    asked for, a Ticker with the last price.
    """

    name: ClassVar[str] = "kraken"
    default_url: ClassVar[str] = KRAKEN_V2_URL

    def __init__(
        self, instruments: Sequence[Instrument], channels: frozenset[str] = frozenset({Channel.BBO})
    ) -> None:
        super().__init__(instruments, channels)
        self._next_req_id = 1
        self._time_ns = Rfc3339Clock().to_ns
        self._handlers = {
            KrakenTickerMessage: self._ticker,
            KrakenTradeMessage: self._trades,
            KrakenHeartbeat: self._control_message,
            KrakenStatus: self._control_message,
        }

    def on_connected(self) -> list[bytes]:
        """Forget per-connection state; return the subscribe requests to send, in order."""
        for state in self._states:
            state.reset()
        names = [kraken_symbols(state.instrument)[0] for state in self._states]
        if not names:
            return []
        messages = []
        if self._ticker_channel:
            trigger = "bbo" if Channel.BBO in self.channels else "trades"
            messages.append(self._subscribe(
                {"channel": "ticker", "symbol": names, "event_trigger": trigger, "snapshot": True}
            ))
        if Channel.TRADES in self.channels:
            # No snapshot: the last 50 trades would arrive again as if they were new.
            messages.append(self._subscribe({"channel": "trade", "symbol": names, "snapshot": False}))
        return messages

    def _subscribe(self, params: dict[str, object]) -> bytes:
        req_id = self._next_req_id
        self._next_req_id += 1
        return _encoder.encode({"method": "subscribe", "params": params, "req_id": req_id})

    def decode(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        """Events carried by one text frame (none for control frames or errors)."""
        try:
            message = _message_decoder.decode(payload)
        except msgspec.ValidationError as exc:
            return self._reply(payload, exc)
        except DECODE_ERRORS as exc:
            self.stats.error("malformed_json", str(exc))
            return NO_EVENTS
        try:
            return self._handlers[message.__class__](message, recv_ns)
        except ValueError as exc:  # a number refused, a value of the wrong type, a bad time
            self._count_failure(exc)
            return NO_EVENTS

    def _reply(self, payload: bytes, message_error: msgspec.ValidationError) -> Sequence[Event]:
        stats = self.stats
        reply = self._decode_or_count(_reply_decoder, payload)  # invalid JSON after the first type mismatch
        if reply is None:
            return NO_EVENTS
        if reply.channel in _CHANNELS:
            detail = f"{reply.channel}: {message_error}"
            stats.error(validation_reason(str(message_error)), detail)
        elif reply.channel:
            stats.error("unknown_message", f"channel {reply.channel!r}")
        elif reply.success is False or reply.error:
            message = f"kraken {reply.method or 'request'} failed: {reply.error or 'no reason given'}"
            if reply.symbol and reply.symbol not in message:
                message += f" ({reply.symbol})"
            self._venue_error(message)
        elif reply.method in _CONTROL_METHODS:
            stats.control += 1
        else:
            detail = f"method {reply.method!r}" if reply.method else "no channel or method"
            stats.error("unknown_message", detail)
        return NO_EVENTS

    def _control_message(self, message: object, recv_ns: int) -> Sequence[Event]:
        self.stats.control += 1
        return NO_EVENTS

    def _ticker(self, message: KrakenTickerMessage, recv_ns: int) -> Sequence[Event]:
        events: list[Event] = []
        for entry in message.data:
            state = self._symbols.get(entry.symbol)
            if state is None:
                self.stats.error("unknown_symbol", entry.symbol)
                continue
            # Parse every field before touching the state, so a bad number changes nothing. A
            # number's text is looked up as is (a memo hit), and checked and parsed on a miss.
            price_memo, size_memo = state.price_memo, state.size_memo
            bid, bid_size, ask, ask_size = state.bid, state.bid_size, state.ask, state.ask_size
            raw = entry.bid
            if raw:
                bid = price_memo.get(str(raw, "latin-1")) or parse_json_number(raw, state.prices)
            raw = entry.ask
            if raw:
                ask = price_memo.get(str(raw, "latin-1")) or parse_json_number(raw, state.prices)
            raw = entry.bid_qty
            if raw:
                bid_size = size_memo.get(str(raw, "latin-1")) or parse_json_number(raw, state.sizes)
            raw = entry.ask_qty
            if raw:
                ask_size = size_memo.get(str(raw, "latin-1")) or parse_json_number(raw, state.sizes)
            last = parse_json_number(entry.last, state.prices) if self._tickers_wanted and entry.last else -1
            exchange_ns = self._time_ns(entry.timestamp) if entry.timestamp else 0
            state.bid, state.bid_size, state.ask, state.ask_size = bid, bid_size, ask, ask_size
            if 0 < bid < ask and bid_size > 0 and ask_size > 0:
                events.append(
                    Quote("kraken", state.symbol, bid, bid_size, ask, ask_size, recv_ns, exchange_ns)
                )
            else:
                self._reject_quote(state, entry.symbol)
            if last > 0:
                events.append(Ticker("kraken", state.symbol, last, recv_ns, exchange_ns))
            elif last == 0:
                self.stats.error("zero_price", f"{entry.symbol} last=0")
        return tuple(events)

    def _reject_quote(self, state: TopOfBookState, name: str) -> None:
        unseen = state.unseen(("bid", "bid", "ask", "ask"))
        if unseen:
            self.stats.error("missing_field", f"{name}: no {unseen[0]} yet on this connection")
            return
        price_scale, size_scale = state.instrument.price_scale, state.instrument.size_scale
        self.stats.error(
            quote_rejection(state.bid, state.bid_size, state.ask, state.ask_size),
            f"{name} bid={format_scaled(state.bid, price_scale)}x{format_scaled(state.bid_size, size_scale)}"
            f" ask={format_scaled(state.ask, price_scale)}x{format_scaled(state.ask_size, size_scale)}",
        )

    def _trades(self, message: KrakenTradeMessage, recv_ns: int) -> Sequence[Event]:
        events: list[Event] = []
        stats = self.stats
        for trade in message.data:
            state = self._state(trade.symbol)
            if state is None:
                continue
            price = parse_json_number(trade.price, state.prices)
            size = parse_json_number(trade.qty, state.sizes)
            exchange_ns = self._time_ns(trade.timestamp)
            if price <= 0 or size <= 0:
                reason = "zero_price" if price <= 0 else "zero_size"
                stats.error(reason, f"{trade.symbol} trade {trade.trade_id}")
                continue
            last_id = state.last_update_id
            if trade.trade_id <= last_id:
                stats.error("stale_update", f"{trade.symbol} trade_id={trade.trade_id} after {last_id}")
                continue
            if last_id >= 0 and trade.trade_id != last_id + 1:
                stats.sequence_gaps += 1
            state.last_update_id = trade.trade_id
            side = BUY if trade.side == "buy" else SELL
            events.append(
                Trade("kraken", state.symbol, price, size, side, trade.trade_id, recv_ns, exchange_ns)
            )
        return tuple(events)
