"""Injected faults, end to end: a real ``tickwire run`` of two venues against a simulator that
breaks one of them. The process never dies, the broken venue comes back and subscribes again,
the other keeps publishing, every fault is counted by reason, and no price is ever one the
simulator did not send as a valid quote."""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from tickwire.sim import Fault, FaultPlan, Simulator
from tickwire.sim.faults import GARBAGE_VARIANTS

from .conftest import TickwireProcess, eventually, run_async, start_tickwire

FAULTED, HEALTHY = "binance", "okx"


class Run:
    """A tickwire subprocess of some venues, its stdout read into ``lines`` as it comes."""

    def __init__(self, tickwire: TickwireProcess) -> None:
        self.tickwire = tickwire
        self.lines: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls, simulator: Simulator, *args: str, venues: tuple[str, ...] = (FAULTED, HEALTHY)
    ) -> Run:
        """Run tickwire on ``venues`` of ``simulator`` (BTC-USDT) and wait for a price of each."""
        endpoints = [arg for venue in venues for arg in ("--endpoint", f"{venue}={simulator.endpoint(venue)}")]
        tickwire = await start_tickwire(
            "run", "--venues", ",".join(venues), "--symbols", "BTC-USDT", *endpoints, *args
        )
        run = cls(tickwire)
        await eventually(lambda: all(run.prices_from(venue) for venue in venues), 20)
        return run

    async def _read(self) -> None:
        stdout = self.tickwire.process.stdout
        assert stdout is not None
        while raw := await stdout.readline():
            self.lines.append(json.loads(raw))

    def prices_from(self, venue: str) -> int:
        """Price lines so far whose bid or ask came from ``venue``."""
        return sum(
            1 for line in self.lines
            if line["type"] == "price" and venue in (*line["bid_venues"], *line["ask_venues"])
        )

    async def publishes_again(self, venue: str, count: int = 5) -> None:
        """Wait for ``count`` more price lines from ``venue``."""
        published = self.prices_from(venue)
        await eventually(lambda: self.prices_from(venue) >= published + count, 10)

    async def stop(self, simulator: Simulator) -> str:
        """Stop tickwire, which must exit 0 having published no price ``simulator`` did not
        send; its stderr (the exit summary)."""
        status = await self.tickwire.stop()
        await self._reader
        stderr = await self.tickwire.stderr()
        assert status == 0, stderr
        assert_no_wrong_price(self.lines, simulator)
        return stderr


def venue_summary(stderr: str, venue: str) -> dict[str, int]:
    """The exit summary's counters of ``venue``: connects, reconnects, failed connects and the
    dropped frames by reason."""
    found = re.search(
        rf"tickwire: {venue}: \d+ frames, \d+ bytes, (\d+) connects, (\d+) reconnects, "
        rf"(\d+) failed connects(?: \([^)]*\))?, dropped frames: (.*)",
        stderr,
    )
    assert found, f"no summary of {venue} in {stderr!r}"
    counts = {
        "connects": int(found.group(1)),
        "reconnects": int(found.group(2)),
        "failed_connects": int(found.group(3)),
    }
    if found.group(4) != "none":
        for item in found.group(4).split(", "):
            reason, count = item.rsplit(" ", 1)
            counts[reason] = int(count)
    return counts


def assert_no_wrong_price(lines: list[dict[str, Any]], simulator: Simulator) -> None:
    """Every side of every price line is the price of a quote its venue was sent (a side no
    venue has now is null)."""
    sent = simulator.sent_quotes
    assert sent is not None
    bids = {(venue, symbol, bid) for venue, symbol, bid, _ in sent}
    asks = {(venue, symbol, ask) for venue, symbol, _, ask in sent}
    checked = 0
    for line in lines:
        if line["type"] != "price":
            continue
        for side, valid in (("bid", bids), ("ask", asks)):
            if line[side] is None:  # no venue has that side now: nothing claimed
                continue
            units = int(Decimal(line[side]).scaleb(8))
            for venue in line[f"{side}_venues"]:
                assert (venue, line["symbol"], units) in valid, f"{side} never sent: {line}"
                checked += 1
    assert checked > 0


def both_venues(**options: Any) -> Simulator:
    return Simulator(
        venues=[FAULTED, HEALTHY], symbols=["BTC-USDT"], rate=40, record_sent=True, **options
    )


def test_garbage_of_every_kind_in_the_venues_own_shape_is_counted_and_never_published():
    async def scenario():
        async with both_venues() as simulator:
            run = await Run.start(simulator)
            for variant in GARBAGE_VARIANTS:
                for venue in (FAULTED, HEALTHY):
                    assert simulator.inject(Fault("garbage", at=0, variant=variant), venue) == 1
                await asyncio.sleep(0.1)
            await run.publishes_again(HEALTHY, 20)
            return simulator, await run.stop(simulator)

    simulator, stderr = run_async(scenario())
    for variant in GARBAGE_VARIANTS:
        assert simulator.faults_injected[f"garbage:{variant}"] == 2
    binance = venue_summary(stderr, FAULTED)
    assert binance["reconnects"] == 0  # bad input never costs the connection
    prices = {
        "bad_number_overflow": 1,
        "bad_number_sign": 1,
        "zero_price": 1,
        "bad_number_not_a_number": 1,
        "bad_number_exponent": 1,
        "crossed": 1,
    }
    assert {reason: binance.get(reason, 0) for reason in prices} == prices
    assert binance["malformed_json"] >= 1  # invalid UTF-8 (and JSON cut short, by where it is cut)
    for venue in (FAULTED, HEALTHY):
        counts = venue_summary(stderr, venue)
        dropped = sum(count for reason, count in counts.items() if "connect" not in reason)
        assert dropped == len(GARBAGE_VARIANTS), counts  # each broken frame once, by its reason


def test_resets_odd_close_codes_and_reconnect_requests_cost_one_reconnect_each():
    faults = [Fault("reset", at=0)]
    faults += [Fault("close", at=0, code=code) for code in (1001, 1011, 4000, 1002)]
    faults += [Fault("reconnect", at=0)]

    async def scenario():
        async with both_venues() as simulator:
            run = await Run.start(simulator)
            stats = simulator.stats_for(FAULTED)
            for number, fault in enumerate(faults, start=2):
                assert simulator.inject(fault, FAULTED) == 1
                await eventually(lambda: stats.subscribe_requests >= number, 20)
                await run.publishes_again(FAULTED)
            await run.publishes_again(HEALTHY, 20)
            return simulator, await run.stop(simulator)

    simulator, stderr = run_async(scenario(), timeout=120)
    binance = simulator.stats_for(FAULTED)
    assert binance.connections_accepted == len(faults) + 1
    assert binance.subscribe_requests == len(faults) + 1, "each new connection subscribes again"
    assert venue_summary(stderr, FAULTED)["reconnects"] == len(faults)
    assert simulator.stats_for(HEALTHY).connections_accepted == 1
    assert venue_summary(stderr, HEALTHY)["reconnects"] == 0
    assert simulator.faults_injected == {"reset": 1, "close": 4, "reconnect": 1}


def test_refused_connections_are_retried_with_growing_delays_until_accepted():
    async def scenario():
        async with both_venues() as simulator:
            run = await Run.start(simulator)
            simulator.inject(Fault("refuse", at=0, duration=1.5), FAULTED)
            simulator.inject(Fault("reset", at=0), FAULTED)
            await eventually(lambda: simulator.stats_for(FAULTED).connections_accepted == 2, 20)
            await run.publishes_again(FAULTED)
            return simulator, await run.stop(simulator)

    simulator, stderr = run_async(scenario())
    refused = simulator.faults_injected["refused"]
    binance = venue_summary(stderr, FAULTED)
    assert binance["failed_connects"] == refused >= 1
    # delays of 0.1 s doubling (half-jittered): a 1.5 s refusal costs a handful of attempts,
    # where a client retrying without backoff would make hundreds
    assert refused <= 8
    assert venue_summary(stderr, HEALTHY)["connects"] == 1


def test_fragmented_slow_duplicated_reordered_and_oversized_frames(tmp_path: Path):
    config = tmp_path / "tickwire.toml"
    config.write_text("[transport]\nmax_frame_bytes = 2048\n")
    plan = FaultPlan.parse(
        "fragment:rate=0.05,slow:rate=0.03,duplicate:rate=0.05,reorder:rate=0.05,"
        "oversized:rate=0.03:bytes=4000",
        seed=7,
    )
    faults = ("fragment", "slow", "duplicate", "reorder", "oversized")

    async def scenario():
        async with both_venues(faults=plan) as simulator:
            run = await Run.start(simulator, "--config", str(config))
            await eventually(lambda: all(simulator.faults_injected.get(k, 0) >= 6 for k in faults), 30)
            await run.publishes_again(HEALTHY, 20)
            return simulator, await run.stop(simulator)

    simulator, stderr = run_async(scenario())
    for venue in (FAULTED, HEALTHY):
        counts = venue_summary(stderr, venue)
        assert counts["reconnects"] == 0, stderr  # none of these is worth a new connection
        assert counts.get("oversized_frame", 0) >= 1
    binance = venue_summary(stderr, FAULTED)
    # Binance's bookTicker numbers its updates: a copy or an overtaken update is stale
    assert binance.get("stale_update", 0) >= 1


def test_a_silent_venue_is_abandoned_by_the_watchdog_and_comes_back():
    async def scenario():
        async with both_venues() as simulator:
            run = await Run.start(simulator, "--silence-timeout", "0.8")
            simulator.inject(Fault("silence", at=0, duration=2.5), FAULTED)
            await eventually(lambda: simulator.stats_for(FAULTED).subscribe_requests >= 2, 20)
            await run.publishes_again(HEALTHY, 20)
            await run.publishes_again(FAULTED)
            return simulator, await run.stop(simulator)

    simulator, stderr = run_async(scenario())
    assert "binance: no frame for 0.8 s, reconnecting" in stderr
    assert venue_summary(stderr, FAULTED)["reconnects"] >= 1
    assert venue_summary(stderr, HEALTHY)["reconnects"] == 0


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert found
    return int(found.group(1))


async def peak_rss_kib(pid: int, seconds: float) -> int:
    """The largest RSS of ``pid`` sampled every 0.1 s for ``seconds``."""
    peak = rss_kib(pid)
    for _ in range(round(seconds * 10)):
        await asyncio.sleep(0.1)
        peak = max(peak, rss_kib(pid))
    return peak


def test_memory_stays_bounded_under_a_ping_flood_and_a_huge_frame_flood(tmp_path: Path):
    config = tmp_path / "tickwire.toml"
    config.write_text("[transport]\nmax_frame_bytes = 65536\nmax_frames_per_second = 3000\n")
    plan = FaultPlan.parse(f"oversized:rate=0.5:bytes=500000:venue={FAULTED}")

    async def scenario():
        async with both_venues(faults=plan) as simulator:
            run = await Run.start(simulator, "--config", str(config))
            pid = run.tickwire.process.pid
            await asyncio.sleep(1)
            before = rss_kib(pid)
            simulator.inject(Fault("pingflood", at=0, duration=4), FAULTED)
            peak = await peak_rss_kib(pid, 4)
            await run.publishes_again(HEALTHY, 20)
            after = rss_kib(pid)
            return simulator, await run.stop(simulator), before, peak, after

    simulator, stderr, before, peak, after = run_async(scenario())
    binance = venue_summary(stderr, FAULTED)
    assert binance.get("oversized_frame", 0) >= 5
    assert binance.get("rate_limited", 0) >= 1  # the flood went past the cap
    assert binance["reconnects"] == 0  # dropped and counted, the connection kept
    assert simulator.stats_for(FAULTED).pings_sent > 3000
    # a few 500 kB frames in flight at a time, never an unbounded backlog
    assert peak - before < 80 * 1024, (before, peak, after)
    assert after - before < 40 * 1024, (before, peak, after)


def test_a_subscription_storm_is_capped_by_the_rate_guard_and_costs_no_memory(tmp_path: Path):
    config = tmp_path / "tickwire.toml"
    config.write_text("[transport]\nmax_frames_per_second = 3000\n")

    async def scenario():
        async with both_venues() as simulator:
            run = await Run.start(simulator, "--config", str(config))
            pid = run.tickwire.process.pid
            await run.publishes_again(FAULTED, 5)
            before = rss_kib(pid)
            simulator.inject(Fault("substorm", at=0, duration=3), FAULTED)
            peak = await peak_rss_kib(pid, 3)
            await run.publishes_again(FAULTED, 10)  # the storm is over: quotes flow again
            await run.publishes_again(HEALTHY, 10)
            return simulator, await run.stop(simulator), before, peak

    _, stderr, before, peak = run_async(scenario())
    binance = venue_summary(stderr, FAULTED)
    assert binance.get("rate_limited", 0) > 1000  # the storm went past the cap, counted
    assert peak - before < 40 * 1024, (before, peak)  # stop() checked every price was sent
