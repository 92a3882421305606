"""The stdout sink: exact decimal text, one write per flush, the documented schema."""

from __future__ import annotations

import asyncio
import json
import os
import threading

from tickwire.model import BUY, ConsolidatedQuote, PriceBasis, Ticker, Trade
from tickwire.sinks.stdout import StdoutSink


def update(bid: int, ask: int, price: int, n_venues: int = 1, confidence: int | None = None,
           excluded: dict[str, str] | None = None) -> ConsolidatedQuote:
    venues = ("binance",) if n_venues else ()
    basis = PriceBasis("median" if confidence is None else "pyth", "ok" if n_venues else "stale",
                       n_venues, venues, excluded or {})
    return ConsolidatedQuote("BTC-USDT", bid, 150000000, venues, ask, 1, venues,
                             "normal" if n_venues else "", price, confidence, 10, basis, 11, 12, "binance")


def read_lines(fd: int) -> list[dict]:
    return [json.loads(line) for line in os.read(fd, 1 << 20).decode().splitlines()]


def test_lines_carry_exact_decimal_text_and_are_written_only_on_flush():
    read_end, write_end = os.pipe()
    sink = StdoutSink({"BTC-USDT": 8}, {"BTC-USDT": 8}, write_end)
    sink.publish(update(6701240000000, 6701241000000, 670124050000000), publish_ns=13)
    sink.publish(update(1, 99999999999999999, 5000000000000000000), publish_ns=14)
    os.set_blocking(read_end, False)
    try:
        os.read(read_end, 10)
        raise AssertionError("nothing may be written before flush")
    except BlockingIOError:
        pass
    sink.flush()
    assert sink.writes == 1
    first, second = read_lines(read_end)
    assert first == {
        "type": "price", "symbol": "BTC-USDT",
        "bid": "67012.4", "bid_size": "1.5", "bid_venues": ["binance"],
        "ask": "67012.41", "ask_size": "0.00000001", "ask_venues": ["binance"],
        "bbo_state": "normal", "price": "67012.405", "confidence": None, "method": "median",
        "status": "ok", "n_venues": 1, "used": ["binance"], "excluded": {}, "venue": "binance",
        "exchange_ns": 12, "recv_ns": 11, "publish_ns": 13,
    }
    assert (second["bid"], second["ask"], second["price"]) == ("0.00000001", "999999999.99999999", "500000000")


def test_a_view_without_venues_is_published_with_null_prices_and_the_reason():
    read_end, write_end = os.pipe()
    sink = StdoutSink({"BTC-USDT": 8}, {"BTC-USDT": 8}, write_end)
    sink.publish(update(0, 0, 0, n_venues=0, excluded={"binance": "stale"}), publish_ns=1)
    sink.flush()
    (line,) = read_lines(read_end)
    assert (line["bid"], line["ask"], line["price"], line["n_venues"]) == (None, None, None, 0)
    assert (line["bbo_state"], line["status"], line["excluded"]) == (None, "stale", {"binance": "stale"})


def test_a_confidence_is_exact_text_at_the_price_scale():
    read_end, write_end = os.pipe()
    sink = StdoutSink({"BTC-USDT": 8}, {"BTC-USDT": 8}, write_end)
    sink.publish(update(6701240000000, 6701241000000, 670124050000000, confidence=4250000000),
                 publish_ns=1)
    sink.flush()
    (line,) = read_lines(read_end)
    assert (line["price"], line["confidence"], line["method"]) == ("67012.405", "0.425", "pyth")


def test_trades_have_their_own_line_type():
    read_end, write_end = os.pipe()
    sink = StdoutSink({"BTC-USDT": 8}, {"BTC-USDT": 8}, write_end)
    sink.publish_trade(Trade("binance", "BTC-USDT", 6701241000000, 150000, BUY, 77, 5, 4), publish_ns=6)
    sink.close()
    (line,) = read_lines(read_end)
    assert line == {"type": "trade", "symbol": "BTC-USDT", "venue": "binance", "price": "67012.41",
                    "size": "0.0015", "side": "buy", "trade_id": 77, "exchange_ns": 4,
                    "recv_ns": 5, "publish_ns": 6}


def test_tickers_have_their_own_line_type():
    read_end, write_end = os.pipe()
    sink = StdoutSink({"BTC-USDT": 8}, {"BTC-USDT": 8}, write_end)
    sink.publish_ticker(Ticker("binance", "BTC-USDT", 6701241000000, 5, 4), publish_ns=6)
    sink.close()
    (line,) = read_lines(read_end)
    assert line == {"type": "ticker", "symbol": "BTC-USDT", "venue": "binance", "last": "67012.41",
                    "exchange_ns": 4, "recv_ns": 5, "publish_ns": 6}


async def start(write_end: int, max_pending_bytes: int) -> StdoutSink:
    sink = StdoutSink({"BTC-USDT": 8}, {"BTC-USDT": 8}, write_end, max_pending_bytes=max_pending_bytes)
    await sink.start()
    return sink


def drain(read_end: int) -> bytes:
    os.set_blocking(read_end, False)
    chunks = []
    while True:
        try:
            chunk = os.read(read_end, 1 << 20)
        except BlockingIOError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_a_started_sink_whose_pipe_is_read_writes_once_per_flush():
    read_end, write_end = os.pipe()

    async def scenario():
        sink = await start(write_end, 1 << 20)
        for i in range(1, 101):
            sink.publish(update(i * 100000000, 10**12, 10**16), publish_ns=i)
            sink.publish(update(i * 100000000 + 1, 10**12, 10**16), publish_ns=i)
            sink.flush()
            drain(read_end)
        return sink

    sink = asyncio.run(scenario())
    assert (sink.writes, sink.lines, sink.pipe_full, sink.dropped_lines) == (100, 200, 0, 0)


def test_a_pipe_nobody_reads_never_blocks_and_keeps_a_bounded_backlog_of_whole_lines():
    """64 KiB of pipe and a 256 KiB backlog hold about 800 lines; 20000 go out. Every flush
    returns at once; the oldest whole lines are dropped and counted; when the reader comes
    back, it reads whole JSON lines only, in order, ending with the newest."""
    read_end, write_end = os.pipe()
    bound = 256 * 1024

    async def scenario():
        sink = await start(write_end, bound)
        largest = 0
        for i in range(1, 20001):
            sink.publish(update(i * 100000000, 10**12, 10**16), publish_ns=i)
            if i % 10 == 0:
                sink.flush()
                largest = max(largest, sink.pending_bytes)
        assert largest <= bound
        stuck = sink.status()
        received = []
        while sink.pending_bytes:  # the reader is back: the event loop writes the backlog
            received.append(drain(read_end))
            await asyncio.sleep(0.001)
        received.append(drain(read_end))
        return sink, stuck, b"".join(received)

    sink, stuck, received = asyncio.run(scenario())
    lines = [json.loads(line) for line in received.decode().splitlines()]
    stamps = [line["publish_ns"] for line in lines]
    assert stamps == sorted(stamps) and stamps[-1] == 20000
    assert stuck["pipe_full"] >= 1 and stuck["dropped_lines"] > 10000
    assert len(lines) + sink.dropped_lines == 20000
    assert stuck["pending_bytes"] <= bound


def test_close_waits_a_bounded_time_for_a_stuck_reader_and_gives_blocking_mode_back():
    read_end, write_end = os.pipe()

    async def scenario():
        sink = await start(write_end, 1 << 20)
        assert not os.get_blocking(write_end)
        for i in range(1, 2001):
            sink.publish(update(i * 100000000, 10**12, 10**16), publish_ns=i)
        sink.flush()
        assert sink.pending_bytes
        sink.close()
        return sink

    sink = asyncio.run(scenario())
    assert os.get_blocking(write_end)
    assert sink.pending_bytes == 0
    assert 0 < sink.dropped_lines < 2000
    received = drain(read_end)
    assert received.count(b"\n") + sink.dropped_lines == 2000  # a last line cut short is dropped


def test_an_unstarted_sink_blocks_until_the_reader_takes_everything():
    """Replay never starts its sink: no line may be lost however slow the reader."""
    read_end, write_end = os.pipe()
    sink = StdoutSink({"BTC-USDT": 8}, {"BTC-USDT": 8}, write_end)
    for i in range(1, 2001):
        sink.publish(update(i * 100000000, 10**12, 10**16), publish_ns=i)
    received = []
    reader = threading.Thread(target=lambda: received.append(read_all(read_end)))
    reader.start()
    sink.flush()
    os.close(write_end)
    reader.join()
    assert len(received[0].splitlines()) == 2000 and sink.dropped_lines == 0


def test_a_sink_told_to_wait_for_its_reader_stays_blocking_and_loses_nothing_when_started():
    read_end, write_end = os.pipe()

    async def scenario():
        sink = StdoutSink({"BTC-USDT": 8}, {"BTC-USDT": 8}, write_end, wait_for_reader=True)
        await sink.start()
        assert os.get_blocking(write_end)
        for i in range(1, 2001):
            sink.publish(update(i * 100000000, 10**12, 10**16), publish_ns=i)
        received = []
        reader = threading.Thread(target=lambda: received.append(read_all(read_end)))
        reader.start()
        sink.flush()  # far more than the pipe holds: returns once the reader took it all
        os.close(write_end)
        reader.join()
        return sink, received[0]

    sink, received = asyncio.run(scenario())
    assert len(received.splitlines()) == 2000
    assert (sink.dropped_lines, sink.pipe_full) == (0, 0)


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_reader_that_went_away_is_reported_once():
    read_end, write_end = os.pipe()
    gone = []

    async def scenario():
        sink = StdoutSink({"BTC-USDT": 8}, {"BTC-USDT": 8}, write_end, on_reader_gone=lambda: gone.append(1))
        await sink.start()
        os.close(read_end)
        for i in range(3):
            sink.publish(update(100000000, 10**12, 10**16), publish_ns=i)
            sink.flush()
        sink.close()
        return sink

    sink = asyncio.run(scenario())
    assert gone == [1] and sink.reader_gone and sink.pending_bytes == 0
