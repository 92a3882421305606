"""``tickwire run`` against the simulated Kraken spot venue, WebSocket v2 and v1, on loopback."""

from __future__ import annotations

import re

import pytest

from tickwire.sim import Simulator

from .conftest import run_async, run_quiet_venue, start_tickwire
from .market_mirror import assert_lines_follow, venue_touches

SYMBOLS = ["BTC-USD", "ETH-USD"]
UNKNOWN_SYMBOL_ERRORS = {
    "kraken": "kraken: kraken subscribe failed: Currency pair not supported FOO/USD",
    "kraken_v1": "kraken_v1: kraken_v1 subscriptionStatus: Currency pair not supported (FOO/USD)",
}


@pytest.mark.parametrize("venue", ["kraken", "kraken_v1"])
def test_run_prints_the_quotes_the_venue_sent_and_reports_an_unknown_symbol(venue):
    async def scenario():
        async with Simulator(venues=[venue], symbols=SYMBOLS, rate=150, channels=["bbo"],
                             seed=11) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", venue, "--symbols", ",".join([*SYMBOLS, "FOO-USD"]),
                "--endpoint", f"{venue}={simulator.endpoint(venue)}",
            )
            lines = await tickwire.lines(40)
            status = await tickwire.stop()
            return lines, status, await tickwire.stderr(), simulator.stats_for(venue)

    lines, status, stderr, stats = run_async(scenario())
    assert status == 0
    assert_lines_follow(lines, venue_touches(venue, SYMBOLS, seed=11, steps=400), venue)
    assert UNKNOWN_SYMBOL_ERRORS[venue] in stderr
    assert (stats.connections_accepted, stats.subscribe_requests) == (1, 1)


@pytest.mark.parametrize("venue", ["kraken", "kraken_v1"])
def test_heartbeats_keep_a_quiet_connection_from_tickwires_silence_timeout(venue):
    snapshot, status, stderr, stats = run_quiet_venue(venue, "BTC-USD", silence_timeout=1.4, duration=3)
    assert status == 0 and snapshot["n_venues"] == 1
    assert stats.connections_accepted == 1
    assert "no frame for" not in stderr
    summary = re.search(rf"{venue}: (\d+) frames, \d+ bytes, 1 connects, 0 reconnects", stderr)
    assert summary, stderr
    assert int(summary.group(1)) >= 4  # ack, snapshot, then a heartbeat about every second
