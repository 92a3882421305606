"""``tickwire replay``: the same input gives byte-identical output, at any speed; bad input is
one line and exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from tickwire.config import Config
from tickwire.record.writer import Recorder, RecordSettings

CAPTURES = Path(__file__).resolve().parent.parent / "fixtures" / "captures"
FIXTURES = CAPTURES.parent


def replay(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "tickwire", "replay", *args], capture_output=True, timeout=120
    )


def capture(name: str) -> str:
    return str(CAPTURES / f"{name}.capture.v3.jsonl.zst")


def test_two_replays_of_a_capture_print_the_same_bytes() -> None:
    first = replay(capture("binance_futures"), capture("kraken"))
    second = replay(capture("binance_futures"), capture("kraken"))
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    lines = [json.loads(line) for line in first.stdout.splitlines()]
    assert len(lines) > 600
    # the clock is the recorded receive time: nothing of the replaying machine's time is printed
    assert all(line["publish_ns"] == line["recv_ns"] for line in lines)


def test_replay_pace_does_not_change_the_output() -> None:
    fast = replay(capture("okx"))
    paced = replay(capture("okx"), "--speed", "1000")
    assert paced.returncode == 0, paced.stderr
    assert fast.stdout == paced.stdout


def test_the_summary_names_what_was_skipped_and_why() -> None:
    result = replay(capture("binance"), "--sink", "none")
    assert result.returncode == 0
    assert result.stdout == b""
    summary = result.stderr.decode()
    assert "84 consolidated updates published" in summary
    assert "binance: 265 frames" in summary
    assert "unknown_message 179" in summary  # depth and kline streams tickwire does not read


def test_venues_limits_the_replay() -> None:
    result = replay(capture("binance_futures"), "--venues", "binance_usdm_market")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and {line["type"] for line in lines} == {"trade"}
    assert "venue binance_usdm not replayed" in result.stderr.decode()


def test_a_recording_replays_its_recorded_frames(tmp_path: Path) -> None:
    config = Config(venues=["binance"], symbols=["BTC-USDT"])
    recorder = Recorder(RecordSettings(directory=str(tmp_path)), config)
    venue = recorder.venue("binance")
    venue.connected("ws://127.0.0.1:9/stream", 10)
    for update_id, bid in enumerate(("67000.10", "67000.20", "67000.20"), start=1):
        frame = (
            f'{{"stream":"btcusdt@bookTicker","data":{{"u":{update_id},"s":"BTCUSDT",'
            f'"b":"{bid}","B":"1.5","a":"67000.30","A":"2"}}}}'
        )
        venue.frame(frame.encode(), 1000 + update_id)
    venue.disconnected("connection closed", 2000, stopping=False)
    recorder.close()
    result = replay(str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["bid"], x["recv_ns"], x["n_venues"]) for x in lines] == [
        ("67000.1", 1001, 1),
        ("67000.2", 1002, 1),  # the third frame changes nothing: no line
        (None, 2000, 0),  # the venue went down: no price any more, at the recorded time
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["/nonexistent/rec"], "no such file or directory"),
        ([str(FIXTURES / "binance" / "bookTicker.jsonl")], "neither a tickwire recording"),
        (["UNKNOWN_EXCHANGE"], "nothing to replay: "),
        ([capture("okx"), "--venues", "binance"], "none of the venues binance"),
        ([capture("okx"), "--speed", "0"], "must be > 0"),
        ([capture("okx"), "--sink", "kafka"], "unknown sink 'kafka'"),
    ],
)
def test_bad_input_is_one_line_and_status_2(args: list[str], message: str, tmp_path: Path) -> None:
    if args == ["UNKNOWN_EXCHANGE"]:
        path = tmp_path / "deribit.capture.v3.jsonl.zst"
        header = b'{"t":"header","exchange":"DERIBIT","config":{"ticker":["BTC-USD-PERP"]}}\n'
        path.write_bytes(zstandard.ZstdCompressor().compress(header))
        args = [str(path)]
    result = replay(*args)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert message in lines[-1]
    assert "Traceback" not in result.stderr.decode()
