"""Recording writer: records appended into preallocated buffers on the event-loop thread,
compressed and written in whole chunks by one background thread, in rotated files.

The event loop only packs a record header and copies the payload into the current buffer. A
full buffer (or ``flush``) is handed to the writer thread through a queue and replaced by a
free one; the writer compresses it into one zstd frame, writes it with one ``write`` call and
gives the buffer back. A crash therefore loses at most the chunks not yet written; ``close``
hands over what is pending, waits for the writer and fsyncs.
"""

from __future__ import annotations

import datetime
import io
import logging
import os
import queue
import threading
import time
from pathlib import Path

import msgspec
import zstandard

from tickwire import __version__
from tickwire.config import Config
from tickwire.record.format import (
    CHUNK_INFO,
    CHUNK_MAGIC,
    FORMAT_NAME,
    FORMAT_VERSION,
    HEADER_MAGIC,
    RECORD,
    RECORD_BY_PREFIX,
    RECORD_SIZE,
    SKIPPABLE,
    STOPPED,
    SWEEP_TIME,
    RecordingHeader,
    RecordKind,
    record_prefix,
)

__all__ = ["FILE_SUFFIX", "RecordSettings", "Recorder", "VenueRecorder"]

FILE_SUFFIX = ".twr.zst"

# Problems of the writer thread (disk full, …): rare, and never on the hot path.
log = logging.getLogger("tickwire.record")

_FRAME = RecordKind.FRAME
_pack_into = RECORD.pack_into
_pack_by_prefix_into = RECORD_BY_PREFIX.pack_into


class RecordSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where and how to record: ``directory`` gets one file per rotation, named
    ``<UTC start of the run, to the ms>-<n>.twr.zst``; a file is closed once it holds ``rotate_bytes``
    (compressed) or is ``rotate_seconds`` old. ``chunk_bytes`` is the size of each buffer (a
    chunk); ``flush_seconds`` the longest a record waits in a buffer while the engine runs."""

    directory: str
    rotate_bytes: int = 256 * 1024 * 1024
    rotate_seconds: float = 3600.0
    chunk_bytes: int = 1024 * 1024
    flush_seconds: float = 1.0
    level: int = 3


class Recorder:
    """One run's recording. Producers (``VenueRecorder``) run on one thread only."""

    def __init__(self, settings: RecordSettings, config: Config) -> None:
        self.settings = settings
        self.venues = list(config.venues)
        self._config = config.without_secrets()  # a recording is shared: no servers, no tokens
        self.directory = Path(settings.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        started = datetime.datetime.now(datetime.timezone.utc)
        self._stem = started.strftime("%Y%m%dT%H%M%S.") + f"{started.microsecond // 1000:03d}Z"
        self.capacity = settings.chunk_bytes
        self.buffer = bytearray(self.capacity)
        self.pos = 0
        self.count = 0
        self._free: list[bytearray] = [bytearray(self.capacity) for _ in range(3)]
        self._chunks: queue.SimpleQueue[tuple[bytearray, int, int] | None] = queue.SimpleQueue()
        self._next_conn = 1
        self.files: list[Path] = []
        self.records = 0
        self.chunks_written = 0
        self.bytes_written = 0
        self.buffers_allocated = 0
        self.error = ""
        self._file: io.FileIO | None = None
        self._writer = threading.Thread(target=self._write_chunks, name="tickwire-recorder", daemon=True)
        self._closed = False
        self._open_file()  # fail at start (permissions, …), not in the writer thread
        self._writer.start()

    def venue(self, name: str) -> VenueRecorder:
        """The producer of ``name``'s records (one per venue session)."""
        return VenueRecorder(self, self.venues.index(name))

    def new_connection(self) -> int:
        """A connection id not used before in this run."""
        conn = self._next_conn
        self._next_conn += 1
        return conn

    def append(self, kind: int, venue: int, conn: int, time_ns: int, payload: bytes) -> None:
        """Add one record (any kind; ``VenueRecorder.frame`` is the per-frame fast path)."""
        size = len(payload)
        end = self.pos + RECORD_SIZE + size
        if end > self.capacity:
            self.flush()
            end = RECORD_SIZE + size
            if end > self.capacity:  # larger than a chunk: a chunk of its own
                self._chunks.put((_record_bytes(kind, venue, conn, time_ns, payload), end, 1))
                self.records += 1
                return
        pos = self.pos
        buffer = self.buffer
        _pack_into(buffer, pos, kind, venue, 0, conn, time_ns, size)
        buffer[pos + RECORD_SIZE : end] = payload
        self.pos = end
        self.count += 1

    def sweep(self, now_ns: int, wall_ns: int, heard: list[str]) -> None:
        """Record an aggregator sweep at monotonic ``now_ns`` and wall ``wall_ns``."""
        venues = bytes(self.venues.index(name) for name in heard)
        self.append(RecordKind.SWEEP, 0, 0, wall_ns, SWEEP_TIME.pack(now_ns) + venues)

    def flush(self) -> None:
        """Hand the records buffered so far to the writer thread."""
        if not self.count:
            return
        self._chunks.put((self.buffer, self.pos, self.count))
        self.records += self.count
        try:
            self.buffer = self._free.pop()
        except IndexError:
            self.buffer = bytearray(self.capacity)
            self.buffers_allocated += 1
        self.pos = 0
        self.count = 0

    def close(self) -> None:
        """Write everything appended so far, close the file (fsynced) and stop the thread."""
        if self._closed:
            return
        self._closed = True
        self.flush()
        self._chunks.put(None)
        self._writer.join()

    def summary(self) -> str:
        """One line about the recording (for stderr at exit)."""
        text = (
            f"tickwire: recorded {self.records} records in {self.chunks_written} chunks, "
            f"{self.bytes_written} bytes, {len(self.files)} file(s) in {self.directory}"
        )
        return f"{text}; RECORDING FAILED: {self.error}" if self.error else text

    # -- writer thread ------------------------------------------------------------------------

    def _open_file(self) -> None:
        index = len(self.files) + 1
        path = self.directory / f"{self._stem}-{index:06d}{FILE_SUFFIX}"
        file = io.FileIO(path, "xb")  # unbuffered: each chunk reaches the OS in one write
        header = msgspec.json.encode(
            RecordingHeader(
                FORMAT_NAME, FORMAT_VERSION, __version__, time.time_ns(), index, self.venues, self._config
            )
        )
        file.write(SKIPPABLE.pack(HEADER_MAGIC, len(header)) + header)
        self._file = file
        self._file_size = SKIPPABLE.size + len(header)
        self._file_opened = time.monotonic()
        self.files.append(path)
        self.bytes_written += self._file_size

    def _close_file(self) -> None:
        file = self._file
        self._file = None
        if file is not None:
            os.fsync(file.fileno())
            file.close()

    def _write_chunks(self) -> None:
        compressor = zstandard.ZstdCompressor(
            level=self.settings.level, write_checksum=True, write_content_size=True
        )
        while True:
            item = self._chunks.get()
            if item is None:
                break
            buffer, size, count = item
            if not self.error:
                try:
                    self._write_chunk(compressor, memoryview(buffer)[:size], count)
                except OSError as exc:
                    self.error = f"{type(exc).__name__}: {exc}"
                    log.error("recording stopped: %s", self.error)
            if len(buffer) == self.capacity:
                self._free.append(buffer)
        try:
            self._close_file()
        except OSError as exc:
            self.error = self.error or f"{type(exc).__name__}: {exc}"

    def _write_chunk(self, compressor: zstandard.ZstdCompressor, records: memoryview, count: int) -> None:
        settings = self.settings
        if self._file_size >= settings.rotate_bytes or (
            time.monotonic() - self._file_opened >= settings.rotate_seconds
        ):
            self._close_file()
            self._open_file()
        compressed = compressor.compress(records)
        data = SKIPPABLE.pack(CHUNK_MAGIC, CHUNK_INFO.size) + CHUNK_INFO.pack(len(compressed), count) + compressed
        assert self._file is not None
        view = memoryview(data)
        while view:  # a regular file takes it all at once; a short write is finished here
            view = view[self._file.write(view) or 0 :]
        self._file_size += len(data)
        self.bytes_written += len(data)
        self.chunks_written += 1


def _record_bytes(kind: int, venue: int, conn: int, time_ns: int, payload: bytes) -> bytearray:
    record = bytearray(RECORD_SIZE + len(payload))
    _pack_into(record, 0, kind, venue, 0, conn, time_ns, len(payload))
    record[RECORD_SIZE:] = payload
    return record


class VenueRecorder:
    """One venue's records: its connection events (from the transport) and its frames (from
    the engine's frame path)."""

    __slots__ = ("_recorder", "venue", "conn", "_frame_prefix")

    def __init__(self, recorder: Recorder, venue: int) -> None:
        self._recorder = recorder
        self.venue = venue
        self.conn = 0
        self._frame_prefix = record_prefix(_FRAME, venue, 0)

    def frame(self, payload: bytes, recv_ns: int) -> None:
        """Record one received frame: a header pack and a copy into the current buffer."""
        recorder = self._recorder
        pos = recorder.pos
        start = pos + RECORD_SIZE
        end = start + len(payload)
        if end > recorder.capacity:
            recorder.append(_FRAME, self.venue, self.conn, recv_ns, payload)
            return
        buffer = recorder.buffer
        _pack_by_prefix_into(buffer, pos, self._frame_prefix, recv_ns, end - start)
        buffer[start:end] = payload
        recorder.pos = end
        recorder.count += 1

    def connected(self, url: str, time_ns: int) -> None:
        """A new connection to ``url`` is up (its frames follow under a new connection id)."""
        self.conn = self._recorder.new_connection()
        self._frame_prefix = record_prefix(_FRAME, self.venue, self.conn)
        self._recorder.append(RecordKind.CONNECT, self.venue, self.conn, time_ns, url.encode())

    def sent(self, message: bytes, time_ns: int) -> None:
        """tickwire sent ``message`` on the current connection."""
        self._recorder.append(RecordKind.SEND, self.venue, self.conn, time_ns, message)

    def http_answer(self, url: str, body: bytes, time_ns: int) -> None:
        """The venue's REST API answered ``body`` to ``GET url`` (instrument metadata)."""
        self._recorder.append(RecordKind.HTTP, self.venue, 0, time_ns, url.encode() + b"\n" + body)

    def disconnected(self, reason: str, time_ns: int, stopping: bool) -> None:
        """The current connection ended; ``stopping``: because tickwire is shutting down."""
        payload = STOPPED if stopping else reason.encode()
        self._recorder.append(RecordKind.DISCONNECT, self.venue, self.conn, time_ns, payload)
