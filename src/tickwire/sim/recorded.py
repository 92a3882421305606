"""Recorded frames for replay: one frame per line, read byte-exactly.

Each non-blank line (surrounding whitespace stripped) goes to the replaying venue's
``recorded_frame``, which gives its topic and payload; payload bytes are never re-encoded, so a
replayed frame is byte-for-byte the recorded one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["LineParser", "RecordedFrameError", "iter_recorded_frames", "load_recorded_frames"]

LineParser = Callable[[bytes], tuple[str, bytes]]


class RecordedFrameError(ValueError):
    """A line of a recording that is not a frame of the venue; the message starts ``file:line``."""


def iter_recorded_frames(path: str | Path, parse_line: LineParser) -> Iterator[tuple[str, bytes]]:
    """Yield ``parse_line(line)``, a ``(topic, payload)`` pair, per non-blank line of ``path``.

    Raises RecordedFrameError naming ``path:line`` where ``parse_line`` raises ValueError.
    """
    with open(path, "rb") as lines:
        for line_number, line in enumerate(lines, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                yield parse_line(text)
            except ValueError as exc:  # msgspec.DecodeError is a ValueError too
                raise RecordedFrameError(f"{path}:{line_number}: {exc}") from None


def load_recorded_frames(path: str | Path, parse_line: LineParser) -> list[tuple[str, bytes]]:
    """Read every frame of ``path`` into memory (see ``iter_recorded_frames``)."""
    return list(iter_recorded_frames(path, parse_line))
