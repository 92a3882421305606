"""``tickwire top --once`` attached to a running ``tickwire run --metrics``."""

from __future__ import annotations

import asyncio
import re
import sys

from tickwire.sim import Simulator

from .conftest import run_async, start_tickwire
from .test_metrics_endpoint import metrics_url


async def top(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire", "top", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode, out.decode(), err.decode()


def row(text: str, *first_cells: str) -> list[str]:
    """The cells of the plain-text table row that starts with ``first_cells``."""
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[: len(first_cells)] == list(first_cells):
            return cells
    raise AssertionError(f"no row {first_cells} in:\n{text}")


def test_top_once_shows_each_venue_live_with_rates_stage_percentiles_and_tasks():
    async def scenario():
        async with Simulator(symbols=["BTC-USDT"], venues=["binance", "okx"], rate=300, seed=4) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "binance,okx", "--symbols", "BTC-USDT", "--sink", "none",
                "--endpoint", f"binance={simulator.endpoints['binance']}",
                "--endpoint", f"okx={simulator.endpoints['okx']}",
                "--metrics", "127.0.0.1:0",
            )
            url = await metrics_url(tickwire)
            await asyncio.sleep(1.0)
            result = await top("--url", url, "--once", "--interval", "1")
            await tickwire.stop()
            return result

    status, out, err = run_async(scenario())
    assert status == 0, err
    assert "\x1b[" not in out  # plain text when not a terminal
    header = ["venue", "state", "frames/s", "KiB/s", "updates/s"]
    assert row(out, *header)[:5] == header
    for venue in ("binance", "okx"):
        cells = row(out, venue, "live")
        frames_per_s, updates_per_s = (float(cells[i].replace(",", "")) for i in (2, 4))
        assert frames_per_s > 0 and updates_per_s > 0, cells
        p50, p99 = row(out, venue, "recv_to_published")[3:5]
        assert 0 < float(p50) <= float(p99)
    assert row(out, "okx", "exchange_to_recv")  # OKX quotes carry the exchange's time
    assert "binance" in row(out, "session-binance")[0]
    assert "VenueSession.run" in row(out, "session-okx")[2]
    assert re.search(r"event-loop lag µs: last \d+\.\d", out)


def test_top_says_in_one_line_when_nothing_answers_or_the_url_is_wrong():
    async def scenario():
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        return await top("--url", f"http://127.0.0.1:{port}", "--once"), await top("--url", "ftp://x", "--once")

    (gone_status, _, gone_err), (bad_status, _, bad_err) = run_async(scenario())
    assert gone_status == 1 and gone_err.startswith("tickwire top: cannot read http://127.0.0.1:")
    assert bad_status == 2 and "--url must be http://HOST:PORT" in bad_err
    assert len(gone_err.strip().splitlines()) == len(bad_err.strip().splitlines()) == 1
