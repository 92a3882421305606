"""Binance spot public stream server, without I/O: ``BinanceSimVenue`` for ``tickwire.sim.server``.

``parse_request_path`` turns the HTTP request path of a WebSocket upgrade into the streams the
connection starts with and whether payloads are wrapped (combined) or bare (raw).
``BinanceStreamSession`` is the state of one connection: it answers the client's JSON requests
(SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY), counts incoming messages
against Binance's 5 per second limit, and wraps payloads in the combined-stream envelope when
asked. ``BinanceSimVenue`` renders market events as ``bookTicker``, ``trade``, ``aggTrade`` and
``ticker`` payloads and reads recorded frames.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import msgspec

from tickwire.instruments import parse_symbol
from tickwire.model import SELL
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
    RequestPathError,
    SessionReply,
    SimSession,
    SimVenue,
    format_units,
    unknown_path,
)

__all__ = [
    "MAX_INCOMING_MESSAGES_PER_SECOND",
    "MAX_STREAMS_PER_CONNECTION",
    "BinanceSimVenue",
    "BinanceStreamSession",
    "ConnectionRequest",
    "HandledRequest",
    "TickerFigures",
    "is_valid_stream_name",
    "parse_recorded_line",
    "parse_request_path",
    "render_combined",
    "ticker_figures",
]

MAX_INCOMING_MESSAGES_PER_SECOND = 5
MAX_STREAMS_PER_CONNECTION = 1024

_STREAM_NAME_RE = re.compile(
    r"[a-z0-9]{1,32}@(?:bookTicker|trade|aggTrade|ticker|miniTicker|avgPrice"
    r"|ticker_(?:1h|4h|1d)"
    r"|kline_(?:1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M)"
    r"|depth(?:5|10|20)?(?:@100ms|@1000ms)?)"
)
_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_REQUEST_KEYS = frozenset(("method", "params", "id"))
_MAX_STRING_ID_LENGTH = 36
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_NS_PER_SECOND = 1_000_000_000

_ERROR_UNKNOWN_PROPERTY = 0
_ERROR_INVALID_VALUE = 1
_ERROR_INVALID_REQUEST = 2
_ERROR_INVALID_JSON = 3


def is_valid_stream_name(name: str) -> bool:
    """True for a lowercase Binance spot stream name such as ``btcusdt@bookTicker``."""
    return _STREAM_NAME_RE.fullmatch(name) is not None


class ConnectionRequest(NamedTuple):
    """What an upgrade path asks for: the initial streams and whether payloads are enveloped."""

    streams: tuple[str, ...]
    combined: bool


def parse_request_path(
    path: str, is_valid_stream: Callable[[str], bool] = is_valid_stream_name
) -> ConnectionRequest:
    """Parse ``/ws``, ``/ws/<s1>/<s2>``, ``/stream`` or ``/stream?streams=<s1>/<s2>``.

    Raises RequestPathError with status 404 for any other path or query, and 400 for a stream name
    that ``is_valid_stream`` refuses (by default: not a valid lowercase Binance spot stream).
    """
    parts = urlsplit(path)
    route = parts.path.rstrip("/") or "/"
    query = parse_qs(parts.query, keep_blank_values=True)
    if route == "/stream":
        if set(query) - {"streams"} or len(query.get("streams", ())) > 1:
            raise RequestPathError(404, f"unknown query in {path!r}")
        joined = query.get("streams", [""])[0]
        names = joined.split("/") if joined else []
        combined = True
    elif route == "/ws" or route.startswith("/ws/"):
        if query:
            raise RequestPathError(404, f"unknown query in {path!r}")
        names = route.split("/")[2:]
        combined = False
    else:
        raise unknown_path(path)
    for name in names:
        if not is_valid_stream(name):
            raise RequestPathError(400, f"invalid stream name {name!r}")
    return ConnectionRequest(tuple(dict.fromkeys(names)), combined)


_combined_prefixes: dict[str, bytes] = {}


def render_combined(stream: str, payload: bytes) -> bytes:
    """Wrap JSON ``payload`` byte-exact as ``{"stream":"<stream>","data":<payload>}``."""
    prefix = _combined_prefixes.get(stream)
    if prefix is None:
        prefix = b'{"stream":' + msgspec.json.encode(stream) + b',"data":'
        _combined_prefixes[stream] = prefix
    return prefix + payload + b"}"


class HandledRequest(NamedTuple):
    """The reply to send for one client request, which method it was and whether it succeeded."""

    reply: bytes
    method: str
    accepted: bool


class _Result(msgspec.Struct):
    result: Any
    id: int | str | None


class _ErrorBody(msgspec.Struct):
    code: int
    msg: str


class _Error(msgspec.Struct):
    error: _ErrorBody
    id: int | str | None


class _RequestError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class BinanceStreamSession(SimSession):
    """The protocol state of one client connection to the Binance spot stream server.

    ``on_text`` (or ``handle_request``, which also says which method it was) answers a client
    JSON request; ``count_incoming`` counts every message the client sends (text, ping and pong
    frames alike). ``subscriptions`` are the subscribed stream names, in order; payloads go out
    bare, or in the ``{"stream":…,"data":…}`` envelope while ``combined`` is on.

    ``is_valid_stream`` says which stream names requests may use, ``delivers`` which of the
    subscribed streams this connection gets payloads of (its ``topics``): Binance USD-M
    acknowledges a stream its path does not serve and sends nothing for it.
    """

    def __init__(
        self,
        request: ConnectionRequest,
        *,
        max_incoming_per_second: int = MAX_INCOMING_MESSAGES_PER_SECOND,
        max_streams: int = MAX_STREAMS_PER_CONNECTION,
        is_valid_stream: Callable[[str], bool] = is_valid_stream_name,
        delivers: Callable[[str], bool] = lambda name: True,
    ) -> None:
        super().__init__(tuple(filter(delivers, request.streams)))
        self.subscriptions: dict[str, None] = dict.fromkeys(request.streams)
        self.is_valid_stream = is_valid_stream
        self.delivers = delivers
        self.combined = request.combined
        self.max_incoming_per_second = max_incoming_per_second
        self.max_streams = max_streams
        self._incoming_ns: deque[int] = deque()

    @property
    def framing(self) -> str | None:
        """``"combined"`` while payloads are enveloped, None while they go out bare."""
        return "combined" if self.combined else None

    def frame(self, topic: str, payload: bytes) -> bytes:
        """The frame this connection gets for ``payload`` of stream ``topic``: bare or enveloped."""
        return render_combined(topic, payload) if self.combined else payload

    def count_incoming(self, now_ns: int) -> bool:
        """Count one incoming message at monotonic ``now_ns``.

        Returns True when the count over the last second is above the limit; Binance disconnects
        such a client.
        """
        window = self._incoming_ns
        window.append(now_ns)
        oldest_kept = now_ns - _NS_PER_SECOND
        while window[0] <= oldest_kept:
            window.popleft()
        return len(window) > self.max_incoming_per_second

    @property
    def incoming_last_second(self) -> int:
        """How many messages were counted in the second up to the last ``count_incoming``."""
        return len(self._incoming_ns)

    def on_text(self, message: bytes, now_ns: int) -> SessionReply:
        """Answer one client request (see ``handle_request``)."""
        handled = self.handle_request(message)
        return SessionReply((handled.reply,), handled.accepted and handled.method == "SUBSCRIBE")

    def handle_request(self, message: bytes | str) -> HandledRequest:
        """Apply one client JSON request and return the JSON reply to send back."""
        request_id: int | str | None = None
        method = ""
        try:
            try:
                request = _decode(message)
            except msgspec.DecodeError as exc:
                raise _RequestError(_ERROR_INVALID_JSON, f"Invalid JSON: {exc}") from None
            if not isinstance(request, dict):
                raise _invalid_request("expected a JSON object")
            if not _is_valid_id(request.get("id")):
                raise _invalid_request(
                    "request ID must be an integer, an alphanumeric string of at most 36 "
                    "characters, or null"
                )
            request_id = request.get("id")
            method = _method_of(request)
            result = self._apply(method, request.get("params"))
        except _RequestError as exc:
            reply = _encode(_Error(_ErrorBody(exc.code, exc.msg), request_id))
            return HandledRequest(reply, method, False)
        return HandledRequest(_encode(_Result(result, request_id)), method, True)

    def _apply(self, method: str, params: Any) -> Any:
        if method == "SUBSCRIBE":
            names = _stream_params(params, self.is_valid_stream)
            added = dict.fromkeys(name for name in names if name not in self.subscriptions)
            if len(self.subscriptions) + len(added) > self.max_streams:
                raise _invalid_request(f"at most {self.max_streams} streams per connection")
            self.subscriptions.update(added)
            self.topics.update(dict.fromkeys(filter(self.delivers, added)))
            return None
        if method == "UNSUBSCRIBE":
            for name in _stream_params(params, self.is_valid_stream):
                self.subscriptions.pop(name, None)
                self.topics.pop(name, None)
            return None
        if method == "LIST_SUBSCRIPTIONS":
            if params not in (None, []):
                raise _invalid_request("too many parameters")
            return list(self.subscriptions)
        if method == "SET_PROPERTY":
            if not isinstance(params, list) or len(params) != 2:
                raise _invalid_request("params must be [property, value]")
            _check_property_name(params[0])
            if type(params[1]) is not bool:
                raise _RequestError(_ERROR_INVALID_VALUE, "Invalid value type: expected Boolean")
            self.combined = params[1]
            return None
        if not isinstance(params, list) or len(params) != 1:  # GET_PROPERTY
            raise _invalid_request("params must be [property]")
        _check_property_name(params[0])
        return self.combined


def _invalid_request(reason: str) -> _RequestError:
    return _RequestError(_ERROR_INVALID_REQUEST, f"Invalid request: {reason}")


def _is_valid_id(value: Any) -> bool:
    if value is None:
        return True
    if type(value) is int:
        return _INT64_MIN <= value <= _INT64_MAX
    return (
        isinstance(value, str)
        and len(value) <= _MAX_STRING_ID_LENGTH
        and value.isascii()
        and value.isalnum()
    )


def _method_of(request: dict[str, Any]) -> str:
    method = request.get("method")
    if not isinstance(method, str):
        raise _invalid_request("missing field `method`")
    if method not in _METHODS:
        expected = ", ".join(f"`{name}`" for name in _METHODS)
        raise _invalid_request(f"unknown variant `{method}`, expected one of {expected}")
    unknown_keys = request.keys() - _REQUEST_KEYS
    if unknown_keys:
        raise _invalid_request(f"unknown field `{min(unknown_keys)}`")
    return method


def _stream_params(params: Any, is_valid_stream: Callable[[str], bool]) -> list[str]:
    if not isinstance(params, list):
        raise _invalid_request("params must be a list of stream names")
    for name in params:
        if not isinstance(name, str) or not is_valid_stream(name):
            raise _invalid_request(f"invalid stream name {name!r}")
    return params


def _check_property_name(name: Any) -> None:
    if not isinstance(name, str):
        raise _invalid_request("property name must be a string")
    if name != "combined":
        raise _RequestError(_ERROR_UNKNOWN_PROPERTY, "Unknown property")


# -- payloads -------------------------------------------------------------------------------------

_MS_PER_DAY = 86_400_000
_ONE = 10**PRICE_DECIMALS


class _BookTicker(msgspec.Struct, gc=False):
    u: int
    s: str
    b: str
    B: str
    a: str
    A: str


class _Trade(msgspec.Struct, gc=False, tag_field="e", tag="trade"):
    E: int
    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool
    M: bool


class _AggTrade(msgspec.Struct, gc=False, tag_field="e", tag="aggTrade"):
    E: int
    s: str
    a: int
    p: str
    q: str
    f: int
    l: int  # noqa: E741 - Binance's field name
    T: int
    m: bool
    M: bool


class _Ticker(msgspec.Struct, gc=False, tag_field="e", tag="24hrTicker"):
    E: int
    s: str
    p: str
    P: str
    w: str
    x: str
    c: str
    Q: str
    b: str
    B: str
    a: str
    A: str
    o: str
    h: str
    l: str  # noqa: E741 - Binance's field name
    v: str
    q: str
    O: int  # noqa: E741 - Binance's field name
    C: int
    F: int
    L: int
    n: int


class TickerFigures(NamedTuple):
    """What a Binance 24 h ticker derives from the statistics: the price change in units, that
    change in percent (text with 3 decimals, cut toward zero) and the volume-weighted average
    price in units (0 before any trade)."""

    change: int
    percent: str
    weighted_average: int


def ticker_figures(ticker: MarketTicker) -> TickerFigures:
    """The derived figures of ``ticker`` (see ``TickerFigures``)."""
    change = ticker.last - ticker.open
    whole_pct, thousandths_pct = divmod(abs(change) * 100_000 // ticker.open, 1000)
    percent = f"{'-' if change < 0 else ''}{whole_pct}.{thousandths_pct:03d}"
    weighted_average = ticker.quote_volume * _ONE // ticker.volume if ticker.volume else 0
    return TickerFigures(change, percent, weighted_average)


def _ticker(symbol: str, ticker: MarketTicker) -> _Ticker:
    change, percent, weighted_average = ticker_figures(ticker)
    now_ms = ticker.time_ms
    return _Ticker(
        E=now_ms,
        s=symbol,
        p=format_units(change),
        P=percent,
        w=format_units(weighted_average),
        x=format_units(ticker.open),
        c=format_units(ticker.last),
        Q=format_units(ticker.last_size),
        b=format_units(ticker.bid),
        B=format_units(ticker.bid_size),
        a=format_units(ticker.ask),
        A=format_units(ticker.ask_size),
        o=format_units(ticker.open),
        h=format_units(ticker.high),
        l=format_units(ticker.low),
        v=format_units(ticker.volume),
        q=format_units(ticker.quote_volume),
        O=now_ms - _MS_PER_DAY,
        C=now_ms,
        F=ticker.first_trade_id,
        L=ticker.last_trade_id,
        n=ticker.trade_count,
    )


# -- recordings -----------------------------------------------------------------------------------

_STREAM_KIND_BY_EVENT = {
    "bookTicker": "bookTicker",  # futures; spot bookTickers carry no "e"
    "trade": "trade",
    "aggTrade": "aggTrade",
    "24hrTicker": "ticker",
    "24hrMiniTicker": "miniTicker",
    "depthUpdate": "depth",
}


class _KlineInterval(msgspec.Struct):
    i: str


_ABSENT = msgspec.Raw()


class _RecordedLine(msgspec.Struct):
    stream: str | None = None
    data: msgspec.Raw = _ABSENT
    e: str | None = None
    s: str | None = None
    b: msgspec.Raw = _ABSENT
    a: msgspec.Raw = _ABSENT
    k: _KlineInterval | None = None


_decode_recorded_line = msgspec.json.Decoder(_RecordedLine).decode


def parse_recorded_line(line: bytes) -> tuple[str, bytes]:
    """The stream and bare payload of one recorded frame, enveloped or bare.

    A combined-stream line ``{"stream":"nknusdt@bookTicker","data":{...}}`` names its stream; for
    a bare payload the stream is worked out from ``s`` and ``e``. The payload is sliced out of the
    line, never re-encoded. Raises ValueError for a line that is not a Binance frame.
    """
    frame = _decode_recorded_line(line)
    if frame.stream is not None or frame.data:
        if not frame.stream or not frame.data:
            raise ValueError('a combined frame needs both "stream" and "data"')
        return frame.stream, bytes(frame.data)
    if not frame.s:
        raise ValueError('a bare payload needs a symbol "s" to tell its stream')
    if frame.e is None:
        if not (frame.b and frame.a):
            raise ValueError('a bare payload without "e" must be a bookTicker with "b" and "a"')
        kind = "bookTicker"
    elif frame.e == "kline" and frame.k is not None:
        kind = f"kline_{frame.k.i}"
    elif frame.e in _STREAM_KIND_BY_EVENT:
        kind = _STREAM_KIND_BY_EVENT[frame.e]
    else:
        raise ValueError(f"cannot tell the stream of event type {frame.e!r}")
    return f"{frame.s.lower()}@{kind}", line


# -- the venue ------------------------------------------------------------------------------------

_Renderer = Callable[[Any], Sequence[bytes]]


class BinanceSimVenue(SimVenue):
    """Binance spot public streams at ``/ws``, ``/ws/<streams>`` and ``/stream?streams=…``.

    Market events become ``<symbol>@bookTicker`` (quotes), ``@trade`` (one payload per fill) and
    ``@aggTrade`` (one per taker order), and ``@ticker`` payloads, in Binance's field order, with
    prices and sizes as 8-decimal text. The server pings every 20 s and drops a client whose pong
    is a minute late.
    """

    name = "binance"
    default_path = "/stream"
    ping_interval = 20.0
    pong_timeout = 60.0

    def __init__(self, view: VenueView | None) -> None:
        super().__init__(view)
        streams = self._stream_kinds()
        self._symbols: dict[str, str] = {}
        self._topics = EventTopics()
        self._renderers: dict[str, _Renderer] = {}
        for spec in view.specs if view is not None else ():
            instrument = parse_symbol(spec.symbol)
            venue_symbol = instrument.base + instrument.quote
            self._symbols[spec.symbol] = venue_symbol
            for event_type, kinds in streams.items():
                topics = tuple(f"{venue_symbol.lower()}@{kind}" for kind, _ in kinds)
                self._topics.set(event_type, spec.symbol, topics)
                self._renderers.update(zip(topics, (render for _, render in kinds)))

    def accept(self, path: str) -> BinanceStreamSession:
        """A session for ``path`` (see ``parse_request_path``)."""
        return BinanceStreamSession(parse_request_path(path))

    def _stream_kinds(self) -> dict[type, tuple[tuple[str, _Renderer], ...]]:
        # the stream kinds each type of market event feeds, with the renderer of each
        return {
            MarketQuote: (("bookTicker", self._book_ticker),),
            MarketTrade: (("trade", self._trades), ("aggTrade", self._agg_trade)),
            MarketTicker: (("ticker", self._ticker),),
        }

    def topics(self, event: MarketEvent) -> tuple[str, ...]:
        """The stream names ``event`` feeds, e.g. ``("btcusdt@trade", "btcusdt@aggTrade")``."""
        return self._topics.of(event)

    def render(self, event: MarketEvent, topic: str) -> Sequence[bytes]:
        """The payloads of stream ``topic`` for ``event``."""
        return self._renderers[topic](event)

    def recorded_frame(self, line: bytes) -> tuple[str, bytes]:
        """See ``parse_recorded_line``."""
        return parse_recorded_line(line)

    def reconnect_message(self, now_ms: int) -> bytes:
        """The ``serverShutdown`` event Binance sends before a planned disconnect."""
        return b'{"e":"serverShutdown","E":%d}' % now_ms

    def _book_ticker(self, quote: MarketQuote) -> tuple[bytes]:
        return (
            _encode(
                _BookTicker(
                    quote.update_id,
                    self._symbols[quote.symbol],
                    format_units(quote.bid),
                    format_units(quote.bid_size),
                    format_units(quote.ask),
                    format_units(quote.ask_size),
                )
            ),
        )

    def _trades(self, trade: MarketTrade) -> list[bytes]:
        symbol = self._symbols[trade.symbol]
        price = format_units(trade.price)
        buyer_is_maker = trade.taker_side == SELL
        return [
            _encode(
                _Trade(
                    trade.time_ms,
                    symbol,
                    trade.first_trade_id + fill,
                    price,
                    format_units(size),
                    trade.time_ms,
                    buyer_is_maker,
                    True,
                )
            )
            for fill, size in enumerate(trade.fill_sizes)
        ]

    def _agg_trade(self, trade: MarketTrade) -> tuple[bytes]:
        return (
            _encode(
                _AggTrade(
                    trade.time_ms,
                    self._symbols[trade.symbol],
                    trade.aggregate_id,
                    format_units(trade.price),
                    format_units(trade.size),
                    trade.first_trade_id,
                    trade.first_trade_id + len(trade.fill_sizes) - 1,
                    trade.time_ms,
                    trade.taker_side == SELL,
                    True,
                )
            ),
        )

    def _ticker(self, ticker: MarketTicker) -> tuple[bytes]:
        return (_encode(_ticker(self._symbols[ticker.symbol], ticker)),)
