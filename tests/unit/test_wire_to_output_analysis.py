"""How the wire-to-output harness (benchmarks/wire_to_output.py) counts a conflating client's
lines: nothing is missing when its seqs only rise up to the last one sent, and its throughput
is the seqs its lines moved through per second."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import w2o_server  # noqa: E402
import wire_to_output  # noqa: E402

SECOND = 1_000_000_000
T0 = 1_795_000_000 * SECOND  # harness stamps are wall-clock nanoseconds


def price_line(seq: int) -> bytes:
    bid = w2o_server.units_text(w2o_server.BID_BASE_UNITS + seq * w2o_server.SEQ_UNITS)
    return b'{"type":"price","bid":"%s","recv_ns":0,"publish_ns":0}\n' % bid.encode()


def reads(*batches: tuple[int, list[int]]) -> list[tuple[int, bytes]]:
    """One harness read per (stamp, seqs) batch."""
    return [(T0 + stamp, b"".join(price_line(seq) for seq in seqs)) for stamp, seqs in batches]


def test_a_conflating_client_that_reaches_the_last_seq_misses_nothing_and_is_rated_by_seqs():
    chunks = reads((0, [1]), (SECOND // 2, [400]), (SECOND, [1001]))
    result = wire_to_output.analyse("tickwire-conflate", "maxrate", 1001, 0, chunks, {})
    assert (result["lines_valid"], result["missing"]) == (3, 0)
    assert result["throughput"] == 1000.0  # seqs 1 -> 1001 in one second


def test_a_conflating_client_that_stops_short_misses_the_seqs_after_its_last_line():
    chunks = reads((0, [1]), (SECOND, [900]))
    result = wire_to_output.analyse("tickwire-conflate", "maxrate", 1001, 0, chunks, {})
    assert result["missing"] == 101


def test_a_client_that_does_not_conflate_is_rated_by_its_lines():
    chunks = reads((0, [1]), (SECOND, [1001]))
    result = wire_to_output.analyse("tickwire", "maxrate", 1001, 0, chunks, {})
    assert (result["missing"], result["throughput"]) == (999, 1.0)


def test_progress_of_a_conflating_client_is_the_seq_of_its_last_complete_line():
    data = price_line(7) + price_line(12) + b'{"type":"pri'
    assert wire_to_output._progress("tickwire-conflate", data, 2) == 12
    assert wire_to_output._progress("tickwire", data, 2) == 2
