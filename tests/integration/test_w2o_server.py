"""The wire-to-output sender (benchmarks/w2o_server.py) over a real loopback socket: both ways a
client may subscribe — a SUBSCRIBE message (tickwire, the floor, the naive client) or the stream
named in the URL (cryptofeed) — and the stream mode of the memory benchmark."""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import socket
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import w2o_server  # noqa: E402

COUNT = 3


@pytest.fixture
def sender_port() -> Iterator[int]:
    """A sender process on 127.0.0.1, ready for one connection; yields its port."""
    ctx = multiprocessing.get_context("fork")
    ctl, child = ctx.Pipe()
    process = ctx.Process(target=w2o_server.serve_forever, args=(child, None), daemon=True)
    process.start()
    assert ctl.poll(10)
    port = ctl.recv()[1]
    spec = {"run_id": 1, "mode": "paced", "count": COUNT, "rate": 1000.0, "levels": 0, "settle": 0.05,
            "accept_timeout": 10.0, "hold_timeout": 10.0}
    ctl.send(("run", spec))
    yield port
    ctl.send(("close", 1))
    ctl.send(("quit",))
    process.join(10)
    if process.is_alive():
        process.terminate()


def open_websocket(port: int, path: str) -> tuple[socket.socket, bytes]:
    """A connected client socket, and the bytes the server sent after its handshake response."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(4096)
    assert response.startswith(b"HTTP/1.1 101")
    return sock, response.split(b"\r\n\r\n", 1)[1]


def send_text(sock: socket.socket, payload: bytes) -> None:
    """A masked client text frame (mask key 0, so the payload goes as it is)."""
    sock.sendall(struct.pack("!BB", 0x81, 0x80 | len(payload)) + b"\0\0\0\0" + payload)


def read_frames(sock: socket.socket, buffer: bytes, texts: int) -> tuple[list[bytes], int]:
    """The next ``texts`` text frames (``buffer``: bytes already received), and how many pings
    came before the last of them."""
    frames, pings = [], 0
    while len(frames) < texts:
        while True:  # the sender's frames are unmasked and shorter than 64 KiB
            length, start = (buffer[1] & 0x7F, 2) if len(buffer) >= 2 else (0, 2)
            if length == 126:
                length, start = (struct.unpack_from("!H", buffer, 2)[0], 4) if len(buffer) >= 4 else (0, 4)
            if len(buffer) >= start + length:
                break
            chunk = sock.recv(65536)
            assert chunk, "sender closed early"
            buffer += chunk
        opcode, payload, buffer = buffer[0] & 0x0F, buffer[start : start + length], buffer[start + length :]
        if opcode == 0x1:
            frames.append(payload)
        elif opcode == 0x9:
            pings += 1
    return frames, pings


def test_stream_named_in_the_url_needs_no_subscribe(sender_port: int) -> None:
    sock, received = open_websocket(sender_port, "/stream?streams=btcusdt@bookTicker")
    with sock:
        frames, pings = read_frames(sock, received, COUNT)
    assert [json.loads(frame)["data"]["u"] for frame in frames] == [1, 2, 3]
    assert pings == 1


def test_subscribe_message_gets_the_ack_then_the_stream(sender_port: int) -> None:
    sock, received = open_websocket(sender_port, "/stream")
    with sock:
        send_text(sock, b'{"method":"SUBSCRIBE","params":["btcusdt@bookTicker"],"id":7}')
        frames, _ = read_frames(sock, received, COUNT + 1)
    assert json.loads(frames[0]) == {"result": None, "id": 7}
    assert [json.loads(frame)["data"]["u"] for frame in frames[1:]] == [1, 2, 3]


def test_stream_mode_sends_consecutive_frames_until_stopped() -> None:
    ctx = multiprocessing.get_context("fork")
    ctl, child = ctx.Pipe()
    process = ctx.Process(target=w2o_server.serve_stream, args=(child, 50_000.0, 0, 60.0), daemon=True)
    process.start()
    try:
        assert ctl.poll(10)
        sock, received = open_websocket(ctl.recv()[1], "/stream")
        with sock:
            send_text(sock, b'{"method":"SUBSCRIBE","params":["btcusdt@bookTicker"],"id":3}')
            frames, _ = read_frames(sock, received, 3001)
            ctl.send(("stop",))
            assert ctl.poll(10)
            outcome = ctl.recv()[1]
    finally:
        process.join(10)
        if process.is_alive():
            process.terminate()
    assert json.loads(frames[0]) == {"result": None, "id": 3}
    updates = [json.loads(frame)["data"] for frame in frames[1:]]
    assert [update["u"] for update in updates] == list(range(1, 3001))
    assert [w2o_server.seq_from_price_text(update["b"]) for update in updates] == list(range(1, 3001))
    assert outcome["end"] == "stopped"
    assert outcome["sent"] >= 3000
