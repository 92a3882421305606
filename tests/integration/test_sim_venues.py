"""Several simulated venues on one port, through the ``SimVenue`` interface.

``ToyVenue`` is a minimal venue written the way the real ones plug in: its own paths, subscribe
message with an ack and a snapshot, text ping/pong, per-connection sequence numbers, heartbeats
when idle and an idle timeout. It is registered for these tests only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence

import msgspec
import pytest
from picows import WSHandshakeError, WSMsgType

from tickwire.sim import Simulator
from tickwire.sim.market import MarketEvent, MarketQuote
from tickwire.sim.registry import SIM_VENUES
from tickwire.sim.venue import RequestPathError, SessionReply, SimSession, SimVenue

from .test_sim_server import FIXTURE, FIXTURE_LINES, connect, eventually, run

HEARTBEAT = b'{"heartbeat":true}'


class ToySession(SimSession):
    def __init__(self, venue: ToyVenue) -> None:
        super().__init__()
        self.venue = venue
        self.sequence = 0

    @property
    def framing(self) -> object:
        return self  # numbered per connection: nothing to share

    def frame(self, topic: str, payload: bytes) -> bytes:
        self.sequence += 1
        return b'{"seq":%d,"data":%s}' % (self.sequence, payload)

    def on_text(self, message: bytes, now_ns: int) -> SessionReply:
        if message == b"ping":
            return SessionReply((b"pong",))
        symbol = json.loads(message)["subscribe"]
        self.topics[symbol] = None
        ack = b'{"subscribed":"%s"}' % symbol.encode()
        view = self.venue.view
        if view is None:
            return SessionReply((ack,), True)
        return SessionReply((ack, self.frame(symbol, self.venue.payload(view.quote(symbol)))), True)

    def heartbeat(self, now_ms: int, quiet: bool) -> bytes | None:
        return HEARTBEAT if quiet and self.topics else None


class ToyVenue(SimVenue):
    name = "toy"
    default_path = "/feed"
    extra_endpoints = {"toy_slow": "/slow"}
    instrument_kinds = frozenset(("", "PERP"))
    idle_timeout = 30.0
    heartbeat_interval = 0.05

    def accept(self, path: str) -> ToySession:
        if path not in ("/feed", "/slow"):
            raise RequestPathError(404, f"unknown path {path!r}")
        return ToySession(self)

    def topics(self, event: MarketEvent) -> Sequence[str]:
        return (event.symbol,) if isinstance(event, MarketQuote) else ()

    def render(self, event: MarketEvent, topic: str) -> Sequence[bytes]:
        assert isinstance(event, MarketQuote)
        return (self.payload(event),)

    def payload(self, quote: MarketQuote) -> bytes:
        return msgspec.json.encode({"u": quote.update_id, "bid": quote.bid, "ask": quote.ask})


@pytest.fixture(autouse=True)
def toy_venue(monkeypatch):
    monkeypatch.setitem(SIM_VENUES, "toy", ToyVenue)


def units(text: str) -> int:
    whole, _, fraction = text.partition(".")
    return int(whole) * 10**8 + int(fraction.ljust(8, "0"))


def subscribe(transport, symbol: str) -> None:
    transport.send(WSMsgType.TEXT, json.dumps({"subscribe": symbol}).encode())


def test_each_venue_has_its_prefix_and_unprefixed_paths_go_to_the_first():
    async def scenario() -> None:
        async with Simulator(venues=["binance", "toy"], rate=0) as sim:
            assert sim.endpoints == {
                "binance": sim.url + "/binance/stream",
                "toy": sim.url + "/toy/feed",
                "toy_slow": sim.url + "/toy/slow",
            }
            assert sim.endpoint("toy") == sim.url + "/toy/feed"
            with pytest.raises(ValueError, match="kraken"):
                sim.endpoint("kraken")
            connections = [
                await connect(sim.endpoint("binance") + "?streams=btcusdt@trade"),
                await connect(sim.url + "/binance/ws/ethusdt@trade"),
                await connect(sim.url + "/stream?streams=solusdt@trade"),
                await connect(sim.endpoint("toy")),
                await connect(sim.endpoint("toy_slow")),
            ]
            for path, status in [("/toy/stream", 404), ("/binance/feed", 404), ("/feed", 404),
                                 ("/binance", 404), ("/binance/ws/BTCUSDT@trade", 400)]:
                with pytest.raises(WSHandshakeError) as caught:
                    await connect(sim.url + path)
                assert caught.value.response.status == status
            assert sim.stats_for("binance").subscriptions == {
                1: ("btcusdt@trade",),
                2: ("ethusdt@trade",),
                3: ("solusdt@trade",),
            }
            assert sim.stats_for("toy").subscriptions == {4: (), 5: ()}
            assert sim.stats.connections_accepted == 5
            assert (sim.stats_for("binance").connections_accepted, sim.connected) == (3, 5)
            with pytest.raises(ValueError, match="toy_slow"):
                sim.stats_for("toy_slow")
            for transport, _ in connections:
                transport.disconnect()

    run(scenario)


def test_venues_quote_the_same_symbols_close_but_not_equal():
    async def scenario() -> None:
        async with Simulator(venues=["binance", "toy"], symbols=["BTC-USDT"], rate=400,
                             channels=["bbo"], seed=2) as sim:
            binance_transport, binance = await connect(
                sim.endpoint("binance") + "?streams=btcusdt@bookTicker"
            )
            toy_transport, toy = await connect(sim.endpoint("toy"))
            subscribe(toy_transport, "BTC-USDT")
            await eventually(lambda: len(binance.texts) >= 50 and len(toy.texts) >= 50)
            binance_transport.disconnect()
            toy_transport.disconnect()
        binance_mids = [
            units(m["data"]["b"]) + units(m["data"]["a"]) for m in binance.json()
        ]
        toy_updates = [m["data"] for m in toy.json()[1:]]
        assert all(update["bid"] < update["ask"] for update in toy_updates)
        toy_mids = [update["bid"] + update["ask"] for update in toy_updates]
        binance_mid = sum(binance_mids) // len(binance_mids)
        toy_mid = sum(toy_mids) // len(toy_mids)
        assert binance_mid != toy_mid
        assert abs(binance_mid - toy_mid) * 10_000 < 8 * binance_mid  # within 8 bps
        assert sim.stats_for("toy").subscribe_requests == 1
        assert sim.stats_for("binance").subscribe_requests == 0

    run(scenario)


def test_subscribe_gets_an_ack_and_a_snapshot_then_numbered_updates_per_connection():
    async def scenario() -> None:
        async with Simulator(venues=["toy"], symbols=["BTC-USDT", "ETH-USDT-PERP"], rate=200,
                             channels=["bbo"]) as sim:
            first_transport, first = await connect(sim.endpoint("toy"))
            subscribe(first_transport, "ETH-USDT-PERP")
            await eventually(lambda: len(first.texts) >= 20)
            second_transport, second = await connect(sim.endpoint("toy"))
            subscribe(second_transport, "ETH-USDT-PERP")
            await eventually(lambda: len(second.texts) >= 10)
            first_transport.disconnect()
            second_transport.disconnect()
        for client in (first, second):
            assert client.texts[0] == b'{"subscribed":"ETH-USDT-PERP"}'
            numbered = client.json()[1:]
            assert [m["seq"] for m in numbered] == list(range(1, len(numbered) + 1))
            update_ids = [m["data"]["u"] for m in numbered]
            assert update_ids == sorted(set(update_ids))  # snapshot, then only newer updates
        second_snapshot = second.json()[1]["data"]
        assert second_snapshot in [m["data"] for m in first.json()[1:]]

    run(scenario)


def test_heartbeats_come_only_to_subscribed_clients_that_get_no_data():
    async def scenario() -> None:
        async with Simulator(venues=["toy"], rate=0) as sim:
            transport, client = await connect(sim.endpoint("toy"))
            await asyncio.sleep(0.2)
            assert client.texts == []
            subscribe(transport, "BTC-USDT")
            await eventually(lambda: len(client.texts) >= 6)
            assert client.json()[2:6] == [{"heartbeat": True}] * 4
            transport.disconnect()

    run(scenario)


def test_a_client_silent_past_the_idle_timeout_is_closed_and_text_pings_keep_it():
    async def scenario() -> None:
        async with Simulator(venues=["binance", "toy"], rate=0, idle_timeout=0.3) as sim:
            started = time.monotonic()
            _, silent = await connect(sim.endpoint("toy"))
            pinging_transport, pinging = await connect(sim.endpoint("toy"))
            _, binance = await connect(sim.endpoint("binance"))  # binance has no idle timeout

            async def keep_pinging() -> None:
                while True:
                    pinging_transport.send(WSMsgType.TEXT, b"ping")
                    await asyncio.sleep(0.05)

            pinger = asyncio.create_task(keep_pinging())
            await silent.disconnected.wait()
            assert 0.3 <= time.monotonic() - started < 0.8
            assert silent.close_code == 1008
            await asyncio.sleep(0.5)
            pinger.cancel()
            assert not pinging.disconnected.is_set() and not binance.disconnected.is_set()
            assert set(pinging.texts) == {b"pong"}
            pinging_transport.disconnect()

    run(scenario)


def test_fault_knobs_can_aim_at_one_venue():
    async def scenario() -> None:
        async with Simulator(venues=["binance", "toy"], rate=0) as sim:
            _, binance = await connect(sim.endpoint("binance"))
            toy_transport, toy = await connect(sim.endpoint("toy"))
            assert sim.send_raw(b"garbage", venue="binance") == 1
            assert sim.send_raw(b"everyone") == 2
            sim.drop_connections("binance")
            await binance.disconnected.wait()
            await eventually(lambda: len(toy.texts) == 1)
            assert binance.texts == [b"garbage", b"everyone"] and toy.texts == [b"everyone"]
            assert not toy.disconnected.is_set() and sim.connected == 1
            toy_transport.disconnect()

    run(scenario)


def test_a_recording_without_topics_reaches_only_subscribe_all_clients():
    async def scenario(subscribe_all: bool) -> list[bytes]:
        async with Simulator(venues=["toy", "binance"], replay=FIXTURE,
                             subscribe_all=subscribe_all) as sim:
            transport, client = await connect(sim.endpoint("toy"))
            if subscribe_all:
                await sim.wait_replay_done()
                await eventually(lambda: len(client.texts) == len(FIXTURE_LINES))
            else:
                subscribe(transport, "BTC-USDT")  # a listener: the replay runs, to no one
                await asyncio.sleep(0.2)
            transport.disconnect()
        return client.texts

    selective = run_and_return(lambda: scenario(False))
    assert [text for text in selective if text != HEARTBEAT] == [b'{"subscribed":"BTC-USDT"}']
    lines = [json.loads(text) for text in run_and_return(lambda: scenario(True))]
    assert [line["seq"] for line in lines] == list(range(1, len(FIXTURE_LINES) + 1))
    assert [line["data"] for line in lines] == [json.loads(line) for line in FIXTURE_LINES]


def run_and_return(scenario):
    result = []

    async def keep() -> None:
        result.append(await scenario())

    run(keep)
    return result[0]


@pytest.mark.parametrize(
    ("venues", "problem"),
    [([], "at least one venue"), (["kraken9"], "kraken9"), (["toy", "toy"], "twice")],
)
def test_bad_venue_lists_raise_a_one_line_value_error(venues, problem):
    with pytest.raises(ValueError, match=problem):
        Simulator(venues=venues)
