"""The consumer WebSocket API (``--sink ws``) with real picows clients on loopback: the protocol,
the tokens, and a consumer that stops reading while another keeps up."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from typing import Any

import pytest
from picows import WSHandshakeError, WSMsgType, ws_connect

from tests.integration.conftest import eventually, run_async
from tickwire.model import BUY, ConsolidatedQuote, PriceBasis, Ticker, Trade
from tickwire.sinks.stdout import StdoutSink
from tickwire.sinks.ws import WsSink

from .ws_helpers import Consumer, connect, subscribed

SYMBOLS = ("BTC-USDT", "ETH-USDT")
TOKEN = "s3cret-token-0123456789"


def update(symbol: str, bid: int, publish_ns: int = 0) -> ConsolidatedQuote:
    basis = PriceBasis("median", "ok", 1, ("binance",), {})
    return ConsolidatedQuote(symbol, bid, 150000000, ("binance",), bid + 100, 1, ("binance",),
                             "normal", bid * 10 + 500, None, 10, basis, 11, 12, "binance")


def make_sink(token: str | None = None, max_buffer_bytes: int = 256 * 1024) -> WsSink:
    scales = {symbol: 8 for symbol in SYMBOLS}
    return WsSink(scales, scales, "127.0.0.1", 0, token, max_buffer_bytes)


def test_a_consumer_gets_hello_then_an_ack_then_only_the_symbols_it_subscribed():
    async def scenario():
        sink = make_sink()
        await sink.start()
        btc = await subscribed(sink.url, "BTC-USDT")
        everything = await subscribed(sink.url, "*")
        sink.publish(update("BTC-USDT", 6701240000000), 1)
        sink.publish(update("ETH-USDT", 350000000000), 2)
        sink.flush()
        await eventually(lambda: len(everything.of_type("price")) == 2)
        await asyncio.sleep(0.05)
        sink.close()
        return btc, everything

    btc, everything = run_async(scenario())
    assert btc.lines[0] == {"type": "hello", "symbols": ["BTC-USDT", "ETH-USDT"]}
    assert btc.lines[1] == {"type": "subscribed", "id": 1, "symbols": ["BTC-USDT"]}
    assert btc.bids("BTC-USDT") == ["67012.4"] and btc.bids("ETH-USDT") == []
    assert everything.lines[1]["symbols"] == ["*"]
    assert [line["symbol"] for line in everything.of_type("price")] == ["BTC-USDT", "ETH-USDT"]
    assert len(everything.raw) == 3  # hello, ack, and one message for the whole flush


def test_price_lines_are_byte_for_byte_the_stdout_lines():
    async def scenario(read_end: int, write_end: int):
        sink = make_sink()
        await sink.start()
        consumer = await subscribed(sink.url, "*")
        stdout = StdoutSink({s: 8 for s in SYMBOLS}, {s: 8 for s in SYMBOLS}, write_end)
        for s in (sink, stdout):
            s.publish(update("BTC-USDT", 6701240000000), 5)
            s.publish_trade(Trade("binance", "BTC-USDT", 6701241000000, 150000, BUY, 77, 5, 4), 6)
            s.flush()
        await eventually(lambda: len(consumer.raw) == 3)
        sink.close()
        return consumer.raw[2]

    read_end, write_end = os.pipe()
    assert run_async(scenario(read_end, write_end)) == os.read(read_end, 1 << 16)


def test_a_new_subscription_gets_the_latest_update_of_each_new_symbol_at_once():
    async def scenario():
        sink = make_sink()
        await sink.start()
        sink.publish(update("BTC-USDT", 100000000), 1)
        sink.publish(update("BTC-USDT", 200000000), 2)  # nobody subscribed yet: nothing sent
        sink.flush()
        consumer = await subscribed(sink.url, "BTC-USDT", "ETH-USDT")
        await eventually(lambda: consumer.of_type("price"))
        sink.close()
        return consumer

    consumer = run_async(scenario())
    (line,) = consumer.of_type("price")
    assert (line["symbol"], line["bid"], line["publish_ns"]) == ("BTC-USDT", "2", 2)


def test_unsubscribing_stops_the_lines_and_bad_requests_get_an_error_without_a_disconnect():
    async def scenario():
        sink = make_sink()
        await sink.start()
        consumer = await subscribed(sink.url, "*")
        consumer.request(op="unsubscribe", symbols=["ETH-USDT"], id=2)
        consumer.request(op="subscribe", symbols=["DOGE-USDT"], id=3)
        consumer.request(op="subscribe", symbols=[], id=4)
        consumer.request(op="fly", id=5)
        consumer.transport.send(WSMsgType.TEXT, b"{not json")
        consumer.transport.send(WSMsgType.TEXT, b'{"op": "subscribe", "symbols": "BTC-USDT"}')
        await eventually(lambda: len(consumer.of_type("error")) == 5)
        sink.publish(update("BTC-USDT", 100000000), 1)
        sink.publish(update("ETH-USDT", 100000000), 2)
        sink.flush()
        await eventually(lambda: consumer.of_type("price"))
        consumer.request(op="unsubscribe", symbols=["*"], id=6)
        await eventually(lambda: len(consumer.of_type("unsubscribed")) == 2)
        sink.publish(update("BTC-USDT", 300000000), 3)
        sink.flush()
        await asyncio.sleep(0.05)
        status = sink.status()
        sink.close()
        return consumer, status

    consumer, status = run_async(scenario())
    first, last = consumer.of_type("unsubscribed")
    assert (first["id"], first["symbols"]) == (2, ["BTC-USDT"])
    assert (last["id"], last["symbols"]) == (6, [])
    errors = [line["error"] for line in consumer.of_type("error")]
    assert errors[0].startswith("unknown symbol 'DOGE-USDT' (symbols are BTC-USDT, ETH-USDT")
    assert errors[1].startswith("no symbols given")
    assert errors[2].startswith("unknown op 'fly'")
    assert errors[3].startswith("bad request: JSON is malformed")
    assert errors[4].startswith("bad request: Expected `array`")
    assert [line["id"] for line in consumer.of_type("error")[:3]] == [3, 4, 5]
    assert consumer.bids("BTC-USDT") == ["1"] and consumer.bids("ETH-USDT") == []
    assert status["consumers"][0]["requests"] == 8


def test_a_consumer_that_stops_reading_is_conflated_alone_and_catches_up_with_the_latest():
    """The slow consumer reads nothing while thousands of updates go out: it alone switches to
    conflation and counts drops; the fast one gets every line; back to reading, the slow one
    gets the latest line of each symbol and then the stream again."""

    def small_receive_buffer(parsed_url: Any) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((parsed_url.host, parsed_url.port))
        return sock

    async def scenario():
        sink = make_sink(max_buffer_bytes=8192)
        await sink.start()
        fast = await subscribed(sink.url, "*")
        _, slow = await ws_connect(Consumer, sink.url, socket_factory=small_receive_buffer)
        await eventually(lambda: slow.of_type("hello"))
        slow.request(op="subscribe", symbols=["*"], id=1)
        await eventually(lambda: slow.of_type("subscribed"))
        slow.transport.underlying_transport.pause_reading()
        sent = 0
        for _ in range(5000):
            for _ in range(20):
                sent += 1
                sink.publish(update(SYMBOLS[sent % 2], sent * 100000000), sent)
            sink.flush()
            await asyncio.sleep(0)
            if sink.status()["consumers"][1]["dropped_lines"] > 1000:
                break
        await eventually(lambda: len(fast.of_type("price")) == sent)
        during = sink.status()
        slow.transport.underlying_transport.resume_reading()
        await eventually(lambda: not sink.status()["consumers"][1]["conflating"])
        sent += 1
        sink.publish(update("BTC-USDT", sent * 100000000), sent)
        sink.flush()
        await eventually(lambda: slow.bids("BTC-USDT")[-1:] == [str(sent)])
        after = sink.status()
        sink.close()
        return fast, slow, sent, during, after

    fast, slow, sent, during, after = run_async(scenario())
    fast_status, slow_status = during["consumers"]
    assert fast_status["dropped_lines"] == 0 and fast_status["pauses"] == 0
    assert slow_status["conflating"] and slow_status["pauses"] >= 1
    assert slow_status["dropped_lines"] > 1000
    assert len(fast.of_type("price")) == sent
    assert [int(line["bid"]) for line in fast.of_type("price")] == list(range(1, sent + 1))
    prices = slow.of_type("price")
    received = after["consumers"][1]["sent_lines"]
    assert len(prices) == received
    assert received + after["consumers"][1]["dropped_lines"] == sent
    # whatever the slow one got is in order, and its last two lines before the final one are
    # the latest of each symbol when it resumed
    bids = [int(line["bid"]) for line in prices]
    assert bids == sorted(bids)
    assert {bids[-3], bids[-2]} == {sent - 1, sent - 2}
    assert after["dropped_lines"] == slow_status["dropped_lines"] == after["consumers"][1]["dropped_lines"]


def test_with_a_token_a_consumer_must_present_it_in_a_header_or_the_query():
    async def scenario():
        sink = make_sink(token=TOKEN)
        await sink.start()
        refusals = []
        for path, headers in (("", None), (f"?token={TOKEN}x", None),
                              ("", {"Authorization": f"Bearer {TOKEN[:-1]}"}),
                              ("", {"Authorization": f"Basic {TOKEN}"})):
            with pytest.raises(WSHandshakeError) as refused:
                await ws_connect(Consumer, sink.url + path, extra_headers=headers)
            refusals.append((refused.value.response.status, refused.value.raw_body))
        by_header = await connect(sink.url, extra_headers={"Authorization": f"Bearer {TOKEN}"})
        by_query = await connect(f"{sink.url}?token={TOKEN}")
        status = sink.status()
        sink.close()
        return refusals, by_header, by_query, status, sink.report()

    refusals, by_header, by_query, status, report = run_async(scenario())
    assert [code for code, _ in refusals] == [401] * 4
    assert all(TOKEN[:8] not in body.decode() for _, body in refusals)
    assert by_header.of_type("hello") and by_query.of_type("hello")
    assert status["refused"] == 4 and status["connected"] == 2
    assert TOKEN not in json.dumps(status) and TOKEN not in "\n".join(report)


def test_only_the_root_path_is_served():
    async def scenario():
        sink = make_sink()
        await sink.start()
        with pytest.raises(WSHandshakeError) as refused:
            await ws_connect(Consumer, sink.url + "other")
        sink.close()
        return refused.value.response.status

    assert run_async(scenario()) == 404


def test_a_port_in_use_is_one_clear_error():
    async def scenario():
        first = make_sink()
        await first.start()
        taken = int(first.url.rsplit(":", 1)[1].rstrip("/"))
        second = WsSink({}, {}, "127.0.0.1", taken)
        try:
            await second.start()
        finally:
            first.close()

    with pytest.raises(ValueError, match=r"^ws: cannot listen on 127\.0\.0\.1:\d+: "):
        run_async(scenario())


def test_while_conflating_a_consumer_keeps_the_latest_price_per_symbol_and_ticker_per_venue():
    """What picows calls when the consumer's buffer crosses its high-water mark and when it
    drains: in between, every replaced line and every trade counts as dropped."""

    async def scenario():
        sink = make_sink()
        await sink.start()
        consumer = await subscribed(sink.url, "*")
        (server_side,) = sink.consumers
        server_side.pause_writing()
        trade = Trade("binance", "BTC-USDT", 6701241000000, 150000, BUY, 77, 5, 4)
        sink.publish(update("BTC-USDT", 100000000), 1)
        sink.publish_ticker(Ticker("binance", "BTC-USDT", 100000000, 5, 4), 2)
        sink.publish_trade(trade, 3)
        sink.flush()
        sink.publish(update("ETH-USDT", 100000000), 4)
        sink.publish_ticker(Ticker("okx", "BTC-USDT", 200000000, 5, 4), 5)
        sink.publish(update("BTC-USDT", 300000000), 6)
        sink.publish_trade(trade, 7)
        sink.publish_ticker(Ticker("binance", "BTC-USDT", 400000000, 5, 4), 8)
        sink.flush()
        before = len(consumer.lines)
        server_side.resume_writing()
        await eventually(lambda: len(consumer.lines) > before)
        status = sink.status()["consumers"][0]
        sink.close()
        return consumer.lines[before:], consumer.raw[-1], status

    caught_up, message, status = run_async(scenario())
    assert [(line["type"], line.get("venue"), line["publish_ns"]) for line in caught_up] == [
        ("price", "binance", 4), ("ticker", "okx", 5), ("price", "binance", 6), ("ticker", "binance", 8)]
    assert message.count(b"\n") == 4  # in one message
    assert (status["dropped_lines"], status["pauses"], status["conflating"]) == (4, 1, False)
