"""Conflation (``conflate = true``): one consolidated update per symbol and socket read, from
each symbol's latest quote of the read; every frame is still decoded; trades are never held."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.config import load_config
from tickwire.engine import Engine
from tickwire.model import ConsolidatedQuote, Ticker, Trade

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance"
SYMBOLS = ["NKN-USDT", "LRC-BTC"]
BOOK_TICKERS = (FIXTURES / "bookTicker.jsonl").read_bytes().splitlines()
AGG_TRADES = (FIXTURES / "aggTrade.jsonl").read_bytes().splitlines()


class ListSink:
    """Keeps what the engine publishes, and which flush each update came before."""

    def __init__(self) -> None:
        self.updates: list[ConsolidatedQuote] = []
        self.trades: list[Trade] = []
        self.flushed: list[int] = []  # len(updates) at each flush

    def publish(self, update: ConsolidatedQuote, publish_ns: int) -> None:
        self.updates.append(update)

    def publish_trade(self, trade: Trade, publish_ns: int) -> None:
        self.trades.append(trade)

    def publish_ticker(self, ticker: Ticker, publish_ns: int) -> None:
        raise AssertionError("no ticker channel here")

    def flush(self) -> None:
        self.flushed.append(len(self.updates))

    def close(self) -> None:
        pass


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
