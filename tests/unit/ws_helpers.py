"""A consumer of the WebSocket API (``--sink ws``) for tests: a real picows client that keeps
every line it is sent."""

from __future__ import annotations

import json
from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from tests.integration.conftest import eventually


class Consumer(WSListener):
    """Collects every line the server sends, in order."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            payload = frame.get_payload_as_bytes()
            self.raw.append(payload)
            assert payload.endswith(b"\n")
            self.lines.extend(json.loads(line) for line in payload.splitlines())

    def request(self, **message: Any) -> None:
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, json.dumps(message).encode())

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["type"] == kind]

    def bids(self, symbol: str) -> list[str]:
        return [line["bid"] for line in self.of_type("price") if line["symbol"] == symbol]


async def connect(url: str, **kwargs: Any) -> Consumer:
    """A consumer connected to ``url`` that got its hello."""
    _, consumer = await ws_connect(Consumer, url, **kwargs)
    await eventually(lambda: consumer.of_type("hello"))
    return consumer


async def subscribed(url: str, *symbols: str, **kwargs: Any) -> Consumer:
    """A consumer connected to ``url`` and subscribed to ``symbols`` (acknowledged)."""
    consumer = await connect(url, **kwargs)
    consumer.request(op="subscribe", symbols=list(symbols), id=1)
    await eventually(lambda: consumer.of_type("subscribed"))
    return consumer
