"""``tickwire run`` against the simulated OKX v5 public venue (spot and swaps) on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from tickwire.instruments import parse_symbol
from tickwire.sim import Simulator
from tickwire.sim.okx import SERVICE_UPGRADE_NOTICE, contract_value, swap_contracts

from .conftest import TickwireProcess, eventually, run_async, run_one_venue, run_reconnect_notice, run_replay, start_tickwire
from .market_mirror import Touch, assert_lines_follow, published_count, units, venue_touches

SYMBOLS = ["BTC-USDT", "BTC-USDT-PERP", "ETH-USD-PERP"]  # spot, a linear and an inverse swap
ONE = 10**8
RECORDED_TICKERS = Path(__file__).parent.parent / "fixtures" / "okx" / "tickers.jsonl"
# tickwire's OKX client pings every 20 s, too slow for a test; this runs the same CLI with a
# faster ping, changing nothing else
PINGING_FASTER = (
    "import sys; from tickwire.venues.okx import OkxPublic; "
    "OkxPublic.keepalive_interval = float(sys.argv.pop(1)); "
    "from tickwire.cli import main; sys.exit(main(sys.argv[1:]))"
)


async def start_tickwire_pinging_every(seconds: float, *args: str) -> TickwireProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PINGING_FASTER, str(seconds), *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return TickwireProcess(process)


def contracts_times_value(symbol: str, size: int, price: int) -> int:
    """The size tickwire must print for ``size`` at ``price`` sent by the simulated OKX: spot as
    sent; a swap's contract count (as the venue writes it) times the contract value it lists,
    over the price for an inverse swap, rounded half up (worked out with Decimal)."""
    instrument = parse_symbol(symbol)
    if not instrument.kind:
        return size
    contracts = Decimal(swap_contracts(instrument.base, instrument.quote, size, price)) / ONE
    value, currency = contract_value(instrument.base, instrument.quote)
    worth = contracts * Decimal(value) / ONE
    if currency == instrument.quote:
        worth /= Decimal(price) / ONE
    return int((worth * ONE).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def stderr_line_with(tickwire: TickwireProcess, text: str, timeout: float = 10) -> str:
    """The first stderr line of the running ``tickwire`` that holds ``text``."""
    assert tickwire.process.stderr is not None
    while True:
        line = (await asyncio.wait_for(tickwire.process.stderr.readline(), timeout)).decode()
        assert line, f"tickwire ended before saying {text!r}"
        if text in line:
            return line


def test_swap_sizes_are_contracts_times_the_listed_contract_value_and_unknowns_are_reported():
    lines, status, stderr, stats = run_async(
        run_one_venue("okx", SYMBOLS, ["FOO-USDT", "FOO-USDT-PERP"], seed=12, count=60, prices_only=False)
    )
    assert status == 0
    sent = venue_touches("okx", SYMBOLS, seed=12, steps=600, size_on_the_wire=contracts_times_value)
    assert_lines_follow(lines, sent, "okx")
    assert {line["symbol"] for line in lines} == set(SYMBOLS)
    # the linear swap's sizes are the market's own (in BTC), not its contract counts
    assert sent["BTC-USDT-PERP"] == venue_touches("okx", SYMBOLS, seed=12, steps=600)["BTC-USDT-PERP"]
    assert "okx: okx error 60018: Wrong URL or channel:bbo-tbt,instId:FOO-USDT " in stderr
    assert "okx: FOO-USDT-PERP: OKX lists no SWAP FOO-USDT-SWAP (http://127.0.0.1:" in stderr
    assert (stats.connections_accepted, stats.subscribe_requests) == (1, 1)


def test_the_venue_waits_for_the_contract_sizes_retrying_until_the_rest_api_answers():
    port = free_port()
    endpoint = f"ws://127.0.0.1:{port}/okx/ws/v5/public"

    async def scenario():
        tickwire = await start_tickwire(
            "run", "--venues", "okx", "--symbols", "BTC-USDT-PERP", "--endpoint", f"okx={endpoint}",
        )
        warning = await stderr_line_with(tickwire, "retrying")
        async with Simulator(port=port, venues=["okx"], symbols=["BTC-USDT-PERP"], rate=50,
                             channels=["bbo"], seed=3) as simulator:
            line = await tickwire.line()
            status = await tickwire.stop()
            return warning, line, status, simulator.stats_for("okx")

    warning, line, status, stats = run_async(scenario())
    assert (
        "okx: cannot read the contract sizes of BTC-USDT-PERP: GET "
        f"http://127.0.0.1:{port}/okx/api/v5/public/instruments?instType=SWAP: " in warning
    )
    (touch,) = venue_touches("okx", ["BTC-USDT-PERP"], seed=3, steps=0)["BTC-USDT-PERP"]
    assert (line["symbol"], units(line["bid_size"]), units(line["ask_size"])) == (
        "BTC-USDT-PERP", touch[1], touch[3]
    )
    assert status == 0 and stats.connections_accepted == 1


def test_the_rest_endpoint_in_the_config_wins_and_nothing_connects_before_it_answers(tmp_path):
    closed = free_port()
    config = tmp_path / "okx.toml"
    config.write_text(f'rest_endpoints = {{okx = "http://127.0.0.1:{closed}/rest"}}\n')

    async def scenario():
        async with Simulator(venues=["okx"], symbols=["BTC-USDT-PERP"], rate=50) as simulator:
            tickwire = await start_tickwire(
                "run", "--config", str(config), "--venues", "okx", "--symbols", "BTC-USDT,BTC-USDT-PERP",
                "--endpoint", f"okx={simulator.endpoint('okx')}",
            )
            warning = await stderr_line_with(tickwire, "retrying")
            status = await tickwire.stop()
            return warning, status, simulator.stats_for("okx").connections_accepted

    warning, status, connections = run_async(scenario())
    assert f"GET http://127.0.0.1:{closed}/rest/api/v5/public/instruments?instType=SWAP: " in warning
    assert (status, connections) == (0, 0)


def test_the_clients_text_pings_are_answered_and_keep_it_past_the_idle_timeout():
    async def scenario():
        async with Simulator(venues=["okx"], symbols=["BTC-USDT"], rate=0,
                             idle_timeout=0.8) as simulator:
            tickwire = await start_tickwire_pinging_every(
                0.2, "run", "--venues", "okx", "--symbols", "BTC-USDT",
                "--endpoint", f"okx={simulator.endpoint('okx')}",
                "--silence-timeout", "0.8", "--duration", "2.5",
            )
            status = await asyncio.wait_for(tickwire.process.wait(), 10)
            return status, await tickwire.stderr(), simulator.stats_for("okx")

    status, stderr, stats = run_async(scenario())
    assert status == 0
    assert stats.connections_accepted == 1  # the pings reset the venue's idle clock
    assert "no frame for" not in stderr  # the pongs reset tickwire's silence clock
    summary = re.search(r"okx: (\d+) frames, \d+ bytes, 1 connects, 0 reconnects", stderr)
    assert summary, stderr
    assert int(summary.group(1)) >= 2 + 8  # ack and snapshot, then a pong per ping


def test_a_client_that_sends_nothing_for_the_idle_timeout_is_closed_and_comes_back():
    async def scenario():
        async with Simulator(venues=["okx"], symbols=["BTC-USDT"], rate=0,
                             idle_timeout=0.4) as simulator:
            tickwire = await start_tickwire(
                "run", "--venues", "okx", "--symbols", "BTC-USDT",
                "--endpoint", f"okx={simulator.endpoint('okx')}",
            )
            stats = simulator.stats_for("okx")
            await eventually(lambda: stats.connections_accepted >= 2)
            await eventually(lambda: stats.subscribe_requests >= 2)
            status = await tickwire.stop()
            return status, await tickwire.stderr()

    status, stderr = run_async(scenario())
    assert status == 0
    assert "okx: disconnected from" in stderr


def test_a_service_upgrade_notice_makes_tickwire_reconnect_and_resubscribe():
    assert run_reconnect_notice("okx", "BTC-USDT", SERVICE_UPGRADE_NOTICE) == (0, 2)


def test_the_recorded_okx_tickers_replay_through_tickwire_to_their_best_bid_offers(tmp_path):
    inst_ids = {"BTC-USDT": "BTC-USDT", "UNI-USD-SWAP": "UNI-USD-PERP"}  # not the dated future
    # the replaying venue lists no instruments: UNI-USD-SWAP's contract (10 USD) is pinned
    config = tmp_path / "okx.toml"
    config.write_text('[instruments."UNI-USD-PERP"]\ncontract_size = "10 USD"\n')

    def base_units(symbol: str, size: str, price: str) -> int:
        if symbol == "BTC-USDT":
            return units(size)
        worth = Decimal(size) * 10 / Decimal(price)
        return int((worth * ONE).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    sent: dict[str, list[Touch]] = {}
    for line in RECORDED_TICKERS.read_bytes().splitlines():
        message = json.loads(line)
        symbol = inst_ids.get(message["arg"]["instId"])
        if symbol is not None:
            data = message["data"][0]
            sent.setdefault(symbol, []).append(
                (units(data["bidPx"]), base_units(symbol, data["bidSz"], data["bidPx"]),
                 units(data["askPx"]), base_units(symbol, data["askSz"], data["askPx"]))
            )

    lines, status, _ = run_replay(
        "okx", RECORDED_TICKERS, list(inst_ids.values()), published_count(sent),
        "--config", str(config), "--channels", "ticker", speed=300, prices_only=True,
    )
    assert status == 0
    assert_lines_follow(lines, sent, "okx")  # and all of them: as many lines as changes
