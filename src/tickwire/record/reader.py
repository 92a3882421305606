"""Reading recordings back: records in order, and a torn tail reported instead of raised.

A file cut short (a crash or SIGKILL while a chunk was being written) or with a damaged chunk
yields every record of the chunks before it; ``torn`` then says where and why reading stopped.
"""

from __future__ import annotations

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
    FORMAT_VERSION,
    HEADER_MAGIC,
    RECORD,
    RECORD_SIZE,
    SKIPPABLE,
    Record,
    RecordingError,
    RecordingHeader,
    RecordKind,
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
        venues = self.venues
        unpack_from = RECORD.unpack_from
        kinds = {int(kind): kind for kind in RecordKind}
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
                records = []
                pos = 0
                for _ in range(count):
                    if pos + RECORD_SIZE > len(data):
                        break
                    kind, venue, _reserved, conn, time_ns, size = unpack_from(data, pos)
                    end = pos + RECORD_SIZE + size
                    if end > len(data) or kind not in kinds or venue >= len(venues):
                        break
                    records.append(Record(kinds[kind], venues[venue], conn, time_ns, data[pos + RECORD_SIZE : end]))
                    pos = end
                if len(records) != count or pos != len(data):
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
    if header.version != FORMAT_VERSION:
        raise RecordingError(
            f"{path}: recording format version {header.version}; this tickwire reads {FORMAT_VERSION}"
        )
    try:
        validate(header.config, f"{path}: recorded configuration")
    except ConfigError as exc:
        raise RecordingError(str(exc)) from None
    if header.venues != header.config.venues:
        raise RecordingError(f"{path}: header venues {header.venues} differ from its configuration")
    return header
