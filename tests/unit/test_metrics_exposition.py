"""The Prometheus text and the debug status of an engine, and the HTTP server that serves them."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tickwire.config import load_config
from tickwire.engine import Engine
from tickwire.exposition import PROMETHEUS_BOUNDS_NS, VENUE_STATES, prometheus_text, status
from tickwire.metrics import STAGES, LoopLagProbe, bucket_bounds, bucket_index
from tickwire.metrics_server import MetricsServer
from tickwire.sinks.stdout import StdoutSink

from .test_metrics import SECOND, SteppingClock, book_tickers, feed


def fed_engine(bad_frames: int = 0) -> Engine:
    clock = SteppingClock(step=400)
    config = load_config(None, {"venues": ["binance", "okx"], "symbols": ["NKN-USDT"], "sinks": ["none"]})
    sink = StdoutSink({"NKN-USDT": 8}, {"NKN-USDT": 8}, os.open(os.devnull, os.O_WRONLY))
    engine = Engine(config, [sink], clock=clock, timed=True)
    frames = book_tickers() + [b'{"stream":"nknusdt@bookTicker","data":{"u":'] * bad_frames
    feed(engine, clock, frames, lambda frame: 10 * SECOND)
    engine.sessions[0].stats.frames = len(frames)
    return engine


def in_loop(render, engine: Engine):  # type: ignore[no-untyped-def]
    """``render(engine, probe, started_s)`` as the server calls it: inside the event loop."""

    async def rendered():  # type: ignore[no-untyped-def]
        return await render(engine, LoopLagProbe(), 1.0)

    return asyncio.run(rendered())


def families(engine: Engine) -> dict:
    text = in_loop(prometheus_text, engine)
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_the_exposition_parses_and_has_a_latency_histogram_per_venue_and_stage():
    engine = fed_engine()
    parsed = families(engine)
    latency = parsed["tickwire_latency_seconds"]
    assert latency.type == "histogram"
    series = {(s.labels["venue"], s.labels["stage"]) for s in latency.samples}
    assert series == {(venue, stage) for venue in ("binance", "okx") for stage in STAGES}
    counts = {(s.labels["venue"], s.labels["stage"]): s.value
              for s in latency.samples if s.name.endswith("_count")}
    assert counts[("binance", "recv_to_published")] == engine.updates > 0
    assert counts[("okx", "recv_to_published")] == 0


def test_histogram_buckets_are_cumulative_exact_and_in_seconds():
    engine = fed_engine()
    samples = [s for s in families(engine)["tickwire_latency_seconds"].samples
               if s.labels.get("stage") == "recv_to_published" and s.labels["venue"] == "binance"]
    buckets = [s for s in samples if s.name.endswith("_bucket")]
    assert [s.labels["le"] for s in buckets[:3]] == ["1.28e-07", "1.92e-07", "2.56e-07"]
    assert len(buckets) == len(PROMETHEUS_BOUNDS_NS) + 1 and buckets[-1].labels["le"] == "+Inf"
    values = [s.value for s in buckets]
    assert values == sorted(values)
    # every update took 1200 ns (three clock steps of 400): all of them are below 1.536 µs, none below 1.024 µs
    by_le = {float(s.labels["le"]): s.value for s in buckets}
    assert by_le[1.024e-06] == 0 and by_le[1.536e-06] == engine.updates
    low, high = bucket_bounds(bucket_index(1200))
    (total,) = [s.value for s in samples if s.name.endswith("_sum")]
    assert math.isclose(total, engine.updates * (low + high) // 2 * 1e-9)


def test_counters_and_gauges_carry_venue_labels():
    engine = fed_engine(bad_frames=3)
    parsed = families(engine)
    frames = {s.labels["venue"]: s.value for s in parsed["tickwire_frames"].samples}
    assert frames == {"binance": len(book_tickers()) + 3, "okx": 0}
    errors = {(s.labels["venue"], s.labels["reason"]): s.value
              for s in parsed["tickwire_decode_errors"].samples}
    assert errors == {("binance", reason): count
                      for reason, count in engine.sessions[0].adapter.stats.errors.items()}
    assert errors[("binance", "malformed_json")] == 3
    assert [s.value for s in parsed["tickwire_updates_published"].samples] == [engine.updates]
    states = {(s.labels["venue"], s.labels["state"]): s.value for s in parsed["tickwire_venue_state"].samples}
    assert {state for _, state in states} == set(VENUE_STATES)
    assert states[("binance", "connecting")] == 1 and sum(states.values()) == 2
    for name in ("tickwire_reconnects", "tickwire_connect_failures", "tickwire_sequence_gaps",
                 "tickwire_last_frame_age_seconds", "tickwire_socket_receive_queue_bytes"):
        assert {s.labels["venue"] for s in parsed[name].samples} == {"binance", "okx"}, name
    assert parsed["tickwire_event_loop_lag_seconds"].type == "histogram"


def test_an_untimed_engine_exposes_counters_but_no_latency():
    config = load_config(None, {"venues": ["binance"], "symbols": ["BTC-USDT"], "sinks": ["none"]})
    parsed = families(Engine(config, []))
    assert "tickwire_latency_seconds" not in parsed and "tickwire_frames" in parsed


def test_the_status_has_per_venue_stage_buckets_that_a_reader_can_rebuild():
    engine = fed_engine()
    snapshot = json.loads(json.dumps(in_loop(status, engine)))
    binance = snapshot["venues"][0]
    assert binance["name"] == "binance" and snapshot["timed"] is True
    whole = binance["stages"]["recv_to_published"]
    assert sum(whole["buckets"].values()) == engine.updates
    assert snapshot["stages"] == list(STAGES)


async def http_get(port: int, request: bytes) -> tuple[str, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.decode(), body


def test_the_server_answers_metrics_status_tasks_and_refuses_the_rest():
    async def scenario():
        server = MetricsServer(fed_engine())
        await server.start("127.0.0.1", 0)
        port = int(server.url.rsplit(":", 1)[1])
        try:
            return [await http_get(port, request) for request in (
                b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /debug/tasks HTTP/1.1\r\n\r\n",
                b"HEAD /metrics HTTP/1.1\r\n\r\n",
                b"GET /nothing HTTP/1.1\r\n\r\n",
                b"POST /metrics HTTP/1.1\r\n\r\n",
                b"nonsense\r\n\r\n",
            )]
        finally:
            await server.close()

    (metrics, tasks, head, missing, post, bad) = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert metrics[0].startswith("HTTP/1.1 200 OK") and "text/plain; version=0.0.4" in metrics[0]
    assert b"tickwire_frames_total" in metrics[1]
    described = {task["name"]: task for task in json.loads(tasks[1])}
    probe = described["event-loop-lag-probe"]
    assert probe["state"] == "waiting" and probe["stack"][0] == "LoopLagProbe.run"
    assert probe["where"].startswith("metrics.py:")
    assert any(task["stack"][0].endswith("scenario") for task in described.values())
    assert head[0].startswith("HTTP/1.1 200") and head[1] == b""
    assert missing[0].startswith("HTTP/1.1 404") and post[0].startswith("HTTP/1.1 405")
    assert bad[0].startswith("HTTP/1.1 400")


def test_the_aggregators_exclusions_are_counted_by_instrument_source_and_reason():
    engine = fed_engine()
    engine.aggregator.exclusions.count("NKN-USDT", "okx", "stale")
    engine.aggregator.exclusions.count("NKN-USDT", "okx", "stale")
    engine.aggregator.exclusions.count("NKN-USDT", "okx", "")
    parsed = families(engine)
    left_out = [(s.labels, s.value) for s in parsed["tickwire_exclusions"].samples]
    assert ({"symbol": "NKN-USDT", "source": "okx", "reason": "stale"}, 2) in left_out
    back = [(s.labels, s.value) for s in parsed["tickwire_exclusion_returns"].samples]
    assert back == [({"symbol": "NKN-USDT", "source": "okx"}, 1)]
    snapshot = in_loop(status, engine)
    assert [v["left_out"] for v in snapshot["venues"]] == [0, 2]


def nats_nodes() -> list:  # type: ignore[type-arg]
    """An ingest node and an aggregate node (never connected) that heard of one venue."""
    from tickwire.scaleout.aggregate_node import AggregateNode
    from tickwire.scaleout.ingest import IngestNode

    settings = {"venues": ["binance"], "symbols": ["BTC-USDT"], "sinks": ["none"],
                "nats": {"url": "nats://127.0.0.1:4222"}}
    ingest = IngestNode(load_config(None, {**settings, "role": "ingest"}))
    aggregate = AggregateNode(load_config(None, {**settings, "role": "aggregate"}))
    aggregate._route("tickwire.quote.binance.BTC-USDT")
    return [ingest, aggregate]


def test_every_metric_the_grafana_dashboard_queries_is_exposed():
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(exprs) >= 15
    engine = fed_engine()
    engine.aggregator.exclusions.count("NKN-USDT", "okx", "stale")
    engine.aggregator.exclusions.count("NKN-USDT", "okx", "")
    exposed = {sample.name for node in (engine, *nats_nodes())
               for family in families(node).values() for sample in family.samples}
    queried = {name for expr in exprs for name in re.findall(r"tickwire_[a-z_]+", expr)}
    assert queried <= exposed, queried - exposed
    assert {"tickwire_latency_seconds_bucket", "tickwire_frames_total", "tickwire_decode_errors_total",
            "tickwire_reconnects_total", "tickwire_venue_state",
            "tickwire_event_loop_lag_seconds_bucket"} <= queried
