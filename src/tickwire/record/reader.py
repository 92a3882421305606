"""Reading recordings back: records in order, and a torn tail reported instead of raised.

A file cut short (a crash or SIGKILL while a chunk was being written) or with a damaged chunk
yields every record of the chunks before it; ``torn`` then says where and why reading stopped.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import msgspec
import zstandard

from tickwire.config import ConfigError, validate
from tickwire.record.format import (
    CHUNK_INFO,
    CHUNK_MAGIC,
    FORMAT_NAME,
    HEADER_MAGIC,
    READABLE_VERSIONS,
    SKIPPABLE,
    V1_RECORD,
    Record,
    RecordingError,
    RecordingHeader,
    RecordKind,
    split_prefix,
)

__all__ = ["RecordingFile", "is_recording"]

_MAX_HEADER_BYTES = 1 << 20


def is_recording(path: str | Path) -> bool:
    """True when ``path`` starts like a tickwire recording (its header frame)."""
    with open(path, "rb") as file:
        start = file.read(SKIPPABLE.size)
    return len(start) == SKIPPABLE.size and SKIPPABLE.unpack(start)[0] == HEADER_MAGIC


class RecordingFile:
    """One recording file. Raises RecordingError when ``path`` has no valid header."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.torn = ""
        self.chunks = 0
        with open(self.path, "rb") as file:
            self.header = _read_header(file, self.path)
            self._data_start = file.tell()
        self.config = self.header.config
        self.venues = self.header.venues

    def records(self) -> Iterator[Record]:
        """Every record, in the order they were appended; sets ``torn`` on a damaged tail."""
        unpack = _unpack_v1 if self.header.version == 1 else _unpack
        decompressor = zstandard.ZstdDecompressor()
        self.torn = ""
        self.chunks = 0
        with open(self.path, "rb") as file:
            file.seek(self._data_start)
            while True:
                offset = file.tell()
                chunk = self._read_chunk(file, offset, decompressor)
                if chunk is None:
                    return
                data, count = chunk
                records = unpack(data, count, self.venues)
                if records is None:
                    self.torn = f"chunk at byte {offset}: records do not match the chunk's count"
                    return
                self.chunks += 1
                yield from records

    def _read_chunk(
        self, file: BinaryIO, offset: int, decompressor: zstandard.ZstdDecompressor
    ) -> tuple[bytes, int] | None:
        """The next chunk's records and count; None at the end (setting ``torn`` if damaged)."""
        frame = file.read(SKIPPABLE.size + CHUNK_INFO.size)
        if not frame:
            return None
        if len(frame) < SKIPPABLE.size + CHUNK_INFO.size:
            self.torn = f"file ends inside the chunk header at byte {offset}"
            return None
        magic, info_size = SKIPPABLE.unpack_from(frame)
        if magic != CHUNK_MAGIC or info_size != CHUNK_INFO.size:
            self.torn = f"no chunk header at byte {offset}"
            return None
        size, count = CHUNK_INFO.unpack_from(frame, SKIPPABLE.size)
        compressed = file.read(size)
        if len(compressed) < size:
            self.torn = f"file ends inside the chunk at byte {offset} ({len(compressed)} of {size} bytes)"
            return None
        try:
            return decompressor.decompress(compressed), count
        except zstandard.ZstdError as exc:
            self.torn = f"chunk at byte {offset} does not decompress: {exc}"
            return None


def _read_header(file: BinaryIO, path: Path) -> RecordingHeader:
    start = file.read(SKIPPABLE.size)
    if len(start) < SKIPPABLE.size or SKIPPABLE.unpack(start)[0] != HEADER_MAGIC:
        raise RecordingError(f"{path}: not a tickwire recording (no header)")
    size = SKIPPABLE.unpack(start)[1]
    if size > _MAX_HEADER_BYTES:
        raise RecordingError(f"{path}: header of {size} bytes is not a tickwire header")
    raw = file.read(size)
    if len(raw) < size:
        raise RecordingError(f"{path}: file ends inside its header")
    try:
        header = msgspec.json.decode(raw, type=RecordingHeader)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise RecordingError(f"{path}: bad header: {exc}") from None
    if header.format != FORMAT_NAME:
        raise RecordingError(f"{path}: format {header.format!r} is not {FORMAT_NAME!r}")
    if header.version not in READABLE_VERSIONS:
        readable = " and ".join(map(str, READABLE_VERSIONS))
        raise RecordingError(f"{path}: recording format version {header.version}; this tickwire reads {readable}")
    try:
        validate(header.config, f"{path}: recorded configuration")
    except ConfigError as exc:
        raise RecordingError(str(exc)) from None
    if header.venues != header.config.venues:
        raise RecordingError(f"{path}: header venues {header.venues} differ from its configuration")
    return header


_KINDS = {int(kind): kind for kind in RecordKind}


def _unpack(data: bytes, count: int, venues: list[str]) -> list[Record] | None:
    """The ``count`` records of a version 2 chunk (columns); None if they do not fit ``data``."""
    payloads_at = 20 * count
    if payloads_at > len(data):
        return None
    prefixes = struct.unpack_from(f"<{count}Q", data)
    times = struct.unpack_from(f"<{count}q", data, 8 * count)
    lengths = struct.unpack_from(f"<{count}I", data, 16 * count)
    if payloads_at + sum(lengths) != len(data):
        return None
    records = []
    start = payloads_at
    for prefix, time_ns, length in zip(prefixes, times, lengths):
        kind, venue, conn = split_prefix(prefix)
        if kind not in _KINDS or venue >= len(venues):
            return None
        records.append(Record(_KINDS[kind], venues[venue], conn, time_ns, data[start : start + length]))
        start += length
    return records


def _unpack_v1(data: bytes, count: int, venues: list[str]) -> list[Record] | None:
    """The ``count`` records of a version 1 chunk (one after another); None if they do not fit."""
    records = []
    pos = 0
    size_of_header = V1_RECORD.size
    for _ in range(count):
        if pos + size_of_header > len(data):
            return None
        kind, venue, _reserved, conn, time_ns, size = V1_RECORD.unpack_from(data, pos)
        end = pos + size_of_header + size
        if end > len(data) or kind not in _KINDS or venue >= len(venues):
            return None
        records.append(Record(_KINDS[kind], venues[venue], conn, time_ns, data[pos + size_of_header : end]))
        pos = end
    return records if pos == len(data) else None
