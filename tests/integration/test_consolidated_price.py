"""``tickwire run`` on three simulated venues with quotes set by the test: a venue that stops
drops out after ``--stale-after`` and comes back when it quotes again; a venue pushed 5 % away
is left out as an outlier. Everything goes over loopback through the venues' own protocols."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tickwire.sim import Simulator
from tickwire.sim.binance import render_combined
from tickwire.sim.market import MarketQuote, SyntheticMarket, VenueView, symbol_spec
from tickwire.sim.registry import SIM_VENUES
from tickwire.sim.venue import SimVenue

from .conftest import TickwireProcess, run_async, start_tickwire

VENUES = ("binance", "kraken", "okx")
SYMBOL = "BTC-USDT"
ONE = 10**8
EVERY = 0.1  # seconds between two quotes of a venue that is quoting
START = {"binance": ("67000.0", "67000.2"), "kraken": ("67000.1", "67000.3"), "okx": ("67000.2", "67000.4")}


class Venues:
    """Each simulated venue's quote, sent again every ``EVERY`` seconds while it is quoting,
    rendered by that venue's own simulator code (with update ids above anything it sent)."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        market = SyntheticMarket([symbol_spec(SYMBOL)], channels=["bbo"])
        self.renderers: dict[str, SimVenue] = {}
        for name in VENUES:
            venue_type = SIM_VENUES[name]
            view = VenueView(market, name, instrument_kinds=venue_type.instrument_kinds)
            self.renderers[name] = venue_type(view)
        self.quotes = {name: START[name] for name in VENUES}
        self.quoting = set(VENUES)
        self.update_ids = itertools.count(10**12)

    def send(self, name: str) -> None:
        bid, ask = (int(Decimal(text) * ONE) for text in self.quotes[name])
        event = MarketQuote(SYMBOL, next(self.update_ids), bid, 3 * ONE // 2, ask, 3 * ONE // 2, 0)
        renderer = self.renderers[name]
        (topic,) = renderer.topics(event)
        for payload in renderer.render(event, topic):
            if name == "binance":  # tickwire reads combined streams
                payload = render_combined(topic, payload)
            self.simulator.send_raw(payload, venue=name)

    async def keep_quoting(self) -> None:
        while True:
            for name in sorted(self.quoting):
                self.send(name)
            await asyncio.sleep(EVERY)


async def line_where(
    tickwire: TickwireProcess, condition: Callable[[dict[str, Any]], bool], timeout: float = 15
) -> dict[str, Any]:
    """The first price line from now on that meets ``condition``."""
    while True:
        (line,) = await tickwire.price_lines(1, timeout)
        if condition(line):
            return line


def test_a_stopped_venue_drops_out_after_stale_after_and_returns_and_a_far_one_is_an_outlier():
    async def scenario() -> tuple[list[dict[str, Any]], int, str]:
        async with Simulator(venues=VENUES, symbols=[SYMBOL], rate=0, channels=["bbo"]) as simulator:
            venues = Venues(simulator)
            endpoints = [f"--endpoint={name}={simulator.endpoint(name)}" for name in VENUES]
            tickwire = await start_tickwire(
                "run", "--venues", ",".join(VENUES), "--symbols", SYMBOL, *endpoints,
                "--stale-after", "1",
            )
            while any(not simulator.stats_for(name).subscribe_requests for name in VENUES):
                await asyncio.sleep(0.05)
            quoting = asyncio.create_task(venues.keep_quoting())
            try:
                seen = [await line_where(tickwire, lambda line: line["price"] == "67000.2")]

                venues.quoting.discard("binance")  # binance falls silent
                seen.append(await line_where(tickwire, lambda line: "binance" in line["excluded"]))

                venues.quoting.add("binance")  # and speaks again
                seen.append(await line_where(tickwire, lambda line: line["used"] == list(VENUES)))

                venues.quotes["okx"] = ("70350.2", "70350.4")  # 5 % above the others
                seen.append(await line_where(tickwire, lambda line: "okx" in line["excluded"]))
            finally:
                quoting.cancel()
            status = await tickwire.stop()
            return seen, status, await tickwire.stderr()

    (all_three, stale, back, outlier), status, stderr = run_async(scenario(), timeout=90)
    assert status == 0
    assert (all_three["price"], all_three["n_venues"], all_three["excluded"]) == ("67000.2", 3, {})

    assert stale["excluded"] == {"binance": "stale"}
    assert (stale["used"], stale["price"], stale["venue"]) == (["kraken", "okx"], "67000.25", "binance")
    assert (stale["bid"], stale["bid_venues"], stale["ask"], stale["ask_venues"]) == (
        "67000.2", ["okx"], "67000.3", ["kraken"])

    assert (back["excluded"], back["price"]) == ({}, "67000.2")

    assert outlier["excluded"] == {"okx": "outlier"}
    assert (outlier["used"], outlier["price"]) == (["binance", "kraken"], "67000.15")
    assert (outlier["bid"], outlier["ask"], outlier["status"]) == ("67000.1", "67000.2", "ok")

    assert "BTC-USDT binance: left out (stale 1), came back 1" in stderr
    assert "BTC-USDT okx: left out (outlier 1), came back 0" in stderr
