"""Recording writer: records kept by reference on the event-loop thread, taken, packed,
compressed and written in whole chunks by one background thread, in rotated files.

Per record, the event loop only appends the record's prefix (kind, venue, connection), its time
and its payload to three lists (``Recorder.kept``); a frame's payload is the ``bytes`` object the
transport hands over, not copied. The writer thread takes what the lists hold every
``TAKE_SECONDS`` (list slicing is atomic under the GIL and the event loop only appends, payload
last) and packs each take into the next chunk's columns at once (``struct.pack`` of the times and
of the lengths, a ``join`` of the prefixes and of the payloads), which releases the taken frames.
A chunk is compressed into one zstd frame and written with one ``write`` call once it holds
``chunk_bytes`` of records, once its first record has waited ``flush_seconds``, and at ``close``.
A crash therefore loses at most the records not yet in a written chunk; ``close`` waits for the
writer and fsyncs.
"""

from __future__ import annotations

import bisect
import datetime
import io
import itertools
import logging
import operator
import os
import struct
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
    RECORD_OVERHEAD,
    SKIPPABLE,
    STOPPED,
    SWEEP_TIME,
    RecordingHeader,
    RecordKind,
    prefix_bytes,
)

__all__ = ["FILE_SUFFIX", "KeptRecords", "RecordSettings", "Recorder", "VenueRecorder"]

FILE_SUFFIX = ".twr.zst"
TAKE_SECONDS = 0.01
"""How often the writer thread takes the records kept by the event loop: at 200,000 frames/s
that is 2,000 frames held by reference at most between takes."""

# Problems of the writer thread (disk full, …): rare, and never on the hot path.
log = logging.getLogger("tickwire.record")

_FRAME = RecordKind.FRAME


class RecordSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where and how to record: ``directory`` gets one file per rotation, named
    ``<UTC start of the run, to the ms>-<n>.twr.zst``; a file is closed once it holds ``rotate_bytes``
    (compressed) or is ``rotate_seconds`` old. ``chunk_bytes`` is the most a chunk holds before
    compression (unless one record is larger); ``flush_seconds`` the longest a record waits
    before its chunk is written; ``writer_cpus``, if any, the CPUs the writer thread runs on
    (the others of a pinned process, so that packing and compression leave its core alone)."""

    directory: str
    rotate_bytes: int = 256 * 1024 * 1024
    rotate_seconds: float = 3600.0
    chunk_bytes: int = 1024 * 1024
    flush_seconds: float = 1.0
    level: int = 3
    writer_cpus: frozenset[int] = frozenset()


class KeptRecords:
    """Records not yet taken by the writer, as three parallel lists (no object per record).
    Only the event-loop thread appends, to ``prefixes``, ``times`` and ``payloads`` in that
    order."""

    __slots__ = ("prefixes", "times", "payloads")

    def __init__(self) -> None:
        self.prefixes: list[bytes] = []  # prefix_bytes
        self.times: list[int] = []
        self.payloads: list[bytes] = []

    def add(self, prefix: bytes, time_ns: int, payload: bytes) -> None:
        """Keep one record (the engine's frame path does the same three appends inline)."""
        self.prefixes.append(prefix)
        self.times.append(time_ns)
        self.payloads.append(payload)

    def take(self) -> tuple[list[bytes], list[int], list[bytes]]:
        """Remove the records appended so far and return them (prefixes, times, payloads)."""
        count = len(self.payloads)  # appended last: the other lists hold at least as many
        taken = self.prefixes[:count], self.times[:count], self.payloads[:count]
        for column in (self.prefixes, self.times, self.payloads):
            del column[:count]
        return taken


class _Chunk:
    """The next chunk, built from whole takes (the writer thread's side): each column's parts,
    already packed, so a taken frame is released right after it is copied."""

    __slots__ = ("prefixes", "times", "lengths", "payloads", "count", "size")

    def __init__(self) -> None:
        self.prefixes: list[bytes] = []
        self.times: list[bytes] = []
        self.lengths: list[bytes] = []
        self.payloads: list[bytes] = []
        self.count = 0
        self.size = 0

    def add(self, prefixes: list[bytes], times: list[int], lengths: list[int], payloads: list[bytes], size: int) -> None:
        count = len(payloads)
        self.size += size
        self.prefixes.append(b"".join(prefixes))
        self.times.append(struct.pack(f"<{count}q", *times))
        self.lengths.append(struct.pack(f"<{count}I", *lengths))
        self.payloads.append(b"".join(payloads))
        self.count += count

    def content(self) -> bytes:
        return b"".join([*self.prefixes, *self.times, *self.lengths, *self.payloads])


class Recorder:
    """One run's recording. Producers (``VenueRecorder``, ``sweep``) run on one thread only."""

    def __init__(self, settings: RecordSettings, config: Config) -> None:
        self.settings = settings
        self.venues = list(config.venues)
        self._config = config.without_secrets()  # a recording is shared: no servers, no tokens
        self.directory = Path(settings.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        started = datetime.datetime.now(datetime.timezone.utc)
        self._stem = started.strftime("%Y%m%dT%H%M%S.") + f"{started.microsecond // 1000:03d}Z"
        self.kept = KeptRecords()
        self._next_conn = 1
        self.files: list[Path] = []
        self.records = 0
        self.chunks_written = 0
        self.bytes_written = 0
        self.error = ""
        self._file: io.FileIO | None = None
        self._stopping = threading.Event()
        self._writer = threading.Thread(target=self._write_chunks, name="tickwire-recorder", daemon=True)
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
        """Add one record of any kind (``VenueRecorder.frame`` and the engine's frame path add
        frames the same way)."""
        self.kept.add(prefix_bytes(kind, venue, conn), time_ns, payload)

    def sweep(self, now_ns: int, wall_ns: int, heard: list[str]) -> None:
        """Record an aggregator sweep at monotonic ``now_ns`` and wall ``wall_ns``."""
        venues = bytes(self.venues.index(name) for name in heard)
        self.append(RecordKind.SWEEP, 0, 0, wall_ns, SWEEP_TIME.pack(now_ns) + venues)

    def close(self) -> None:
        """Write everything appended so far, close the file (fsynced) and stop the thread."""
        if not self._stopping.is_set():
            self._stopping.set()
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
        settings = self.settings
        if settings.writer_cpus:
            try:
                os.sched_setaffinity(0, settings.writer_cpus)  # this thread only
            except OSError as exc:
                log.warning("recording thread stays on the process's CPUs: %s", exc)
        compressor = zstandard.ZstdCompressor(level=settings.level, write_checksum=True, write_content_size=True)
        chunk = _Chunk()
        chunk_since = 0.0  # when its first records were taken
        stopping = False
        while not stopping:
            stopping = self._stopping.wait(TAKE_SECONDS)
            prefixes, times, payloads = self.kept.take()
            if payloads:
                if not chunk.count:
                    chunk_since = time.monotonic()
                chunk = self._add_to_chunks(compressor, chunk, prefixes, times, payloads)
            if chunk.count and (stopping or time.monotonic() - chunk_since >= settings.flush_seconds):
                chunk = self._write(compressor, chunk)
        try:
            self._close_file()
        except OSError as exc:
            self.error = self.error or f"{type(exc).__name__}: {exc}"

    def _add_to_chunks(
        self, compressor: zstandard.ZstdCompressor, chunk: _Chunk,
        prefixes: list[bytes], times: list[int], payloads: list[bytes],
    ) -> _Chunk:
        """Add taken records to ``chunk``, writing every chunk they fill (at most ``chunk_bytes``;
        a larger record is a chunk of its own); the chunk to go on with."""
        chunk_bytes = self.settings.chunk_bytes
        lengths = list(map(len, payloads))
        ends = list(itertools.accumulate(map(operator.add, lengths, itertools.repeat(RECORD_OVERHEAD))))
        first = added = 0  # records first.. still to add; bytes of those before
        while first < len(ends):
            last = bisect.bisect_right(ends, added + chunk_bytes - chunk.size, first)
            if last == first:  # the next record does not fit
                if chunk.count:
                    chunk = self._write(compressor, chunk)
                    continue
                last = first + 1
            chunk.add(prefixes[first:last], times[first:last], lengths[first:last], payloads[first:last],
                      ends[last - 1] - added)
            first, added = last, ends[last - 1]
        return chunk

    def _write(self, compressor: zstandard.ZstdCompressor, chunk: _Chunk) -> _Chunk:
        """Write ``chunk``; a new empty one."""
        self.records += chunk.count
        if not self.error:
            try:
                self._write_chunk(compressor, chunk.content(), chunk.count)
            except OSError as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                log.error("recording stopped: %s", self.error)
        return _Chunk()

    def _write_chunk(self, compressor: zstandard.ZstdCompressor, records: bytes, count: int) -> None:
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


class VenueRecorder:
    """One venue's records: its connection events (from the transport) and its frames (from
    the engine's frame path)."""

    __slots__ = ("recorder", "venue", "conn", "frame_prefix")

    def __init__(self, recorder: Recorder, venue: int) -> None:
        self.recorder = recorder
        self.venue = venue
        self.conn = 0
        self.frame_prefix = prefix_bytes(_FRAME, venue, 0)
        """The first field of this venue's frame records on the current connection (the engine's
        frame path adds its frames to ``Recorder.kept`` itself)."""

    def frame(self, payload: bytes, recv_ns: int) -> None:
        """Record one received frame."""
        self.recorder.kept.add(self.frame_prefix, recv_ns, payload)

    def connected(self, url: str, time_ns: int) -> None:
        """A new connection to ``url`` is up (its frames follow under a new connection id)."""
        self.conn = self.recorder.new_connection()
        self.frame_prefix = prefix_bytes(_FRAME, self.venue, self.conn)
        self.recorder.append(RecordKind.CONNECT, self.venue, self.conn, time_ns, url.encode())

    def sent(self, message: bytes, time_ns: int) -> None:
        """tickwire sent ``message`` on the current connection."""
        self.recorder.append(RecordKind.SEND, self.venue, self.conn, time_ns, message)

    def http_answer(self, url: str, body: bytes, time_ns: int) -> None:
        """The venue's REST API answered ``body`` to ``GET url`` (instrument metadata)."""
        self.recorder.append(RecordKind.HTTP, self.venue, 0, time_ns, url.encode() + b"\n" + body)

    def disconnected(self, reason: str, time_ns: int, stopping: bool) -> None:
        """The current connection ended; ``stopping``: because tickwire is shutting down."""
        payload = STOPPED if stopping else reason.encode()
        self.recorder.append(RecordKind.DISCONNECT, self.venue, self.conn, time_ns, payload)
