"""OKX v5 public market data (spot and perpetual swaps), sans-I/O.

Payloads arrive as ``{"arg":{"channel":..,"instId":..},"data":[..]}``; prices, sizes and ``ts``
(ms) are strings. Best bid/offer comes from ``bbo-tbt`` (tick by tick, ``seqId`` per instrument);
``tickers`` gives the last price and, when ``bbo-tbt`` is not subscribed, the best bid/offer as
well; ``trades`` gives trades with the taker side. Instruments: spot ``BTC-USDT`` is canonical
``BTC-USDT``, the perpetual swap ``BTC-USDT-SWAP`` is ``BTC-USDT-PERP`` (``BTC-USD-SWAP`` the
inverse one, ``BTC-USD-PERP``). Dated futures and options have no canonical name yet.

Sizes come out in the base currency. OKX counts SWAP/FUTURES sizes (bbo, tickers, trades) in
contracts worth ``ctVal`` of ``ctValCcy``: the base for a linear swap (0.01 BTC for
BTC-USDT-SWAP), the quote for an inverse one (100 USD for BTC-USD-SWAP). Before it connects the
adapter needs each swap's contract value, pinned by ``Instrument.contract_size`` or read from
OKX's ``GET /api/v5/public/instruments?instType=SWAP`` (``metadata_requests`` says what to
fetch, ``load_metadata`` reads the answer). A linear size is ``contracts × ctVal``, exact: the
count is parsed at ``size_scale`` minus ctVal's decimals and multiplied by ctVal's digits. An
inverse size is ``contracts × ctVal / price`` (bid size at the bid, ask size at the ask, a
trade's at its price), rounded half up at ``size_scale``. A swap OKX does not list, or lists
with a contract tickwire cannot convert, is left out with a message in ``stats.venue_errors``.

Keepalive: the client sends the text ``ping`` every 20 s and the server answers the text
``pong``; the server closes a connection that received nothing for 30 s. A ``notice`` event
announces a service upgrade disconnect, and the adapter then asks for a reconnect.
"""

from __future__ import annotations

from typing import Callable, ClassVar, Literal, Sequence
from urllib.parse import parse_qs, urlsplit

import msgspec

from tickwire.fixedpoint import (
    INT64_MAX,
    DecimalTextError,
    PriceCache,
    format_scaled,
    parse_scaled,
    shortest_text,
)
from tickwire.instruments import Instrument
from tickwire.model import BUY, SELL, Event, Quote, Ticker, Trade
from tickwire.venues.base import (
    NO_EVENTS,
    AdapterBase,
    Channel,
    SymbolState,
    quote_rejection,
    symbol_states,
)

__all__ = [
    "OKX_PUBLIC_URL",
    "OKX_REST_URL",
    "ContractSize",
    "ContractSizeCache",
    "OkxBbo",
    "OkxInstrument",
    "OkxPublic",
    "OkxTicker",
    "OkxTrade",
    "base_size",
    "contract_size",
    "listed_contract_size",
    "parse_instruments",
    "venue_symbol",
]

OKX_PUBLIC_URL = "wss://ws.okx.com:8443/ws/v5/public"
OKX_REST_URL = "https://www.okx.com"
INSTRUMENTS_PATH = "/api/v5/public/instruments"
PING = b"ping"
PONG = b"pong"
MS = 1_000_000
_MAX_INT_DIGITS = 19  # int64 ids and ms times; longer texts are refused, never converted

_CHANNEL_STREAM = {Channel.BBO: "bbo-tbt", Channel.TRADES: "trades", Channel.TICKER: "tickers"}
_KIND_SUFFIX = {"": "", "PERP": "-SWAP"}
_CONTRACT_INST_TYPE = {"PERP": "SWAP"}  # kinds whose sizes count contracts -> OKX's instType
_CONTRACT_TYPES = {"linear": False, "inverse": True}  # ctType -> whether ctVal is in the quote


def venue_symbol(instrument: Instrument) -> str:
    """OKX's instId: ``BTC-USDT`` (spot), ``BTC-USDT-SWAP`` (canonical ``BTC-USDT-PERP``)."""
    suffix = _KIND_SUFFIX.get(instrument.kind)
    if suffix is None:
        raise ValueError(f"okx: no instrument for {instrument.symbol} (kind {instrument.kind!r})")
    return f"{instrument.base}-{instrument.quote}{suffix}"


class ContractSize(msgspec.Struct, frozen=True, gc=False):
    """The value of one contract: ``units`` × 10**-``decimals`` of ``currency``, which is the
    instrument's quote when ``inverse`` and its base otherwise."""

    units: int
    decimals: int
    currency: str
    inverse: bool

    def __str__(self) -> str:
        return f"{format_scaled(self.units, self.decimals)} {self.currency}"


def contract_size(instrument: Instrument, amount: str, currency: str) -> ContractSize:
    """One contract of ``instrument`` worth decimal ``amount`` of ``currency`` (its base or its
    quote). Raises ValueError when sizes of that contract cannot be exact at ``size_scale``."""
    symbol = instrument.symbol
    try:
        parse_scaled(amount, len(amount.partition(".")[2]))
    except DecimalTextError as exc:
        raise ValueError(
            f"{symbol}: contract value {amount!r} is not a decimal ({exc.reason})"
        ) from None
    digits = shortest_text(amount)
    whole, _, fraction = digits.partition(".")
    units = int(whole + fraction)
    if not units:
        raise ValueError(f"{symbol}: contract value {amount} {currency} is zero")
    if currency not in (instrument.base, instrument.quote):
        raise ValueError(
            f"{symbol}: contracts in {currency}, neither its base {instrument.base} nor its "
            f"quote {instrument.quote}"
        )
    if len(fraction) > instrument.size_scale:
        raise ValueError(
            f"{symbol}: a contract of {digits} {currency} needs size_scale {len(fraction)} "
            f"or more, not {instrument.size_scale}"
        )
    return ContractSize(units, len(fraction), currency, currency != instrument.base)


class OkxInstrument(msgspec.Struct, gc=False):
    """One entry of ``GET /api/v5/public/instruments`` (the fields tickwire reads)."""

    instId: str
    instType: str = ""
    ctVal: str = ""
    ctValCcy: str = ""
    ctType: str = ""
    ctMult: str = ""


class OkxInstruments(msgspec.Struct, gc=False):
    code: str
    msg: str = ""
    data: list[OkxInstrument] = msgspec.field(default_factory=list)


_instruments_decoder = msgspec.json.Decoder(OkxInstruments)


def parse_instruments(body: bytes) -> dict[str, OkxInstrument]:
    """The instruments of an ``/api/v5/public/instruments`` answer by instId. Raises ValueError
    for a body that is not such an answer or one with an error code."""
    try:
        answer = _instruments_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not an OKX instruments answer ({exc}): {body[:80]!r}") from None
    if answer.code != "0":
        raise ValueError(f"OKX answered code {answer.code}: {answer.msg or 'no message'}")
    return {listed.instId: listed for listed in answer.data}


def listed_contract_size(instrument: Instrument, listed: OkxInstrument) -> ContractSize:
    """The contract of ``instrument`` as OKX lists it; raises ValueError for a contract whose
    sizes tickwire cannot convert (unknown ctType, ctValCcy that contradicts it, ctMult not 1)."""
    inst_id = listed.instId
    inverse = _CONTRACT_TYPES.get(listed.ctType)
    if inverse is None:
        raise ValueError(f"{instrument.symbol}: OKX lists {inst_id} with ctType {listed.ctType!r}")
    if listed.ctMult not in ("", "1"):
        raise ValueError(
            f"{instrument.symbol}: OKX lists {inst_id} with ctMult {listed.ctMult}, not 1"
        )
    contract = contract_size(instrument, listed.ctVal, listed.ctValCcy)
    if contract.inverse != inverse:
        raise ValueError(
            f"{instrument.symbol}: OKX lists {inst_id} as {listed.ctType} with contracts of "
            f"{contract}"
        )
    return contract


class ContractSizeCache(PriceCache):
    """Contract counts (decimal text) -> the contracts' value at ``scale``, exactly: the count is
    parsed at ``scale`` minus the contract's decimals and multiplied by its units. Counts finer
    than that raise DecimalTextError ``precision``, values above int64 ``overflow``."""

    __slots__ = ("_count_scale", "_units")

    def __init__(self, scale: int, contract: ContractSize) -> None:
        super().__init__(scale)
        self._count_scale = scale - contract.decimals
        self._units = contract.units

    def _miss(self, text: str) -> int:  # the value is no spelling of the text: no source noted
        value = parse_scaled(text, self._count_scale) * self._units
        if value > INT64_MAX:
            raise DecimalTextError("overflow", text)
        return self._store(text, value)  # type: ignore[no-any-return]


def base_size(value: int, price: int, price_unit: int) -> int:
    """The base-currency size of ``value`` (quote currency, at the size scale) at ``price`` > 0
    (``price_unit`` is 10**price_scale), rounded half up. Raises DecimalTextError above int64."""
    size = (2 * value * price_unit + price) // (2 * price)  # floor(value / price + 1/2)
    if size > INT64_MAX:
        raise DecimalTextError("overflow", f"{value} / {price}")
    return size


class OkxSymbolState(SymbolState):
    """A subscribed instrument; a swap's sizes are read through its ``contract`` once known.

    ``price_unit`` is 10**price_scale for an inverse contract (whose sizes are divided by a
    price) and 0 otherwise.
    """

    __slots__ = ("contract", "price_unit")

    def __init__(self, instrument: Instrument, caches: dict[int, PriceCache]) -> None:
        super().__init__(instrument, caches)
        self.contract: ContractSize | None = None
        self.price_unit = 0

    @property
    def sizes_known(self) -> bool:
        """Whether sizes can be read: spot sizes always, a swap's once its contract is known."""
        return self.contract is not None or not self.instrument.kind

    def set_contract(self, contract: ContractSize) -> None:
        """Read this instrument's sizes as counts of ``contract``."""
        self.contract = contract
        self.sizes = ContractSizeCache(self.instrument.size_scale, contract)
        self.size_memo = self.sizes.memo
        self.price_unit = 10**self.instrument.price_scale if contract.inverse else 0


class OkxArg(msgspec.Struct, gc=False):
    channel: str
    instId: str = ""


class OkxLevel(msgspec.Struct, array_like=True, gc=False):
    price: str
    size: str


class OkxBbo(msgspec.Struct, gc=False):
    asks: list[OkxLevel]
    bids: list[OkxLevel]
    ts: str
    seqId: int


class OkxTicker(msgspec.Struct, gc=False):
    last: str
    bidPx: str
    bidSz: str
    askPx: str
    askSz: str
    ts: str


class OkxTrade(msgspec.Struct, gc=False):
    tradeId: str
    px: str
    sz: str
    side: Literal["buy", "sell"]
    ts: str


class OkxBboMessage(msgspec.Struct, gc=False):
    arg: OkxArg
    data: list[OkxBbo]


class OkxTickerMessage(msgspec.Struct, gc=False):
    arg: OkxArg
    data: list[OkxTicker]


class OkxTradeMessage(msgspec.Struct, gc=False):
    arg: OkxArg
    data: list[OkxTrade]


class OkxFrame(msgspec.Struct, gc=False):
    """Any frame: a channel push, an event (ack, error, notice)."""

    arg: OkxArg | None = None
    data: msgspec.Raw = msgspec.Raw()
    event: str = ""
    code: str | int = ""
    msg: str = ""


_STREAMS = {
    # channel: (decoder of the whole frame, decoder of its "data" alone)
    b"bbo-tbt": (OkxBboMessage, list[OkxBbo]),
    b"tickers": (OkxTickerMessage, list[OkxTicker]),
    b"trades": (OkxTradeMessage, list[OkxTrade]),
}
_FRAME_DECODERS = {k: msgspec.json.Decoder(v[0]) for k, v in _STREAMS.items()}
_DATA_DECODERS = {k: msgspec.json.Decoder(v[1]) for k, v in _STREAMS.items()}
# A push whose arg was recognised by its bytes: its data alone is read (the arg is skipped).
_PUSH_DECODERS = {
    k: msgspec.json.Decoder(msgspec.defstruct("OkxPush", [("data", v[1])], gc=False)) for k, v in _STREAMS.items()
}
_frame_decoder = msgspec.json.Decoder(OkxFrame)
_CHANNEL_PREFIX = b'{"arg":{"channel":"'
_CHANNEL_START = len(_CHANNEL_PREFIX)
_ARG_END = b"}"
_CONTROL_EVENTS = frozenset(("subscribe", "unsubscribe", "channel-conn-count"))
_encoder = msgspec.json.Encoder()


class OkxFieldError(ValueError):
    """A text field that must hold a non-negative integer (``ts``, ``tradeId``) but does not."""


def integer_text(text: str, field: str) -> int:
    """The integer in ``text`` (ASCII digits only); raises OkxFieldError naming ``field``."""
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_INT_DIGITS:
        raise OkxFieldError(f"{field} is not an integer: {text[:32]!r}")
    return int(text)


def arg_prefix(channel: str, inst_id: str) -> bytes:
    """How OKX begins a push of ``channel`` for ``inst_id``, up to the end of its ``arg`` object."""
    return b'{"arg":{"channel":"%s","instId":"%s"}' % (channel.encode(), inst_id.encode())


class OkxPublic(AdapterBase):
    """OKX v5 public adapter (spot and perpetual swaps): subscribe, keepalive, decoder.

    ``decode`` returns the events a frame carries (never raises); dropped frames are counted in
    ``stats.errors`` by reason. Sizes are in the base currency (see the module docstring): before
    connecting, fetch every URL of ``metadata_requests`` and pass its answer to
    ``load_metadata``; a swap whose contract is still unknown is not subscribed.
    ``wants_reconnect`` once the venue announced a service upgrade that will cut the connection.
    """

    name: ClassVar[str] = "okx"
    default_url: ClassVar[str] = OKX_PUBLIC_URL
    instrument_kinds: ClassVar[frozenset[str]] = frozenset(_KIND_SUFFIX)
    keepalive_interval: ClassVar[float | None] = 20.0
    keepalive: ClassVar[bytes | None] = PING  # the text ``ping`` (not JSON); the server answers ``pong``

    def __init__(
        self, instruments: Sequence[Instrument], channels: frozenset[str] = frozenset({Channel.BBO})
    ) -> None:
        """Raises ValueError for an instrument OKX cannot name or a pinned contract_size whose
        sizes cannot be exact."""
        super().__init__(channels)
        self._states = symbol_states(instruments, venue_symbol, OkxSymbolState)
        for state in self._states.values():
            pinned = state.instrument.contract_size
            if pinned:
                amount, _, currency = pinned.partition(" ")
                state.set_contract(contract_size(state.instrument, amount, currency))
        self._left_out: set[str] = set()  # instIds whose contract will stay unknown
        self._channels = sorted(channels)
        # bbo-tbt is the quote source when subscribed; tickers' slower bid/ask must not interleave.
        self._quotes_from_tickers = Channel.BBO not in channels
        self._handlers = {b"bbo-tbt": self._bbo, b"tickers": self._tickers, b"trades": self._trades}
        self._fast_path = {k: (_FRAME_DECODERS[k].decode, h) for k, h in self._handlers.items()}
        self._slow_path = {k: (_DATA_DECODERS[k].decode, h) for k, h in self._handlers.items()}
        self._route()

    def _route(self) -> None:
        """Subscribe to, and decode, the instruments whose sizes can be read."""
        self._symbols = {inst_id: s for inst_id, s in self._states.items() if s.sizes_known}
        self.args = [
            {"channel": _CHANNEL_STREAM[channel], "instId": inst_id}
            for channel in self._channels
            for inst_id in self._symbols
        ]
        # A subscribed push begins with the same bytes every time, up to the end of its ``arg``:
        # those bytes pick the decoder, the handler and the instrument state at once.
        self._subscribed: dict[bytes, tuple] = {}
        for arg in self.args:
            channel = arg["channel"].encode()
            self._subscribed[arg_prefix(arg["channel"], arg["instId"])] = (
                _PUSH_DECODERS[channel].decode, self._handlers[channel], self._symbols[arg["instId"]], channel
            )

    def rest_url(self, endpoint: str | None, rest_endpoint: str | None) -> str:
        """The REST API's base URL: ``rest_endpoint``; else, for a WebSocket ``endpoint``, the
        same host and port (http for ws, https for wss) with the endpoint's path less
        ``/ws/v5/public``; else OKX's own."""
        if rest_endpoint:
            return rest_endpoint.rstrip("/")
        if not endpoint:
            return OKX_REST_URL
        parts = urlsplit(endpoint)
        scheme = "https" if parts.scheme == "wss" else "http"
        path = parts.path.rstrip("/")
        public_path = urlsplit(OKX_PUBLIC_URL).path
        if path.endswith(public_path):
            path = path[: -len(public_path)]
        return f"{scheme}://{parts.netloc}{path}"

    def metadata_requests(
        self, endpoint: str | None, rest_endpoint: str | None
    ) -> list[tuple[str, str]]:
        """``(url, what it is for)`` of each answer still needed before connecting: the
        instrument list of every instType with a swap whose contract is not known yet."""
        waiting: dict[str, list[str]] = {}
        for inst_id, state in self._states.items():
            if not state.sizes_known and inst_id not in self._left_out:
                waiting.setdefault(_CONTRACT_INST_TYPE[state.instrument.kind], []).append(state.symbol)
        base = self.rest_url(endpoint, rest_endpoint)
        return [
            (f"{base}{INSTRUMENTS_PATH}?instType={kind}", f"the contract sizes of {', '.join(symbols)}")
            for kind, symbols in sorted(waiting.items())
        ]

    def load_metadata(self, url: str, body: bytes) -> None:
        """Read the answer ``body`` to ``url`` (one of ``metadata_requests``): the contract of
        each waiting swap it lists. A swap it does not list, or lists with a contract tickwire
        cannot convert, is left out with a line in ``stats.venue_errors``. Raises ValueError for
        an answer that is no instrument list (nothing is changed; ask again later)."""
        inst_type = parse_qs(urlsplit(url).query).get("instType", [""])[0]
        listed = parse_instruments(body)
        for inst_id, state in self._states.items():
            if state.sizes_known or inst_id in self._left_out:
                continue
            if _CONTRACT_INST_TYPE[state.instrument.kind] != inst_type:
                continue
            entry = listed.get(inst_id)
            if entry is None:
                problem = f"{state.symbol}: OKX lists no {inst_type} {inst_id} ({url})"
            else:
                try:
                    state.set_contract(listed_contract_size(state.instrument, entry))
                    continue
                except ValueError as exc:
                    problem = str(exc)
            self._left_out.add(inst_id)
            self.stats.venue_errors.append(f"{problem}; left out")
        self._route()

    def on_connected(self) -> list[bytes]:
        """Forget per-connection state; return the subscribe request to send (for every
        instrument whose sizes can be read; a swap whose contract was never loaded is left out,
        with a line in ``stats.venue_errors``)."""
        self._reconnect_requested = False
        for inst_id, state in self._states.items():
            state.last_update_id = -1
            if not state.sizes_known and inst_id not in self._left_out:
                self._left_out.add(inst_id)
                self.stats.venue_errors.append(f"{state.symbol}: contract size not loaded; left out")
        if not self.args:
            return []
        return [_encoder.encode({"op": "subscribe", "args": self.args})]

    def decode(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        """Events carried by one text frame (none for control frames or errors)."""
        route = self._subscribed.get(payload[: payload.find(_ARG_END) + 1])
        if route is None:
            return self._decode_other(payload, recv_ns)
        decode_frame, handle, state, channel = route
        try:
            return handle(state, decode_frame(payload).data, recv_ns)
        except ValueError as exc:  # not a frame of that channel's shape, a number or field refused
            self._count_failure(exc, channel.decode())
            return NO_EVENTS

    def _decode_other(self, payload: bytes, recv_ns: int) -> Sequence[Event]:
        if payload.startswith(_CHANNEL_PREFIX):
            # Compact layout (what OKX sends): the channel name picks the typed decoder.
            end = payload.find(b'"', _CHANNEL_START)
            channel = payload[_CHANNEL_START:end]
            route = self._fast_path.get(channel)
            if route is not None:
                decode_frame, handle = route
                try:
                    message = decode_frame(payload)
                    return self._handle(handle, message.arg.instId, message.data, recv_ns)
                except ValueError as exc:
                    self._count_failure(exc, channel.decode())
                    return NO_EVENTS
        if payload == PONG:
            self.stats.control += 1
            return NO_EVENTS
        frame = self._decode_or_count(_frame_decoder, payload)
        if frame is None:
            return NO_EVENTS
        if frame.event:
            return self._event(frame)
        if frame.arg is None or not frame.data:
            self.stats.error("unknown_message", "no arg with data, and no event")
            return NO_EVENTS
        channel = frame.arg.channel.encode()
        route = self._slow_path.get(channel)
        if route is None:
            self.stats.error("unknown_message", f"channel {frame.arg.channel!r}")
            return NO_EVENTS
        decode_data, handle = route
        try:
            return self._handle(handle, frame.arg.instId, decode_data(frame.data), recv_ns)
        except ValueError as exc:
            self._count_failure(exc, channel.decode())
            return NO_EVENTS

    def _handle(
        self, handle: Callable[..., Sequence[Event]], inst_id: str, data: list, recv_ns: int
    ) -> Sequence[Event]:
        state = self._state(inst_id)
        if state is None:
            return NO_EVENTS
        return handle(state, data, recv_ns)

    def _event(self, frame: OkxFrame) -> Sequence[Event]:
        if frame.event == "error":
            self._venue_error(f"okx error {frame.code}: {frame.msg or 'no message'}")
        elif frame.event == "notice":
            self.stats.control += 1
            self._reconnect_requested = True
        elif frame.event in _CONTROL_EVENTS:
            self.stats.control += 1
        else:
            self.stats.error("unknown_message", f"event {frame.event!r}")
        return NO_EVENTS

    def _bbo(self, state: OkxSymbolState, data: list[OkxBbo], recv_ns: int) -> Sequence[Event]:
        events: list[Event] = []
        price_memo, size_memo = state.price_memo, state.size_memo
        for book in data:
            bids, asks = book.bids, book.asks
            if not (bids and asks):
                self.stats.error("missing_field", f"{_inst_id(state)} bbo-tbt without a bid or an ask")
                continue
            ts = book.ts
            if not (ts.isdigit() and ts.isascii() and len(ts) <= _MAX_INT_DIGITS):
                integer_text(ts, "ts")  # raises OkxFieldError
            best_bid, best_ask = bids[0], asks[0]
            bid = price_memo.get(best_bid.price) or state.prices.parse(best_bid.price)
            ask = price_memo.get(best_ask.price) or state.prices.parse(best_ask.price)
            bid_size = size_memo.get(best_bid.size) or state.sizes.parse(best_bid.size)
            ask_size = size_memo.get(best_ask.size) or state.sizes.parse(best_ask.size)
            if state.price_unit:
                bid_size, ask_size = _base_sizes(state.price_unit, bid, bid_size, ask, ask_size)
            if not (0 < bid < ask and bid_size > 0 and ask_size > 0):
                self._reject_quote(
                    state, (bid, bid_size, ask, ask_size),
                    (best_bid.price, best_bid.size, best_ask.price, best_ask.size),
                )
                continue
            seq_id = book.seqId
            if seq_id <= state.last_update_id:
                self.stats.error("stale_update", f"{_inst_id(state)} seqId={seq_id} after {state.last_update_id}")
                continue
            state.last_update_id = seq_id
            events.append(
                Quote("okx", state.symbol, bid, bid_size, ask, ask_size, recv_ns, int(ts) * MS, seq_id)
            )
        return tuple(events)

    def _reject_quote(
        self, state: SymbolState, values: tuple[int, int, int, int], texts: tuple[str, str, str, str]
    ) -> None:
        bid_text, bid_size_text, ask_text, ask_size_text = texts
        self.stats.error(
            quote_rejection(*values),
            f"{state.symbol} bid={bid_text}x{bid_size_text} ask={ask_text}x{ask_size_text}",
        )

    def _tickers(self, state: OkxSymbolState, data: list[OkxTicker], recv_ns: int) -> Sequence[Event]:
        events: list[Event] = []
        price_memo, size_memo = state.price_memo, state.size_memo
        for ticker in data:
            ts = ticker.ts
            if not (ts.isdigit() and ts.isascii() and len(ts) <= _MAX_INT_DIGITS):
                integer_text(ts, "ts")  # raises OkxFieldError
            exchange_ns = int(ts) * MS
            if self._quotes_from_tickers:
                bid = price_memo.get(ticker.bidPx) or state.prices.parse(ticker.bidPx)
                ask = price_memo.get(ticker.askPx) or state.prices.parse(ticker.askPx)
                bid_size = size_memo.get(ticker.bidSz) or state.sizes.parse(ticker.bidSz)
                ask_size = size_memo.get(ticker.askSz) or state.sizes.parse(ticker.askSz)
                if state.price_unit:
                    bid_size, ask_size = _base_sizes(state.price_unit, bid, bid_size, ask, ask_size)
                if 0 < bid < ask and bid_size > 0 and ask_size > 0:
                    events.append(
                        Quote("okx", state.symbol, bid, bid_size, ask, ask_size, recv_ns, exchange_ns, 0)
                    )
                else:
                    self._reject_quote(
                        state, (bid, bid_size, ask, ask_size),
                        (ticker.bidPx, ticker.bidSz, ticker.askPx, ticker.askSz),
                    )
            last = price_memo.get(ticker.last) or state.prices.parse(ticker.last)
            if last > 0:
                events.append(Ticker("okx", state.symbol, last, recv_ns, exchange_ns))
            else:
                self.stats.error("zero_price", f"{_inst_id(state)} last={ticker.last}")
        return tuple(events)

    def _trades(self, state: OkxSymbolState, data: list[OkxTrade], recv_ns: int) -> Sequence[Event]:
        events: list[Event] = []
        price_memo, size_memo = state.price_memo, state.size_memo
        for trade in data:
            price = price_memo.get(trade.px) or state.prices.parse(trade.px)
            size = size_memo.get(trade.sz) or state.sizes.parse(trade.sz)
            exchange_ns = integer_text(trade.ts, "ts") * MS
            trade_id = integer_text(trade.tradeId, "tradeId")
            if state.price_unit and price > 0:
                size = base_size(size, price, state.price_unit)
            if price <= 0 or size <= 0:
                reason = "zero_price" if price <= 0 else "zero_size"
                self.stats.error(reason, f"{_inst_id(state)} {trade.sz}@{trade.px}")
                continue
            side = BUY if trade.side == "buy" else SELL
            events.append(
                Trade("okx", state.symbol, price, size, side, trade_id, recv_ns, exchange_ns)
            )
        return tuple(events)


def _base_sizes(price_unit: int, bid: int, bid_size: int, ask: int, ask_size: int) -> tuple[int, int]:
    """Inverse contracts' values as base sizes at their prices (unchanged where a price is 0)."""
    if bid > 0:
        bid_size = base_size(bid_size, bid, price_unit)
    if ask > 0:
        ask_size = base_size(ask_size, ask, price_unit)
    return bid_size, ask_size


def _inst_id(state: SymbolState) -> str:
    """The instId of a subscribed instrument, for error messages."""
    return venue_symbol(state.instrument)
