"""Instrument metadata over HTTP on loopback: ``transport.rest`` against the simulator's REST
answers (OKX's instrument list)."""

from __future__ import annotations

import json

import pytest

from tickwire.instruments import parse_symbol
from tickwire.sim import Simulator
from tickwire.transport.rest import http_get, metadata_loader
from tickwire.venues.binance import BinanceSpot
from tickwire.venues.okx import OkxPublic

from .conftest import run_async


def rest_base(simulator: Simulator) -> str:
    return simulator.endpoint("okx").replace("ws://", "http://").removesuffix("/ws/v5/public")


def test_a_get_returns_the_body_of_a_200_answer():
    async def scenario():
        async with Simulator(venues=["okx"], symbols=["BTC-USDT-PERP"], rate=0) as simulator:
            return await http_get(f"{rest_base(simulator)}/api/v5/public/instruments?instType=SWAP", 5)

    body = run_async(scenario())
    assert [entry["instId"] for entry in json.loads(body)["data"]] == ["BTC-USDT-SWAP"]


@pytest.mark.parametrize(
    ("path", "message"),
    [("/api/v5/public/instruments", "HTTP 400 Bad Request"), ("/nothing", "HTTP 404 Not Found")],
)
def test_an_answer_other_than_200_is_an_os_error_with_the_status(path, message):
    async def scenario():
        async with Simulator(venues=["okx"], symbols=["BTC-USDT-PERP"], rate=0) as simulator:
            with pytest.raises(OSError, match=message):
                await http_get(f"{rest_base(simulator)}{path}", 5)

    run_async(scenario())


def test_https_to_a_server_without_tls_fails_instead_of_falling_back():
    async def scenario():
        async with Simulator(venues=["okx"], symbols=["BTC-USDT-PERP"], rate=0) as simulator:
            url = rest_base(simulator).replace("http://", "https://")
            with pytest.raises(OSError):
                await http_get(f"{url}/api/v5/public/instruments?instType=SWAP", 5)

    run_async(scenario())


def test_the_loader_fills_the_adapter_then_has_nothing_left_to_do():
    adapter = OkxPublic([parse_symbol("BTC-USDT-PERP")])

    async def scenario():
        async with Simulator(venues=["okx"], symbols=["BTC-USDT-PERP"], rate=0) as simulator:
            prepare = metadata_loader(adapter, simulator.endpoint("okx"), None, timeout=5)
            assert prepare is not None
            return await prepare(), await prepare()

    assert run_async(scenario()) == (None, None)
    assert adapter.metadata_requests(None, None) == [] and adapter.stats.venue_errors == []


def test_the_loader_reports_an_error_answer_for_a_retry_and_changes_nothing():
    adapter = OkxPublic([parse_symbol("BTC-USDT-PERP")])

    async def scenario():
        async with Simulator(venues=["okx"], symbols=["BTC-USDT-PERP"], rate=0) as simulator:
            base = rest_base(simulator)
            prepare = metadata_loader(adapter, None, f"{base}/elsewhere", timeout=5)
            assert prepare is not None
            return base, await prepare()

    base, problem = run_async(scenario())
    assert problem == (
        "cannot read the contract sizes of BTC-USDT-PERP: GET "
        f"{base}/elsewhere/api/v5/public/instruments?instType=SWAP: HTTP 404 Not Found"
    )
    assert len(adapter.metadata_requests(None, None)) == 1


def test_an_adapter_that_needs_no_metadata_gets_no_prepare_step():
    assert metadata_loader(BinanceSpot([parse_symbol("BTC-USDT")]), None, None, timeout=5) is None
