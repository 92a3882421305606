"""The local consumer API: a WebSocket server whose clients subscribe to symbols and receive
the consolidated updates as the stdout sink's JSON lines (protocol: docs/CONSUMER_API.md).

Each flush encodes each line once, into one buffer, whatever the number of consumers: a consumer
of every symbol is sent that buffer's bytes, one of some symbols the lines of its symbols. A
message carries one or more lines, each ending in a newline.

Slow consumers: each consumer's connection buffers at most ``max_buffer_bytes`` in user space
(the transport's high-water mark; the kernel's socket buffer comes on top). Above it, picows
pauses writing and the consumer is *conflating*: it is sent nothing, and only the latest line
per symbol (per symbol and venue for tickers) is kept for it; a line replaced before it went
out, and a trade, is dropped and counted for that consumer. When its buffer drains, it gets the
kept lines in one message and then the stream again. Neither ingestion nor any other consumer
ever waits for it.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from tickwire.auth import bearer_matches, query_matches
from tickwire.model import ConsolidatedQuote, Ticker, Trade
from tickwire.sinks.lines import JsonLines

__all__ = ["DEFAULT_MAX_BUFFER_BYTES", "DEFAULT_WS_PORT", "WsSink"]

DEFAULT_WS_PORT = 9465
DEFAULT_MAX_BUFFER_BYTES = 256 * 1024
MAX_REQUEST_BYTES = 64 * 1024
REPLY_LIMIT_FACTOR = 4
"""A conflating consumer that keeps sending requests without reading the replies is cut off
once its connection buffers this many times ``max_buffer_bytes``."""

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CLOSE = WSMsgType.CLOSE
_EVERYTHING = "*"


class _Request(msgspec.Struct, frozen=True):
    op: str
    symbols: list[str] = []
    id: int | str | None = None


_decode_request = msgspec.json.Decoder(_Request).decode
_encode_reply = msgspec.json.Encoder().encode


class WsSink(JsonLines):
    """Serves consolidated updates (and trades, tickers) to subscribed WebSocket consumers.

    ``start`` listens on ``host:port`` (port 0: any free one; ``url`` says which). With a
    ``token``, a consumer must present it (``Authorization: Bearer`` or ``?token=``).
    """

    def __init__(
        self,
        size_scales: dict[str, int],
        price_scales: dict[str, int],
        host: str,
        port: int,
        token: str | None = None,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
    ) -> None:
        super().__init__(size_scales, price_scales)
        self.symbols = frozenset(price_scales)
        self.max_buffer_bytes = max_buffer_bytes
        self.url = ""
        self._host = host
        self._port = port
        self._token = None if token is None else token.encode()
        self._server: Any = None
        self.consumers: list[_Consumer] = []  # connected, in order of arrival
        self._everything = False  # some consumer takes every symbol
        self._wanted: set[str] = set()  # the symbols the other consumers take
        self._pending_symbols: list[str] = []
        self._pending_keys: list[object] = []  # what a line conflates under (None: never)
        self._ends: list[int] = []  # where each pending line ends in the buffer
        self._last: dict[str, ConsolidatedQuote] = {}  # for the snapshot of a new subscription
        self._last_ns: dict[str, int] = {}
        self.connected = 0
        self.refused = 0
        self.cut_off = 0
        self._dropped_by_gone = 0

    async def start(self) -> None:
        """Listen. Raises ValueError (one line) when the address cannot be bound."""
        try:
            self._server = await ws_create_server(
                self._accept, self._host, self._port, max_frame_size=MAX_REQUEST_BYTES,
                enable_auto_ping=True,
            )
        except OSError as exc:
            raise ValueError(f"ws: cannot listen on {self._host}:{self._port}: {exc.strerror or exc}") from None
        host, port = self._server.sockets[0].getsockname()[:2]
        self.url = f"ws://{f'[{host}]' if ':' in host else host}:{port}/"

    # -- the hot path --------------------------------------------------------------------------

    def publish(self, update: ConsolidatedQuote, publish_ns: int) -> None:
        """Encode ``update`` for the consumers of its symbol (sent by the next ``flush``)."""
        symbol = update.symbol
        self._last[symbol] = update
        self._last_ns[symbol] = publish_ns
        if self._everything or symbol in self._wanted:
            _encode_price(self, update, publish_ns)
            self._pending(symbol, symbol)

    def publish_trade(self, trade: Trade, publish_ns: int) -> None:
        """Encode ``trade`` for the consumers of its symbol (never conflated: dropped instead)."""
        if self._everything or trade.symbol in self._wanted:
            _encode_trade(self, trade, publish_ns)
            self._pending(trade.symbol, None)

    def publish_ticker(self, ticker: Ticker, publish_ns: int) -> None:
        """Encode ``ticker`` for the consumers of its symbol (conflated per symbol and venue)."""
        if self._everything or ticker.symbol in self._wanted:
            _encode_ticker(self, ticker, publish_ns)
            self._pending(ticker.symbol, (ticker.symbol, ticker.venue))

    def _pending(self, symbol: str, key: object) -> None:
        """The line just encoded is ``symbol``'s and conflates under ``key`` (None: never)."""
        self._pending_symbols.append(symbol)
        self._pending_keys.append(key)
        self._ends.append(len(self._buffer))

    def flush(self) -> None:
        """Send each consumer its pending lines, in one message; a conflating one keeps them."""
        ends = self._ends
        if not ends:
            return
        data = bytes(self._buffer)
        for consumer in self.consumers:
            if consumer.paused:
                self._conflate(consumer, data)
            elif consumer.everything:
                consumer.send(data, len(ends))
            else:
                self._send_some(consumer, data)
        self._buffer.clear()
        ends.clear()
        self._pending_symbols.clear()
        self._pending_keys.clear()

    def _send_some(self, consumer: _Consumer, data: bytes) -> None:
        wanted = consumer.symbols
        parts = []
        start = 0
        for symbol, end in zip(self._pending_symbols, self._ends):
            if symbol in wanted:
                parts.append(data[start:end])
            start = end
        if parts:
            consumer.send(b"".join(parts), len(parts))

    def _conflate(self, consumer: _Consumer, data: bytes) -> None:
        everything, wanted, kept = consumer.everything, consumer.symbols, consumer.kept
        start = 0
        for symbol, key, end in zip(self._pending_symbols, self._pending_keys, self._ends):
            if everything or symbol in wanted:
                if key is None:
                    consumer.dropped_lines += 1
                else:
                    if kept.pop(key, None) is not None:
                        consumer.dropped_lines += 1
                    kept[key] = data[start:end]
            start = end

    # -- consumers -----------------------------------------------------------------------------

    def _accept(self, request: WSUpgradeRequest) -> _Consumer | WSUpgradeResponseWithListener | None:
        path, _, query = request.path.decode("latin-1").partition("?")
        if path != "/":
            return None  # 404
        token = self._token
        if token is not None and not (
            bearer_matches(token, request.headers.get("Authorization")) or query_matches(token, query)
        ):
            self.refused += 1
            response = WSUpgradeResponse.create_error_response(
                HTTPStatus.UNAUTHORIZED, b"a valid token is required\n", {"WWW-Authenticate": "Bearer"}
            )
            return WSUpgradeResponseWithListener(response, None)
        self.connected += 1
        return _Consumer(self, self.connected)

    def _connected(self, consumer: _Consumer) -> None:
        self.consumers.append(consumer)
        consumer.reply({"type": "hello", "symbols": sorted(self.symbols)})

    def _disconnected(self, consumer: _Consumer) -> None:
        if consumer in self.consumers:
            self.consumers.remove(consumer)
            self._dropped_by_gone += consumer.dropped_lines
            self._refilter()

    def _refilter(self) -> None:
        consumers = self.consumers
        self._everything = any(c.everything for c in consumers)
        self._wanted = set().union(*(c.symbols for c in consumers if not c.everything))

    def _request(self, consumer: _Consumer, payload: bytes) -> None:
        consumer.requests += 1
        try:
            request = _decode_request(payload)
        except msgspec.DecodeError as exc:  # a ValidationError is one too; neither shows the input
            consumer.reply({"type": "error", "error": f"bad request: {exc}"})
            return
        if request.op not in ("subscribe", "unsubscribe"):
            consumer.reply({"type": "error", "id": request.id,
                            "error": f"unknown op {request.op[:40]!r} (subscribe, unsubscribe)"})
            return
        unknown = [s for s in request.symbols if s != _EVERYTHING and s not in self.symbols]
        if unknown or not request.symbols:
            problem = f"unknown symbol {unknown[0][:40]!r}" if unknown else "no symbols given"
            consumer.reply({"type": "error", "id": request.id, "error": f"{problem} (symbols are "
                            f"{', '.join(sorted(self.symbols))}, or \"*\" for all)"})
            return
        self.flush()  # what is pending goes by the subscriptions it was encoded for
        before = self.symbols if consumer.everything else set(consumer.symbols)
        if request.op == "subscribe":
            if _EVERYTHING in request.symbols:
                consumer.everything = True
                consumer.symbols = set()
            elif not consumer.everything:
                consumer.symbols.update(request.symbols)
        elif _EVERYTHING in request.symbols:
            consumer.everything = False
            consumer.symbols = set()
        else:
            if consumer.everything:
                consumer.everything = False
                consumer.symbols = set(self.symbols)
            consumer.symbols.difference_update(request.symbols)
        self._refilter()
        now = self.symbols if consumer.everything else consumer.symbols
        consumer.reply({"type": f"{request.op}d", "id": request.id,
                        "symbols": [_EVERYTHING] if consumer.everything else sorted(now)})
        self._send_snapshot(consumer, list(now - before))

    def _send_snapshot(self, consumer: _Consumer, symbols: list[str]) -> None:
        """The latest update of each of ``symbols`` (newly subscribed, nothing pending), oldest
        first, so a consumer need not wait for the next change of a quiet symbol."""
        last_ns = self._last_ns
        symbols = sorted((s for s in symbols if s in last_ns), key=last_ns.__getitem__)
        if not symbols:
            return
        buffer = self._buffer
        ends = []
        for symbol in symbols:
            _encode_price(self, self._last[symbol], self._last_ns[symbol])
            ends.append(len(buffer))
        data = bytes(buffer)
        buffer.clear()
        if consumer.paused:
            for symbol, start, end in zip(symbols, [0, *ends], ends):
                consumer.kept[symbol] = data[start:end]
        else:
            consumer.send(data, len(symbols))

    # -- reporting and shutdown ----------------------------------------------------------------

    @property
    def dropped_lines(self) -> int:
        """Lines dropped for slow consumers, those gone included."""
        return self._dropped_by_gone + sum(c.dropped_lines for c in self.consumers)

    def status(self) -> dict[str, Any]:
        """Counters for ``/debug/status`` and ``/metrics`` (never the token)."""
        return {
            "sink": "ws",
            "url": self.url,
            "lines": self.lines,
            "connected": self.connected,
            "refused": self.refused,
            "cut_off": self.cut_off,
            "dropped_lines": self.dropped_lines,
            "consumers": [c.status() for c in self.consumers],
        }

    def report(self) -> list[str]:
        """What the sink did, for the summary at exit."""
        return [
            f"ws: {self.url or 'not started'}: {self.connected} consumers connected, "
            f"{self.refused} refused (no valid token), {self.cut_off} cut off, "
            f"{self.dropped_lines} lines dropped for slow consumers"
        ]

    def close(self) -> None:
        """Send what is pending, say goodbye to every consumer and stop listening."""
        self.flush()
        for consumer in list(self.consumers):
            consumer.close()
        if self._server is not None:
            self._server.close()


_encode_price = JsonLines.publish
_encode_trade = JsonLines.publish_trade
_encode_ticker = JsonLines.publish_ticker


class _Consumer(WSListener):
    """One connected consumer: its subscription, its conflation state and its counters."""

    def __init__(self, sink: WsSink, number: int) -> None:
        self.sink = sink
        self.number = number
        self.peer = ""
        self.transport: WSTransport | None = None
        self.everything = False
        self.symbols: set[str] = set()
        self.paused = False
        self.kept: dict[object, bytes] = {}  # while conflating: the latest line per key
        self.requests = 0
        self.messages = 0
        self.sent_lines = 0
        self.dropped_lines = 0
        self.pauses = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        underlying = transport.underlying_transport
        underlying.set_write_buffer_limits(high=self.sink.max_buffer_bytes)
        peer = underlying.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else ""
        self.sink._connected(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type is _TEXT or msg_type is _BINARY:
            if frame.fin:
                self.sink._request(self, frame.get_payload_as_bytes())
            else:
                self.reply({"type": "error", "error": "send each request in one unfragmented frame"})
        elif msg_type is _CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.sink._disconnected(self)

    def pause_writing(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_writing(self) -> None:
        self.paused = False
        kept = self.kept
        if kept:
            lines = len(kept)
            data = b"".join(kept.values())
            kept.clear()
            self.send(data, lines)

    def send(self, data: bytes, lines: int) -> None:
        assert self.transport is not None
        self.transport.send(_TEXT, data)
        self.messages += 1
        self.sent_lines += lines

    def reply(self, message: dict[str, Any]) -> None:
        transport = self.transport
        assert transport is not None
        limit = REPLY_LIMIT_FACTOR * self.sink.max_buffer_bytes
        if self.paused and transport.underlying_transport.get_write_buffer_size() > limit:
            self.sink.cut_off += 1
            transport.disconnect(graceful=False)
            return
        transport.send(_TEXT, _encode_reply(message) + b"\n")
        self.messages += 1

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.send_close(WSCloseCode.GOING_AWAY, b"tickwire is stopping")
            self.transport.disconnect()

    def status(self) -> dict[str, Any]:
        return {
            "id": self.number,
            "peer": self.peer,
            "symbols": [_EVERYTHING] if self.everything else sorted(self.symbols),
            "conflating": self.paused,
            "requests": self.requests,
            "messages": self.messages,
            "sent_lines": self.sent_lines,
            "dropped_lines": self.dropped_lines,
            "pauses": self.pauses,
        }
