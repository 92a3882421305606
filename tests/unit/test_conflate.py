"""Conflation (``conflate = true``): one consolidated update per symbol and socket read, from
each symbol's latest quote of the read; every frame is still decoded; trades are never held."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.config import load_config
from tickwire.engine import Engine
from tickwire.model import ConsolidatedQuote
from tickwire.ring import DOWN, QUOTE, TRADE, Doorbell, Ring
from tickwire.workers import RingAggregator, WorkerProcess, conflated

from .aggregator_helpers import ListSink

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance"
SYMBOLS = ["NKN-USDT", "LRC-BTC"]
BOOK_TICKERS = (FIXTURES / "bookTicker.jsonl").read_bytes().splitlines()
AGG_TRADES = (FIXTURES / "aggTrade.jsonl").read_bytes().splitlines()


def engine_and_sink(conflate: bool) -> tuple[Engine, ListSink]:
    config = load_config(
        None,
        {"venues": ["binance"], "symbols": SYMBOLS, "channels": ["bbo", "trades"], "sinks": ["none"],
         "conflate": conflate},
    )
    sink = ListSink()
    return Engine(config, [sink]), sink


def run_reads(engine: Engine, frames: list[bytes], read_ends: list[bool]) -> None:
    session = engine.sessions[0]
    session.adapter.on_connected()
    on_frame = engine.frame_consumer(session.adapter)
    for i, frame in enumerate(frames):
        on_frame(frame, 1_000 + i, read_ends[i])


def the_price(update: ConsolidatedQuote) -> tuple:  # type: ignore[type-arg]
    return (update.bid, update.bid_size, update.bid_venues, update.ask, update.ask_size,
            update.ask_venues, update.bbo_state, update.price, update.confidence, update.basis.used)


def latest_after_each_read(sink: ListSink) -> list[dict[str, tuple]]:  # type: ignore[type-arg]
    """Per flush (one per read), each symbol's latest published price so far."""
    latest: dict[str, tuple] = {}  # type: ignore[type-arg]
    seen = 0
    states = []
    for count in sink.flushed:
        for update in sink.updates[seen:count]:
            latest[update.symbol] = the_price(update)
        seen = count
        states.append(dict(latest))
    return states


def test_a_burst_in_one_read_publishes_each_symbols_latest_price_once():
    frames = BOOK_TICKERS
    engine, sink = engine_and_sink(conflate=True)
    run_reads(engine, frames, [False] * (len(frames) - 1) + [True])
    plain, plain_sink = engine_and_sink(conflate=False)
    run_reads(plain, frames, [False] * (len(frames) - 1) + [True])

    assert sorted(u.symbol for u in sink.updates) == sorted(SYMBOLS)
    assert len(sink.updates) == 2 < len(plain_sink.updates)
    assert latest_after_each_read(sink) == latest_after_each_read(plain_sink)
    subscribed = [f for f in frames if b'"s":"NKNUSDT"' in f or b'"s":"LRCBTC"' in f]
    assert engine.conflated == len(subscribed) - 2
    assert "(81 quotes conflated)" in engine.summary()


def test_a_read_of_one_frame_publishes_at_once_as_without_conflation():
    frames = BOOK_TICKERS
    engine, sink = engine_and_sink(conflate=True)
    run_reads(engine, frames, [True] * len(frames))
    plain, plain_sink = engine_and_sink(conflate=False)
    run_reads(plain, frames, [True] * len(frames))

    assert [the_price(u) for u in sink.updates] == [the_price(u) for u in plain_sink.updates]
    assert sink.flushed == plain_sink.flushed
    assert engine.conflated == 0


def test_trades_are_published_as_they_come_while_quotes_wait_for_the_end_of_the_read():
    frames = [BOOK_TICKERS[0], AGG_TRADES[0], BOOK_TICKERS[1], AGG_TRADES[1]]
    engine, sink = engine_and_sink(conflate=True)
    session = engine.sessions[0]
    session.adapter.on_connected()
    on_frame = engine.frame_consumer(session.adapter)
    for i, frame in enumerate(frames):
        on_frame(frame, 1_000 + i, False)
    assert [t.trade_id for t in sink.trades] == [15683430, 9213679]
    assert sink.updates == []  # held: the read has not ended
    on_frame(BOOK_TICKERS[2], 2_000, True)
    assert [u.symbol for u in sink.updates] == ["NKN-USDT"]
    assert sink.updates[0].recv_ns == 2_000  # the latest quote of the read
    assert sink.flushed == [1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=len(BOOK_TICKERS) - 1, max_size=len(BOOK_TICKERS) - 1))
def test_after_every_read_the_conflated_price_is_the_price_published_without_conflation(ends):
    read_ends = [*ends, True]
    engine, sink = engine_and_sink(conflate=True)
    run_reads(engine, BOOK_TICKERS, read_ends)
    plain, plain_sink = engine_and_sink(conflate=False)
    run_reads(plain, BOOK_TICKERS, read_ends)

    assert latest_after_each_read(sink) == latest_after_each_read(plain_sink)
    between_flushes = [b - a for a, b in zip([0, *sink.flushed], sink.flushed)]
    assert max(between_flushes) <= len(SYMBOLS)  # at most one update per symbol and read
    assert len(sink.updates) <= plain.updates


def test_quotes_held_when_the_connection_ends_are_never_published():
    nkn = [f for f in BOOK_TICKERS if b'"s":"NKNUSDT"' in f]
    lrc = [f for f in BOOK_TICKERS if b'"s":"LRCBTC"' in f]
    engine, sink = engine_and_sink(conflate=True)
    session = engine.sessions[0]
    session.adapter.on_connected()
    on_frame = engine.frame_consumer(session.adapter)
    on_frame(lrc[0], 1_000, False)  # the connection breaks before the read ends
    session.on_down()
    session.adapter.on_connected()
    on_frame(nkn[0], 2_000, True)  # the first read of the next connection
    assert [u.symbol for u in sink.updates] == ["NKN-USDT"]
    assert engine.conflated == 1


def test_a_read_that_ends_on_a_control_frame_publishes_and_flushes_what_waited():
    for conflate in (True, False):
        engine, sink = engine_and_sink(conflate=conflate)
        session = engine.sessions[0]
        session.adapter.on_connected()
        on_frame = engine.frame_consumer(session.adapter)
        on_frame(BOOK_TICKERS[0], 1_000, False)
        on_frame(b"", 1_100, True)  # the read ended on a ping
        assert [u.recv_ns for u in sink.updates] == [1_000], conflate
        assert sink.flushed == [1], conflate
        assert session.adapter.stats.errors == {}, conflate  # no frame, so nothing to decode


# -- multi-core mode: the aggregator conflates each ring batch ---------------------------------

ring_records = st.lists(
    st.tuples(st.sampled_from([QUOTE, QUOTE, QUOTE, TRADE, DOWN]), st.integers(0, 2), st.integers(0, 1)),
    max_size=40,
).map(lambda rows: [(0, kind, venue, instrument, n, *[0] * 9) for n, (kind, venue, instrument) in enumerate(rows)])


def final_state(records: list[tuple]) -> dict:  # type: ignore[type-arg]
    """What the aggregator ends up with: each (venue, instrument)'s last quote, or gone."""
    state: dict = {}
    for record in records:
        kind, venue, instrument, ident = record[1:5]
        if kind == QUOTE:
            state[venue, instrument] = ident
        elif kind == DOWN:
            for key in [k for k in state if k[0] == venue]:
                state[key] = "down"
    return state


@given(ring_records)
def test_a_conflated_ring_batch_ends_in_the_same_state_with_one_quote_per_source(records):
    kept, left_out = conflated(records)
    def live(state: dict) -> dict:  # type: ignore[type-arg]
        return {key: ident for key, ident in state.items() if ident != "down"}

    assert live(final_state(kept)) == live(final_state(records))
    quotes = [(r[2], r[3]) for r in kept if r[1] == QUOTE]
    assert len(quotes) == len(set(quotes))
    assert [r for r in kept if r[1] != QUOTE] == [r for r in records if r[1] != QUOTE]  # in order
    assert left_out == sum(r[1] == QUOTE for r in records) - len(quotes)


def test_the_ring_aggregator_publishes_a_batch_of_quotes_once_when_conflating():
    published = {}
    for conflate in (True, False):
        config = load_config(None, {"venues": ["binance"], "symbols": ["NKN-USDT"], "sinks": ["none"],
                                    "conflate": conflate, "process": {"workers": 1}})
        ring = Ring.create(64)
        try:
            aggregator = RingAggregator(config, [WorkerProcess(1, os.getpid(), ["binance"], ring, None)],
                                        Doorbell())
            sink = ListSink()
            aggregator.sinks = [sink]
            for n in range(5):  # five quotes of one source, read in one poll turn
                ring.push(QUOTE, 0, 0, 35_000_000 + n, 10**8, 35_100_000, 10**8, 1_000 + n, 0, n, 1_000 + n)
            assert aggregator.poll() == 5
        finally:
            ring.close()
        published[conflate] = [(u.bid, u.recv_ns) for u in sink.updates]
        assert aggregator.conflated == (4 if conflate else 0)
    assert published[True] == [(35_000_004, 1_004)] == published[False][-1:]
    assert len(published[False]) == 5
