"""A stuck reader never holds up ingestion: tickwire's stdout pipe is never read and one WebSocket
consumer stops reading, while frames keep arriving, the other consumer keeps getting every
update, and only the stuck readers lose lines (counted)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
from typing import Any

from tests.unit.ws_helpers import Consumer, subscribed
from tickwire.sim import Simulator
from tickwire.sinks.stdout import DEFAULT_MAX_PENDING_BYTES

from .conftest import TickwireProcess, eventually, run_async
from .test_metrics_endpoint import http_get, metrics_url, scrape
from .test_ws_sink import consumer_api_url


def small_receive_buffer(parsed_url: Any) -> socket.socket:
    """A client socket with a 4 KiB receive buffer, so a consumer that stops reading is felt at
    once (the server's kernel and user-space buffers still hold up to a few MB)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parsed_url.host, parsed_url.port))
    return sock


async def start_with_unread_stdout(*args: str) -> tuple[TickwireProcess, int]:
    """``python -m tickwire ARGS`` writing its stdout into a pipe that nobody reads."""
    read_end, write_end = os.pipe()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire", *args,
        stdout=write_end, stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    os.close(write_end)
    return TickwireProcess(process), read_end


def test_an_unread_stdout_and_a_stalled_consumer_slow_down_nothing_else(tmp_path):
    config = tmp_path / "tickwire.toml"
    config.write_text("sinks = ['stdout', 'ws']\n[ws]\nport = 0\nmax_buffer_bytes = 65536\n")

    async def sinks(url: str) -> dict[str, Any]:
        status = json.loads(await http_get(f"{url}/debug/status"))
        return {sink["sink"]: sink for sink in status["sinks"]}

    async def frames(url: str) -> float:
        return scrape(await http_get(f"{url}/metrics"))["tickwire_frames"].samples[0].value

    async def scenario():
        async with Simulator(venues=["binance"], rate=1000, channels=["bbo"]) as simulator:
            tickwire, unread = await start_with_unread_stdout(
                "run", "--config", str(config), "--venues", "binance", "--symbols", "BTC-USDT,ETH-USDT",
                "--endpoint", f"binance={simulator.url}", "--metrics", "127.0.0.1:0",
            )
            try:
                metrics = await metrics_url(tickwire)
                api = await consumer_api_url(tickwire)
                fast = await subscribed(api, "*")
                slow = await subscribed(api, "*", socket_factory=small_receive_buffer)
                slow.transport.underlying_transport.pause_reading()

                async def stuck() -> bool:
                    now = await sinks(metrics)
                    return now["stdout"]["dropped_lines"] > 0 and now["ws"]["consumers"][1]["dropped_lines"] > 0

                await eventually_async(stuck, 60)
                before = (await frames(metrics), len(fast.of_type("price")))
                await asyncio.sleep(1.0)
                after = (await frames(metrics), len(fast.of_type("price")))
                during = await sinks(metrics)
                slow.transport.underlying_transport.resume_reading()
                status = await tickwire.stop()
                return before, after, during, fast, status, await tickwire.stderr()
            finally:
                os.close(unread)

    before, after, during, fast, status, stderr = run_async(scenario(), 120)
    assert after[0] > before[0], "frames kept arriving"
    assert after[1] > before[1], "the fast consumer kept getting updates"
    fast_status, slow_status = during["ws"]["consumers"]
    assert fast_status["dropped_lines"] == 0 and not fast_status["conflating"]
    assert slow_status["dropped_lines"] > 0 and slow_status["conflating"]
    assert during["stdout"]["pipe_full"] > 0 and during["stdout"]["dropped_lines"] > 0
    assert 0 < during["stdout"]["pending_bytes"] <= DEFAULT_MAX_PENDING_BYTES
    # every line the fast consumer got is in order: nothing was skipped for it
    stamps = [line["publish_ns"] for line in fast.of_type("price")]
    assert stamps == sorted(stamps)
    assert status == 0
    found = re.search(r"tickwire: ws: .*, (\d+) lines dropped for slow consumers", stderr)
    assert found and int(found.group(1)) >= slow_status["dropped_lines"]
    found = re.search(r"tickwire: stdout: \d+ lines, \d+ writes, pipe full \d+ times, (\d+) lines dropped", stderr)
    assert found and int(found.group(1)) >= during["stdout"]["dropped_lines"]


async def eventually_async(condition: Any, timeout: float) -> None:
    """Like ``eventually``, for a condition that has to be awaited."""
    result = [False]

    async def poll() -> None:
        while not result[0]:
            result[0] = await condition()
            await asyncio.sleep(0.1)

    task = asyncio.create_task(poll())
    try:
        await eventually(lambda: result[0], timeout)
    finally:
        task.cancel()
