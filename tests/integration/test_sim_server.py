"""The simulator serving Binance spot over real loopback sockets, driven by a picows client."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import uvloop
from picows import WSHandshakeError, WSListener, WSMsgType, ws_connect

from tickwire.sim import Simulator
from tickwire.sim.server import add_arguments, parse_ready_line, run_from_args

FIXTURE = Path(__file__).parent.parent / "fixtures" / "binance" / "bookTicker.jsonl"
FIXTURE_LINES = FIXTURE.read_bytes().splitlines()
FIXTURE_STREAMS = sorted({json.loads(line)["stream"] for line in FIXTURE_LINES})
SRC = Path(__file__).parent.parent.parent / "src"


def run(test: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(test(), timeout=10)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(bounded())


async def eventually(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


class Recorder(WSListener):
    """A client that keeps every text frame and ping, and answers pings unless told not to."""

    def __init__(self, answer_pings: bool = True) -> None:
        super().__init__()
        self.answer_pings = answer_pings
        self.texts: list[bytes] = []
        self.ping_times: list[float] = []
        self.close_code: int | None = None
        self.disconnected = asyncio.Event()

    def on_ws_frame(self, transport, frame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.texts.append(frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.PING:
            self.ping_times.append(time.monotonic())
            if self.answer_pings:
                transport.send_pong(frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            self.close_code = frame.get_close_code().value

    def on_ws_disconnected(self, transport) -> None:
        self.disconnected.set()

    def json(self) -> list[dict]:
        return [json.loads(text) for text in self.texts]


async def connect(url: str, answer_pings: bool = True):
    return await ws_connect(lambda: Recorder(answer_pings), url, enable_auto_pong=False)


def test_a_combined_path_gets_only_its_streams_in_the_stream_envelope():
    async def scenario() -> None:
        async with Simulator(symbols=["BTC-USDT", "ETH-USDT"], rate=300, seed=1) as sim:
            url = sim.url + "/stream?streams=btcusdt@bookTicker/ethusdt@trade"
            transport, client = await connect(url)
            wanted = {"btcusdt@bookTicker", "ethusdt@trade"}
            await eventually(lambda: {message["stream"] for message in client.json()} == wanted)
            transport.disconnect()
            await client.disconnected.wait()
        for message in client.json():
            assert list(message) == ["stream", "data"]
            if message["stream"] == "btcusdt@bookTicker":
                assert message["data"]["s"] == "BTCUSDT" and "e" not in message["data"]
            else:
                assert message["data"]["s"] == "ETHUSDT" and message["data"]["e"] == "trade"
        assert sim.stats.frames_sent >= len(client.texts)
        assert sim.stats.subscriptions == {1: ("btcusdt@bookTicker", "ethusdt@trade")}

    run(scenario)


def test_ws_without_streams_gets_nothing_until_subscribe_then_an_ack_and_bare_payloads():
    async def scenario() -> None:
        async with Simulator(symbols=["BTC-USDT", "ETH-USDT"], rate=300) as sim:
            transport, client = await connect(sim.url + "/ws")
            await asyncio.sleep(0.1)
            assert client.texts == []
            transport.send(
                WSMsgType.TEXT, b'{"method":"SUBSCRIBE","params":["ethusdt@bookTicker"],"id":1}'
            )
            await eventually(lambda: len(client.texts) >= 10)
            assert client.texts[0] == b'{"result":null,"id":1}'
            for payload in client.json()[1:]:
                assert list(payload) == ["u", "s", "b", "B", "a", "A"]
                assert payload["s"] == "ETHUSDT"
            assert sim.stats.subscribe_requests == 1
            assert sim.stats.subscriptions[1] == ("ethusdt@bookTicker",)

            transport.send(
                WSMsgType.TEXT, b'{"method":"UNSUBSCRIBE","params":["ethusdt@bookTicker"],"id":2}'
            )
            await eventually(lambda: b'{"result":null,"id":2}' in client.texts)
            received = len(client.texts)
            await asyncio.sleep(0.1)
            assert len(client.texts) == received
            assert sim.stats.subscriptions[1] == ()
            transport.disconnect()

    run(scenario)


def test_live_requests_are_answered_over_the_socket():
    async def scenario() -> None:
        async with Simulator(rate=0) as sim:
            transport, client = await connect(sim.url + "/ws/btcusdt@trade")
            transport.send(WSMsgType.TEXT, b'{"method":"LIST_SUBSCRIPTIONS","id":3}')
            transport.send(
                WSMsgType.TEXT, b'{"method":"SUBSCRIBE","params":["BTCUSDT@trade"],"id":4}'
            )
            await eventually(lambda: len(client.texts) == 2)
            assert client.texts[0] == b'{"result":["btcusdt@trade"],"id":3}'
            assert json.loads(client.texts[1])["error"]["code"] == 2
            assert sim.stats.subscribe_requests == 0
            transport.disconnect()

    run(scenario)


def test_replay_delivers_the_recorded_frames_byte_exact():
    async def scenario() -> None:
        async with Simulator(replay=FIXTURE) as sim:
            url = sim.url + "/stream?streams=" + "/".join(FIXTURE_STREAMS)
            transport, client = await connect(url)
            await sim.wait_replay_done()
            await eventually(lambda: len(client.texts) == len(FIXTURE_LINES))
            assert client.texts == FIXTURE_LINES
            transport.disconnect()

    run(scenario)


def test_a_raw_replay_client_gets_only_its_stream_bare():
    async def scenario() -> None:
        async with Simulator(replay=FIXTURE) as sim:
            transport, client = await connect(sim.url + "/ws/lrcbtc@bookTicker")
            await sim.wait_replay_done()
            expected = [
                json.dumps(message["data"], separators=(",", ":")).encode()
                for message in map(json.loads, FIXTURE_LINES)
                if message["stream"] == "lrcbtc@bookTicker"
            ]
            await eventually(lambda: len(client.texts) == len(expected))
            assert client.texts == expected
            transport.disconnect()

    run(scenario)


def test_subscribe_all_loops_the_replay_at_the_asked_speed():
    async def scenario() -> None:
        speed = 400
        async with Simulator(
            replay=FIXTURE, subscribe_all=True, loop_replay=True, replay_speed=speed
        ) as sim:
            started = time.monotonic()
            transport, client = await connect(sim.url + "/stream")
            await eventually(lambda: len(client.texts) >= 2 * len(FIXTURE_LINES) + 5)
            elapsed = time.monotonic() - started
            assert client.texts[: 2 * len(FIXTURE_LINES)] == FIXTURE_LINES * 2
            assert elapsed >= 0.8 * len(client.texts) / speed
            transport.disconnect()

    run(scenario)


def test_drop_after_aborts_each_connection_and_new_connections_still_work():
    async def scenario() -> None:
        async with Simulator(
            symbols=["BTC-USDT"], rate=500, channels=["bbo"], drop_after=5
        ) as sim:
            first_transport, first = await connect(sim.url + "/ws/btcusdt@bookTicker")
            await first.disconnected.wait()
            assert len(first.texts) == 5
            assert first.close_code is None  # aborted: no close frame

            second_transport, second = await connect(sim.url + "/ws/btcusdt@bookTicker")
            await second.disconnected.wait()
            assert len(second.texts) == 5
            assert sim.stats.connections_accepted == 2
            assert sim.stats.frames_sent == 10
            await eventually(lambda: sim.connected == 0)

    run(scenario)


def test_drop_connections_aborts_every_client():
    async def scenario() -> None:
        async with Simulator(rate=100) as sim:
            clients = [await connect(sim.url + "/ws/btcusdt@bookTicker") for _ in range(3)]
            await eventually(lambda: sim.connected == 3)
            sim.drop_connections()
            for _, client in clients:
                await client.disconnected.wait()
                assert client.close_code is None
            await eventually(lambda: sim.connected == 0)
            transport, again = await connect(sim.url + "/ws/btcusdt@bookTicker")
            await eventually(lambda: len(again.texts) > 0)
            transport.disconnect()

    run(scenario)


def test_pings_come_at_the_configured_interval_and_silent_clients_are_dropped():
    async def scenario() -> None:
        interval = 0.05
        async with Simulator(rate=0, ping_interval=interval, pong_timeout=0.2) as sim:
            started = time.monotonic()
            answering_transport, answering = await connect(sim.url + "/ws", answer_pings=True)
            _, silent = await connect(sim.url + "/ws", answer_pings=False)
            await asyncio.wait_for(silent.disconnected.wait(), timeout=1)
            assert 0.2 <= time.monotonic() - started < 0.6
            await asyncio.sleep(0.3)
            assert not answering.disconnected.is_set()
            gaps = [b - a for a, b in zip(answering.ping_times, answering.ping_times[1:])]
            assert len(answering.ping_times) >= 6
            assert 0.8 * interval <= sum(gaps) / len(gaps) <= 1.5 * interval
            assert sim.stats.pongs_received >= len(answering.ping_times) - 1
            answering_transport.disconnect()

    run(scenario)


def test_unknown_paths_get_404_and_bad_stream_names_400():
    async def scenario() -> None:
        async with Simulator(rate=0) as sim:
            for path, status in [("/foo", 404), ("/ws/BTCUSDT@trade", 400), ("/stream/x", 404)]:
                with pytest.raises(WSHandshakeError) as caught:
                    await connect(sim.url + path)
                assert caught.value.response.status == status
            assert sim.stats.connections_accepted == 0

    run(scenario)


def test_more_than_five_messages_a_second_is_counted_and_optionally_disconnects():
    request = b'{"method":"LIST_SUBSCRIPTIONS","id":1}'

    async def scenario(enforce: bool) -> None:
        async with Simulator(rate=0, enforce_rate_limit=enforce) as sim:
            transport, client = await connect(sim.url + "/ws")
            for _ in range(6):
                transport.send(WSMsgType.TEXT, request)
            if enforce:
                await client.disconnected.wait()
                assert len(client.texts) == 5
                assert client.close_code == 1008
            else:
                await eventually(lambda: len(client.texts) == 6)
                assert not client.disconnected.is_set()
                transport.disconnect()
            assert sim.stats.rate_limit_violations == 1

    run(lambda: scenario(enforce=False))
    run(lambda: scenario(enforce=True))


def test_twenty_thousand_messages_a_second_are_sustained():
    async def scenario() -> None:
        rate_per_symbol = 10_000
        async with Simulator(
            symbols=["BTC-USDT", "ETH-USDT"], rate=rate_per_symbol, channels=["bbo"]
        ) as sim:
            url = sim.url + "/stream?streams=btcusdt@bookTicker/ethusdt@bookTicker"
            transport, client = await connect(url)
            await eventually(lambda: len(client.texts) > 0)
            start_count, started = len(client.texts), time.monotonic()
            await asyncio.sleep(0.5)
            achieved = (len(client.texts) - start_count) / (time.monotonic() - started)
            transport.disconnect()
        assert achieved > 0.7 * 2 * rate_per_symbol

    run(scenario)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"rate": -1}, "rate"),
        ({"symbols": ["btcusdt"]}, "btcusdt"),
        ({"symbols": ["BTC-USDT-PERP"]}, "spot"),
        ({"channels": ["depth"]}, "depth"),
        ({"replay": "/nonexistent/frames.jsonl"}, "nonexistent"),
        ({"replay_speed": 0}, "replay speed"),
        ({"drop_after": 0}, "drop-after"),
        ({"ping_interval": 0}, "ping interval"),
        ({"idle_timeout": -1}, "idle timeout"),
        ({"venues": ["nasdaq"]}, "nasdaq"),
    ],
)
def test_bad_options_raise_a_one_line_value_error(options, problem):
    with pytest.raises(ValueError, match=problem) as caught:
        Simulator(**options)
    assert "\n" not in str(caught.value)


def test_bad_command_line_arguments_raise_value_error():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for argv in (
        ["--rate", "-5"],
        ["--symbols", "BTC-USDT,ethusdt"],
        ["--replay", "/missing.jsonl"],
        ["--duration", "-1"],
        ["--venues", "nasdaq"],
        ["--idle-timeout", "0"],
    ):
        with pytest.raises(ValueError):
            asyncio.run(run_from_args(parser.parse_args(argv)))


CLI = (
    "import argparse, asyncio, sys\n"
    "from tickwire.sim.server import add_arguments, run_from_args\n"
    "parser = argparse.ArgumentParser()\n"
    "add_arguments(parser)\n"
    "sys.exit(asyncio.run(run_from_args(parser.parse_args(sys.argv[1:]))))\n"
)


def start_cli(*argv: str) -> tuple[subprocess.Popen[str], str, dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen(
        [sys.executable, "-c", CLI, *argv], stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None
    ready = process.stdout.readline()
    assert ready.startswith("ready ws://127.0.0.1:"), ready
    url, endpoints = parse_ready_line(ready)
    assert ready.split()[1] == url
    return process, url, endpoints


def test_the_command_prints_ready_with_its_url_serves_and_stops_on_sigterm():
    process, url, endpoints = start_cli(
        "--symbols", "SOL-USDT", "--rate", "200", "--channels", "trades"
    )
    assert endpoints == {"binance": url + "/binance/stream"}
    try:
        async def scenario() -> None:
            transport, client = await connect(url + "/ws/solusdt@trade")
            await eventually(lambda: len(client.texts) >= 3)
            assert all(message["s"] == "SOLUSDT" for message in client.json())
            transport.disconnect()

        run(scenario)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert process.stdout.read() == ""
    finally:
        process.kill()
        process.wait()


def test_the_command_stops_by_itself_after_duration():
    process, _, _ = start_cli("--duration", "0.2", "--replay", str(FIXTURE))
    try:
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
        process.wait()


def test_the_ready_line_names_each_venue_endpoint_and_clients_use_it():
    process, url, endpoints = start_cli("--venues", "binance", "--symbols", "ETH-USDT",
                                        "--rate", "200", "--channels", "bbo")
    try:
        assert endpoints == {"binance": url + "/binance/stream"}

        async def scenario() -> None:
            transport, client = await connect(endpoints["binance"] + "?streams=ethusdt@bookTicker")
            await eventually(lambda: len(client.texts) >= 3)
            assert {message["stream"] for message in client.json()} == {"ethusdt@bookTicker"}
            transport.disconnect()

        run(scenario)
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize(
    "line",
    ["", "ready", "listening ws://127.0.0.1:1", "ready ws://127.0.0.1:1 binance", "ready x =y"],
)
def test_parse_ready_line_refuses_other_lines(line):
    with pytest.raises(ValueError):
        parse_ready_line(line)


def test_parse_ready_line_gives_the_url_and_endpoints():
    line = "ready ws://127.0.0.1:9100 binance=ws://127.0.0.1:9100/binance/stream\n"
    assert parse_ready_line(line) == (
        "ws://127.0.0.1:9100",
        {"binance": "ws://127.0.0.1:9100/binance/stream"},
    )
