"""Recorded frames for the simulator's replay: generic line reading, Binance frame parsing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tickwire.sim.binance import parse_recorded_line
from tickwire.sim.recorded import RecordedFrameError, iter_recorded_frames, load_recorded_frames

FIXTURE = Path(__file__).parent.parent / "fixtures" / "binance" / "bookTicker.jsonl"


def test_combined_lines_give_their_stream_and_the_payload_byte_exact():
    lines = FIXTURE.read_bytes().splitlines()
    frames = load_recorded_frames(FIXTURE, parse_recorded_line)
    assert len(frames) == len(lines) > 0
    for (stream, payload), line in zip(frames, lines):
        assert line == b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"
    assert {stream for stream, _ in frames} >= {"nknusdt@bookTicker", "lrcbtc@bookTicker"}


@pytest.mark.parametrize(
    ("payload", "stream"),
    [
        (
            b'{"u":1,"s":"BTCUSDT","b":"1.00000000","B":"1.00000000","a":"2.00000000","A":"1.0"}',
            "btcusdt@bookTicker",
        ),
        (
            b'{"e":"trade","E":1,"s":"ETHUSDT","t":1,"p":"1","q":"1","T":1,"m":true,"M":true}',
            "ethusdt@trade",
        ),
        (
            b'{"e":"aggTrade","E":1,"s":"NKNUSDT","a":5,"p":"1","q":"1","f":1,"l":1,"m":false}',
            "nknusdt@aggTrade",
        ),
        (b'{"e":"24hrTicker","E":1,"s":"SOLUSDT","b":"1","a":"2"}', "solusdt@ticker"),
        (b'{"e":"depthUpdate","E":1,"s":"LRCBTC","U":1,"u":2,"b":[],"a":[]}', "lrcbtc@depth"),
        (
            b'{"e":"kline","E":1,"s":"NKNUSDT","k":{"t":1,"i":"1m","s":"NKNUSDT"}}',
            "nknusdt@kline_1m",
        ),
    ],
)
def test_bare_payloads_get_their_stream_from_symbol_and_event(tmp_path, payload, stream):
    recording = tmp_path / "bare.jsonl"
    recording.write_bytes(payload + b"\r\n\n")
    assert load_recorded_frames(recording, parse_recorded_line) == [(stream, payload)]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"stream":"nknusdt@bookTicker","data":', "truncated"),
        (b'{"stream":"nknusdt@bookTicker","data":{"u":1,}}', "malformed"),
        (b"[1,2,3]", "object"),
        (b'{"stream":"nknusdt@bookTicker"}', "both"),
        (b'{"u":1,"b":"1","a":"2"}', "symbol"),
        (b'{"e":"outboundAccountPosition","s":"BTCUSDT"}', "outboundAccountPosition"),
        (b'{"u":1,"s":"BTCUSDT"}', "bookTicker"),
    ],
)
def test_a_bad_line_is_reported_with_file_and_line_number(tmp_path, line, reason):
    recording = tmp_path / "bad.jsonl"
    good = FIXTURE.read_bytes().splitlines()[0]
    recording.write_bytes(good + b"\n\n" + line + b"\n")
    frames = iter_recorded_frames(recording, parse_recorded_line)
    assert next(frames)[0] == "nknusdt@bookTicker"
    with pytest.raises(RecordedFrameError, match=rf"^{re.escape(str(recording))}:3: .*{reason}"):
        next(frames)


def test_any_venue_line_parser_gets_each_stripped_non_blank_line(tmp_path):
    recording = tmp_path / "frames.txt"
    recording.write_bytes(b"  one \n\n\t\ntwo\r\n")
    seen = load_recorded_frames(recording, lambda line: ("topic", line))
    assert seen == [("topic", b"one"), ("topic", b"two")]
