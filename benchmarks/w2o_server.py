"""Sender of the wire-to-output benchmark: a Binance-protocol WebSocket server on a blocking socket.

Same shape as the server used for PERF_FACTS §8: a real RFC 6455 handshake on a blocking socket,
unmasked text frames, TCP_NODELAY, busy-wait pacing, a stamp taken right before each ``send``.
It speaks just enough of Binance's combined-stream protocol for a client to subscribe:

* accepts ``GET /stream`` or ``GET /ws`` (anything else gets 404);
* reads the client's SUBSCRIBE (a masked client frame), checks it asks for
  ``btcusdt@bookTicker`` and replies ``{"result":null,"id":<id>}``; a client that names the
  stream in the URL instead (``/stream?streams=btcusdt@bookTicker``) sends none and gets no ack;
* sends one PING and notes whether the PONG comes back (tickwire must answer pings);
* streams bookTicker frames whose prices identify the message: ``u`` = seq,
  bid = 10000 + seq/1e4, ask = bid + 0.01 (8 decimals), so every frame changes the consolidated
  price and a client prints exactly one line per frame.

Client frames (pings, pongs, close) are read with non-blocking ``recv`` calls in the sender's
slack time (paced mode) or between whole-frame chunks (max-rate mode), so no second thread
competes for the GIL and a pong never lands in the middle of a data frame.

The server is driven by the harness (``wire_to_output.py``) over a ``multiprocessing`` pipe;
one ``run`` command serves exactly one connection. ``serve_stream`` is a second entry for long
runs at a steady rate (``bench_memory.py --feed w2o``): frames made as they are sent, paced by
sleeping, no stamps.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import time
from array import array
from urllib.parse import parse_qs

__all__ = ["BID_BASE_UNITS", "SEQ_UNITS", "build_frames", "seq_from_price_text", "serve_forever", "serve_stream"]

SCALE = 10**8
BID_BASE_UNITS = 10_000 * SCALE  # bid of seq 0
SEQ_UNITS = 10**4  # one seq = 0.0001 in price
SPREAD_UNITS = 10**6  # ask = bid + 0.01
STREAM = "btcusdt@bookTicker"
PING_PAYLOAD = b"w2o-ping"
MAXRATE_FRAMES_PER_CHUNK = 2048  # a chunk always ends on a frame boundary

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def units_text(units: int) -> str:
    return f"{units // SCALE}.{units % SCALE:08d}"


def price_index(seq: int, levels: int = 0) -> int:
    """Which bid level message ``seq`` carries: ``seq`` itself, or 1..levels cyclically."""
    return seq if levels <= 0 else (seq - 1) % levels + 1


def frame_payload(seq: int, levels: int = 0) -> bytes:
    """The combined-stream bookTicker payload of message ``seq`` (1-based).

    ``levels`` = 0: every message has its own prices. ``levels`` = K: the bid cycles over K
    levels (still a new price every message, but prices repeat as in real markets).
    """
    bid = BID_BASE_UNITS + price_index(seq, levels) * SEQ_UNITS
    return (
        '{"stream":"btcusdt@bookTicker","data":{"u":%d,"s":"BTCUSDT","b":"%s","B":"1.20410000",'
        '"a":"%s","A":"0.80100000"}}' % (seq, units_text(bid), units_text(bid + SPREAD_UNITS))
    ).encode()


def ws_text_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """An unmasked, final server frame."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


def build_frames(count: int, levels: int = 0) -> list[bytes]:
    """Wire frames for seq 1..count."""
    return [ws_text_frame(frame_payload(seq, levels)) for seq in range(1, count + 1)]


def seq_from_price_text(text: str) -> int:
    """Inverse of the bid encoding for a decimal text such as ``10000.0001`` or ``10001``."""
    whole, _, frac = text.partition(".")
    units4 = int(whole) * 10_000 + (int(frac[:4].ljust(4, "0")) if frac else 0)
    return units4 - 10_000 * 10_000


class _ClientReader:
    """Parses masked client frames from non-blocking reads; answers pings."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.pongs = 0
        self.pings = 0
        self.closed = False
        self.texts: list[bytes] = []

    def poll(self) -> None:
        if self.closed:
            return
        try:
            data = self.sock.recv(65536, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.closed = True
            return
        if not data:
            self.closed = True
            return
        self.buffer += data
        self._parse()

    def read_text(self, timeout: float) -> bytes | None:
        """Block (up to ``timeout``) until one text frame from the client is available."""
        deadline = time.monotonic() + timeout
        while not self.texts and not self.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            finally:
                self.sock.settimeout(None)
            if not data:
                self.closed = True
                break
            self.buffer += data
            self._parse()
        return self.texts.pop(0) if self.texts else None

    def _parse(self) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            opcode = b0 & 0x0F
            masked = b1 & 0x80
            n = b1 & 0x7F
            pos = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n = struct.unpack_from("!H", buf, 2)[0]
                pos = 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n = struct.unpack_from("!Q", buf, 2)[0]
                pos = 10
            mask = b""
            if masked:
                if len(buf) < pos + 4:
                    return
                mask = bytes(buf[pos : pos + 4])
                pos += 4
            if len(buf) < pos + n:
                return
            payload = bytes(buf[pos : pos + n])
            del buf[: pos + n]
            if masked and n:
                key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
                payload = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")
            if opcode == 0x1:
                self.texts.append(payload)
            elif opcode == 0x9:  # ping -> pong
                self.pings += 1
                try:
                    self.sock.sendall(ws_text_frame(payload, 0xA))
                except OSError:
                    self.closed = True
            elif opcode == 0xA:
                if payload == PING_PAYLOAD:
                    self.pongs += 1
            elif opcode == 0x8:
                self.closed = True
                return


def _subscribed_in_url(path: str) -> bool:
    """Whether the request path already names the stream (``/stream?streams=a/b``, the form
    cryptofeed uses); such a client sends no SUBSCRIBE and gets no ack."""
    route, _, query = path.partition("?")
    streams = parse_qs(query).get("streams", [""])[0]
    return route == "/stream" and STREAM in streams.split("/")


def _handshake(sock: socket.socket, timeout: float) -> str:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("client closed during handshake")
        data += chunk
        if len(data) > 65536:
            raise ConnectionError("handshake too long")
    sock.settimeout(None)
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    path = parts[1] if len(parts) > 1 else ""
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    key = headers.get("sec-websocket-key", "")
    route = path.split("?", 1)[0]
    if route not in ("/stream", "/ws") or not key:
        sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        raise ConnectionError(f"bad request path {path!r}")
    accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
    sock.sendall(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode()
    )
    return path


def _open_stream(sock: socket.socket, reader: _ClientReader) -> str:
    """WebSocket handshake, then the SUBSCRIBE and its ack unless the path names the stream;
    the request path."""
    path = _handshake(sock, 5.0)
    if not _subscribed_in_url(path):
        request = reader.read_text(10.0)
        if request is None:
            raise ConnectionError("no SUBSCRIBE received")
        message = json.loads(request)
        if message.get("method") != "SUBSCRIBE" or STREAM not in message.get("params", []):
            raise ConnectionError(f"unexpected request {request[:200]!r}")
        sock.sendall(ws_text_frame(b'{"result":null,"id":%d}' % int(message["id"])))
    return path


def _serve_one(lsock: socket.socket, ctl, spec: dict) -> dict:  # type: ignore[no-untyped-def]
    """Serve one connection for run ``spec["run_id"]``.

    Messages to the harness: ``("sent", run_id, info)`` once everything is sent (or the run
    failed), then — after the harness's ``("close", run_id)`` — the caller sends ``("done",
    run_id, result)``. A ``close`` that arrives before a client connected aborts the run.
    """
    run_id = spec["run_id"]
    mode = spec["mode"]
    count = spec["count"]
    frames = build_frames(count, spec.get("levels", 0))
    chunks: list[bytes] = []
    if mode == "maxrate":
        chunks = [
            b"".join(frames[i : i + MAXRATE_FRAMES_PER_CHUNK])
            for i in range(0, count, MAXRATE_FRAMES_PER_CHUNK)
        ]
    result: dict = {"mode": mode, "count": count, "error": None}
    closed = False

    def close_requested(timeout: float) -> bool:
        while ctl.poll(timeout):
            message = ctl.recv()
            if message[0] == "close" and message[1] == run_id:
                return True
            timeout = 0  # a stale message of an earlier run: drop it, look again
        return False

    sock = None
    lsock.settimeout(0.1)
    deadline = time.monotonic() + spec["accept_timeout"]
    while sock is None:
        try:
            sock, _ = lsock.accept()
        except socket.timeout:
            if close_requested(0):
                closed = True
                result["error"] = "aborted before a client connected"
                break
            if time.monotonic() > deadline:
                result["error"] = "no client connected"
                break
    if sock is None:
        ctl.send(("sent", run_id, dict(result)))
        if not closed:
            close_requested(spec["hold_timeout"])
        return result
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = _ClientReader(sock)
    stamps_bytes = b""
    try:
        result["path"] = _open_stream(sock, reader)
        sock.sendall(ws_text_frame(PING_PAYLOAD, 0x9))
        settle_until = time.monotonic() + spec["settle"]
        while time.monotonic() < settle_until:
            reader.poll()
            time.sleep(0.001)
        result["pong_before_data"] = reader.pongs > 0
        if mode == "paced":
            stamps_bytes = _send_paced(sock, reader, frames, spec["rate"]).tobytes()
        else:
            start = time.time_ns()
            for chunk in chunks:
                sock.sendall(chunk)
                reader.poll()
            result["send_start_ns"] = start
            result["send_end_ns"] = time.time_ns()
        result["sent_ns"] = time.time_ns()
    except (OSError, ConnectionError, ValueError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    ctl.send(("sent", run_id, dict(result)))
    # Hold the connection open (answering pings) until the harness has read every line.
    deadline = time.monotonic() + spec["hold_timeout"]
    while time.monotonic() < deadline:
        if close_requested(0.02):
            break
        reader.poll()
    result["pongs"] = reader.pongs
    result["client_pings"] = reader.pings
    result["client_closed_first"] = reader.closed
    try:
        sock.sendall(ws_text_frame(struct.pack("!H", 1000), 0x8))
    except OSError:
        pass
    sock.close()
    result["stamps"] = stamps_bytes
    return result


def _send_paced(sock: socket.socket, reader: _ClientReader, frames: list[bytes], rate: float) -> array:
    count = len(frames)
    stamps = array("q", bytes(8 * count))
    interval = int(1e9 / rate)
    pc = time.perf_counter_ns
    now_ns = time.time_ns
    send = sock.sendall
    poll = reader.poll
    start = pc() + 1_000_000
    for i in range(count):
        target = start + i * interval
        polled = False
        while True:
            t = pc()
            if t >= target:
                break
            if not polled and target - t > 100_000:
                poll()  # client pings/close, in the slack only (never right before a send)
                polled = True
        stamps[i] = now_ns()
        send(frames[i])
    return stamps


def serve_forever(ctl, cpu: int | None) -> None:  # type: ignore[no-untyped-def]
    """Process entry: listen on 127.0.0.1, report the port, serve one connection per command."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    ctl.send(("port", lsock.getsockname()[1]))
    try:
        while True:
            if not ctl.poll(600):
                return  # the harness is gone
            command = ctl.recv()
            if command[0] == "quit":
                return
            if command[0] == "run":
                result = _serve_one(lsock, ctl, command[1])
                ctl.send(("done", command[1]["run_id"], result))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return
    finally:
        lsock.close()


def serve_stream(ctl, rate: float, levels: int, max_seconds: float) -> None:  # type: ignore[no-untyped-def]
    """Process entry of the long-running mode: listen on 127.0.0.1, report ``("port", port)``,
    serve one client frames made as it goes (seq 1, 2, … as ``frame_payload``) at ``rate``
    frames/s until the harness sends anything, the client goes away or ``max_seconds`` pass;
    then report ``("done", {"sent": frames, "end": why})``.

    Nothing is built ahead or stamped, so the sender's memory stays constant however long it
    runs. Pacing is by sleeping: every millisecond or so whatever is due goes out in one
    ``sendall`` (about 15 % of a core at 20,000 frames/s, where busy-waiting takes a whole one);
    a sender that fell behind (its socket full, or no CPU for it) catches up in batches of at
    most ``MAXRATE_FRAMES_PER_CHUNK`` frames.
    """
    lsock = socket.create_server(("127.0.0.1", 0))
    ctl.send(("port", lsock.getsockname()[1]))
    outcome = {"sent": 0, "end": "no client connected"}
    try:
        lsock.settimeout(30.0)
        sock, _ = lsock.accept()
        with sock:
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            reader = _ClientReader(sock)
            _open_stream(sock, reader)
            _stream_generated(sock, reader, ctl, rate, levels, max_seconds, outcome)
    except (OSError, ConnectionError, ValueError) as exc:
        outcome["end"] = f"{type(exc).__name__}: {exc}"
    finally:
        lsock.close()
    try:
        ctl.send(("done", outcome))
    except OSError:
        pass  # the harness is gone


def _stream_generated(  # type: ignore[no-untyped-def]
    sock: socket.socket, reader: _ClientReader, ctl, rate: float, levels: int, max_seconds: float, outcome: dict
) -> None:
    clock = time.monotonic
    start = clock()
    sent = 0
    outcome["end"] = "max_seconds"
    while clock() - start < max_seconds:
        if ctl.poll():
            outcome["end"] = "stopped"
            return
        due = int((clock() - start) * rate)
        batch_end = min(due, sent + MAXRATE_FRAMES_PER_CHUNK)
        if batch_end > sent:
            batch = range(sent + 1, batch_end + 1)
            sock.sendall(b"".join(ws_text_frame(frame_payload(seq, levels)) for seq in batch))
            sent = outcome["sent"] = batch_end
        reader.poll()
        if reader.closed:
            outcome["end"] = "client closed"
            return
        if sent == due:  # caught up: let the next frames fall due
            time.sleep(0.001)
