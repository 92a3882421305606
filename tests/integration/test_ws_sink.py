"""``tickwire run --sink ws``: consumers on loopback get the stdout lines of their symbols; with
a token, only consumers that present it get anything, and the token is never shown."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request

import pytest
from picows import WSHandshakeError, ws_connect

from tests.unit.ws_helpers import Consumer, subscribed
from tickwire.sim import Simulator

from .conftest import TickwireProcess, eventually, run_async, start_tickwire
from .test_metrics_endpoint import metrics_url

TOKEN = "integration-token-5d0c2b7e9a41"


async def consumer_api_url(tickwire: TickwireProcess) -> str:
    """The address tickwire prints on stderr once the consumer API listens."""
    assert tickwire.process.stderr is not None
    while True:
        line = (await asyncio.wait_for(tickwire.process.stderr.readline(), 15)).decode()
        assert line, "tickwire ended before its consumer API listened"
        found = re.search(r"consumer API on (ws://\S+)", line)
        if found:
            return found.group(1)


async def http_get(url: str, token: str | None = None) -> tuple[int, bytes]:
    """GET ``url`` (with ``Authorization: Bearer token``); the status and the body."""

    def get() -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    return await asyncio.to_thread(get)


def test_a_consumer_gets_exactly_the_stdout_lines_of_the_symbols_it_subscribed():
    async def scenario():
        async with Simulator(venues=["binance"], rate=40, channels=["bbo"]) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "binance", "--symbols", "BTC-USDT,ETH-USDT",
                "--endpoint", f"binance={simulator.url}", "--sink", "stdout,ws", "--ws", "127.0.0.1:0",
            )
            url = await consumer_api_url(tickwire)
            consumer = await subscribed(url, "ETH-USDT")
            await eventually(lambda: len(consumer.of_type("price")) >= 30, 20)
            stdout = await tickwire.price_lines(300, timeout=20)
            status = await tickwire.stop()
            return consumer, stdout, status, await tickwire.stderr()

    consumer, stdout, status, stderr = run_async(scenario())
    assert status == 0
    received = consumer.of_type("price")
    assert {line["symbol"] for line in received} == {"ETH-USDT"}
    # after the snapshot, the consumer's lines are the stdout lines of ETH-USDT, in order
    eth = [line for line in stdout if line["symbol"] == "ETH-USDT"]
    first = eth.index(received[1])
    assert received[1:30] == eth[first:first + 29]
    assert re.search(r"tickwire: ws: ws://127\.0\.0\.1:\d+/: 1 consumers connected, 0 refused", stderr)


def test_a_public_consumer_api_and_metrics_need_the_token_which_is_never_shown(tmp_path):
    config = tmp_path / "tickwire.toml"
    config.write_text(
        f"sinks = ['ws']\nmetrics = '127.0.0.1:0'\nmetrics_token = '{TOKEN}'\n"
        f"[ws]\nhost = '0.0.0.0'\nport = 0\ntoken = '{TOKEN}'\n"
    )

    async def scenario():
        async with Simulator(venues=["binance"], rate=40, channels=["bbo"]) as simulator:
            tickwire = await start_tickwire(
                "run", "--config", str(config), "--venues", "binance", "--symbols", "BTC-USDT",
                "--endpoint", f"binance={simulator.url}", "-v",
            )
            metrics = await metrics_url(tickwire)
            public = await consumer_api_url(tickwire)
            local = public.replace("0.0.0.0", "127.0.0.1")
            refused = []
            for path, headers in (("", None), ("?token=guess-guess-guess", None),
                                  ("", {"Authorization": "Bearer guess-guess-guess"})):
                with pytest.raises(WSHandshakeError) as error:
                    await ws_connect(Consumer, local + path, extra_headers=headers)
                refused.append(error.value.response.status)
            consumer = await subscribed(local, "*", extra_headers={"Authorization": f"Bearer {TOKEN}"})
            by_query = await subscribed(f"{local}?token={TOKEN}", "BTC-USDT")
            await eventually(lambda: len(consumer.of_type("price")) >= 5, 20)
            await eventually(lambda: len(by_query.of_type("price")) >= 5, 20)
            answers = {
                "metrics without token": await http_get(f"{metrics}/metrics"),
                "metrics": await http_get(f"{metrics}/metrics", TOKEN),
                "status": await http_get(f"{metrics}/debug/status", TOKEN),
                "tasks": await http_get(f"{metrics}/debug/tasks", TOKEN),
            }
            status = await tickwire.stop()
            return public, refused, answers, status, await tickwire.stderr()

    public, refused, answers, status, stderr = run_async(scenario())
    assert public.startswith("ws://0.0.0.0:")
    assert refused == [401, 401, 401]
    assert answers["metrics without token"][0] == 401
    assert answers["metrics"][0] == answers["status"][0] == answers["tasks"][0] == 200
    (ws,) = [sink for sink in json.loads(answers["status"][1])["sinks"] if sink["sink"] == "ws"]
    assert (ws["refused"], ws["connected"], len(ws["consumers"])) == (3, 2, 2)
    assert b'tickwire_sink_lines_total{sink="ws"}' in answers["metrics"][1]
    assert status == 0
    assert "3 refused (no valid token)" in stderr
    for name, (_, body) in answers.items():
        assert TOKEN.encode() not in body, name
    assert TOKEN not in stderr
