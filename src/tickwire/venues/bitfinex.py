"""Bitfinex public market data, WebSocket v2 (``wss://api-pub.bitfinex.com/ws/2``), sans-I/O.

On connect the client sends ``{"event":"conf","flags":65536}`` (SEQ_ALL: every data message ends
with a per-connection sequence number that grows by one), then one ``subscribe`` event per channel
and symbol. Each ``subscribed`` reply names the ``chanId`` that the channel's data arrays start
with. A connection may hold 25 channels. Channels:

- best bid/offer: ``book`` P0 (price levels), F0 (real time), ``len`` 25. A snapshot
  ``[chanId,[[PRICE,COUNT,AMOUNT],…],seq]`` comes first, then one level a message
  ``[chanId,[PRICE,COUNT,AMOUNT],seq]``: ``COUNT`` 0 deletes the level; an ``AMOUNT`` above 0 is
  a bid, below 0 an ask. The levels are kept in a ``LevelBook`` bounded to the subscribed ``len``
  and a Quote is emitted whenever the top level of either side changes;
- trades: ``trades``. The snapshot of recent trades is history and is not emitted; each trade
  comes as ``te`` (at execution) and again as ``tu`` (once stored): ``te`` is emitted, ``tu``
  skipped. ``[ID,MTS,AMOUNT,PRICE]``: the sign of ``AMOUNT`` is the taker's side, ``MTS`` ms;
- ticker: ``ticker`` ``[BID,BID_SIZE,ASK,ASK_SIZE,…,LAST_PRICE,…]`` gives the last price, and
  the best bid/offer too when ``book`` is not subscribed.

Numbers arrive as JSON numbers (the DEC_S flag, which would send them as strings, is not asked
for: the adapter reads every number from its exact text, as ``msgspec.Raw``, so strings would
only add bytes). Bitfinex writes them the way JavaScript prints a double: small values in
exponent form (``1.1e-7``), which is expanded exactly; and sizes that Bitfinex summed in binary
floating point with noise past the 8 decimals amounts have (``1.7023900800000002``), which are
rounded to those 8 decimals. Prices are never rounded: one with more digits than the
instrument's scale is refused. A sequence gap makes every book unknown: the adapter stops
quoting from them and asks for a new connection. Book and ticker messages carry no time (the
TIMESTAMP flag's layout next to SEQ_ALL is undocumented), so their ``exchange_ns`` is 0.

The server sends ``[chanId,"hb",seq]`` on a quiet channel every 15 s; the client needs no ping.
Info code 20051 (server restart) and 20061 (end of maintenance) ask for a new connection.

Symbols: ``t`` + base + quote (``tBTCUSD``), with a colon when either code is longer than three
letters (``tAAVE:USD``, ``tTESTBTC:TESTUSD``). Bitfinex names USDT ``UST`` and BCH ``BCHN``;
perpetuals are ``tBTCF0:USTF0`` (canonical ``BTC-USDT-PERP``). Canonical UST and BCHN are refused,
since on Bitfinex those codes name other coins.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, ClassVar, Sequence

import msgspec

from tickwire.fixedpoint import DecimalTextError, PriceCache
from tickwire.instruments import Instrument
from tickwire.model import BUY, SELL, Event, Quote, Ticker, Trade
from tickwire.venues.base import NO_EVENTS, AdapterBase, Channel, quote_rejection
from tickwire.venues.book_quotes import BookState, book_quote

__all__ = [
    "BITFINEX_PUBLIC_URL",
    "BOOK_LENGTH",
    "MAX_CHANNELS_PER_CONNECTION",
    "SEQ_ALL",
    "BitfinexBookSnapshot",
    "BitfinexBookUpdate",
    "BitfinexPublic",
    "BitfinexTicker",
    "BitfinexTradeUpdate",
    "amount_text",
    "canonical_currency",
    "plain_decimal",
    "venue_symbol",
]

BITFINEX_PUBLIC_URL = "wss://api-pub.bitfinex.com/ws/2"
SEQ_ALL = 65536
BOOK_LENGTH = "25"
MAX_CHANNELS_PER_CONNECTION = 25
MS = 1_000_000
AMOUNT_DECIMALS = 8  # what Bitfinex amounts carry; further digits are a double's noise
MAX_EXPONENT = 40  # |exponent| of a number in exponent form; beyond is no price or size
INFO_RECONNECT = 20051
INFO_MAINTENANCE_END = 20061

_CHANNEL_NAMES = {Channel.BBO: "book", Channel.TRADES: "trades", Channel.TICKER: "ticker"}
_TO_VENUE = {"USDT": "UST", "BCH": "BCHN"}
_TO_CANONICAL = {venue: canonical for canonical, venue in _TO_VENUE.items()}
_CONTROL_EVENTS = frozenset(("conf", "pong", "unsubscribed"))
_WHITESPACE = b" \t\r\n"
_encoder = msgspec.json.Encoder()
_NonNegative = Annotated[int, msgspec.Meta(ge=0)]


def canonical_currency(code: str) -> str:
    """Bitfinex's currency code as a canonical one: ``UST`` -> ``USDT``, ``BCHN`` -> ``BCH``."""
    return _TO_CANONICAL.get(code, code)


def _venue_currency(instrument: Instrument, code: str) -> str:
    if code in _TO_CANONICAL:
        raise ValueError(
            f"bitfinex: {instrument.symbol}: {code} on Bitfinex means {_TO_CANONICAL[code]}; "
            f"name the coin {_TO_CANONICAL[code]}"
        )
    return _TO_VENUE.get(code, code)


def venue_symbol(instrument: Instrument) -> str:
    """Bitfinex's symbol: ``tBTCUSD``, ``tBTCUST`` (``BTC-USDT``), ``tAAVE:USD``,
    ``tBTCF0:USTF0`` (``BTC-USDT-PERP``)."""
    base, quote = _venue_currency(instrument, instrument.base), _venue_currency(instrument, instrument.quote)
    if instrument.kind == "PERP":
        return f"t{base}F0:{quote}F0"
    if instrument.kind:
        raise ValueError(f"bitfinex: no instrument for {instrument.symbol} (kind {instrument.kind!r})")
    return f"t{base}:{quote}" if len(base) > 3 or len(quote) > 3 else f"t{base}{quote}"


def plain_decimal(text: str) -> str:
    """The plain decimal text of a JSON number's ``text`` in exponent form, exactly:
    ``1.1e-7`` -> ``0.00000011``, ``2E+3`` -> ``2000``; a sign is kept. Other texts are returned
    as they are. Raises DecimalTextError for an exponent beyond ``MAX_EXPONENT``."""
    if "e" not in text and "E" not in text:
        return text
    mantissa, _, exponent_text = text.lower().partition("e")
    sign = "-" if mantissa.startswith("-") else ""
    whole, _, fraction = mantissa.lstrip("-").partition(".")
    exponent = int(exponent_text)  # JSON: [+-]digits
    if abs(exponent) > MAX_EXPONENT:
        raise DecimalTextError("precision" if exponent < 0 else "overflow", text)
    digits, point = whole + fraction, len(whole) + exponent
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def amount_text(text: str) -> str:
    """A non-negative plain decimal ``text`` rounded (half to even) to ``AMOUNT_DECIMALS``:
    ``1.7023900800000002`` -> ``1.70239008``; shorter texts are returned as they are."""
    whole, _, fraction = text.partition(".")
    extra = len(fraction) - AMOUNT_DECIMALS
    if extra <= 0:
        return text
    kept, rest = divmod(int(whole + fraction), 10**extra)
    half = 5 * 10 ** (extra - 1)
    if rest > half or (rest == half and kept % 2):
        kept += 1
    units, decimals = divmod(kept, 10**AMOUNT_DECIMALS)
    return f"{units}.{decimals:0{AMOUNT_DECIMALS}d}"


def _number_text(raw: msgspec.Raw) -> str:
    """The text of a JSON number held in ``raw``; raises msgspec.ValidationError for any other
    JSON value."""
    return _checked(str(raw, "latin-1"))  # never fails; a JSON number is ASCII


def _text(raw: msgspec.Raw) -> str:
    return str(raw, "latin-1")


def _trailing_seq(payload: bytes) -> int:
    """The last element of a data array, its sequence number under SEQ_ALL; -1 if that is no
    integer."""
    text = payload[payload.rfind(b",") + 1 : -1].strip(_WHITESPACE)
    return int(text) if text.isdigit() and len(text) < 19 else -1


def _checked(text: str) -> str:
    if not text or text[0] not in "0123456789-":
        raise msgspec.ValidationError(f"Expected a JSON number, got {text[:32] or 'nothing'}")
    return text


def _parse_price(text: str, cache: PriceCache) -> int:
    """The scaled price of a JSON number's ``text`` that missed the memo: exact, an exponent form
    expanded, never rounded."""
    return cache.parse(plain_decimal(_checked(text)))


def _parse_size(text: str, cache: PriceCache) -> int:
    """The scaled size of an unsigned JSON number's ``text`` that missed the memo, rounded to the
    8 decimals amounts carry. A text that needs no change is parsed (and memoised) as it is."""
    dot = text.find(".")
    if (dot < 0 or len(text) - dot <= AMOUNT_DECIMALS + 1) and "e" not in text and "E" not in text:
        return cache.parse(_checked(text))
    return cache.parse(amount_text(plain_decimal(_checked(text))))


def _price(raw: msgspec.Raw, memo: dict[str, int], cache: PriceCache) -> int:
    """The scaled price of a JSON number: exact, exponent form expanded, never rounded."""
    text = str(raw, "latin-1")
    value = memo.get(text)
    return _parse_price(text, cache) if value is None else value


def _size(text: str, memo: dict[str, int], cache: PriceCache) -> int:
    """The scaled size of an unsigned JSON number's text, rounded to the 8 decimals amounts carry."""
    value = memo.get(text)
    return _parse_size(text, cache) if value is None else value


# -- wire shapes: data messages are arrays; unknown trailing fields are ignored ---------------------


class BitfinexLevel(msgspec.Struct, array_like=True, gc=False):
    price: msgspec.Raw
    count: int
    amount: msgspec.Raw  # > 0 bid, < 0 ask; for a deleted level 1 or -1


class BitfinexBookSnapshot(msgspec.Struct, array_like=True, gc=False):
    chan_id: int
    levels: list[BitfinexLevel]
    seq: int = -1


class BitfinexBookUpdate(msgspec.Struct, array_like=True, gc=False):
    chan_id: int
    level: BitfinexLevel
    seq: int = -1


class BitfinexTickerFields(msgspec.Struct, array_like=True, gc=False):
    bid: msgspec.Raw
    bid_size: msgspec.Raw
    ask: msgspec.Raw
    ask_size: msgspec.Raw
    daily_change: msgspec.Raw
    daily_change_relative: msgspec.Raw
    last_price: msgspec.Raw


class BitfinexTicker(msgspec.Struct, array_like=True, gc=False):
    chan_id: int
    fields: BitfinexTickerFields
    seq: int = -1


class BitfinexTradeFields(msgspec.Struct, array_like=True, gc=False):
    id: _NonNegative
    mts: _NonNegative
    amount: msgspec.Raw  # > 0: the taker bought
    price: msgspec.Raw


class BitfinexTradeUpdate(msgspec.Struct, array_like=True, gc=False):
    chan_id: int
    kind: str  # "te" or "tu"
    trade: BitfinexTradeFields
    seq: int = -1


class BitfinexSequenced(msgspec.Struct, array_like=True, gc=False):
    """A snapshot of recent trades, read for its sequence number only."""

    chan_id: int
    body: msgspec.Raw
    seq: int = -1


class BitfinexEvent(msgspec.Struct, gc=False):
    """An event object: info, conf, subscribed, error, pong."""

    event: str
    channel: str = ""
    chanId: int = 0
    symbol: str = ""
    len: str = ""
    code: int = 0
    msg: str = ""
    status: str = ""
    flags: int = 0


_event_decoder = msgspec.json.Decoder(BitfinexEvent)
_book_snapshot_decoder = msgspec.json.Decoder(BitfinexBookSnapshot)
_book_update_decoder = msgspec.json.Decoder(BitfinexBookUpdate)
_ticker_decoder = msgspec.json.Decoder(BitfinexTicker)
_trade_update_decoder = msgspec.json.Decoder(BitfinexTradeUpdate)
_array_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_sequenced_decoder = msgspec.json.Decoder(BitfinexSequenced)


class BitfinexState(BookState):
    """One subscribed symbol: its Bitfinex name, and (from BookState) its book and top of book."""

    __slots__ = ("venue_name",)

    def __init__(self, instrument: Instrument, caches: dict[int, PriceCache]) -> None:
        self.venue_name = venue_symbol(instrument)
        super().__init__(instrument, caches, int(BOOK_LENGTH))


_Handler = Callable[[BitfinexState, bytes, int, int], Sequence[Event]]
"""(state, frame, index of the message's second element, recv_ns) -> events."""


class BitfinexPublic(AdapterBase):
    """Bitfinex v2 public adapter (spot and perpetuals): conf and subscribe events, decoder.

    ``decode`` returns the events a frame carries (never raises); dropped frames are counted in
    ``stats.errors`` by reason. Raises ValueError at construction when the instruments and
    channels need more than the 25 channels a connection may hold.
    """

    name: ClassVar[str] = "bitfinex"
    default_url: ClassVar[str] = BITFINEX_PUBLIC_URL
    instrument_kinds: ClassVar[frozenset[str]] = frozenset(("", "PERP"))

    def __init__(
        self, instruments: Sequence[Instrument], channels: frozenset[str] = frozenset({Channel.BBO})
    ) -> None:
        super().__init__(channels)
        caches: dict[int, PriceCache] = {}
        states = [BitfinexState(instrument, caches) for instrument in instruments]
        self._symbols = {state.venue_name: state for state in states}
        wanted = (Channel.BBO, Channel.TRADES, Channel.TICKER)
        self._channel_names = [_CHANNEL_NAMES[channel] for channel in wanted if channel in channels]
        subscriptions = len(self._channel_names) * len(self._symbols)
        if subscriptions > MAX_CHANNELS_PER_CONNECTION:
            raise ValueError(
                f"bitfinex: {len(self._symbols)} symbols x {len(self._channel_names)} channels need "
                f"{subscriptions} channels, more than the {MAX_CHANNELS_PER_CONNECTION} a connection holds"
            )
        self._quotes_from_tickers = Channel.BBO not in channels
        self._tickers_wanted = Channel.TICKER in channels
        self._handlers: dict[str, _Handler] = {"book": self._book, "trades": self._trades, "ticker": self._ticker}
        self._routes: dict[bytes, tuple[_Handler, BitfinexState]] = {}  # chanId digits -> route
        self._last_seq = -1

    def on_connected(self) -> list[bytes]:
        """Forget the channels, books and sequence; return the conf and subscribe events to send."""
        self._reconnect_requested = False
        self._routes.clear()
        self._last_seq = -1
        for state in self._symbols.values():
            state.reset()
        if not self._symbols or not self._channel_names:
            return []
        messages = [_encoder.encode({"event": "conf", "flags": SEQ_ALL})]
        for channel in self._channel_names:
            for symbol in self._symbols:
                request: dict[str, Any] = {"event": "subscribe", "channel": channel, "symbol": symbol}
                if channel == "book":
                    request.update(prec="P0", freq="F0", len=BOOK_LENGTH)
                messages.append(_encoder.encode(request))
        return messages

    def decode(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        """Events carried by one text frame (none for events, heartbeats or errors)."""
        comma = payload.find(b",")
        route = self._routes.get(payload[1:comma])  # a data array starts with its chanId
        body = comma + 1
        if route is None:
            route, body = self._spaced_route(payload, comma)
            if route is None:
                return self._unrouted(payload)
        handle, state = route
        try:
            return handle(state, payload, body, recv_ns)
        except ValueError as exc:  # not a message of the channel's shape, a number refused
            self._count_failure(exc, state.venue_name)
            return NO_EVENTS

    def _spaced_route(self, payload: bytes, comma: int) -> tuple[tuple[_Handler, BitfinexState] | None, int]:
        """The route of a data array with spaces around its chanId (Bitfinex writes none, JSON
        allows them), and where its second element starts; (None, 0) for any other frame."""
        if payload[:1] != b"[":
            return None, 0
        route = self._routes.get(payload[1:comma].strip(_WHITESPACE))
        rest = payload[comma + 1 :]
        return route, len(payload) - len(rest.lstrip(_WHITESPACE))

    def _unrouted(self, payload: bytes) -> Sequence[Event]:
        if payload[:1] == b"[":
            items = self._decode_or_count(_array_decoder, payload)
            if not items:
                return NO_EVENTS
            self._in_sequence(_trailing_seq(payload))
            if len(items) > 1 and bytes(items[1]) == b'"hb"':  # a beat may come before its subscribed event
                self.stats.control += 1
            else:
                self.stats.error("unknown_message", f"channel {_text(items[0])} is not subscribed")
            return NO_EVENTS
        event = self._decode_or_count(_event_decoder, payload)
        if event is not None:
            self._event(event)
        return NO_EVENTS

    def _event(self, event: BitfinexEvent) -> None:
        kind = event.event
        if kind == "subscribed":
            self._subscribed(event)
        elif kind == "error":
            what = " ".join(x for x in (event.channel, event.symbol) if x)
            detail = f" ({what})" if what else ""
            self._venue_error(f"bitfinex error {event.code}: {event.msg or 'no message'}{detail}")
        elif kind == "info":
            self.stats.control += 1
            if event.code in (INFO_RECONNECT, INFO_MAINTENANCE_END):
                self._reconnect_requested = True
        elif kind == "conf" and event.status not in ("", "OK"):
            self._venue_error(f"bitfinex conf flags {event.flags} refused: {event.status}")
        elif kind in _CONTROL_EVENTS:
            self.stats.control += 1
        else:
            self.stats.error("unknown_message", f"event {kind!r}")

    def _subscribed(self, event: BitfinexEvent) -> None:
        state = self._symbols.get(event.symbol)
        handle = self._handlers.get(event.channel) if event.channel in self._channel_names else None
        if state is None or handle is None:
            self.stats.error("unknown_message", f"subscribed to {event.channel} {event.symbol}, not asked for")
            return
        self.stats.control += 1
        if event.channel == "book" and event.len.isdigit() and int(event.len) > 0:
            state.book.depth = int(event.len)  # the venue's window: levels below it are dropped
        self._routes[str(event.chanId).encode()] = (handle, state)

    def _in_sequence(self, seq: int) -> bool:
        """Take the sequence number of a data message; False after counting a gap (every book is
        then unknown, and the adapter asks for a new connection)."""
        last = self._last_seq
        self._last_seq = seq
        if seq < 0 or last < 0 or seq == last + 1:
            return True
        self.stats.sequence_gaps += 1
        self._reconnect_requested = True
        for state in self._symbols.values():
            state.reset()
        return False

    def _tagged(self, state: BitfinexState, payload: bytes, body: int) -> Sequence[Event]:
        """``[chanId,"hb",seq]`` (a control frame) or a message no channel here sends."""
        items = _array_decoder.decode(payload)  # raises for a frame that is no JSON array
        self._in_sequence(_trailing_seq(payload))
        if payload[body : body + 4] == b'"hb"':
            self.stats.control += 1
        else:
            tag = _text(items[1])[:16] if len(items) > 1 else "without a body"
            self.stats.error("unknown_message", f"{state.venue_name} message {tag}")
        return NO_EVENTS

    # -- book -------------------------------------------------------------------------------------

    def _book(self, state: BitfinexState, payload: bytes, body: int, recv_ns: int) -> Sequence[Event]:
        if payload[body : body + 1] != b"[":
            return self._tagged(state, payload, body)
        if payload[body + 1 : body + 2] in b"[]":  # a snapshot: the whole window (or nothing)
            return self._book_snapshot(state, payload, recv_ns)
        update = _book_update_decoder.decode(payload)
        seq = update.seq
        if seq != self._last_seq + 1 and not self._in_sequence(seq):
            return NO_EVENTS
        self._last_seq = seq
        if not state.synced:
            self.stats.error("stale_update", f"{state.venue_name} book update without a current snapshot")
            return NO_EVENTS
        try:
            self._apply(state, update.level)
        except ValueError:
            self._lose_book(state)
            raise
        return book_quote("bitfinex", self.stats, state, recv_ns, self._last_seq)

    def _book_snapshot(self, state: BitfinexState, payload: bytes, recv_ns: int) -> Sequence[Event]:
        snapshot = _book_snapshot_decoder.decode(payload)
        self._in_sequence(snapshot.seq)
        state.book.clear()
        state.synced = True
        try:
            for level in snapshot.levels:
                self._apply(state, level)
        except ValueError:
            self._lose_book(state)
            raise
        return book_quote("bitfinex", self.stats, state, recv_ns, self._last_seq)

    def _lose_book(self, state: BitfinexState) -> None:
        """A level was refused: those before it were applied, the rest not, so the book is unknown
        until a new connection sends it again."""
        state.reset()
        self._reconnect_requested = True

    @staticmethod
    def _apply(state: BitfinexState, level: BitfinexLevel) -> None:
        text = str(level.price, "latin-1")
        price = state.price_memo.get(text)
        if price is None:
            price = _parse_price(text, state.prices)
        amount = str(level.amount, "latin-1")
        is_ask = amount[:1] == "-"
        if is_ask:
            amount = amount[1:]
        count = level.count
        if count > 0:
            size = state.size_memo.get(amount)
            if size is None:
                size = _parse_size(amount, state.sizes)
            if not size:
                raise DecimalTextError("precision", amount)  # a level of no size that is no delete
        elif count == 0:
            _checked(amount)  # 1 for a bid, -1 for an ask
            size = 0
        else:
            raise msgspec.ValidationError(f"Expected a count >= 0, got {count}")
        if is_ask:
            state.book.set_ask(price, size)
        else:
            state.book.set_bid(price, size)

    # -- trades and ticker ------------------------------------------------------------------------

    def _trades(self, state: BitfinexState, payload: bytes, body: int, recv_ns: int) -> Sequence[Event]:
        tag = payload[body : body + 4]
        if tag == b'"te"' or tag == b'"tu"':
            update = _trade_update_decoder.decode(payload)
            self._in_sequence(update.seq)
            if update.kind == "tu":  # the same trade again, once stored
                self.stats.control += 1
                return NO_EVENTS
            trade = update.trade
            price = _price(trade.price, state.price_memo, state.prices)
            amount = _number_text(trade.amount)
            side = SELL if amount[0] == "-" else BUY
            size = _size(amount[1:] if side == SELL else amount, state.size_memo, state.sizes)
            if price <= 0 or size <= 0:
                reason = "zero_price" if price <= 0 else "zero_size"
                self.stats.error(reason, f"{state.venue_name} trade {trade.id}")
                return NO_EVENTS
            return (Trade("bitfinex", state.symbol, price, size, side, trade.id, recv_ns, trade.mts * MS),)
        if tag[:1] == b"[":  # the snapshot of recent trades: history, not new trades
            self._in_sequence(_sequenced_decoder.decode(payload).seq)
            self.stats.control += 1
            return NO_EVENTS
        return self._tagged(state, payload, body)

    def _ticker(self, state: BitfinexState, payload: bytes, body: int, recv_ns: int) -> Sequence[Event]:
        if payload[body : body + 1] != b"[":
            return self._tagged(state, payload, body)
        message = _ticker_decoder.decode(payload)
        self._in_sequence(message.seq)
        fields = message.fields
        price_memo, prices = state.price_memo, state.prices
        events: list[Event] = []
        if self._quotes_from_tickers:
            bid = _price(fields.bid, price_memo, prices)
            ask = _price(fields.ask, price_memo, prices)
            bid_size = _size(_number_text(fields.bid_size), state.size_memo, state.sizes)
            ask_size = _size(_number_text(fields.ask_size), state.size_memo, state.sizes)
            if 0 < bid < ask and bid_size > 0 and ask_size > 0:
                events.append(Quote("bitfinex", state.symbol, bid, bid_size, ask, ask_size, recv_ns, 0, message.seq))
            else:
                self.stats.error(
                    quote_rejection(bid, bid_size, ask, ask_size),
                    f"{state.venue_name} ticker bid={_text(fields.bid)}x{_text(fields.bid_size)}"
                    f" ask={_text(fields.ask)}x{_text(fields.ask_size)}",
                )
        if self._tickers_wanted:
            last = _price(fields.last_price, price_memo, prices)
            if last > 0:
                events.append(Ticker("bitfinex", state.symbol, last, recv_ns))
            else:
                self.stats.error("zero_price", f"{state.venue_name} last=0")
        return tuple(events)
