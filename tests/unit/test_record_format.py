"""The recording format: what is written reads back identically, in order, across rotations;
a file cut or damaged anywhere reads back up to its last whole chunk and says where it stopped."""

from __future__ import annotations

import os
import struct
import threading
import time
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.config import Config
from tickwire.record.format import (
    CHUNK_INFO,
    CHUNK_MAGIC,
    FORMAT_VERSION,
    HEADER_MAGIC,
    SKIPPABLE,
    V1_RECORD,
    Record,
    RecordingError,
    RecordKind,
    record_prefix,
    split_prefix,
)
from tickwire.record.reader import RecordingFile
from tickwire.record.writer import FILE_SUFFIX, Recorder, RecordSettings

CONFIG = Config(venues=["binance", "okx"], symbols=["BTC-USDT"])
FRAME = b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"1.0","B":"2","a":"1.1","A":"3"}}'


def recorder(directory: Path, **settings: float) -> Recorder:
    return Recorder(RecordSettings(directory=str(directory), **settings), CONFIG)  # type: ignore[arg-type]


def write_session(rec: Recorder, frames: int) -> list[Record]:
    """A connect, a subscribe, ``frames`` frames and a disconnect on binance, as the transport and
    the engine report them; returns what should be read back."""
    venue = rec.venue("binance")
    venue.connected("ws://127.0.0.1:1/binance/stream", 1_000)
    expected = [Record(RecordKind.CONNECT, "binance", 1, 1_000, b"ws://127.0.0.1:1/binance/stream")]
    venue.sent(b'{"method":"SUBSCRIBE"}', 1_001)
    expected.append(Record(RecordKind.SEND, "binance", 1, 1_001, b'{"method":"SUBSCRIBE"}'))
    for i in range(frames):
        payload = FRAME.replace(b'"u":1', b'"u":%d' % i)
        venue.frame(payload, 2_000 + i)
        expected.append(Record(RecordKind.FRAME, "binance", 1, 2_000 + i, payload))
    venue.disconnected("no frame for 30 s", 9_000, stopping=False)
    expected.append(Record(RecordKind.DISCONNECT, "binance", 1, 9_000, b"no frame for 30 s"))
    return expected


def read_all(directory: Path) -> list[Record]:
    return [r for path in sorted(directory.glob(f"*{FILE_SUFFIX}")) for r in RecordingFile(path).records()]


def test_records_read_back_in_order_with_venue_connection_and_time(tmp_path: Path) -> None:
    rec = recorder(tmp_path, chunk_bytes=4096)
    expected = write_session(rec, 200)
    okx = rec.venue("okx")
    okx.connected("ws://127.0.0.1:1/okx", 10_000)
    okx.http_answer("http://127.0.0.1:1/api/v5/public/instruments?instType=SWAP", b'{"data":[]}', 10_001)
    okx.disconnected("", 10_002, stopping=True)
    expected += [
        Record(RecordKind.CONNECT, "okx", 2, 10_000, b"ws://127.0.0.1:1/okx"),
        Record(RecordKind.HTTP, "okx", 0, 10_001,
               b'http://127.0.0.1:1/api/v5/public/instruments?instType=SWAP\n{"data":[]}'),
        Record(RecordKind.DISCONNECT, "okx", 2, 10_002, b"stopped"),
    ]  # fmt: skip
    rec.close()
    (path,) = tmp_path.glob(f"*{FILE_SUFFIX}")
    recording = RecordingFile(path)
    assert recording.header.version == FORMAT_VERSION
    assert recording.config == CONFIG
    records = list(recording.records())
    assert records == expected
    assert recording.torn == ""
    assert recording.chunks > 1  # 4 KiB chunks: the frames filled several
    assert rec.records == len(expected)


def test_http_records_carry_no_connection(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    rec.venue("okx").http_answer("http://x/instruments", b"[]", 5)
    rec.close()
    (record,) = read_all(tmp_path)
    assert (record.kind, record.conn, record.payload) == (RecordKind.HTTP, 0, b"http://x/instruments\n[]")


def test_every_file_is_a_valid_zstd_stream_of_its_records(tmp_path: Path) -> None:
    rec = recorder(tmp_path, chunk_bytes=2048)
    write_session(rec, 100)
    rec.close()
    (path,) = tmp_path.glob(f"*{FILE_SUFFIX}")
    data = path.read_bytes()
    unpacked = b""
    position = 0
    while position < len(data):  # what `zstd -d` does: skip skippable frames, decode the others
        magic, size = struct.unpack_from("<II", data, position)
        if magic & 0xFFFFFFF0 == 0x184D2A50:
            position += 8 + size
            continue
        reader = zstandard.ZstdDecompressor().decompressobj()
        unpacked += reader.decompress(data[position:])
        position = len(data) - len(reader.unused_data)
    assert FRAME.replace(b'"u":1', b'"u":99') in unpacked


def test_a_record_larger_than_a_chunk_keeps_its_place(tmp_path: Path) -> None:
    rec = recorder(tmp_path, chunk_bytes=1024)
    venue = rec.venue("binance")
    venue.frame(b"a", 1)
    venue.frame(b"b" * 5000, 2)
    venue.frame(b"c", 3)
    rec.close()
    assert [(r.time_ns, len(r.payload)) for r in read_all(tmp_path)] == [(1, 1), (2, 5000), (3, 1)]


def test_files_rotate_by_size_and_each_has_its_header(tmp_path: Path) -> None:
    rec = recorder(tmp_path, chunk_bytes=2048, rotate_bytes=3000)
    expected = write_session(rec, 600)
    rec.close()
    paths = sorted(tmp_path.glob(f"*{FILE_SUFFIX}"))
    assert len(paths) > 2
    assert [RecordingFile(p).header.file_index for p in paths] == list(range(1, len(paths) + 1))
    assert read_all(tmp_path) == expected


def test_files_rotate_by_age(tmp_path: Path) -> None:
    rec = recorder(tmp_path, chunk_bytes=1024, rotate_seconds=1e-9)
    expected = write_session(rec, 100)
    rec.close()
    assert len(list(tmp_path.glob(f"*{FILE_SUFFIX}"))) > 1
    assert read_all(tmp_path) == expected


def chunk_boundaries(path: Path) -> list[int]:
    """Byte offsets where each chunk ends (the header's end first)."""
    data = path.read_bytes()
    ends = [8 + struct.unpack_from("<I", data, 4)[0]]
    while ends[-1] < len(data):
        size = struct.unpack_from("<I", data, ends[-1] + 8)[0]
        ends.append(ends[-1] + 16 + size)
    return ends


def test_a_file_cut_anywhere_reads_up_to_its_last_whole_chunk(tmp_path: Path) -> None:
    rec = recorder(tmp_path / "whole", chunk_bytes=1024)
    expected = write_session(rec, 60)
    rec.close()
    (path,) = (tmp_path / "whole").glob(f"*{FILE_SUFFIX}")
    data = path.read_bytes()
    ends = chunk_boundaries(path)
    counts = [0]
    recording = RecordingFile(path)
    for _ in recording.records():
        counts[-1] += 1
    per_chunk = []
    for end in ends[1:]:  # records in the chunks that end at or before each boundary
        path.with_name("prefix").write_bytes(data[:end])
        per_chunk.append(len(list(RecordingFile(path.with_name("prefix")).records())))
    cut = path.with_name("cut")
    for size in range(ends[0], len(data)):
        cut.write_bytes(data[:size])
        reader = RecordingFile(cut)
        records = list(reader.records())
        whole_chunks = sum(1 for end in ends[1:] if end <= size)
        assert records == expected[: per_chunk[whole_chunks - 1] if whole_chunks else 0]
        assert bool(reader.torn) == (size not in ends)


def test_a_damaged_chunk_stops_the_reading_there(tmp_path: Path) -> None:
    rec = recorder(tmp_path, chunk_bytes=1024)
    expected = write_session(rec, 60)
    rec.close()
    (path,) = tmp_path.glob(f"*{FILE_SUFFIX}")
    ends = chunk_boundaries(path)
    data = bytearray(path.read_bytes())
    data[ends[2] + 30] ^= 0xFF  # inside the third chunk's compressed bytes
    path.write_bytes(data)
    reader = RecordingFile(path)
    records = list(reader.records())
    assert 0 < len(records) < len(expected)
    assert records == expected[: len(records)]
    assert "does not decompress" in reader.torn


def test_a_file_that_is_not_a_recording_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "frames.jsonl"
    path.write_bytes(FRAME + b"\n")
    with pytest.raises(RecordingError, match="not a tickwire recording"):
        RecordingFile(path)


def test_a_newer_format_version_is_refused(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    rec.close()
    (path,) = tmp_path.glob(f"*{FILE_SUFFIX}")
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"version":2', b'"version":9'))
    with pytest.raises(RecordingError, match="version 9"):
        RecordingFile(path)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([RecordKind.FRAME, RecordKind.SEND]),
            st.sampled_from(["binance", "okx"]),
            st.integers(0, 2**62),
            st.binary(max_size=3000),
        ),
        max_size=60,
    )
)
def test_any_records_read_back_unchanged(tmp_path_factory: pytest.TempPathFactory, items) -> None:  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("rec")
    rec = recorder(directory, chunk_bytes=1024)
    venues = {name: rec.venue(name) for name in ("binance", "okx")}
    for kind, venue, time_ns, payload in items:
        if kind is RecordKind.FRAME:
            venues[venue].frame(payload, time_ns)
        else:
            venues[venue].sent(payload, time_ns)
    rec.close()
    assert [(r.kind, r.venue, r.time_ns, r.payload) for r in read_all(directory)] == items


@given(st.sampled_from(list(RecordKind)), st.integers(0, 255), st.integers(0, 2**32 - 1))
def test_a_record_prefix_splits_back_into_kind_venue_and_connection(kind, venue, conn):  # type: ignore[no-untyped-def]
    assert split_prefix(record_prefix(kind, venue, conn)) == (kind, venue, conn)


def test_a_version_1_recording_still_reads(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    expected = write_session(rec, 3)
    rec.close()
    (path,) = tmp_path.glob(f"*{FILE_SUFFIX}")
    data = path.read_bytes()
    header_end = SKIPPABLE.size + SKIPPABLE.unpack_from(data)[1]
    header = data[SKIPPABLE.size : header_end].replace(b'"version":2', b'"version":1')
    venue_index = {"binance": 0, "okx": 1}
    records = b"".join(
        V1_RECORD.pack(r.kind, venue_index[r.venue], 0, r.conn, r.time_ns, len(r.payload)) + r.payload
        for r in expected
    )
    compressed = zstandard.ZstdCompressor().compress(records)
    path.write_bytes(
        SKIPPABLE.pack(HEADER_MAGIC, len(header)) + header
        + SKIPPABLE.pack(CHUNK_MAGIC, CHUNK_INFO.size) + CHUNK_INFO.pack(len(compressed), len(expected)) + compressed
    )
    recording = RecordingFile(path)
    assert recording.header.version == 1
    assert list(recording.records()) == expected
    assert recording.torn == ""


def allowed_cpus_of_thread(native_id: int) -> str:
    status = Path(f"/proc/self/task/{native_id}/status").read_text()
    return next(line.split()[1] for line in status.splitlines() if line.startswith("Cpus_allowed_list:"))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to move the writer to one")
def test_the_writer_thread_runs_on_the_cpus_it_is_given_and_the_caller_stays_where_it_was(tmp_path: Path) -> None:
    before = os.sched_getaffinity(0)
    cpu = max(before)
    rec = recorder(tmp_path, writer_cpus=frozenset({cpu}))
    try:
        (writer,) = [t for t in threading.enumerate() if t.name == "tickwire-recorder"]
        assert writer.native_id is not None
        deadline = time.monotonic() + 5
        while allowed_cpus_of_thread(writer.native_id) != str(cpu) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert allowed_cpus_of_thread(writer.native_id) == str(cpu)
        assert os.sched_getaffinity(0) == before
    finally:
        rec.close()
