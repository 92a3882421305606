"""One JSON object per line on a file descriptor (stdout by default).

Lines are encoded into one reused buffer and written with a single ``os.write`` per flush; the
engine flushes at the end of each socket read batch, so a burst costs one syscall and a lone
update is written at once.

Until ``start``, writes block (a replay must not lose lines). Once started in the running event
loop, a pipe or socket is written without blocking: when the reader falls behind and the pipe is
full, the lines wait in a bounded backlog that the event loop writes out as the pipe drains; a
backlog over ``max_pending_bytes`` loses its oldest whole lines (``dropped_lines`` counts them),
so a stuck reader never holds up ingestion. With ``wait_for_reader`` writes always block: no
line is lost, and a slow reader slows ingestion down to its pace.
"""

from __future__ import annotations

import asyncio
import os
import select
import stat
import time
from typing import Any, Callable

from tickwire.sinks.lines import JsonLines, PriceLine, TickerLine, TradeLine

__all__ = ["DEFAULT_MAX_PENDING_BYTES", "PriceLine", "StdoutSink", "TickerLine", "TradeLine"]

DEFAULT_MAX_PENDING_BYTES = 4 * 1024 * 1024
CLOSE_DRAIN_SECONDS = 1.0
"""At close, how long a started sink waits for a slow reader to take the backlog."""


class StdoutSink(JsonLines):
    """Writes consolidated updates (and trades, tickers) as JSON lines to ``fd``."""

    def __init__(
        self,
        size_scales: dict[str, int],
        price_scales: dict[str, int],
        fd: int = 1,
        on_reader_gone: Callable[[], None] = lambda: None,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        wait_for_reader: bool = False,
    ) -> None:
        super().__init__(size_scales, price_scales)
        self._fd = fd
        self._on_reader_gone = on_reader_gone
        self._max_pending = max_pending_bytes
        self._wait_for_reader = wait_for_reader
        self._loop: asyncio.AbstractEventLoop | None = None
        self._made_nonblocking = False
        self._held = False  # the pipe is full (the loop writes when it has room) or its reader is gone
        self._torn = False  # the backlog starts with the rest of a line partly written already
        self.reader_gone = False
        self.writes = 0
        self.pipe_full = 0  # flushes that found the pipe full
        self.dropped_lines = 0

    async def start(self) -> None:
        """Stop blocking on a full pipe or socket: from now on a backlog waits in memory (up to
        ``max_pending_bytes``) and the running event loop writes it out."""
        mode = os.fstat(self._fd).st_mode
        if self._wait_for_reader or not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            return  # told to wait, or a file or terminal (never waits for a reader)
        self._loop = asyncio.get_running_loop()
        if os.get_blocking(self._fd):
            os.set_blocking(self._fd, False)
            self._made_nonblocking = True

    @property
    def pending_bytes(self) -> int:
        """Bytes encoded and not yet written."""
        return len(self._buffer)

    def flush(self) -> None:
        """Write everything pending with one ``os.write``; what a full pipe does not take waits."""
        buffer = self._buffer
        if not buffer:
            return
        if self._held:
            self._hold()
            return
        try:
            written = os.write(self._fd, buffer)
        except BlockingIOError:
            written = 0
        except BrokenPipeError:
            buffer.clear()
            self._reader_gone()
            return
        self.writes += 1
        if written == len(buffer):
            buffer.clear()
        elif self._loop is None:
            self._write_all(written)
        else:
            self._backlog(written)

    def _write_all(self, written: int) -> None:
        """Blocking mode: write the rest, however long the reader takes."""
        buffer = self._buffer
        view = memoryview(buffer)
        try:
            while written < len(view):
                written += os.write(self._fd, view[written:])
        except BrokenPipeError:
            self._reader_gone()
        finally:
            view.release()
            buffer.clear()

    def _backlog(self, written: int) -> None:
        """The pipe took only ``written`` bytes: keep the rest and write it when there is room."""
        self.pipe_full += 1
        self._take(written)
        self._held = True
        assert self._loop is not None
        self._loop.add_writer(self._fd, self._drain)
        self._hold()

    def _take(self, written: int) -> None:
        if written:
            buffer = self._buffer
            self._torn = buffer[written - 1] != 10
            del buffer[:written]

    def _hold(self) -> None:
        """While the pipe is full: keep the backlog within bounds by dropping its oldest lines
        (down to half the bound, so a stuck reader costs a drop now and then, not every flush)."""
        buffer = self._buffer
        if self.reader_gone:
            buffer.clear()
        elif len(buffer) > self._max_pending:
            start = buffer.index(10) + 1 if self._torn else 0  # finish the line begun
            excess = len(buffer) - self._max_pending // 2
            end = buffer.find(10, start + excess - 1) + 1 or len(buffer)
            self.dropped_lines += buffer.count(10, start, end)
            del buffer[start:end]

    def _drain(self) -> None:
        """The event loop says the pipe has room: write as much of the backlog as it takes."""
        buffer = self._buffer
        try:
            written = os.write(self._fd, buffer) if buffer else 0
        except BlockingIOError:
            return
        except BrokenPipeError:
            buffer.clear()
            self._reader_gone()
            written = 0
        self.writes += bool(written)
        self._take(written)
        if not buffer:
            self._release()

    def _release(self) -> None:
        if self._loop is not None:
            self._loop.remove_writer(self._fd)
        self._held = self.reader_gone

    def _reader_gone(self) -> None:
        if not self.reader_gone:
            self.reader_gone = True
            self._held = True
            self._on_reader_gone()

    def status(self) -> dict[str, Any]:
        """Counters for ``/debug/status`` and ``/metrics``."""
        return {
            "sink": "stdout",
            "lines": self.lines,
            "writes": self.writes,
            "pipe_full": self.pipe_full,
            "pending_bytes": len(self._buffer),
            "dropped_lines": self.dropped_lines,
            "reader_gone": self.reader_gone,
        }

    def report(self) -> list[str]:
        """What the sink did, for the summary at exit."""
        return [
            f"stdout: {self.lines} lines, {self.writes} writes, pipe full {self.pipe_full} times, "
            f"{self.dropped_lines} lines dropped for a slow reader"
        ]

    def close(self) -> None:
        """Write what is pending (a started sink waits at most ``CLOSE_DRAIN_SECONDS`` for a
        slow reader; what is left then counts as dropped) and make the descriptor blocking
        again if ``start`` made it non-blocking."""
        if not self._held:
            self.flush()
        if self._held and not self.reader_gone:
            self._finish_backlog(time.monotonic() + CLOSE_DRAIN_SECONDS)
        self._release()
        if self._made_nonblocking:
            os.set_blocking(self._fd, True)
            self._made_nonblocking = False

    def _finish_backlog(self, deadline: float) -> None:
        buffer = self._buffer
        while buffer and not self.reader_gone:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            select.select([], [self._fd], [], left)
            self._drain()
        self.dropped_lines += buffer.count(10)
        buffer.clear()
