"""The stdout sink: exact decimal text, one write per flush, the documented schema."""

from __future__ import annotations

import json
import os

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
