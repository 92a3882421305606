"""The simulator's Binance spot protocol logic, without sockets."""

from __future__ import annotations

import json

import pytest

from tickwire.model import SELL
from tickwire.sim.binance import (
    BinanceSimVenue,
    BinanceStreamSession,
    ConnectionRequest,
    parse_request_path,
    render_combined,
)
from tickwire.sim.market import (
    MarketQuote,
    MarketTrade,
    SyntheticMarket,
    VenueView,
    symbol_spec,
)
from tickwire.sim.venue import RequestPathError, SessionReply, format_units

from .sim_helpers import rendered

NS = 1_000_000_000
NOW_MS = 1_790_001_234_567
ONE = 10**8


def session(path: str = "/ws") -> BinanceStreamSession:
    return BinanceStreamSession(parse_request_path(path))


def reply(session: BinanceStreamSession, request: object) -> dict:
    text = request if isinstance(request, (str, bytes)) else json.dumps(request)
    return json.loads(session.handle_request(text).reply)


# -- request paths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ws", ConnectionRequest((), False)),
        ("/ws/", ConnectionRequest((), False)),
        ("/ws/btcusdt@bookTicker", ConnectionRequest(("btcusdt@bookTicker",), False)),
        (
            "/ws/btcusdt@trade/ethusdt@aggTrade",
            ConnectionRequest(("btcusdt@trade", "ethusdt@aggTrade"), False),
        ),
        ("/stream", ConnectionRequest((), True)),
        ("/stream?streams=", ConnectionRequest((), True)),
        (
            "/stream?streams=btcusdt@bookTicker/ethusdt@ticker",
            ConnectionRequest(("btcusdt@bookTicker", "ethusdt@ticker"), True),
        ),
        ("/stream?streams=btcusdt%40trade", ConnectionRequest(("btcusdt@trade",), True)),
        (
            "/stream?streams=nknusdt@depth@100ms/nknusdt@kline_1m",
            ConnectionRequest(("nknusdt@depth@100ms", "nknusdt@kline_1m"), True),
        ),
    ],
)
def test_known_paths_give_initial_streams_and_envelope_mode(path, expected):
    assert parse_request_path(path) == expected


def test_a_stream_named_twice_in_the_path_is_subscribed_once():
    request = parse_request_path("/stream?streams=btcusdt@trade/btcusdt@trade")
    assert request.streams == ("btcusdt@trade",)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/foo",
        "/wss",
        "/streams",
        "/stream/btcusdt@trade",
        "/ws?timeUnit=MICROSECOND",
        "/stream?streams=btcusdt@trade&timeUnit=MICROSECOND",
        "/api/v3/depth",
    ],
)
def test_unknown_paths_are_rejected_with_404(path):
    with pytest.raises(RequestPathError) as caught:
        parse_request_path(path)
    assert caught.value.status == 404


@pytest.mark.parametrize(
    "path",
    [
        "/ws/BTCUSDT@bookTicker",
        "/ws/btcusdt@nonsense",
        "/ws/btcusdt",
        "/stream?streams=btcusdt@trade/",
        "/ws/btc-usdt@trade",
    ],
)
def test_invalid_stream_names_in_the_path_are_rejected_with_400(path):
    with pytest.raises(RequestPathError) as caught:
        parse_request_path(path)
    assert caught.value.status == 400


# -- requests -----------------------------------------------------------------------------------


def test_subscribe_is_acknowledged_with_null_result_and_the_same_id():
    client = session()
    handled = client.handle_request(
        b'{"method":"SUBSCRIBE","params":["btcusdt@bookTicker","ethusdt@trade"],"id":1}'
    )
    assert handled.reply == b'{"result":null,"id":1}'
    assert handled.method == "SUBSCRIBE" and handled.accepted
    assert list(client.topics) == ["btcusdt@bookTicker", "ethusdt@trade"]


def test_list_subscriptions_returns_streams_in_subscription_order():
    client = session("/ws/solusdt@ticker")
    reply(client, {"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 1})
    assert reply(client, {"method": "LIST_SUBSCRIPTIONS", "id": 2}) == {
        "result": ["solusdt@ticker", "btcusdt@bookTicker"],
        "id": 2,
    }


def test_unsubscribe_removes_streams_and_ignores_ones_not_subscribed():
    client = session("/stream?streams=btcusdt@bookTicker/btcusdt@trade")
    answer = reply(
        client, {"method": "UNSUBSCRIBE", "params": ["btcusdt@trade", "ethusdt@trade"], "id": 7}
    )
    assert answer == {"result": None, "id": 7}
    assert list(client.topics) == ["btcusdt@bookTicker"]


def test_string_and_null_ids_are_echoed():
    client = session()
    assert reply(client, {"method": "LIST_SUBSCRIPTIONS", "id": "abc123"}) == {
        "result": [],
        "id": "abc123",
    }
    assert reply(client, {"method": "LIST_SUBSCRIPTIONS", "id": None})["id"] is None


def test_combined_property_can_be_read_and_switched():
    client = session("/ws")
    assert reply(client, {"method": "GET_PROPERTY", "params": ["combined"], "id": 1}) == {
        "result": False,
        "id": 1,
    }
    assert reply(client, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 2}) == {
        "result": None,
        "id": 2,
    }
    assert client.combined
    answer = reply(client, {"method": "GET_PROPERTY", "params": ["combined"], "id": 3})
    assert answer["result"] is True


@pytest.mark.parametrize(
    ("request_text", "code", "request_id"),
    [
        ('{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1', 3, None),
        ("not json", 3, None),
        ("[1, 2]", 2, None),
        ('{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1.5}', 2, None),
        ('{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":"has space"}', 2, None),
        ('{"params":["btcusdt@trade"],"id":4}', 2, 4),
        ('{"method":"SUBSCRIBEX","params":["btcusdt@trade"],"id":5}', 2, 5),
        ('{"method":"SUBSCRIBE","params":"btcusdt@trade","id":6}', 2, 6),
        ('{"method":"SUBSCRIBE","params":["BTCUSDT@trade"],"id":7}', 2, 7),
        ('{"method":"SUBSCRIBE","params":[42],"id":8}', 2, 8),
        ('{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":9,"extra":1}', 2, 9),
        ('{"method":"LIST_SUBSCRIPTIONS","params":["x"],"id":10}', 2, 10),
        ('{"method":"SET_PROPERTY","params":["combined","yes"],"id":11}', 1, 11),
        ('{"method":"SET_PROPERTY","params":["colour",true],"id":12}', 0, 12),
        ('{"method":"SET_PROPERTY","params":[1,true],"id":13}', 2, 13),
        ('{"method":"GET_PROPERTY","params":[],"id":14}', 2, 14),
    ],
)
def test_bad_requests_get_a_binance_style_error_and_change_nothing(request_text, code, request_id):
    client = session("/ws/btcusdt@bookTicker")
    handled = client.handle_request(request_text)
    answer = json.loads(handled.reply)
    assert not handled.accepted
    assert answer["id"] == request_id
    assert answer["error"]["code"] == code
    assert answer["error"]["msg"]
    assert list(client.topics) == ["btcusdt@bookTicker"]
    assert client.combined is False


def test_invalid_json_error_names_the_problem():
    answer = reply(session(), "{")
    assert answer["error"]["msg"].startswith("Invalid JSON")


def test_subscribing_over_the_stream_limit_is_refused_whole():
    client = BinanceStreamSession(ConnectionRequest(("btcusdt@trade",), False), max_streams=2)
    answer = reply(
        client, {"method": "SUBSCRIBE", "params": ["ethusdt@trade", "solusdt@trade"], "id": 1}
    )
    assert answer["error"]["code"] == 2
    assert list(client.topics) == ["btcusdt@trade"]
    request = {"method": "SUBSCRIBE", "params": ["btcusdt@trade", "ethusdt@trade"], "id": 2}
    assert reply(client, request) == {"result": None, "id": 2}


# -- incoming rate ------------------------------------------------------------------------------


def test_five_messages_a_second_are_allowed_and_the_sixth_is_over_the_limit():
    client = session()
    start = 10 * NS
    assert [client.count_incoming(start + i * NS // 10) for i in range(6)] == [False] * 5 + [True]
    assert client.incoming_last_second == 6


def test_the_rate_window_slides_so_a_steady_four_per_second_never_exceeds():
    client = session()
    over = [client.count_incoming(i * NS // 4) for i in range(40)]
    assert not any(over)
    assert client.incoming_last_second == 4


# -- rendering ----------------------------------------------------------------------------------


PAYLOAD = (
    b'{"u":1,"s":"BTCUSDT","b":"67012.40000000","B":"1.20410000","a":"67012.41000000",'
    b'"A":"0.80100000"}'
)


def test_raw_connections_get_the_payload_bare():
    assert session("/ws/btcusdt@bookTicker").frame("btcusdt@bookTicker", PAYLOAD) is PAYLOAD


def test_combined_connections_get_the_payload_enveloped_byte_exact():
    rendered = session("/stream?streams=btcusdt@bookTicker").frame("btcusdt@bookTicker", PAYLOAD)
    assert rendered == b'{"stream":"btcusdt@bookTicker","data":' + PAYLOAD + b"}"
    assert json.loads(rendered) == {"stream": "btcusdt@bookTicker", "data": json.loads(PAYLOAD)}


def test_switching_to_combined_changes_rendering_of_later_frames():
    client = session("/ws")
    reply(client, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 1})
    assert client.frame("btcusdt@trade", b"{}") == b'{"stream":"btcusdt@trade","data":{}}'


def test_render_combined_matches_recorded_envelopes():
    line = (
        b'{"stream":"nknusdt@bookTicker","data":{"u":499869768,"s":"NKNUSDT","b":"0.35210000",'
        b'"B":"672.00000000","a":"0.35260000","A":"3199.00000000"}}'
    )
    payload = line[len(b'{"stream":"nknusdt@bookTicker","data":') : -1]
    assert render_combined("nknusdt@bookTicker", payload) == line


def test_a_session_answers_text_with_its_reply_and_says_when_it_subscribed():
    client = session()
    subscribe = b'{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}'
    assert client.on_text(subscribe, 0) == SessionReply((b'{"result":null,"id":1}',), True)
    listing = client.on_text(b'{"method":"LIST_SUBSCRIPTIONS","id":2}', 0)
    assert listing == SessionReply((b'{"result":["btcusdt@trade"],"id":2}',), False)
    refused = client.on_text(b'{"method":"SUBSCRIBE","params":["x"],"id":3}', 0)
    assert not refused.subscribed


def test_only_combined_sessions_share_a_framing_key():
    raw, combined = session("/ws"), session("/stream")
    assert raw.framing is None
    assert combined.framing == session("/stream?streams=btcusdt@trade").framing is not None
    reply(raw, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 1})
    assert raw.framing == combined.framing


# -- the venue: market events as Binance payloads -------------------------------------------------


def venue_frames(
    symbols: list[str], count: int, seed: int = 0, channels=("bbo", "trades", "ticker")
) -> list[tuple[str, dict]]:
    """``count`` market steps rendered on every stream, as (stream, decoded payload)."""
    market = SyntheticMarket([symbol_spec(s) for s in symbols], seed=seed, channels=channels)
    venue = BinanceSimVenue(VenueView(market, "binance"))
    return [(topic, json.loads(payload)) for _, topic, payload in rendered(venue, market, count)]


def units(text: str) -> int:
    """Exact 8-decimal text -> int, checking the shape the real feed uses."""
    sign = -1 if text.startswith("-") else 1
    whole, dot, fraction = text.lstrip("-").partition(".")
    assert dot and len(fraction) == 8 and whole.isdigit() and fraction.isdigit(), text
    return sign * (int(whole) * ONE + int(fraction))


def test_format_units_gives_eight_decimals_like_binance_or_fewer_when_asked():
    assert format_units(6_701_240_000_000) == "67012.40000000"
    assert format_units(35_210_000) == "0.35210000"
    assert format_units(0) == "0.00000000"
    assert format_units(-81_240_000_000) == "-812.40000000"
    assert format_units(6_701_240_000_000, 2) == "67012.40"
    assert format_units(6_701_240_000_000, 0) == "67012"


def test_events_feed_the_binance_streams_of_their_symbol():
    market = SyntheticMarket([symbol_spec("BTC-USDT"), symbol_spec("ETH-BTC")])
    venue = BinanceSimVenue(VenueView(market, "binance"))
    quote = MarketQuote("ETH-BTC", 1, 2, 3, 4, 5, NOW_MS)
    trade = MarketTrade("BTC-USDT", 1, 2, 3, SELL, 10, (3,), NOW_MS)
    ticker = venue.view.ticker("BTC-USDT", NOW_MS)
    assert venue.topics(quote) == ("ethbtc@bookTicker",)
    assert venue.topics(trade) == ("btcusdt@trade", "btcusdt@aggTrade")
    assert venue.topics(ticker) == ("btcusdt@ticker",)


def test_every_stream_has_the_binance_field_order():
    seen = {}
    for stream, payload in venue_frames(["BTC-USDT"], 400, seed=3):
        seen.setdefault(stream, list(payload))
    assert seen == {
        "btcusdt@bookTicker": ["u", "s", "b", "B", "a", "A"],
        "btcusdt@trade": ["e", "E", "s", "t", "p", "q", "T", "m", "M"],
        "btcusdt@aggTrade": ["e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"],
        "btcusdt@ticker": ["e", "E", "s", "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A",
                           "o", "h", "l", "v", "q", "O", "C", "F", "L", "n"],
    }


def test_trades_print_at_the_touch_agg_trades_sum_them_and_the_ticker_adds_them_up():
    bid = ask = 0
    trade_ids: list[int] = []
    trades_since_agg: list[dict] = []
    volume = 0
    tickers_checked = agg_trades_checked = 0
    for stream, payload in venue_frames(["ETH-USDT"], 2_000, seed=5):
        if stream.endswith("@bookTicker"):
            bid, ask = units(payload["b"]), units(payload["a"])
        elif stream.endswith("@trade"):
            assert units(payload["p"]) == (bid if payload["m"] else ask)
            assert payload["T"] <= payload["E"]
            trade_ids.append(payload["t"])
            volume += units(payload["q"])
            trades_since_agg.append(payload)
        elif stream.endswith("@aggTrade"):
            assert (payload["f"], payload["l"]) == (trades_since_agg[0]["t"], trade_ids[-1])
            assert units(payload["q"]) == sum(units(trade["q"]) for trade in trades_since_agg)
            assert {(t["p"], t["m"]) for t in trades_since_agg} == {(payload["p"], payload["m"])}
            trades_since_agg = []
            agg_trades_checked += 1
        elif trade_ids:
            assert (payload["F"], payload["L"]) == (trade_ids[0], trade_ids[-1])
            assert payload["n"] == len(trade_ids)
            assert units(payload["v"]) == volume
            assert units(payload["l"]) <= units(payload["w"]) <= units(payload["h"])
            assert (units(payload["b"]), units(payload["a"])) == (bid, ask)
            assert payload["C"] - payload["O"] == 86_400_000
            tickers_checked += 1
    assert trade_ids == list(range(trade_ids[0], trade_ids[0] + len(trade_ids)))
    assert tickers_checked > 10 and agg_trades_checked > 10


def test_a_ticker_before_any_trade_reports_no_trades():
    (stream, payload), *_ = venue_frames(["BTC-USDT"], 1, channels=["ticker"])
    assert stream == "btcusdt@ticker"
    assert (payload["F"], payload["L"], payload["n"]) == (-1, -1, 0)
    assert payload["c"] == payload["o"] == payload["b"]
    assert (payload["p"], payload["P"], payload["v"]) == ("0.00000000", "0.000", "0.00000000")


def test_book_tickers_keep_bid_below_ask_with_increasing_update_ids():
    last_update_id = 0
    for stream, payload in venue_frames(["BTC-USDT", "NKN-USDT"], 1_000, seed=9, channels=["bbo"]):
        assert payload["s"] == stream.split("@")[0].upper()
        assert 0 < units(payload["b"]) < units(payload["a"])
        if payload["s"] == "BTCUSDT":
            assert payload["u"] > last_update_id
            last_update_id = payload["u"]


def test_same_seed_same_times_same_bytes():
    def run(seed: int) -> list[tuple[str, dict]]:
        return venue_frames(["BTC-USDT", "NKN-USDT"], 300, seed=seed)

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_binance_lists_spot_only_and_reads_its_recordings():
    assert BinanceSimVenue.instrument_kinds == frozenset({""})
    line = b'{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT"}}'
    venue = BinanceSimVenue(None)
    assert venue.recorded_frame(line) == ("btcusdt@trade", b'{"e":"trade","s":"BTCUSDT"}')
    with pytest.raises(ValueError):
        venue.recorded_frame(b'{"hello":"world"}')
