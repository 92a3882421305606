"""Every venue's keepalive, together: a minute of idle market costs no connection."""

from __future__ import annotations

import asyncio

from tickwire.sim import Simulator

from .conftest import run_async, start_tickwire

VENUE_SYMBOLS = {
    "binance": "BTC-USDT",
    "binance_usdm": "BTC-USDT-PERP",
    "bitstamp": "BTC-USD",
    "bybit": "BTC-USDT",
    "bybit_linear": "BTC-USDT-PERP",
    "coinbase": "BTC-USD",
    "kraken": "BTC-USD",
    "okx": "BTC-USDT",
    "gemini": "BTC-USD",
    "bitfinex": "BTC-USD",
}


def test_sixty_seconds_of_idle_market_keep_every_venue_on_its_first_connection():
    async def scenario():
        # rate 0: no market data at all; OKX drops clients silent for 30 s, Coinbase closes
        # channels without heartbeats, Binance drops clients that do not pong within 60 s;
        # Gemini and Bitfinex only send heartbeats
        async with Simulator(venues=list(VENUE_SYMBOLS), symbols=sorted(set(VENUE_SYMBOLS.values())),
                             rate=0) as simulator:
            endpoints = [f"{venue}={simulator.endpoint(venue)}" for venue in VENUE_SYMBOLS]
            args = ["run", "--venues", ",".join(VENUE_SYMBOLS),
                    "--symbols", ",".join(sorted(set(VENUE_SYMBOLS.values())))]
            for endpoint in endpoints:
                args += ["--endpoint", endpoint]
            tickwire = await start_tickwire(*args)
            await asyncio.sleep(62)
            status = await tickwire.stop()
            accepted = {venue: simulator.stats_for(venue).connections_accepted for venue in VENUE_SYMBOLS}
            return accepted, status, await tickwire.stderr()

    accepted, status, stderr = run_async(scenario(), timeout=120)
    assert status == 0, stderr
    assert accepted == {venue: 1 for venue in VENUE_SYMBOLS}, stderr
    assert "reconnecting" not in stderr and "disconnected" not in stderr
    for venue in VENUE_SYMBOLS:
        assert f"tickwire: {venue}: " in stderr and f"{venue}: 0 frames" not in stderr
