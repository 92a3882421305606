"""Fault plans of the simulator: the SPEC grammar, schedules, and garbage that a venue's codec
reads as the bad input it is."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.cli import main
from tickwire.config import load_config
from tickwire.sim.faults import (
    GARBAGE_VARIANTS,
    KINDS,
    WINDOW_KINDS,
    Fault,
    FaultPlan,
    corrupt,
    parse_duration,
    websocket_frame,
)
from tickwire.sim.market import MarketQuote, SyntheticMarket, VenueView, symbol_spec
from tickwire.sim.okx import OkxSimVenue
from tickwire.venues.registry import VENUES, instruments_for

from .sim_helpers import fixture_lines, rendered


def test_the_documented_example_spec_parses_into_its_faults():
    plan = FaultPlan.parse(
        "reset:every=5s,garbage:rate=0.02,silence:at=10s:for=3s,refuse:at=20s:for=2s:venue=okx",
        seed=3,
    )
    assert plan.seed == 3
    assert plan.faults == (
        Fault("reset", every=5.0),
        Fault("garbage", rate=0.02),
        Fault("silence", at=10.0, duration=3.0),
        Fault("refuse", at=20.0, duration=2.0, venue="okx"),
    )


def test_every_setting_is_read():
    assert Fault.parse("close:at=1:code=4000") == Fault("close", at=1.0, code=4000)
    assert Fault.parse("oversized:rate=0.5:bytes=9000") == Fault("oversized", rate=0.5, size=9000)
    assert Fault.parse("garbage:every=250ms:variant=crossed") == Fault(
        "garbage", every=0.25, variant="crossed"
    )
    assert Fault.parse("pingflood:at=0:for=1.5") == Fault("pingflood", at=0.0, duration=1.5)


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("", "empty fault spec"),
        ("explode:at=1", "unknown fault 'explode'"),
        ("reset", "needs at=T or every=T"),
        ("garbage", "needs rate=P or at=/every="),
        ("silence:at=1", "needs for=SECONDS"),
        ("reset:at=1:for=2", "for= is for window faults"),
        ("reset:rate=0.1", "rate is for frame faults"),
        ("garbage:rate=1.5", "rate must be a chance between 0 and 1"),
        ("garbage:rate=x", "'x' is not a number"),
        ("reset:every=0", "every must be > 0"),
        ("reset:at=soon", "is not a duration"),
        ("reset:at=-1", "must be >= 0"),
        ("reset:when=1", "is not KEY=VALUE"),
        ("reset:at", "is not KEY=VALUE"),
        ("close:at=1:code=99", "close code 1000..4999"),
        ("reset:at=1:code=4000", "close code 1000..4999 of close faults"),
        ("garbage:rate=0.1:variant=rude", "variant= is for garbage"),
        ("oversized:rate=0.1:bytes=0", "bytes must be >= 1"),
    ],
)
def test_a_bad_spec_is_refused_with_a_reason(spec, complaint):
    with pytest.raises(ValueError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        FaultPlan.parse(spec)


def test_a_fault_for_a_venue_not_served_is_refused():
    plan = FaultPlan.parse("reset:at=1:venue=kraken")
    plan.check_venues(["kraken", "okx"])
    with pytest.raises(ValueError, match="venue 'kraken' is not served"):
        plan.check_venues(["binance"])


def test_schedules():
    assert list(Fault("reset", at=2.0).times()) == [2.0]
    assert list(itertools.islice(Fault("reset", every=5.0).times(), 3)) == [5.0, 10.0, 15.0]
    assert list(itertools.islice(Fault("reset", at=1.0, every=2.0).times(), 3)) == [1.0, 3.0, 5.0]
    assert list(Fault("garbage", rate=0.5).times()) == []


@pytest.mark.parametrize(
    ("text", "seconds"), [("2", 2.0), ("2.5s", 2.5), ("500ms", 0.5), ("0", 0.0)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@given(st.sampled_from(KINDS), st.floats(0.001, 1e6), st.floats(0.001, 1e6))
def test_any_valid_scheduled_fault_parses_back_to_itself(kind, at, seconds):
    window = f":for={seconds!r}" if kind in WINDOW_KINDS else ""
    fault = Fault.parse(f"{kind}:at={at!r}{window}")
    assert (fault.kind, fault.at) == (kind, at)
    assert fault.duration == (seconds if window else 0.0)


REASONS = {
    "invalid_utf8": {"malformed_json"},
    "invalid_json": {"malformed_json"},
    "wrong_shape": {"missing_field", "unknown_message"},
    "wrong_type": {"wrong_type"},
    "huge_number": {"bad_number_overflow"},
    "negative_price": {"bad_number_sign"},
    "zero_price": {"zero_price"},
    "nan_price": {"bad_number_not_a_number"},
    "exponent_price": {"bad_number_exponent"},
    "crossed": {"crossed"},
}


def adapter(venue: str, symbol: str):
    config = load_config(None, {"symbols": [symbol], "venues": [venue]})
    return VENUES[venue](instruments_for(venue, config.instrument_list()), frozenset(config.channels))


def units(text: str) -> int:
    whole, _, fraction = text.partition(".")
    return int(whole + fraction.ljust(8, "0")[:8])


@pytest.mark.parametrize("variant", GARBAGE_VARIANTS)
def test_garbage_in_binances_shape_is_dropped_by_the_codec_for_its_reason(variant):
    codec = adapter("binance", "NKN-USDT")
    frames = [json.loads(frame) for frame in fixture_lines("binance", "bookTicker.jsonl")]
    nkn = [envelope for envelope in frames if envelope["data"]["s"] == "NKNUSDT"]
    assert len(nkn) >= 5
    for envelope in nkn:
        data = envelope["data"]
        quote = MarketQuote("NKN-USDT", data["u"], units(data["b"]), 1, units(data["a"]), 1, 0)
        payload = json.dumps(data, separators=(",", ":")).encode()
        broken = corrupt(payload, quote, variant)
        assert broken != payload
        wrapped = b'{"stream":"%b","data":%b}' % (envelope["stream"].encode(), broken)
        codec.stats.errors.clear()
        assert codec.decode(wrapped, 1) == ()
        assert set(codec.stats.errors) <= REASONS[variant], (broken, codec.stats.errors)
        assert sum(codec.stats.errors.values()) == 1


@pytest.mark.parametrize("variant", GARBAGE_VARIANTS)
def test_garbage_in_okxs_shape_is_dropped_by_the_codec_for_its_reason(variant):
    codec = adapter("okx", "BTC-USDT")
    market = SyntheticMarket([symbol_spec("BTC-USDT")], seed=5, channels=("bbo",))
    venue = OkxSimVenue(VenueView(market, "okx", quote_interval_ms=0))
    quotes = 0
    for event, _, payload in rendered(venue, market, 40):
        if not isinstance(event, MarketQuote):
            continue
        quotes += 1
        assert len(codec.decode(payload, 1)) == 1  # the frame as sent is a quote
        codec.stats.errors.clear()
        assert codec.decode(corrupt(payload, event, variant), 1) == ()
        assert set(codec.stats.errors) <= REASONS[variant], codec.stats.errors
        assert sum(codec.stats.errors.values()) == 1
    assert quotes >= 10


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.sampled_from(["67000.00", "67001.0"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@given(JSON_VALUES, st.sampled_from(GARBAGE_VARIANTS))
def test_corrupt_never_leaves_a_frame_as_it_was(value, variant):
    payload = json.dumps(value).encode()
    quote = MarketQuote("BTC-USDT", 1, 6_700_000_000_000, 1, 6_700_100_000_000, 1, 0)
    assert corrupt(payload, quote, variant) != payload


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_a_hand_built_frame_has_the_websocket_header_of_its_size(size):
    frame = websocket_frame(b"x" * size)
    assert frame[0] == 0x81  # final text frame
    length = frame[1]
    header = 2 if length < 126 else 4 if length == 126 else 10
    declared = length if length < 126 else int.from_bytes(frame[2:header], "big")
    assert declared == size and len(frame) == header + size


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--faults", "reset:every=1s,smash:at=2"], "unknown fault 'smash'"),
        (["--faults", "refuse:at=1:for=1:venue=okx"], "venue 'okx' is not served"),
    ],
)
def test_simulate_refuses_a_bad_fault_spec_with_one_line_and_exit_status_2(args, complaint, capsys):
    assert main(["simulate", "--venues", "binance", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and complaint in err
