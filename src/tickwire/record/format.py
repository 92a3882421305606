"""The recording file format, version 2 (described for users in docs/RECORDING.md).

A recording file is a sequence of zstd frames, so ``zstd -t`` checks it and ``zstd -d`` unpacks
its records:

- a skippable frame (magic ``0x184D2A50``) holding the header, one JSON object
  (``RecordingHeader``);
- then per chunk: a skippable frame (magic ``0x184D2A51``) holding ``<II`` = the compressed size
  of the chunk and its record count ``n``, followed by that many bytes: one zstd frame (content
  size and checksum included) whose content is the chunk's ``n`` records in columns, all
  little-endian: ``n`` × ``<Q`` record prefixes (kind | venue index << 8 | connection id << 32),
  ``n`` × ``<q`` times in ns since the Unix epoch, ``n`` × ``<I`` payload lengths, then the
  payloads back to back.

Version 1 (still read) held the records one after another instead: ``<BBHIqI`` = kind, venue
index, reserved (0), connection id, time, payload length; then the payload bytes.
"""

from __future__ import annotations

import enum
import struct

import msgspec

from tickwire.config import Config

__all__ = [
    "CHUNK_MAGIC",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "HEADER_MAGIC",
    "READABLE_VERSIONS",
    "RECORD_OVERHEAD",
    "V1_RECORD",
    "Record",
    "RecordKind",
    "NothingToReplay",
    "RecordingError",
    "RecordingHeader",
    "SKIPPABLE",
    "STOPPED",
    "SWEEP_TIME",
    "CHUNK_INFO",
    "prefix_bytes",
    "record_prefix",
    "split_prefix",
]

FORMAT_NAME = "tickwire-recording"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)

SKIPPABLE = struct.Struct("<II")  # zstd skippable frame: magic, content size
HEADER_MAGIC = 0x184D2A50
CHUNK_MAGIC = 0x184D2A51
CHUNK_INFO = struct.Struct("<II")  # compressed size, record count
SWEEP_TIME = struct.Struct("<q")  # the monotonic time that starts a SWEEP payload
RECORD_OVERHEAD = 8 + 8 + 4  # a record's bytes in a version 2 chunk beside its payload
V1_RECORD = struct.Struct("<BBHIqI")  # kind, venue index, reserved, connection id, time_ns, length


def record_prefix(kind: int, venue: int, conn: int) -> int:
    """A record's kind, venue index and connection id as one integer (the first column)."""
    return kind | venue << 8 | conn << 32


def split_prefix(prefix: int) -> tuple[int, int, int]:
    """The kind, venue index and connection id in ``record_prefix``."""
    return prefix & 0xFF, prefix >> 8 & 0xFF, prefix >> 32


def prefix_bytes(kind: int, venue: int, conn: int) -> bytes:
    """``record_prefix`` as it is written (``<Q``): a frame's prefix is made once per connection."""
    return record_prefix(kind, venue, conn).to_bytes(8, "little")


class RecordKind(enum.IntEnum):
    """What a record holds. The payload of each kind:

    FRAME: a complete text frame the venue sent, byte for byte (time: its ``recv_ns``).
    SEND: a text message tickwire sent on the connection (subscribe requests, keepalives).
    CONNECT: the URL of a new connection (time: when the handshake completed).
    DISCONNECT: why the connection ended (``stopped`` when tickwire was shutting down).
    HTTP: an answer to a metadata request made before connecting: the URL, a newline, the body.
    SWEEP: an aggregator sweep (staleness, heartbeats; time: its wall time): ``<q`` = its
    monotonic time, then one byte per venue heard since the previous sweep (venue indexes).
    """

    FRAME = 1
    SEND = 2
    CONNECT = 3
    DISCONNECT = 4
    HTTP = 5
    SWEEP = 6


STOPPED = b"stopped"


class RecordingError(ValueError):
    """A file that is not a tickwire recording (or of a version this tickwire cannot read)."""


class NothingToReplay(RecordingError):
    """A readable capture with nothing tickwire can replay (no venue or symbol of its own)."""


class RecordingHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """The first frame of every file: what was recorded and how to replay it.

    ``venues`` names the venue of each record's venue index; ``config`` is the run's whole
    configuration but its servers and tokens (``Config.without_secrets``), so a replay builds
    the same adapters, instruments and channels.
    """

    format: str
    version: int
    tickwire: str
    created_ns: int
    file_index: int
    venues: list[str]
    config: Config


class Record(msgspec.Struct, frozen=True, gc=False):
    """One record read back: ``venue`` is the venue's name, ``conn`` the connection id (unique
    within a run), ``time_ns`` the receive (FRAME) or event time."""

    kind: RecordKind
    venue: str
    conn: int
    time_ns: int
    payload: bytes
