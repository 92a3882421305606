"""Latency histograms: bucket resolution, percentiles, and the engine's stage stamps."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.config import ConfigError, load_config
from tickwire.engine import Engine
from tickwire.metrics import (
    BUCKETS,
    FAST_BUCKET,
    FAST_LIMIT_NS,
    STAGES,
    LatencyHistogram,
    bucket_bounds,
    bucket_index,
    is_loopback,
    parse_address,
)
from tickwire.sinks.stdout import StdoutSink

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SECOND = 1_000_000_000


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_every_value_lies_in_its_bucket(value):
    low, high = bucket_bounds(bucket_index(value))
    assert low <= value < high


@given(st.integers(min_value=100, max_value=10 * SECOND))
def test_a_bucket_midpoint_is_within_two_percent_of_every_value_in_it_from_100ns_to_10s(value):
    low, high = bucket_bounds(bucket_index(value))
    midpoint = (low + high) // 2
    assert abs(midpoint - value) <= 0.02 * value


def test_buckets_are_contiguous_and_the_last_one_takes_everything_past_2_to_the_64():
    for index in range(1, BUCKETS):
        assert bucket_bounds(index - 1)[1] == bucket_bounds(index)[0]
    assert bucket_index(1 << 64) == bucket_index(1 << 80) == BUCKETS - 1


def test_the_precomputed_table_agrees_with_the_formula():
    assert len(FAST_BUCKET) == FAST_LIMIT_NS
    assert all(FAST_BUCKET[v] == bucket_index(v) for v in range(FAST_LIMIT_NS))


@given(st.lists(st.integers(min_value=100, max_value=10 * SECOND), min_size=1, max_size=300),
       st.sampled_from([0.5, 0.9, 0.99, 0.999, 1.0]))
def test_percentiles_are_within_two_percent_of_the_exact_nearest_rank(values, fraction):
    histogram = LatencyHistogram()
    for value in values:
        histogram.record(value)
    exact = sorted(values)[max(1, -(-int(fraction * 1_000_000) * len(values) // 1_000_000)) - 1]
    (estimate,) = histogram.percentiles([fraction])
    assert abs(estimate - exact) <= 0.02 * exact
    assert histogram.count == len(values)


def test_an_empty_histogram_has_no_percentiles():
    assert LatencyHistogram().percentiles([0.5, 0.99]) == [None, None]


def test_negative_values_count_in_the_lowest_bucket_and_are_reported_apart():
    histogram = LatencyHistogram()
    histogram.record(-5)
    histogram.record(-10 * SECOND)
    histogram.record(7)
    assert histogram.negative == 2
    assert histogram.counts[0] == 2 and histogram.count == 3


def test_counts_below_a_bound_match_a_count_of_the_values():
    values = [130, 250, 256, 257, 1_000, 4_096, 70_000, 3 * SECOND]
    histogram = LatencyHistogram()
    for value in values:
        histogram.record(value)
    bounds = [128, 256, 384, 4096, 6144, 1 << 20, 1 << 34]  # each a bucket's lower bound
    assert [bucket_bounds(bucket_index(b))[0] for b in bounds] == bounds
    below, total = histogram.cumulative_below([bucket_index(b) for b in bounds])
    assert below == [sum(v < b for v in values) for b in bounds] and total == len(values)


def test_the_sum_is_within_the_bucket_resolution():
    values = [300, 5_000, 12_345, 2 * SECOND]
    histogram = LatencyHistogram()
    for value in values:
        histogram.record(value)
    assert abs(histogram.sum_ns() - sum(values)) <= sum(values) / 64


def test_a_window_is_what_was_recorded_after_a_copy_and_survives_its_sparse_form():
    histogram = LatencyHistogram()
    histogram.record(1_000)
    earlier = LatencyHistogram.from_sparse(histogram.sparse(), histogram.negative)
    histogram.record(2_000)
    histogram.record(-1)
    window = histogram.since(earlier)
    assert window.count == 2 and window.negative == 1
    assert window.counts[bucket_index(2_000)] == 1 and window.counts[bucket_index(1_000)] == 0


def test_merging_adds_counts():
    a, b = LatencyHistogram(), LatencyHistogram()
    a.record(500)
    b.record(500)
    b.record(90_000)
    a.merge(b)
    assert a.count == 3 and a.counts[bucket_index(500)] == 2


@pytest.mark.parametrize(
    "text, expected",
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("localhost:0", ("localhost", 0)),
     ("[::1]:9464", ("::1", 9464)), ("0.0.0.0:80", ("0.0.0.0", 80))],
)
def test_metrics_addresses_are_host_and_port(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["9464", "127.0.0.1", ":9464", "127.0.0.1:http", "127.0.0.1:70000"])
def test_a_metrics_address_without_a_usable_port_is_refused(text):
    with pytest.raises(ValueError):
        parse_address(text)


def test_loopback_hosts_are_recognised():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("example")


# -- the engine's stage stamps -----------------------------------------------------------------


class SteppingClock:
    """A clock that moves ``step`` ns at every reading; ``now`` is set to each frame's receipt."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.now = 0
        self.readings = 0

    def __call__(self) -> int:
        self.now += self.step
        self.readings += 1
        return self.now


def timed_engine(venue: str, symbols: list[str], clock: SteppingClock, stage_sample: int = 1) -> Engine:
    config = load_config(
        None, {"venues": [venue], "symbols": symbols, "sinks": ["none"], "stage_sample": stage_sample}
    )
    sink = StdoutSink({s: 8 for s in symbols}, {s: 8 for s in symbols}, os.open(os.devnull, os.O_WRONLY))
    return Engine(config, [sink], clock=clock, timed=True)


def feed(engine: Engine, clock: SteppingClock, frames: list[bytes], recv_ns, burst: int = 1) -> list[int]:  # type: ignore[no-untyped-def]
    """Hand each frame to the engine's hot path, received at ``recv_ns(frame)``, ``burst`` frames
    per socket read; the updates each frame caused."""
    session = engine.sessions[0]
    session.adapter.on_connected()
    on_frame = engine.frame_consumer(session.adapter)
    caused = []
    for i, frame in enumerate(frames):
        clock.now = recv_ns(frame)
        before = engine.updates
        on_frame(frame, clock.now, (i + 1) % burst == 0)
        caused.append(engine.updates - before)
    return caused


def book_tickers() -> list[bytes]:
    return (FIXTURES / "binance" / "bookTicker.jsonl").read_bytes().splitlines()


def test_each_consolidated_update_is_timed_at_every_stage_from_the_engines_own_stamps():
    clock = SteppingClock(step=250)
    engine = timed_engine("binance", ["NKN-USDT"], clock)
    frames = book_tickers()
    feed(engine, clock, frames, lambda frame: 10 * SECOND)
    stages = engine.stages["binance"]
    updates = engine.updates
    assert 0 < updates < len(frames)  # some recorded frames repeat the top of book
    # decoded +250, aggregated +250, encoded +250; flushed 250 after the last publish stamp
    expected = {"recv_to_decoded": 250, "decoded_to_aggregated": 250, "aggregated_to_published": 250,
                "recv_to_published": 750, "published_to_flushed": 500}
    for stage, value in expected.items():
        histogram = getattr(stages, stage)
        assert histogram.count == updates, stage
        assert histogram.counts[bucket_index(value)] == updates, stage
    assert stages.exchange_to_recv.count == 0  # spot bookTicker carries no event time


def test_in_a_burst_every_nth_frame_and_the_last_one_are_timed():
    clock = SteppingClock(step=250)
    engine = timed_engine("binance", ["NKN-USDT"], clock, stage_sample=4)
    caused = feed(engine, clock, book_tickers(), lambda frame: 10 * SECOND, burst=10)
    stages = engine.stages["binance"]
    staged, countdown = 0, 4  # a frame that ends a read is staged; else every 4th since the last
    for i, updates in enumerate(caused):
        countdown -= 1
        if (i + 1) % 10 == 0 or not countdown:
            staged, countdown = staged + updates, 4
    assert 0 < staged < engine.updates
    for stage in ("recv_to_decoded", "decoded_to_aggregated", "aggregated_to_published", "recv_to_published"):
        assert getattr(stages, stage).count == staged, stage
    assert stages.recv_to_published.counts[bucket_index(750)] == staged
    assert 0 < stages.published_to_flushed.count <= len(caused) // 10


def test_slow_updates_and_a_clock_that_steps_back_are_recorded_not_dropped():
    frames = book_tickers()[:10]
    slow = SteppingClock(step=FAST_LIMIT_NS)
    engine = timed_engine("binance", ["NKN-USDT"], slow)
    feed(engine, slow, frames, lambda frame: 10 * SECOND)
    whole = engine.stages["binance"].recv_to_published
    assert whole.count == engine.updates > 0
    assert whole.counts[bucket_index(3 * FAST_LIMIT_NS)] == engine.updates

    backwards = SteppingClock(step=-100)
    engine = timed_engine("binance", ["NKN-USDT"], backwards)
    feed(engine, backwards, frames, lambda frame: 10 * SECOND)
    stages = engine.stages["binance"]
    assert stages.recv_to_published.count == stages.recv_to_published.negative == engine.updates


def test_the_venues_event_time_gives_exchange_to_recv():
    lines = (FIXTURES / "binance_usdm" / "bookTicker.jsonl").read_bytes().splitlines()
    frames = [line for line in lines if b'"s":"SUSHIUSDT"' in line]
    clock = SteppingClock(step=100)
    engine = timed_engine("binance_usdm", ["SUSHI-USDT-PERP"], clock)
    lag_ns = 3_000_000
    feed(engine, clock, frames, lambda frame: json.loads(frame)["data"]["T"] * 1_000_000 + lag_ns)
    lag = engine.stages["binance_usdm"].exchange_to_recv
    assert lag.count == engine.updates > 0
    assert lag.counts[bucket_index(lag_ns)] == engine.updates


def test_without_timing_the_engine_keeps_no_histograms_and_reads_the_clock_once_per_update():
    clock = SteppingClock(step=250)
    config = load_config(None, {"venues": ["binance"], "symbols": ["NKN-USDT"], "sinks": ["none"]})
    engine = Engine(config, [], clock=clock)
    feed(engine, clock, book_tickers(), lambda frame: 10 * SECOND)
    assert engine.stages == {}
    assert clock.readings == engine.updates


def test_stage_names_are_in_pipeline_order():
    assert STAGES == ("exchange_to_recv", "recv_to_decoded", "decoded_to_aggregated",
                      "aggregated_to_published", "recv_to_published", "published_to_flushed")


def test_the_metrics_address_is_a_setting_checked_before_anything_starts(tmp_path):
    path = tmp_path / "tickwire.toml"
    path.write_text('metrics = "127.0.0.1:9500"\n')
    assert load_config(str(path), {}).metrics == "127.0.0.1:9500"
    assert load_config(str(path), {"metrics": "[::1]:0"}).metrics == "[::1]:0"
    assert load_config(None, {}).metrics is None
    with pytest.raises(ConfigError, match="metrics address must be HOST:PORT"):
        load_config(None, {"metrics": "9500"})


def test_a_frame_with_two_updates_times_each_from_where_the_previous_one_ended():
    clock = SteppingClock(step=250)
    engine = timed_engine("coinbase", ["BTC-USD", "ETH-USD"], clock)
    tickers = [
        {"type": "ticker", "product_id": product, "price": "10", "best_bid": bid, "best_ask": ask,
         "best_bid_quantity": "1", "best_ask_quantity": "2"}
        for product, bid, ask in (("BTC-USD", "100.5", "101"), ("ETH-USD", "20.5", "21"))
    ]
    frame = json.dumps({"channel": "ticker", "timestamp": "2026-08-09T21:05:48.229198328Z",
                        "sequence_num": 1, "events": [{"type": "update", "tickers": tickers}]}).encode()
    caused = feed(engine, clock, [frame], lambda frame: 10 * SECOND)
    assert caused == [2]
    stages = engine.stages["coinbase"]
    # decoded +250; each update aggregated +250 after the previous stamp, encoded +250
    assert stages.recv_to_decoded.counts[bucket_index(250)] == 2
    assert stages.decoded_to_aggregated.counts[bucket_index(250)] == 2
    assert stages.aggregated_to_published.counts[bucket_index(250)] == 2
    assert stages.recv_to_published.counts[bucket_index(750)] == 1
    assert stages.recv_to_published.counts[bucket_index(1250)] == 1
    assert stages.published_to_flushed.count == 1  # the frame's one write, from its first line
    assert stages.published_to_flushed.counts[bucket_index(1000)] == 1
