"""Every adapter reads the frames of its subscriptions on a fast path (one msgspec pass into structs
of the usual shape, routed by the stream or topic name) and everything else on its general path.
The fast path must change nothing but the speed: on recorded frames, and on any mutation of them,
``decode`` gives exactly the events and counters the general path alone gives, and never an
invalid quote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.model import Quote, Ticker, Trade
from tickwire.venues.base import Channel, VenueAdapter
from tickwire.venues.binance import BinanceSpot
from tickwire.venues.binance_usdm import BinanceUsdm
from tickwire.venues.bitstamp import BitstampSpot
from tickwire.venues.bybit import BybitLinear, BybitSpot
from tickwire.venues.coinbase import CoinbaseAdvanced
from tickwire.venues.kraken import KrakenSpot
from tickwire.venues.kraken_v1 import KrakenSpotV1
from tickwire.venues.okx import OkxPublic

from .venue_cases import connected, recorded_lines


def compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def bybit_orderbook_1(name: str) -> list[bytes]:
    """``orderbook.1`` snapshots (one level a side) with the best levels of the recorded
    ``orderbook.200`` snapshots and deltas, in their order, one ``u`` per topic."""
    frames, u = [], {}
    for line in recorded_lines("bybit", name):
        message = json.loads(line)
        data = message["data"]
        if not (data["b"] and data["a"]):
            continue
        symbol = data["s"]
        u[symbol] = u.get(symbol, 0) + 1
        frames.append(compact({
            "topic": f"orderbook.1.{symbol}", "ts": message["ts"], "type": "snapshot",
            "data": {"s": symbol, "b": data["b"][:1], "a": data["a"][:1], "u": u[symbol], "seq": data["seq"]},
            "cts": message["cts"],
        }))
    return frames


def bitstamp_order_books() -> list[bytes]:
    """``order_book`` frames with the levels of the recorded ``diff_order_book`` frames (a side may
    be empty, as in the recording)."""
    return [
        line.replace(b'"channel":"diff_order_book_', b'"channel":"order_book_')
        for line in recorded_lines("bitstamp", "diff_order_book.jsonl")
    ]


@dataclass(frozen=True)
class Case:
    adapter: type[VenueAdapter]
    symbols: list[str]
    channels: frozenset[str]
    bbo: list[bytes]  # frames of the BBO channel
    others: list[bytes] = ()  # type: ignore[assignment]

    @property
    def frames(self) -> list[bytes]:
        return [*self.bbo, *self.others]

    def venue(self) -> VenueAdapter:
        return connected(self.adapter, self.symbols, self.channels)


BBO = frozenset({Channel.BBO})
BITSTAMP = ["ADA-EUR", "BAT-EUR", "ETH-USD", "GALA-EUR", "USDT-EUR", "USDT-USD", "XLM-GBP", "XRP-EUR"]
KRAKEN_V1 = ["KSM-BTC", "XMR-USD", "ETH-CHF", "OMG-USD", "GRT-ETH", "WAVES-EUR", "SC-EUR", "OCEAN-BTC",
             "BTC-CHF", "ADA-BTC"]
CASES = [
    Case(BinanceSpot, ["NKN-USDT", "BLZ-ETH", "LRC-BTC", "RUNE-EUR"], Channel.ALL,
         recorded_lines("binance", "bookTicker.jsonl"), recorded_lines("binance", "aggTrade.jsonl")),
    Case(BinanceUsdm, ["SUSHI-USDT-PERP", "AKRO-USDT-PERP", "CTK-USDT-PERP"], BBO,
         recorded_lines("binance_usdm", "bookTicker.jsonl")[:150]),
    Case(CoinbaseAdvanced, ["BTC-USD", "ETH-USD"], Channel.ALL, recorded_lines("coinbase", "ticker.jsonl"),
         recorded_lines("coinbase", "market_trades.jsonl") + recorded_lines("coinbase", "control.jsonl")),
    Case(BybitLinear, ["BTC-USDT-PERP", "ETH-USDT-PERP", "SOL-USDT-PERP"], Channel.ALL,
         bybit_orderbook_1("linear_orderbook.jsonl.gz")[:150] + recorded_lines("bybit", "linear_tickers.jsonl")[:150],
         recorded_lines("bybit", "linear_publicTrade.jsonl")[:30]),
    Case(BybitSpot, ["BTC-USDT", "ETH-USDT"], BBO, bybit_orderbook_1("spot_orderbook.jsonl.gz")[:150],
         recorded_lines("bybit", "spot_control.jsonl")),
    Case(BitstampSpot, BITSTAMP, Channel.ALL, bitstamp_order_books(), recorded_lines("bitstamp", "control.jsonl")),
    Case(KrakenSpotV1, KRAKEN_V1, Channel.ALL, recorded_lines("kraken", "ticker.jsonl"),
         recorded_lines("kraken", "trade.jsonl") + recorded_lines("kraken", "control.jsonl")),
]


def outcome(venue: Any, events: Any) -> tuple:
    """What a decode call leaves behind: its events and every counter the adapter keeps."""
    stats = venue.stats
    return (tuple(events), dict(stats.errors), stats.control, stats.sequence_gaps, list(stats.venue_errors),
            venue.wants_reconnect())


def assert_same_as_the_general_path(case: Case, frames: list[bytes]) -> None:
    """One adapter decodes ``frames``, another reads each on its general path only; after every
    frame both have given the same events and counted the same."""
    fast, general = case.venue(), case.venue()
    symbols = set(case.symbols)
    for frame in frames:
        events = fast.decode(frame, 7)
        assert outcome(fast, events) == outcome(general, general._decode_other(frame, 7)), frame  # type: ignore[attr-defined]
        for event in events:
            assert event.venue == fast.name and event.symbol in symbols
            if isinstance(event, Quote):
                assert 0 < event.bid < event.ask and event.bid_size > 0 and event.ask_size > 0
            elif isinstance(event, Trade):
                assert event.price > 0 and event.size > 0
            else:
                assert isinstance(event, Ticker) and event.last > 0


def test_recorded_frames_decode_on_the_fast_path_to_what_the_general_path_gives():
    for case in CASES:
        assert_same_as_the_general_path(case, case.frames)


def test_the_recorded_bbo_frames_are_read_on_the_fast_path():
    # the comparison above proves something only if the fast path is taken (the recorded Bitstamp
    # books with an empty side are not: they take the general path, which counts them)
    for case in CASES:
        venue = case.venue()
        general = []
        venue._decode_other = lambda payload, recv_ns: general.append(payload) or ()  # type: ignore[attr-defined]
        for frame in case.bbo:
            venue.decode(frame, 7)
        assert len(general) <= len(case.bbo) // 4, case.adapter.name


JSON_BYTES = st.sampled_from(list(b'"{}[],:\\ \t\n0123456789.-+eEaAbBsSuU') + [0, 0x7F, 0xC3, 0xE9, 0xFF])


@st.composite
def mutated(draw: st.DrawFn, frame: bytes) -> bytes:
    """``frame`` with a few bytes replaced, inserted, deleted or the end cut off."""
    data = bytearray(frame)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        change = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "repeat"]))
        if change == "replace" and at < len(data):
            data[at] = draw(JSON_BYTES)
        elif change == "insert":
            data[at:at] = bytes(draw(st.lists(JSON_BYTES, min_size=1, max_size=4)))
        elif change == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif change == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 12))]
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_frames_give_what_the_general_path_gives_and_nothing_invalid(data):
    case = data.draw(st.sampled_from(CASES))
    start = data.draw(st.integers(0, len(case.frames) - 1))
    frames = case.frames[start : start + 4]
    at = data.draw(st.integers(0, len(frames) - 1))
    frames[at] = data.draw(mutated(frames[at]))
    assert_same_as_the_general_path(case, frames)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_frames_with_a_value_swapped_from_another_frame_give_what_the_general_path_gives(data):
    # a JSON string taken from another recorded frame of the venue (a symbol, a stream or topic
    # name, a price, a type) put in place of one of this frame's
    case = data.draw(st.sampled_from(CASES))
    frame, donor = data.draw(st.sampled_from(case.frames)), data.draw(st.sampled_from(case.frames))
    parts, donor_parts = frame.split(b'"'), donor.split(b'"')
    if len(parts) < 3 or len(donor_parts) < 3:
        return
    parts[data.draw(st.integers(0, (len(parts) - 2) // 2)) * 2 + 1] = donor_parts[
        data.draw(st.integers(0, (len(donor_parts) - 2) // 2)) * 2 + 1
    ]
    assert_same_as_the_general_path(case, [case.frames[0], b'"'.join(parts)])


KRAKEN_V2_FRAMES = [
    b'{"channel":"ticker","type":"snapshot","data":[{"symbol":"BTC/USD","bid":67011.0,"bid_qty":2.0,'
    b'"ask":67012.9,"ask_qty":1.1,"last":67012.9,"timestamp":"2026-08-09T21:05:48.229198Z"}]}',
    b'{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":67012.9,'
    b'"qty":0.00027625,"ord_type":"limit","trade_id":10218208,"timestamp":"2026-08-09T21:05:48.229198Z"}]}',
    b'{"method":"subscribe","success":false,"error":"Currency pair not supported","symbol":"BTC/USDX"}',
]
NOT_UTF8 = b"\xc3\x28"  # a two-byte lead followed by a byte that cannot continue it


def test_a_string_that_is_not_utf8_anywhere_in_a_frame_never_raises():
    # msgspec raises UnicodeDecodeError (not msgspec.DecodeError) for such a string; every
    # adapter counts the frame as malformed_json or reads around the string, as its general path
    # does, and never gives an invalid quote
    venues = [(case.venue, case.symbols, case.frames[:40]) for case in CASES]
    venues.append((lambda: connected(KrakenSpot, ["BTC-USD"], Channel.ALL), ["BTC-USD"], KRAKEN_V2_FRAMES))
    venues.append((lambda: connected(OkxPublic, ["BTC-USDT"], Channel.ALL), ["BTC-USDT"],
                   recorded_lines("okx", "tickers.jsonl")[:10] + recorded_lines("okx", "control.jsonl")))
    for make_venue, symbols, frames in venues:
        venue = make_venue()
        for frame in frames:
            parts = frame.split(b'"')
            for at in range(1, len(parts), 2):
                bad = b'"'.join([*parts[:at], NOT_UTF8 + parts[at], *parts[at + 1 :]])
                for event in venue.decode(bad, 7):
                    assert event.symbol in symbols
                    if isinstance(event, Quote):
                        assert 0 < event.bid < event.ask and event.bid_size > 0 and event.ask_size > 0
        assert venue.stats.errors.get("malformed_json", 0) > 0, venue.name
