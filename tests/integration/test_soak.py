"""A bounded soak: three venues under random faults (seeded) for ``TICKWIRE_SOAK_SECONDS``
(default 75). tickwire must never crash, stay within a stated memory growth, publish no price
a venue did not send, and have every venue live and publishing at the end."""

from __future__ import annotations

import asyncio
import json
import os

from tickwire.sim import FaultPlan, Simulator

from .conftest import run_async
from .test_faults_injected import Run, rss_kib, venue_summary
from .test_metrics_endpoint import http_get, metrics_url

VENUES = ("binance", "okx", "bitstamp")
SOAK_SECONDS = float(os.environ.get("TICKWIRE_SOAK_SECONDS", "75"))
RSS_GROWTH_BOUND_KIB = 30 * 1024
FAULTS = (
    "reset:at=7s:every=11s:venue=binance,"
    "close:at=9s:every=13s:venue=okx,"
    "reconnect:at=5s:every=17s,"
    "silence:at=20s:every=30s:for=2.5s:venue=bitstamp,"
    "refuse:at=12s:every=25s:for=1.5s,"
    "pingflood:at=15s:every=20s:for=1s:venue=okx,"
    "garbage:rate=0.02,duplicate:rate=0.01,reorder:rate=0.01,fragment:rate=0.01,"
    "slow:rate=0.005,oversized:rate=0.002:bytes=300000"
)


def test_soak_with_random_faults_on_three_venues(tmp_path):
    config = tmp_path / "tickwire.toml"
    config.write_text(
        "[transport]\nmax_frame_bytes = 65536\nmax_frames_per_second = 20000\n"
        "[transport.backoff]\ncap = 2.0\n"
    )
    plan = FaultPlan.parse(FAULTS, seed=int(os.environ.get("TICKWIRE_SOAK_SEED", "1")))

    async def scenario():
        async with Simulator(
            venues=list(VENUES), symbols=["BTC-USDT"], rate=40, record_sent=True, faults=plan
        ) as simulator:
            run = await Run.start(
                simulator, "--config", str(config), "--silence-timeout", "1.5",
                "--metrics", "127.0.0.1:0", venues=VENUES,
            )
            url = await metrics_url(run.tickwire)
            pid = run.tickwire.process.pid
            await asyncio.sleep(min(10.0, SOAK_SECONDS / 4))  # warmed up: caches, buffers
            start_rss = peak_rss = rss_kib(pid)
            loop = asyncio.get_running_loop()
            end = loop.time() + SOAK_SECONDS
            while loop.time() < end:
                await asyncio.sleep(1)
                assert run.tickwire.process.returncode is None, await run.tickwire.stderr()
                peak_rss = max(peak_rss, rss_kib(pid))
            for venue in VENUES:
                await run.publishes_again(venue)
            status = json.loads(await http_get(f"{url}/debug/status"))
            end_rss = rss_kib(pid)
            return simulator, await run.stop(simulator), status, (start_rss, peak_rss, end_rss)

    simulator, stderr, status, (start_rss, peak_rss, end_rss) = run_async(
        scenario(), timeout=SOAK_SECONDS + 120
    )
    print(f"soak {SOAK_SECONDS:g} s: RSS KiB {start_rss} -> peak {peak_rss}, end {end_rss}; "
          f"faults {simulator.faults_injected}")  # shown with pytest -s
    assert end_rss - start_rss < RSS_GROWTH_BOUND_KIB, (start_rss, peak_rss, end_rss)
    injected = simulator.faults_injected
    for kind in ("reset", "close", "reconnect", "silence", "refuse", "pingflood", "duplicate"):
        assert injected.get(kind, 0) >= 1, injected
    assert sum(count for kind, count in injected.items() if kind.startswith("garbage:")) >= 5
    for venue in VENUES:
        counts = venue_summary(stderr, venue)
        assert counts["reconnects"] >= 1, (venue, counts)  # every venue went through faults
    # live at the end: each venue's latest frame is recent and it published again (above)
    for venue in status["venues"]:
        assert venue["last_frame_age_ns"] is not None and venue["last_frame_age_ns"] < 5e9, venue
