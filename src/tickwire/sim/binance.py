"""Binance spot public stream server protocol, without I/O.

``parse_request_path`` turns the HTTP request path of a WebSocket upgrade into the streams the
connection starts with and whether payloads are wrapped (combined) or bare (raw).
``BinanceStreamSession`` is the state of one connection: it answers the client's JSON requests
(SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY), counts incoming messages
against Binance's 5 per second limit, and renders payloads into the frames that connection gets.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import msgspec

__all__ = [
    "MAX_INCOMING_MESSAGES_PER_SECOND",
    "MAX_STREAMS_PER_CONNECTION",
    "BinanceStreamSession",
    "ConnectionRequest",
    "HandledRequest",
    "RequestPathError",
    "is_valid_stream_name",
    "parse_request_path",
    "render_combined",
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


class RequestPathError(ValueError):
    """An upgrade request path the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ConnectionRequest(NamedTuple):
    """What an upgrade path asks for: the initial streams and whether payloads are enveloped."""

    streams: tuple[str, ...]
    combined: bool


def parse_request_path(path: str) -> ConnectionRequest:
    """Parse ``/ws``, ``/ws/<s1>/<s2>``, ``/stream`` or ``/stream?streams=<s1>/<s2>``.

    Raises RequestPathError with status 404 for any other path or query, and 400 for a stream name
    that is not a valid lowercase Binance stream.
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
        raise RequestPathError(404, f"unknown path {path!r}")
    for name in names:
        if not is_valid_stream_name(name):
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


class BinanceStreamSession:
    """The protocol state of one client connection to the Binance spot stream server.

    Feed every client text message to ``handle_request`` and send back its ``reply``; call
    ``count_incoming`` for every message the client sends (text, ping and pong frames alike).
    Send a payload only if its stream is in ``streams`` (a dict used as an ordered set), as the
    bytes ``render(stream, payload)``.
    """

    def __init__(
        self,
        request: ConnectionRequest,
        *,
        max_incoming_per_second: int = MAX_INCOMING_MESSAGES_PER_SECOND,
        max_streams: int = MAX_STREAMS_PER_CONNECTION,
    ) -> None:
        self.streams: dict[str, None] = dict.fromkeys(request.streams)
        self.combined = request.combined
        self.max_incoming_per_second = max_incoming_per_second
        self.max_streams = max_streams
        self._incoming_ns: deque[int] = deque()

    def render(self, stream: str, payload: bytes) -> bytes:
        """The frame this connection gets for ``payload`` of ``stream``: bare or enveloped."""
        return render_combined(stream, payload) if self.combined else payload

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
            names = _stream_params(params)
            added = dict.fromkeys(name for name in names if name not in self.streams)
            if len(self.streams) + len(added) > self.max_streams:
                raise _invalid_request(f"at most {self.max_streams} streams per connection")
            self.streams.update(added)
            return None
        if method == "UNSUBSCRIBE":
            for name in _stream_params(params):
                self.streams.pop(name, None)
            return None
        if method == "LIST_SUBSCRIPTIONS":
            if params not in (None, []):
                raise _invalid_request("too many parameters")
            return list(self.streams)
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


def _stream_params(params: Any) -> list[str]:
    if not isinstance(params, list):
        raise _invalid_request("params must be a list of stream names")
    for name in params:
        if not isinstance(name, str) or not is_valid_stream_name(name):
            raise _invalid_request(f"invalid stream name {name!r}")
    return params


def _check_property_name(name: Any) -> None:
    if not isinstance(name, str):
        raise _invalid_request("property name must be a string")
    if name != "combined":
        raise _RequestError(_ERROR_UNKNOWN_PROPERTY, "Unknown property")
