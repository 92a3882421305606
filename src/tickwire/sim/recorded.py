"""Recorded Binance frames for replay: one JSON frame per line, enveloped or bare.

A combined-stream line ``{"stream":"nknusdt@bookTicker","data":{...}}`` names its stream; for a
bare payload the stream is worked out from ``s`` and ``e``. Payload bytes are sliced out of the
line, never re-encoded, so a replayed frame is byte-for-byte the recorded one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec

__all__ = ["RecordedFrameError", "iter_recorded_frames", "load_recorded_frames"]

_STREAM_KIND_BY_EVENT = {
    "trade": "trade",
    "aggTrade": "aggTrade",
    "24hrTicker": "ticker",
    "24hrMiniTicker": "miniTicker",
    "depthUpdate": "depth",
}


class RecordedFrameError(ValueError):
    """A line of a recording that is not a Binance frame; the message starts with ``file:line``."""


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


_decode_line = msgspec.json.Decoder(_RecordedLine).decode


def iter_recorded_frames(path: str | Path) -> Iterator[tuple[str, bytes]]:
    """Yield ``(stream, payload bytes)`` per non-blank line of ``path``.

    Raises RecordedFrameError naming ``path:line`` for a line that is not a frame.
    """
    with open(path, "rb") as lines:
        for line_number, line in enumerate(lines, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                yield _stream_and_payload(text)
            except ValueError as exc:  # msgspec.DecodeError is a ValueError too
                raise RecordedFrameError(f"{path}:{line_number}: {exc}") from None


def load_recorded_frames(path: str | Path) -> list[tuple[str, bytes]]:
    """Read every frame of ``path`` into memory (see ``iter_recorded_frames``)."""
    return list(iter_recorded_frames(path))


def _stream_and_payload(text: bytes) -> tuple[str, bytes]:
    line = _decode_line(text)
    if line.stream is not None or line.data:
        if not line.stream or not line.data:
            raise ValueError('a combined frame needs both "stream" and "data"')
        return line.stream, bytes(line.data)
    if not line.s:
        raise ValueError('a bare payload needs a symbol "s" to tell its stream')
    if line.e is None:
        if not (line.b and line.a):
            raise ValueError('a bare payload without "e" must be a bookTicker with "b" and "a"')
        kind = "bookTicker"
    elif line.e == "kline" and line.k is not None:
        kind = f"kline_{line.k.i}"
    elif line.e in _STREAM_KIND_BY_EVENT:
        kind = _STREAM_KIND_BY_EVENT[line.e]
    else:
        raise ValueError(f"cannot tell the stream of event type {line.e!r}")
    return f"{line.s.lower()}@{kind}", text
