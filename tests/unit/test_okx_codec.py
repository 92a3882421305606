"""The OKX v5 public codec on real recorded frames and on every kind of bad input."""

from __future__ import annotations

import gzip
import json
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.fixedpoint import format_scaled
from tickwire.instruments import parse_symbol
from tickwire.model import BUY, SELL, Quote, Ticker, Trade
from tickwire.venues.base import Channel
from tickwire.venues.okx import OkxPublic
from tickwire.venues.registry import VENUES, instruments_for

from .venue_cases import FIXTURES, assert_dropped, assert_no_invalid_quote, recorded_lines, scaled

# The recording also subscribed the dated future BTC-USD-220527 (cryptofeed: BTC-USD-22K27).
# Canonical names have no dated-future kind yet, so it is not subscribed here: its frames are
# counted as unknown_symbol, which is what an unsubscribed instrument's frames must be.
RECORDED_SYMBOLS = ["BTC-USDT", "UNI-USD-PERP"]
INST_ID_TO_CANONICAL = {"BTC-USDT": "BTC-USDT", "UNI-USD-SWAP": "UNI-USD-PERP"}
DATED_FUTURE = "BTC-USD-220527"
SWAP_URL = "https://www.okx.com/api/v5/public/instruments?instType=SWAP"
# OKX's swap list, recorded with the frames: UNI-USD-SWAP is inverse, 10 USD a contract
SWAP_LIST = gzip.decompress((FIXTURES / "okx" / "instruments_swap.json.gz").read_bytes())
UNI_CONTRACT_USD = 10


def lines(name: str) -> list[bytes]:
    return recorded_lines("okx", name)


def recorded_venue(channels=frozenset({Channel.TICKER, Channel.TRADES})) -> OkxPublic:
    venue = OkxPublic([parse_symbol(s) for s in RECORDED_SYMBOLS], channels)
    venue.load_metadata(SWAP_URL, SWAP_LIST)
    venue.on_connected()
    return venue


def btc_venue(channels=Channel.ALL) -> OkxPublic:
    """Spot and the linear swap, whose contract (0.01 BTC) is pinned."""
    venue = OkxPublic(
        [parse_symbol("BTC-USDT"), parse_symbol("BTC-USDT-PERP", contract_size="0.01 BTC")], channels
    )
    venue.on_connected()
    return venue


def base_size(inst_id: str, size: str, price: str) -> int:
    """A recorded size in the base currency at scale 8: UNI-USD-SWAP sizes count contracts of 10
    USD, so their value over the price, rounded half up (an independent reading, via Decimal)."""
    if inst_id != "UNI-USD-SWAP":
        return scaled(size)
    value = Decimal(size) * UNI_CONTRACT_USD / Decimal(price)
    return int(value.scaleb(8).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def bbo(seq=123456, bid=("67012.5", "0.5721"), ask=("67012.6", "2.4012"), inst="BTC-USDT",
        ts="1790001234563") -> bytes:
    data = {"asks": [[ask[0], ask[1], "0", "17"]] if ask else [],
            "bids": [[bid[0], bid[1], "0", "2"]] if bid else [], "ts": ts, "seqId": seq}
    return json.dumps({"arg": {"channel": "bbo-tbt", "instId": inst}, "data": [data]},
                      separators=(",", ":")).encode()


def trade(px="67012.6", sz="0.12060306", side="buy", ts="1790001234592", trade_id="130639474") -> bytes:
    data = {"instId": "BTC-USDT", "tradeId": trade_id, "px": px, "sz": sz, "side": side, "ts": ts,
            "count": "3"}
    return json.dumps({"arg": {"channel": "trades", "instId": "BTC-USDT"}, "data": [data]},
                      separators=(",", ":")).encode()


def test_the_venue_is_registered_and_carries_spot_and_perpetuals():
    assert VENUES["okx"] is OkxPublic
    instruments = [parse_symbol(s) for s in ("BTC-USDT", "BTC-USDT-PERP", "BTC-USD-22K27")]
    assert [i.symbol for i in instruments_for("okx", instruments)] == ["BTC-USDT", "BTC-USDT-PERP"]


def test_every_recorded_ticker_decodes_to_the_values_in_its_frame():
    venue = recorded_venue()
    decoded = 0
    for recv_ns, frame in enumerate(lines("tickers.jsonl"), start=1):
        events = venue.decode(frame, recv_ns)
        message = json.loads(frame)
        (data,) = message["data"]
        if message["arg"]["instId"] == DATED_FUTURE:
            assert events == ()
            continue
        quote, last = events
        assert isinstance(quote, Quote) and isinstance(last, Ticker)
        assert quote.venue == last.venue == "okx"
        assert quote.symbol == last.symbol == INST_ID_TO_CANONICAL[data["instId"]]
        inst_id = data["instId"]
        assert (quote.bid, quote.bid_size) == (
            scaled(data["bidPx"]), base_size(inst_id, data["bidSz"], data["bidPx"])
        )
        assert (quote.ask, quote.ask_size) == (
            scaled(data["askPx"]), base_size(inst_id, data["askSz"], data["askPx"])
        )
        assert last.last == scaled(data["last"])
        assert quote.exchange_ns == last.exchange_ns == int(data["ts"]) * 10**6
        assert quote.recv_ns == recv_ns
        decoded += 1
    assert decoded == 26
    assert venue.stats.errors == {"unknown_symbol": 2}


def test_recorded_tickers_agree_with_cryptofeeds_normalized_output():
    venue = recorded_venue()
    # Deliberate difference: cryptofeed also reports the dated future BTC-USD-22K27, which we
    # do not subscribe (no canonical name for dated futures yet).
    expected = [json.loads(x) for x in lines("expected_cryptofeed_v3/ticker.jsonl")]
    expected = [x for x in expected if x["symbol"] != "BTC-USD-22K27"]
    quotes = [e for frame in lines("tickers.jsonl") for e in venue.decode(frame, 0) if isinstance(e, Quote)]
    assert len(quotes) == len(expected) == 26
    for quote, theirs in zip(quotes, expected):
        assert quote.symbol == theirs["symbol"]
        assert Decimal(format_scaled(quote.bid, 8)) == Decimal(theirs["bid"])
        assert Decimal(format_scaled(quote.ask, 8)) == Decimal(theirs["ask"])
        assert quote.exchange_ns == int(Decimal(str(theirs["timestamp"])) * 10**9)


def test_recorded_trades_agree_with_the_frame_and_with_cryptofeed():
    venue = recorded_venue()
    expected = [json.loads(x) for x in lines("expected_cryptofeed_v3/trades.jsonl")]
    expected = [x for x in expected if x["symbol"] != "BTC-USD-22K27"]  # not subscribed, see above
    trades = []
    for frame in lines("trades.jsonl"):
        message = json.loads(frame)
        events = venue.decode(frame, 5)
        if message["arg"]["instId"] == DATED_FUTURE:
            assert events == ()
            continue
        assert len(events) == len(message["data"])
        for trade, data in zip(events, message["data"]):
            assert isinstance(trade, Trade)
            assert (trade.price, trade.size) == (
                scaled(data["px"]), base_size(data["instId"], data["sz"], data["px"])
            )
            assert trade.trade_id == int(data["tradeId"])
        trades += events
    assert len(trades) == len(expected) == 70
    for trade, theirs in zip(trades, expected):
        assert trade.symbol == theirs["symbol"]
        assert Decimal(format_scaled(trade.price, 8)) == Decimal(theirs["price"])
        # cryptofeed reports swap amounts as OKX sends them, in contracts
        their_size = base_size(theirs["symbol"].replace("-PERP", "-SWAP"), theirs["amount"], theirs["price"])
        assert trade.size == their_size
        assert trade.side == (BUY if theirs["side"] == "buy" else SELL)
        assert str(trade.trade_id) == theirs["id"]
        assert trade.exchange_ns == int(Decimal(str(theirs["timestamp"])) * 10**9)
    assert venue.stats.errors == {"unknown_symbol": 4}


def test_inverse_swap_sizes_are_the_contracts_usd_value_in_the_base_currency():
    venue = recorded_venue()
    uni = [t for frame in lines("trades.jsonl") for t in venue.decode(frame, 0) if t.symbol == "UNI-USD-PERP"]
    # "sz":"100" on UNI-USD-SWAP is 100 contracts of 10 USD: 1000 USD of UNI at the trade price
    (trade,) = uni
    assert trade.size == round(Decimal(1000) / (Decimal(trade.price) / 10**8) * 10**8)
    assert 150 * 10**8 < trade.size < 200 * 10**8  # UNI was about 5.7 USD


def test_every_recorded_subscribe_ack_is_a_control_frame():
    venue = recorded_venue()
    for frame in lines("control.jsonl"):
        assert venue.decode(frame, 0) == ()
    assert venue.stats.control == 18
    assert venue.stats.errors == {}


def test_subscribe_request_lists_one_arg_per_channel_and_instrument():
    eth_perp = parse_symbol("ETH-USDT-PERP", contract_size="0.1 ETH")
    venue = OkxPublic([parse_symbol("BTC-USDT"), eth_perp], Channel.ALL)
    assert [json.loads(m) for m in venue.on_connected()] == [
        {"op": "subscribe", "args": [
            {"channel": "bbo-tbt", "instId": "BTC-USDT"},
            {"channel": "bbo-tbt", "instId": "ETH-USDT-SWAP"},
            {"channel": "tickers", "instId": "BTC-USDT"},
            {"channel": "tickers", "instId": "ETH-USDT-SWAP"},
            {"channel": "trades", "instId": "BTC-USDT"},
            {"channel": "trades", "instId": "ETH-USDT-SWAP"},
        ]},
    ]


def test_an_instrument_okx_cannot_name_is_refused_at_construction():
    with pytest.raises(ValueError, match="BTC-USD-22K27"):
        OkxPublic([parse_symbol("BTC-USD-22K27")])


def test_connect_url_adds_the_public_path_only_when_the_endpoint_has_none():
    venue = btc_venue()
    assert venue.connect_url(None) == "wss://ws.okx.com:8443/ws/v5/public"
    assert venue.connect_url("ws://127.0.0.1:9002") == "ws://127.0.0.1:9002/ws/v5/public"
    assert venue.connect_url("ws://127.0.0.1:9002/okx") == "ws://127.0.0.1:9002/okx"


def test_the_keepalive_is_the_text_ping_every_20_seconds_and_pong_is_control():
    venue = btc_venue()
    assert venue.keepalive_interval == 20.0
    assert venue.keepalive_message() == b"ping"
    assert venue.decode(b"pong", 0) == ()
    assert venue.stats.control == 1
    assert venue.stats.errors == {}


def test_bbo_tbt_gives_a_quote_with_sequence_and_exchange_time():
    venue = btc_venue()
    assert venue.decode(bbo(), 9) == (
        Quote("okx", "BTC-USDT", scaled("67012.5"), scaled("0.5721"), scaled("67012.6"), scaled("2.4012"),
              9, 1790001234563 * 10**6, 123456),
    )
    (perp,) = venue.decode(bbo(inst="BTC-USDT-SWAP", bid=("67000.1", "12"), ask=("67000.2", "3")), 9)
    # 12 and 3 contracts of 0.01 BTC
    assert (perp.symbol, perp.bid_size, perp.ask_size) == ("BTC-USDT-PERP", scaled("0.12"), scaled("0.03"))


def test_an_older_seq_id_is_dropped_as_stale_until_a_new_connection():
    venue = btc_venue()
    assert len(venue.decode(bbo(seq=10), 0)) == 1
    assert venue.decode(bbo(seq=9), 0) == ()
    assert venue.stats.errors == {"stale_update": 1}
    venue.on_connected()
    assert len(venue.decode(bbo(seq=1), 0)) == 1


def test_with_bbo_tbt_subscribed_tickers_give_only_the_last_price():
    venue = OkxPublic([parse_symbol("BTC-USDT")], frozenset({Channel.BBO, Channel.TICKER}))
    venue.on_connected()
    frame = lines("tickers.jsonl")[2]
    assert json.loads(frame)["arg"]["instId"] == "BTC-USDT"
    (last,) = venue.decode(frame, 0)
    assert isinstance(last, Ticker)


def test_trades_decode_with_taker_side():
    venue = btc_venue()
    assert venue.decode(trade(side="sell"), 4) == (
        Trade("okx", "BTC-USDT", scaled("67012.6"), scaled("0.12060306"), SELL, 130639474, 4,
              1790001234592 * 10**6),
    )


def test_a_venue_error_is_surfaced_as_a_message():
    venue = btc_venue()
    frame = (b'{"event":"error","code":"60012","msg":"Invalid request: {\\"op\\": \\"subscribe\\"}",'
             b'"connId":"a4d3ae55"}')
    assert venue.decode(frame, 0) == ()
    assert venue.stats.venue_errors == ['okx error 60012: Invalid request: {"op": "subscribe"}']
    assert venue.stats.errors == {"venue_error": 1}


def test_a_service_upgrade_notice_asks_for_a_reconnect():
    venue = btc_venue()
    assert not venue.wants_reconnect()
    frame = (b'{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service '
             b'upgrade. Please reconnect.","connId":"a4d3ae55"}')
    assert venue.decode(frame, 0) == ()
    assert venue.wants_reconnect()
    assert venue.stats.control == 1
    venue.on_connected()
    assert not venue.wants_reconnect()


def test_frames_in_another_key_order_or_with_spaces_decode_too():
    venue = btc_venue()
    spaced = json.dumps(json.loads(bbo(seq=1))).encode()
    data_first = json.dumps({"data": json.loads(bbo(seq=2))["data"],
                             "arg": {"instId": "BTC-USDT", "channel": "bbo-tbt"}}).encode()
    assert [q.update_id for f in (spaced, data_first) for q in venue.decode(f, 0)] == [1, 2]


BOOKS_UPDATE = (b'{"arg":{"channel":"books","instId":"BTC-USD-220527"},"action":"update","data":[{"asks":[],'
                b'"bids":[["30189","0","0","0"]],"ts":"1652459227954","checksum":67565745}]}')


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b'{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[{"asks":[', "malformed_json"),
        (b"not json at all", "malformed_json"),
        (b"", "malformed_json"),
        (b"[1,2,3]", "unknown_message"),
        (b'{"hello":"world"}', "unknown_message"),
        (b'{"event":"surprise"}', "unknown_message"),
        (BOOKS_UPDATE, "unknown_message"),  # a real frame of a channel we do not subscribe
        (bbo(inst="ETH-USDT"), "unknown_symbol"),
        (bbo(inst="BTC-USD-SWAP"), "unknown_symbol"),  # inverse swap: USD is not USDT
        (b'{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[{"asks":[],"bids":[],"ts":"1"}]}',
         "missing_field"),
        (bbo(bid=None), "missing_field"),
        (b'{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[{"asks":[[67012.6,"1"]],'
         b'"bids":[["67012.5","1"]],"ts":"1","seqId":1}]}', "wrong_type"),
        (bbo(ts="yesterday"), "wrong_type"),
        (bbo(ts="1e12"), "wrong_type"),
        (trade(side="up"), "wrong_type"),
        (trade(trade_id="abc"), "wrong_type"),
        (bbo(bid=("1e-5", "1")), "bad_number_exponent"),
        (bbo(bid=("-1", "1")), "bad_number_sign"),
        (bbo(ask=("NaN", "1")), "bad_number_not_a_number"),
        (bbo(bid=("", "1")), "bad_number_empty"),
        (bbo(bid=("0.000000001", "1")), "bad_number_precision"),
        (bbo(bid=("0", "1")), "zero_price"),
        (bbo(bid=("67012.6", "1")), "crossed"),
        (bbo(bid=("67013", "1")), "crossed"),
        (bbo(ask=("67012.6", "0")), "zero_size"),
        (trade(px="0"), "zero_price"),
        (trade(sz="0"), "zero_size"),
    ],
)
def test_bad_frames_are_counted_by_reason_and_produce_nothing(frame, reason):
    venue = btc_venue()
    assert_dropped(venue, frame, reason)
    # the codec keeps working after the bad frame
    assert len(venue.decode(bbo(seq=10**9), 1)) == 1


@given(st.binary(max_size=300))
def test_no_bytes_make_the_decoder_raise_or_emit_an_invalid_quote(payload):
    assert_no_invalid_quote(btc_venue(), payload)


_VALUES = st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=12),
                    st.sampled_from(["BTC-USDT", "1", "0", "-1", "1e5", "67012.4", "NaN", ""]))


@given(
    st.dictionaries(st.sampled_from(["last", "bidPx", "bidSz", "askPx", "askSz", "ts", "instId"]), _VALUES),
    st.sampled_from(["BTC-USDT", "BTC-USDT-SWAP", "ETH-USDT"]),
)
def test_any_ticker_shaped_json_is_either_valid_events_or_counted(data, inst_id):
    venue = btc_venue(frozenset({Channel.TICKER}))
    frame = json.dumps({"arg": {"channel": "tickers", "instId": inst_id}, "data": [data]}).encode()
    events = venue.decode(frame, 0)
    quotes = [e for e in events if isinstance(e, Quote)]
    for quote in quotes:
        assert 0 < quote.bid < quote.ask and quote.bid_size > 0 and quote.ask_size > 0
        assert Decimal(data["bidPx"]) == Decimal(quote.bid) / 10**8
    if len(events) < 2:
        assert venue.stats.total_errors >= 1
