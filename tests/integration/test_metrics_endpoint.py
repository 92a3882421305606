"""``tickwire run --metrics``: /metrics scraped over real HTTP while frames flow on loopback."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tickwire.metrics import STAGES
from tickwire.sim import Simulator

from .conftest import TickwireProcess, run_async, start_tickwire
from .test_run_binance import write_book_tickers


async def metrics_url(tickwire: TickwireProcess) -> str:
    """The address tickwire prints on stderr when its metrics endpoint listens."""
    assert tickwire.process.stderr is not None
    line = await asyncio.wait_for(tickwire.process.stderr.readline(), 15)
    found = re.search(r"metrics on (http://\S+)/metrics", line.decode())
    assert found, f"no metrics address in {line!r}"
    return found.group(1)


async def http_get(url: str) -> bytes:
    """GET with the standard library's HTTP client (in a thread: it blocks)."""

    def get() -> bytes:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.read()

    return await asyncio.to_thread(get)


def scrape(text: bytes) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text.decode())}


def test_metrics_count_every_frame_sent_per_stage_and_venue(tmp_path):
    sent = write_book_tickers(tmp_path / "frames.jsonl", 60)

    async def scenario():
        async with Simulator(replay=tmp_path / "frames.jsonl", replay_speed=400) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "binance", "--symbols", "BTC-USDT",
                "--endpoint", f"binance={simulator.url}", "--metrics", "127.0.0.1:0", "--stage-sample", "1",
            )
            url = await metrics_url(tickwire)
            before = scrape(await http_get(f"{url}/metrics"))
            lines = await tickwire.price_lines(len(sent))
            after = scrape(await http_get(f"{url}/metrics"))
            tasks = json.loads(await http_get(f"{url}/debug/tasks"))
            status = await tickwire.stop()
            return before, lines, after, tasks, status, await tickwire.stderr()

    before, lines, after, tasks, status, stderr = run_async(scenario())
    assert status == 0 and len(lines) == len(sent)

    latency = after["tickwire_latency_seconds"]
    counts = {s.labels["stage"]: s.value for s in latency.samples
              if s.name == "tickwire_latency_seconds_count" and s.labels["venue"] == "binance"}
    assert set(counts) == set(STAGES)
    for stage in ("recv_to_decoded", "decoded_to_aggregated", "aggregated_to_published", "recv_to_published"):
        assert counts[stage] == len(sent), stage
    assert 1 <= counts["published_to_flushed"] <= len(sent)
    assert counts["exchange_to_recv"] == 0  # spot bookTicker has no event time
    infinite = [s.value for s in latency.samples if s.labels.get("le") == "+Inf"
                and s.labels["stage"] == "recv_to_published"]
    assert infinite == [len(sent)]

    def value(scraped: dict, family: str, **labels: str) -> float:
        (sample,) = [s for s in scraped[family].samples if s.labels == labels]
        return sample.value

    assert value(after, "tickwire_frames", venue="binance") >= len(sent)  # + the subscription ack
    assert value(after, "tickwire_frames", venue="binance") > value(before, "tickwire_frames", venue="binance")
    assert value(after, "tickwire_received_bytes", venue="binance") > 0
    assert value(after, "tickwire_updates_published") == len(sent)
    assert value(after, "tickwire_connects", venue="binance") == 1
    assert value(after, "tickwire_venue_state", venue="binance", state="live") == 1
    assert value(after, "tickwire_control_frames", venue="binance") >= 1
    assert {s.labels["state"] for s in after["tickwire_venue_state"].samples} == {
        "connecting", "live", "stale", "reconnecting", "stopped"}
    names = {task["name"] for task in tasks}
    assert {"session-binance", "event-loop-lag-probe"} <= names
    assert re.search(r"binance: recv->published µs p50 \d+\.\d", stderr)


def test_a_metrics_address_that_is_taken_or_malformed_is_a_usage_error():
    async def scenario():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        results = []
        for address in (f"127.0.0.1:{port}", "nowhere"):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tickwire", "run", "--metrics", address,
                "--endpoint", "binance=ws://127.0.0.1:9", "--duration", "5",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            _, err = await asyncio.wait_for(process.communicate(), 30)
            results.append((process.returncode, err.decode()))
        server.close()
        return results

    (taken_status, taken_err), (bad_status, bad_err) = run_async(scenario())
    assert taken_status == 2 and "metrics: cannot listen on" in taken_err
    assert bad_status == 2 and "metrics address must be HOST:PORT" in bad_err
    assert len(bad_err.strip().splitlines()) == 1 and "Traceback" not in taken_err
