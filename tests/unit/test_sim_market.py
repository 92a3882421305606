"""The simulator's synthetic market: integer random walks rendered as Binance payloads."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.sim.market import SymbolSpec, SyntheticMarket, format_units, symbol_spec

NOW_MS = 1_790_001_234_567
ONE = 10**8


def units(text: str) -> int:
    """Exact 8-decimal text -> int, checking the shape the real feed uses."""
    sign = -1 if text.startswith("-") else 1
    whole, dot, fraction = text.lstrip("-").partition(".")
    assert dot and len(fraction) == 8 and whole.isdigit() and fraction.isdigit(), text
    return sign * (int(whole) * ONE + int(fraction))


def frames(market: SyntheticMarket, count: int) -> list[tuple[str, dict]]:
    produced = [market.next_frame(NOW_MS + i) for i in range(count)]
    return [(stream, json.loads(payload)) for stream, payload in produced]


def test_venue_symbols_and_default_start_prices():
    btc = symbol_spec("BTC-USDT")
    assert (btc.venue_symbol, btc.stream_prefix) == ("BTCUSDT", "btcusdt")
    assert btc.start_price == 67_000 * ONE
    assert symbol_spec("ETH-USDT").start_price == 3_500 * ONE
    assert symbol_spec("SOL-USDC").start_price == 150 * ONE
    assert symbol_spec("NKN-USDT").start_price == 100 * ONE
    assert symbol_spec("ETH-BTC").start_price == 3_500 * ONE * ONE // (67_000 * ONE)


@pytest.mark.parametrize("symbol", ["btcusdt", "BTCUSDT", "BTC/USDT", "BTC-USDT-PERP", ""])
def test_non_canonical_spot_symbols_are_refused(symbol):
    with pytest.raises(ValueError):
        symbol_spec(symbol)


def test_unknown_channels_are_refused():
    with pytest.raises(ValueError, match="depth"):
        SyntheticMarket([symbol_spec("BTC-USDT")], channels=["depth"])


def test_format_units_gives_eight_decimals_like_binance():
    assert format_units(6_701_240_000_000) == "67012.40000000"
    assert format_units(35_210_000) == "0.35210000"
    assert format_units(0) == "0.00000000"
    assert format_units(-81_240_000_000) == "-812.40000000"


def test_every_channel_has_the_binance_field_order():
    market = SyntheticMarket([symbol_spec("BTC-USDT")], seed=3)
    seen = {}
    for stream, payload in frames(market, 400):
        seen.setdefault(stream, list(payload))
    assert seen == {
        "btcusdt@bookTicker": ["u", "s", "b", "B", "a", "A"],
        "btcusdt@trade": ["e", "E", "s", "t", "p", "q", "T", "m", "M"],
        "btcusdt@aggTrade": ["e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"],
        "btcusdt@ticker": ["e", "E", "s", "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A",
                           "o", "h", "l", "v", "q", "O", "C", "F", "L", "n"],
    }


def test_book_ticker_dominates_and_symbols_take_turns():
    market = SyntheticMarket([symbol_spec("BTC-USDT"), symbol_spec("ETH-USDT")], seed=1)
    produced = frames(market, 2_100)
    assert [stream.split("@")[0] for stream, _ in produced[:4]] == ["btcusdt", "ethusdt"] * 2
    book_tickers = sum(stream.endswith("@bookTicker") for stream, _ in produced)
    assert 0.7 < book_tickers / len(produced) < 0.85


def test_only_the_chosen_channels_are_produced():
    market = SyntheticMarket([symbol_spec("SOL-USDT")], channels=["trade", "ticker"])
    assert {stream for stream, _ in frames(market, 200)} == {"solusdt@trade", "solusdt@ticker"}


def test_trades_print_at_the_touch_and_the_ticker_adds_them_up():
    market = SyntheticMarket([symbol_spec("ETH-USDT")], seed=5)
    bid = ask = 0
    trade_ids: list[int] = []
    volume = 0
    tickers_checked = 0
    for _, payload in frames(market, 2_000):
        event = payload.get("e")
        if event is None:
            bid, ask = units(payload["b"]), units(payload["a"])
        elif event in ("trade", "aggTrade"):
            if bid:
                assert units(payload["p"]) == (bid if payload["m"] else ask)
            if event == "trade":
                trade_ids.append(payload["t"])
            else:
                trade_ids.extend(range(payload["f"], payload["l"] + 1))
            volume += units(payload["q"])
            assert payload["T"] <= payload["E"]
        elif trade_ids:
            assert (payload["F"], payload["L"]) == (trade_ids[0], trade_ids[-1])
            assert payload["n"] == len(trade_ids)
            assert units(payload["v"]) == volume
            assert units(payload["l"]) <= units(payload["w"]) <= units(payload["h"])
            assert payload["C"] - payload["O"] == 86_400_000
            tickers_checked += 1
    assert trade_ids == list(range(trade_ids[0], trade_ids[0] + len(trade_ids)))
    assert tickers_checked > 10


def test_a_ticker_before_any_trade_reports_no_trades():
    market = SyntheticMarket([symbol_spec("BTC-USDT")], channels=["ticker"])
    _, payload = frames(market, 1)[0]
    assert (payload["F"], payload["L"], payload["n"]) == (-1, -1, 0)
    assert payload["c"] == payload["o"] == "67000.00000000"
    assert (payload["p"], payload["P"], payload["v"]) == ("0.00000000", "0.000", "0.00000000")


def test_same_seed_same_times_same_bytes():
    def run(seed: int) -> list[tuple[str, bytes]]:
        market = SyntheticMarket([symbol_spec("BTC-USDT"), symbol_spec("NKN-USDT")], seed=seed)
        return [market.next_frame(NOW_MS + i) for i in range(300)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def tiny_spec(start_ticks: int, tick: int, lot: int) -> SymbolSpec:
    return SymbolSpec("TINY-USDT", "TINYUSDT", start_ticks * tick, tick, lot)


tiny_or_default_specs = st.one_of(
    st.sampled_from(["BTC-USDT", "ETH-USDT", "SOL-USDT", "NKN-USDT", "ETH-BTC", "LRC-BTC"]).map(
        symbol_spec
    ),
    st.builds(
        tiny_spec,
        st.integers(1, 5),
        st.sampled_from([1, 100, 10_000]),
        st.sampled_from([1, 1_000_000]),
    ),
)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), spec=tiny_or_default_specs, count=st.integers(1, 600))
def test_random_walk_keeps_bid_below_ask_and_everything_positive(seed, spec, count):
    market = SyntheticMarket([spec], seed=seed)
    last_update_id = 0
    for stream, payload in frames(market, count):
        assert stream.startswith(spec.stream_prefix + "@")
        if stream.endswith("@bookTicker"):
            bid, ask = units(payload["b"]), units(payload["a"])
            assert 0 < bid < ask
            assert bid % spec.tick == 0 and ask % spec.tick == 0
            assert units(payload["B"]) > 0 and units(payload["A"]) > 0
            assert payload["u"] > last_update_id
            last_update_id = payload["u"]
        elif stream.endswith("@ticker"):
            assert 0 < units(payload["b"]) < units(payload["a"])
            assert 0 < units(payload["l"]) <= units(payload["c"]) <= units(payload["h"])
        else:
            assert units(payload["p"]) > 0 and units(payload["q"]) > 0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), count=st.integers(1, 200))
def test_the_walk_is_deterministic_per_seed(seed, count):
    specs = [symbol_spec("BTC-USDT"), symbol_spec("ETH-USDT")]
    first = SyntheticMarket(specs, seed=seed)
    second = SyntheticMarket(specs, seed=seed)
    assert [first.next_frame(NOW_MS) for _ in range(count)] == [
        second.next_frame(NOW_MS) for _ in range(count)
    ]
