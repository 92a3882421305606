"""Every codec against hostile input: recorded frames, mutated (bytes flipped, truncated, numbers and
strings replaced by huge, negative, NaN, exponent or wrongly typed values, keys dropped, prices
swapped so quotes cross), fed in their recorded order to a connected adapter.

Whatever arrives, ``decode`` raises nothing, and every event it gives is valid: prices above
zero, bid below ask, sizes not negative, and each price equal to a decimal number written in a
frame the adapter was given. ``tests/fuzz/fuzz_codecs.py`` drives the same check under atheris.
"""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickwire.instruments import parse_symbol
from tickwire.model import Quote, Ticker, Trade
from tickwire.venues.base import Channel, VenueAdapter
from tickwire.venues.registry import VENUES

from . import (
    test_binance_codec,
    test_binance_usdm_codec,
    test_bitfinex_codec,
    test_bitstamp_codec,
    test_bybit_codec,
    test_coinbase_codec,
    test_gemini_codec,
    test_kraken_v1_codec,
    test_okx_codec,
)
from .venue_cases import connected, recorded_lines

FRAMES_PER_FILE = 10
EXAMPLES = int(os.environ.get("TICKWIRE_FUZZ_EXAMPLES", "60"))  # per venue; more for a longer hunt

# Kraken v2 has no recorded frames (the samples are v1): these are the documented shapes.
KRAKEN_V2_FRAMES = [
    b'{"method":"subscribe","result":{"channel":"ticker","event_trigger":"bbo","snapshot":true,'
    b'"symbol":"BTC/USD"},"success":true,"time_in":"2026-09-30T14:30:00.000001Z",'
    b'"time_out":"2026-09-30T14:30:00.000101Z","req_id":1}',
    b'{"channel":"ticker","type":"snapshot","data":[{"symbol":"BTC/USD","bid":67011.0,"bid_qty":2.0,'
    b'"ask":67012.9,"ask_qty":1.1,"last":67012.1,"volume":1632.8908096,"vwap":66904.39279,'
    b'"low":65711.0,"high":67613.1,"change":250.0,"change_pct":0.37,'
    b'"timestamp":"2026-09-30T14:30:03.123456Z"}]}',
    b'{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":67011.5,"bid_qty":0.5,'
    b'"ask":67012.9,"ask_qty":1.1,"last":67012.1,"volume":1632.8908096,"vwap":66904.39279,'
    b'"low":65711.0,"high":67613.1,"change":250.0,"change_pct":0.37,'
    b'"timestamp":"2026-09-30T14:30:03.223456Z"}]}',
    b'{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":67012.9,'
    b'"qty":0.00027625,"ord_type":"limit","trade_id":10218208,"timestamp":"2026-09-30T14:30:02.440295Z"}]}',
    b'{"channel":"heartbeat"}',
]


def recorded(venue_dir: str, *names: str) -> list[bytes]:
    """The first ``FRAMES_PER_FILE`` frames of each recorded file, file after file."""
    return [frame for name in names for frame in recorded_lines(venue_dir, name)[:FRAMES_PER_FILE]]


def coinbase_connection() -> list[bytes]:
    """The first frames of Coinbase's recorded connection: its channels, recorded into one file
    each, merged back into the order of their ``sequence_num``."""
    frames = [frame for name in ("control.jsonl", "l2_data_updates.jsonl.gz", "ticker.jsonl",
                                 "market_trades.jsonl") for frame in recorded_lines("coinbase", name)]
    frames.sort(key=lambda frame: json.loads(frame)["sequence_num"])
    return frames[:4 * FRAMES_PER_FILE]


# venue -> (a freshly connected adapter, the frames it is fed in order)
SEEDS: dict[str, tuple[Callable[[], VenueAdapter], list[bytes]]] = {
    "binance": (test_binance_codec.recorded_venue,
                recorded("binance", "bookTicker.jsonl", "aggTrade.jsonl", "kline.jsonl", "depth.jsonl")),
    "binance_usdm": (test_binance_usdm_codec.public_venue, recorded("binance_usdm", "bookTicker.jsonl")),
    "binance_usdm_market": (test_binance_usdm_codec.market_venue,
                            recorded("binance_usdm", "aggTrade.jsonl", "kline.jsonl")),
    "bitfinex": (test_bitfinex_codec.recorded_venue,
                 recorded_lines("bitfinex", test_bitfinex_codec.CAPTURE)[:4 * FRAMES_PER_FILE]),
    "bitstamp": (test_bitstamp_codec.recorded_venue,
                 recorded("bitstamp", "control.jsonl", "diff_order_book.jsonl", "live_trades.jsonl")),
    "bybit": (test_bybit_codec.spot_venue,
              recorded("bybit", "spot_control.jsonl", "spot_orderbook.jsonl.gz", "spot_tickers.jsonl",
                       "spot_publicTrade.jsonl")),
    "bybit_linear": (test_bybit_codec.linear_venue,
                     recorded("bybit", "linear_control.jsonl", "linear_orderbook.jsonl.gz",
                              "linear_tickers.jsonl", "linear_publicTrade.jsonl")),
    "coinbase": (test_coinbase_codec.recorded_venue, coinbase_connection()),
    "gemini": (test_gemini_codec.recorded_venue,
               recorded("gemini", "control.jsonl", "l2_updates.jsonl.gz", "trade.jsonl")),
    "kraken": (lambda: connected(VENUES["kraken"], ["BTC-USD"], Channel.ALL), KRAKEN_V2_FRAMES),
    "kraken_v1": (test_kraken_v1_codec.recorded_venue,
                  recorded("kraken", "control.jsonl", "ticker.jsonl", "trade.jsonl")),
    "okx": (test_okx_codec.recorded_venue, recorded("okx", "control.jsonl", "tickers.jsonl", "trades.jsonl")),
}

_NUMBER = re.compile(rb"-?\d*\.?\d+(?:[eE][+-]?\d+)?")


def numbers_in(frame: bytes) -> set[Decimal]:
    """Every decimal number written in ``frame`` (in JSON numbers and inside strings alike)."""
    values = set()
    for match in _NUMBER.finditer(frame):
        try:
            value = Decimal(match.group().decode())
        except InvalidOperation:
            continue
        if value.is_finite():
            values.add(value)
    return values


def decode_checked(adapter: VenueAdapter, frames: list[bytes]) -> int:
    """Feed ``frames`` to ``adapter`` in order and check every event; the number of events.

    Each price must be a number some frame fed so far wrote (a venue that keeps a book may quote
    a level an earlier frame set)."""
    written: set[Decimal] = set()
    scales: dict[str, int] = {}
    count = 0
    for frame in frames:
        written |= numbers_in(frame)
        for event in adapter.decode(frame, 1):
            count += 1
            assert event.venue == adapter.name
            scale = scales.get(event.symbol)
            if scale is None:
                scale = scales[event.symbol] = parse_symbol(event.symbol).price_scale
            if type(event) is Quote:
                assert 0 < event.bid < event.ask, event
                assert event.bid_size >= 0 and event.ask_size >= 0, event
                prices = (event.bid, event.ask)
            elif type(event) is Trade:
                assert event.price > 0 and event.size >= 0, event
                prices = (event.price,)
            else:
                assert type(event) is Ticker
                assert event.last > 0, event
                prices = (event.last,)
            for price in prices:
                assert Decimal(price).scaleb(-scale) in written, (event, frame[:300])
    return count


# --- mutations --------------------------------------------------------------------------------

RAW = "\x01raw\x01"  # marks a replacement written into the JSON text as it is
RAW_VALUES = [
    "1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1E+2", "1.5e-3", "-0", "0", "0.0", "00012",
    "123456789012345678901234567890.123456789", "-67000.5", "1.", ".5", "0x10",
]
STRING_VALUES = [
    "NaN", "Infinity", "1e5", "1E-3", "-1", "-0.00000001", "0", "0.00000000", "", " 67000", "67,000",
    "abc", "99999999999999999999999999999999", "67000.123456789123456", "\u00e9\ud7ff", "\x00",
]
OTHER_VALUES: list[Any] = [None, True, False, [], {}, [1, 2], {"a": 1}, -1, 0, 2**70, -(2**70), 1.5e300]
REPLACEMENTS = [RAW + raw for raw in RAW_VALUES] + STRING_VALUES + OTHER_VALUES


def leaves(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every value under ``node`` (containers too), depth first."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += leaves(value, (*path, index))
    return found


def at(node: Any, path: tuple) -> Any:
    for step in path:
        node = node[step]
    return node


def encoded(document: Any) -> bytes:
    """``document`` as JSON, with RAW-marked strings written as the raw text they carry."""
    text = json.dumps(document, separators=(",", ":"), allow_nan=True)
    return re.sub(r'"\\u0001raw\\u0001(.*?)"', lambda m: m.group(1), text).encode()


def is_number_like(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and bool(re.fullmatch(r"-?\d+(\.\d+)?", value))


@st.composite
def json_mutation(draw: st.DrawFn, frame: bytes) -> bytes:
    try:
        document = json.loads(frame)
    except ValueError:
        return frame
    paths = leaves(document)
    operation = draw(st.sampled_from(["replace", "negate", "drop", "swap"]))
    path = draw(st.sampled_from(paths))
    if not path:  # the whole frame
        return encoded(draw(st.sampled_from(REPLACEMENTS)))
    parent, key = at(document, path[:-1]), path[-1]
    value = parent[key]
    if operation == "negate" and is_number_like(value):
        parent[key] = -value if not isinstance(value, str) else (
            value[1:] if value.startswith("-") else "-" + value)
    elif operation == "drop":
        del parent[key]
    elif operation == "swap":  # two numbers of one object or array traded places: crossed quotes
        siblings = [k for k in (parent if isinstance(parent, dict) else range(len(parent)))
                    if is_number_like(parent[k])]
        if len(siblings) >= 2:
            first, second = draw(st.lists(st.sampled_from(siblings), min_size=2, max_size=2, unique=True))
            parent[first], parent[second] = parent[second], parent[first]
    else:
        parent[key] = draw(st.sampled_from(REPLACEMENTS))
    return encoded(document)


@st.composite
def byte_flips(draw: st.DrawFn, frame: bytes) -> bytes:
    if not frame:
        return b"\xff"
    mutated = bytearray(frame)
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(frame) - 1))
        mutated[index] ^= draw(st.integers(1, 255))
    return bytes(mutated)


def mutation(frame: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(
        json_mutation(frame),
        json_mutation(frame),
        byte_flips(frame),
        st.integers(0, max(len(frame) - 1, 0)).map(lambda end: frame[:end]),
    )


@st.composite
def mutated_sequences(draw: st.DrawFn, frames: list[bytes]) -> list[bytes]:
    """``frames`` in order with one to four of them mutated (some maybe twice)."""
    sequence = list(frames)
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(frames) - 1))
        sequence[index] = draw(mutation(sequence[index]))
    return sequence


# --- tests ------------------------------------------------------------------------------------


def test_every_registered_venue_is_fuzzed():
    assert set(SEEDS) == set(VENUES)
    for name, (make, _) in SEEDS.items():
        assert make().name == name


@pytest.mark.parametrize("venue", sorted(SEEDS))
def test_the_recorded_frames_as_they_are_give_only_valid_events(venue):
    make, frames = SEEDS[venue]
    adapter = make()
    assert decode_checked(adapter, frames) > 0, adapter.stats.errors


class QuotesOneBid:
    """An adapter that quotes ``bid`` against an ask of 67000.20, whatever the frame says."""

    name = "binance"

    def __init__(self, bid: int) -> None:
        self.bid = bid

    def decode(self, payload: bytes, recv_ns: int) -> tuple[Quote]:
        return (Quote("binance", "BTC-USDT", self.bid, 1, 67000_20000000, 1, recv_ns),)


def test_the_check_refuses_a_price_that_no_frame_wrote():
    frame = b'{"s":"BTCUSDT","b":"67000.10","B":"1","a":"67000.20","A":"1"}'
    assert decode_checked(QuotesOneBid(67000_10000000), [frame]) == 1  # type: ignore[arg-type]
    with pytest.raises(AssertionError):
        decode_checked(QuotesOneBid(67000_15000000), [frame])  # type: ignore[arg-type]


@pytest.mark.parametrize("venue", sorted(SEEDS))
@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_mutated_frames_raise_nothing_and_give_only_valid_events(venue, data):
    make, frames = SEEDS[venue]
    decode_checked(make(), data.draw(mutated_sequences(frames), label="frames"))
