"""Scale-out on NATS end to end: real ``nats-server``, real ``tickwire run --role …`` processes,
simulated venues on loopback."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from typing import Any

from tickwire.scaleout.codec import Shard
from tickwire.sim import Simulator

from .conftest import TickwireProcess, run_async, start_tickwire
from .market_mirror import Touch, changes, units, venue_touches
from .nats_server import NatsServer, jetstream_server, nats_server  # noqa: F401 (fixtures)

SYMBOL = "BTC-USDT"
VENUES = ("binance", "kraken")  # binance numbers its updates venue-wide, kraken does not
HEARTBEAT = "0.2"  # seconds: a silent node's venues are stale after 0.6 s
SEED = 21
STEPS = 3000  # more market steps than any test lets the simulator make

State = tuple[int, int, tuple[str, ...], int, int, tuple[str, ...]]
"""What a consolidated line shows: bid, bid size, bid venues, ask, ask size, ask venues."""


async def ingest(server: NatsServer, simulator: Simulator, venue: str, node: str,
                 *extra: str) -> TickwireProcess:
    return await start_tickwire(
        "run", "--role", "ingest", "--nats", server.url, "--venues", venue, "--symbols", SYMBOL,
        "--endpoint", f"{venue}={simulator.endpoint(venue)}", "--node", node,
        "--heartbeat", HEARTBEAT, *extra,
    )


async def aggregator(server: NatsServer, node: str, *extra: str, symbols: str = SYMBOL) -> TickwireProcess:
    return await start_tickwire(
        "run", "--role", "aggregate", "--nats", server.url, "--symbols", symbols, "--node", node,
        "--heartbeat", HEARTBEAT, *extra,
    )


async def line_where(process: TickwireProcess, wanted, timeout: float = 15) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The next price line for which ``wanted(line)`` holds."""
    while True:
        line = (await process.price_lines(1, timeout))[0]
        if wanted(line):
            return line


async def stop_all(*processes: TickwireProcess) -> list[str]:
    """SIGTERM each (in order), then each one's stderr."""
    for process in processes:
        assert await process.stop() == 0, await process.stderr()
    return [await process.stderr() for process in processes]


def line_state(line: dict[str, Any]) -> State:
    return (units(line["bid"]), units(line["bid_size"]), tuple(line["bid_venues"]),
            units(line["ask"]), units(line["ask_size"]), tuple(line["ask_venues"]))


def consolidate(touches: dict[str, Touch]) -> State:
    """The consolidated best bid and offer of the venues' touches, worked out independently."""
    bid = max(t[0] for t in touches.values())
    ask = min(t[2] for t in touches.values())
    at_bid = sorted(v for v, t in touches.items() if t[0] == bid)
    at_ask = sorted(v for v, t in touches.items() if t[2] == ask)
    return (bid, sum(touches[v][1] for v in at_bid), tuple(at_bid),
            ask, sum(touches[v][3] for v in at_ask), tuple(at_ask))


def settled_sequence(lines: Sequence[dict[str, Any]]) -> list[State]:
    """The two-venue states of ``lines`` that hold after both venues applied a market step, in
    order and without repeats, checked to be a contiguous run of the market's own sequence.

    Within one step both venues requote at once, so which of the two quotes arrives first (and
    the state in between) depends on the sockets; the states after whole steps do not. Every
    two-venue line must be either such a state or one in between two of them.
    """
    a = venue_touches(VENUES[0], [SYMBOL], seed=SEED, steps=STEPS)[SYMBOL]
    b = venue_touches(VENUES[1], [SYMBOL], seed=SEED, steps=STEPS)[SYMBOL]
    settled = [consolidate(dict(zip(VENUES, pair))) for pair in zip(a, b)]
    between = {consolidate({VENUES[0]: a[k], VENUES[1]: b[k - 1]}) for k in range(1, len(a))}
    between |= {consolidate({VENUES[0]: a[k - 1], VENUES[1]: b[k]}) for k in range(1, len(a))}
    known = set(settled)
    seen: list[State] = []
    for line in lines:
        if line["n_venues"] != 2:
            continue
        state = line_state(line)
        assert state in known or state in between, f"a state no order of the quotes gives: {line}"
        if state in known and (not seen or seen[-1] != state):
            seen.append(state)
    market = changes(settled)  # type: ignore[arg-type]
    start = market.index(seen[0])
    assert seen == market[start:start + len(seen)], "a settled state is missing or out of order"
    return seen


def test_two_ingest_nodes_and_an_aggregator_print_what_the_single_process_prints(nats_server):
    def simulator() -> Simulator:
        return Simulator(venues=VENUES, symbols=[SYMBOL], rate=60, channels=["bbo"], seed=SEED)

    async def single_process() -> list[dict[str, Any]]:
        async with simulator() as sim:
            tickwire = await start_tickwire(
                "run", "--venues", ",".join(VENUES), "--symbols", SYMBOL,
                *(arg for venue in VENUES for arg in ("--endpoint", f"{venue}={sim.endpoint(venue)}")),
            )
            lines = await tickwire.price_lines(300)
            await stop_all(tickwire)
            return lines

    async def over_nats() -> tuple[list[dict[str, Any]], list[str]]:
        async with simulator() as sim:
            agg = await aggregator(nats_server, "agg")
            nodes = [await ingest(nats_server, sim, venue, f"ingest-{venue}") for venue in VENUES]
            lines = await agg.price_lines(300)
            return lines, await stop_all(*nodes, agg)

    single = settled_sequence(run_async(single_process()))
    distributed_lines, stderrs = run_async(over_nats())
    distributed = settled_sequence(distributed_lines)
    assert len(single) >= 40 and len(distributed) >= 40
    overlap = [state for state in distributed if state in set(single)]
    assert len(overlap) >= 20
    start = single.index(overlap[0])
    assert overlap == single[start:start + len(overlap)]  # the same states in the same order
    for line in distributed_lines:
        assert line["recv_ns"] <= line["publish_ns"]  # recv on the ingest node, publish here
    summary = stderrs[-1]
    assert re.search(r"0 duplicate copies dropped, 0 lost on the way", summary), summary
    assert re.search(r"sent_to_arrived µs p50 [\d.]+ p99 [\d.]+ \(\d+ samples\)", summary), summary


def test_a_killed_ingest_node_makes_its_venue_stale_and_a_restarted_one_live_again(nats_server):
    async def scenario() -> str:
        async with Simulator(venues=VENUES, symbols=[SYMBOL], rate=40, channels=["bbo"], seed=3) as sim:
            agg = await aggregator(nats_server, "agg")
            binance = await ingest(nats_server, sim, "binance", "ingest-binance")
            kraken = await ingest(nats_server, sim, "kraken", "ingest-kraken")
            await line_where(agg, lambda line: line["n_venues"] == 2)
            binance.process.kill()  # no goodbye: only its silence tells
            gone = await line_where(agg, lambda line: line["n_venues"] == 1)
            assert gone["venue"] == "binance" and gone["bid_venues"] == gone["ask_venues"] == ["kraken"]
            for line in await agg.price_lines(10):  # binance's last quote never comes back by itself
                assert line["n_venues"] == 1 and "binance" not in line["bid_venues"] + line["ask_venues"]
            binance = await ingest(nats_server, sim, "binance", "ingest-binance")
            await line_where(agg, lambda line: line["n_venues"] == 2)
            return (await stop_all(kraken, binance, agg))[-1]

    stderr = run_async(scenario())
    assert "venue binance stale: no ingest node carries it live (ingest-binance: nothing from its ingest node in time)" in stderr
    assert "venue binance live again (from ingest-binance)" in stderr
    assert "sender restarts" in stderr and not re.search(r" 0 sender restarts", stderr)


def test_both_sides_reconnect_after_nats_server_restarts_and_count_what_was_lost(nats_server):
    async def scenario() -> tuple[str, str]:
        async with Simulator(venues=["binance"], symbols=[SYMBOL], rate=100, channels=["bbo"], seed=5) as sim:
            agg = await aggregator(nats_server, "agg")
            node = await ingest(nats_server, sim, "binance", "ingest-binance")
            await line_where(agg, lambda line: line["n_venues"] == 1)
            nats_server.kill()
            await line_where(agg, lambda line: line["n_venues"] == 0)  # stale, printed locally
            await asyncio.sleep(0.5)  # the venue keeps quoting while NATS is away
            await asyncio.to_thread(nats_server.start)
            await line_where(agg, lambda line: line["n_venues"] == 1, timeout=20)
            await agg.price_lines(5)
            ingest_err, agg_err = await stop_all(node, agg)
            return ingest_err, agg_err

    ingest_err, agg_err = run_async(scenario())
    published = re.search(r"(\d+) messages published to NATS, (\d+) lost \(NATS away or behind\), "
                          r"(\d+) NATS disconnects, (\d+) reconnects", ingest_err)
    assert published, ingest_err
    assert int(published.group(2)) > 0  # quotes received while NATS was away: counted, not hidden
    assert (int(published.group(3)), int(published.group(4))) == (1, 1)
    gaps = re.search(r"(\d+) lost on the way \(sequence gaps\)", agg_err)
    assert gaps and int(gaps.group(1)) > 0, agg_err
    assert re.search(r"NATS: \d+ published, \d+ lost, 1 disconnects, 1 reconnects", agg_err), agg_err


def test_two_sharded_aggregators_own_every_instrument_exactly_once(nats_server):
    symbols = ["BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT", "ADA-USDT", "DOGE-USDT"]
    owners = {symbol: [k for k in (1, 2) if Shard(k, 2).owns(symbol)] for symbol in symbols}
    assert all(len(owner) == 1 for owner in owners.values())
    expected = {k: {s for s, owner in owners.items() if owner == [k]} for k in (1, 2)}
    assert expected[1] and expected[2]  # both shards own something with these symbols

    async def scenario() -> dict[int, set[str]]:
        async with Simulator(venues=["binance"], symbols=symbols, rate=30, channels=["bbo"], seed=9) as sim:
            shards = {k: await aggregator(nats_server, f"agg-{k}", "--shard", f"{k}/2",
                                          symbols=",".join(symbols)) for k in (1, 2)}
            node = await start_tickwire(
                "run", "--role", "ingest", "--nats", nats_server.url, "--venues", "binance",
                "--symbols", ",".join(symbols), "--endpoint", f"binance={sim.endpoint('binance')}",
                "--node", "ingest", "--heartbeat", HEARTBEAT,
            )
            printed: dict[int, set[str]] = {1: set(), 2: set()}
            for k, process in shards.items():
                for line in await process.price_lines(60):
                    printed[k].add(line["symbol"])
            await stop_all(node, *shards.values())
            return printed

    printed = run_async(scenario())
    assert printed == expected


def test_two_ingest_nodes_on_one_venue_give_each_quote_once_in_order(nats_server):
    async def scenario() -> tuple[list[dict[str, Any]], str]:
        async with Simulator(venues=["binance"], symbols=[SYMBOL], rate=80, channels=["bbo"], seed=7) as sim:
            agg = await aggregator(nats_server, "agg")
            first = await ingest(nats_server, sim, "binance", "ingest-a")
            second = await ingest(nats_server, sim, "binance", "ingest-b")
            lines = await agg.price_lines(150)
            return lines, (await stop_all(first, second, agg))[-1]

    lines, stderr = run_async(scenario())
    touches = changes(venue_touches("binance", [SYMBOL], seed=7, steps=STEPS)[SYMBOL])
    printed = [line_state(line) for line in lines if line["n_venues"] == 1]
    market = [(t[0], t[1], ("binance",), t[2], t[3], ("binance",)) for t in touches]
    # no copy taken twice, none out of order: the printed states are the market's, in its order
    # (a state may be skipped: when the node carrying it lags, the other node's newer copy wins)
    positions = [market.index(printed[0])]
    for state in printed[1:]:
        positions.append(market.index(state, positions[-1] + 1))  # ValueError: repeated or reordered
    assert len(printed) >= (positions[-1] - positions[0] + 1) // 2  # skips are rare, not the rule
    dropped = re.search(r"(\d+) duplicate copies dropped", stderr)
    assert dropped and int(dropped.group(1)) > 0, stderr


def test_a_late_aggregator_starts_from_the_quotes_jetstream_kept(jetstream_server):
    async def scenario() -> tuple[dict[str, Any], int]:
        # a quote every 4 s: the late aggregator starts well before the next one
        async with Simulator(venues=["binance"], symbols=[SYMBOL], rate=0.25, channels=["bbo"], seed=13) as sim:
            early = await aggregator(jetstream_server, "early")
            node = await ingest(jetstream_server, sim, "binance", "ingest", "--jetstream-retention", "60")
            await line_where(early, lambda line: line["n_venues"] == 1)  # a quote went through
            joined_ns = time.time_ns()
            late = await aggregator(jetstream_server, "late", "--jetstream-replay")
            first = await late.line(timeout=15)
            await stop_all(node, early, late)
            return first, joined_ns

    first, joined_ns = run_async(scenario())
    assert first["n_venues"] == 1 and first["bid_venues"] == ["binance"]
    assert first["recv_ns"] < joined_ns  # received by the ingest node before this aggregator ran


def test_both_nodes_serve_metrics_where_the_nats_hop_is_a_stage_that_grows(nats_server):
    from prometheus_client.parser import text_string_to_metric_families

    from .test_metrics_endpoint import http_get, metrics_url
    from .test_top import row, top

    async def scrape(url: str) -> dict[str, Any]:
        text = (await http_get(f"{url}/metrics")).decode()
        return {family.name: family for family in text_string_to_metric_families(text)}

    def stage_counts(families: dict[str, Any]) -> dict[tuple[str, str], float]:
        return {(s.labels["venue"], s.labels["stage"]): s.value
                for s in families["tickwire_latency_seconds"].samples
                if s.name == "tickwire_latency_seconds_count"}

    def value(families: dict[str, Any], name: str, **labels: str) -> float:
        (sample,) = [s for family in families.values() for s in family.samples
                     if s.name == name and s.labels == labels]
        return sample.value

    async def scenario():  # type: ignore[no-untyped-def]
        async with Simulator(venues=["binance"], symbols=[SYMBOL], rate=100, channels=["bbo"], seed=11) as sim:
            agg = await aggregator(nats_server, "agg", "--metrics", "127.0.0.1:0")
            agg_url = await metrics_url(agg)
            node = await ingest(nats_server, sim, "binance", "ingest-binance", "--metrics", "127.0.0.1:0")
            node_url = await metrics_url(node)
            await line_where(agg, lambda line: line["n_venues"] == 1)
            reading = asyncio.create_task(agg.price_lines(10**6, timeout=30))  # the pipe never fills
            before = {"ingest": await scrape(node_url), "aggregate": await scrape(agg_url)}
            after: dict[str, Any] = {}

            async def grown_by_50() -> bool:
                after.update(ingest=await scrape(node_url), aggregate=await scrape(agg_url))
                return all(stage_counts(after[role])[key] >= stage_counts(before[role])[key] + 50
                           for role in after for key in stage_counts(after[role]))

            deadline = time.monotonic() + 20
            while not await grown_by_50() and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            tops = {"ingest": await top("--url", node_url, "--once", "--interval", "1"),
                    "aggregate": await top("--url", agg_url, "--once", "--interval", "1")}
            reading.cancel()
            await stop_all(node, agg)
            return before, after, tops

    before, after, tops = run_async(scenario())
    hop_stages = ("sent_to_arrived", "recv_to_arrived", "arrived_to_published", "recv_to_published")
    assert set(stage_counts(after["aggregate"])) == {("binance", stage) for stage in hop_stages}
    assert set(stage_counts(after["ingest"])) == {("binance", "recv_to_sent")}
    for role in ("ingest", "aggregate"):
        for key, count in stage_counts(after[role]).items():
            assert 0 < stage_counts(before[role])[key] and stage_counts(before[role])[key] + 50 <= count, key
    ingested = stage_counts(after["ingest"])[("binance", "recv_to_sent")]
    ingest_after, agg_after = after["ingest"], after["aggregate"]
    assert value(ingest_after, "tickwire_frames_total", venue="binance") >= ingested
    assert value(ingest_after, "tickwire_nats_events_published_total", venue="binance") >= ingested
    assert value(ingest_after, "tickwire_nats_connected") == 1
    assert value(agg_after, "tickwire_venue_live", venue="binance") == 1
    assert value(agg_after, "tickwire_venue_live_nodes", venue="binance") == 1
    assert value(agg_after, "tickwire_nats_duplicates_total", venue="binance") == 0
    assert value(agg_after, "tickwire_nats_sequence_lost_total", venue="binance") == 0
    assert value(agg_after, "tickwire_nats_reconnects_total") == 0
    assert value(agg_after, "tickwire_updates_published_total") >= 50
    for role, families in (("ingest", ingest_after), ("aggregate", agg_after)):
        assert [s.labels["role"] for s in families["tickwire_info"].samples] == [role]

    for role, (status, out, err) in tops.items():
        assert status == 0, err
        assert f"{role} node" in out
        cells = row(out, "binance", "live")
        assert float(cells[2].replace(",", "")) > 0 and float(cells[4].replace(",", "")) > 0, (role, cells)
    assert row(tops["aggregate"][1], "binance", "sent_to_arrived")
    assert row(tops["ingest"][1], "binance", "recv_to_sent")
