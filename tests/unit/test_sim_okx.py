"""The simulator's OKX v5 public protocol logic, without sockets.

Round trips go through tickwire's own OKX adapter, which reads the contract values from the
simulated REST instrument list: what the simulated venue renders must decode into exactly the
integers the synthetic market produced (inverse swap sizes: the whole contracts sent, valued at
the price).
"""

from __future__ import annotations

import gzip
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.instruments import parse_symbol
from tickwire.model import BUY, Quote, Ticker, Trade
from tickwire.sim.market import (
    MarketQuote,
    MarketTicker,
    MarketTrade,
    SyntheticMarket,
    VenueView,
    symbol_spec,
)
from tickwire.sim.okx import (
    PONG,
    SERVICE_UPGRADE_NOTICE,
    OkxSession,
    OkxSimVenue,
    contract_value,
    swap_contracts,
)
from tickwire.sim.registry import SIM_VENUES
from tickwire.sim.venue import RequestPathError, format_units_short
from tickwire.venues.base import Channel
from tickwire.venues.okx import OkxPublic

from .sim_helpers import market_events

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "okx"
NOW_MS = 1_790_001_234_567
NOW_NS = NOW_MS * 1_000_000
ONE = 10**8
SYMBOLS = ["BTC-USDT", "BTC-USDT-PERP", "ETH-USD-PERP"]
NO_SUCH_CHANNEL = (
    "Wrong URL or channel:{},instId:{} doesn't exist. "
    "Please use the correct URL, channel and parameters referring to API document."
)


def market_and_venue(symbols=SYMBOLS, seed: int = 0) -> tuple[SyntheticMarket, OkxSimVenue]:
    market = SyntheticMarket([symbol_spec(s) for s in symbols], seed=seed)
    view = VenueView(market, "okx", instrument_kinds=OkxSimVenue.instrument_kinds)
    return market, OkxSimVenue(view)


def venue(symbols=SYMBOLS) -> OkxSimVenue:
    return market_and_venue(symbols)[1]


def adapter(symbols=SYMBOLS, channels=Channel.ALL, sim: OkxSimVenue | None = None) -> OkxPublic:
    """tickwire's adapter, with the contract sizes the simulated venue lists."""
    client = OkxPublic([parse_symbol(s) for s in symbols], frozenset(channels))
    for url, _ in client.metadata_requests("ws://127.0.0.1:1/okx/ws/v5/public", None):
        status, body = (sim or venue(symbols)).http_get(url.partition("/okx")[2])
        assert status == 200
        client.load_metadata(url, body)
    assert client.stats.venue_errors == []
    return client


def request(session: OkxSession, message: object) -> list[dict]:
    text = message if isinstance(message, bytes) else json.dumps(message).encode()
    return [json.loads(frame) for frame in session.on_text(text, NOW_NS).frames]


def subscribe(*args: tuple[str, str], **more) -> dict:
    return {"op": "subscribe", "args": [{"channel": c, "instId": i} for c, i in args], **more}


def decoded_size(symbol: str, size: int, price: int) -> int:
    """What tickwire makes of ``size`` at ``price`` sent as the simulated venue sends it: spot and
    linear sizes come back exactly; an inverse swap's whole contracts come back as their USD
    value at the price, rounded half up."""
    instrument = parse_symbol(symbol)
    value, currency = contract_value(instrument.base, instrument.quote)
    if not instrument.kind or currency == instrument.base:
        return size
    usd = Decimal(swap_contracts(instrument.base, instrument.quote, size, price) * value) / ONE**2
    return int((usd / Decimal(price) * ONE * ONE).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_the_venue_is_registered_under_the_adapters_name_at_the_real_path():
    assert SIM_VENUES["okx"] is OkxSimVenue
    assert OkxSimVenue.default_path == "/ws/v5/public"
    assert OkxSimVenue.instrument_kinds == frozenset(("", "PERP"))
    assert OkxSimVenue.idle_timeout == 30.0
    assert OkxSimVenue.ping_interval is None and OkxSimVenue.heartbeat_interval is None


@pytest.mark.parametrize("path", ["/", "/ws/v5/business", "/ws/v5/private", "/ws/v5"])
def test_paths_other_than_the_public_one_are_refused_with_404(path):
    with pytest.raises(RequestPathError) as refused:
        venue().accept(path)
    assert refused.value.status == 404


def test_the_adapters_request_gets_an_ack_per_arg_then_the_current_bbo_and_tickers():
    sim, client = venue(), adapter()
    session = sim.accept("/ws/v5/public")
    (subscribe_request,) = client.on_connected()
    reply = session.on_text(subscribe_request, NOW_NS)
    assert reply.subscribed
    frames = [json.loads(frame) for frame in reply.frames]
    args = json.loads(subscribe_request)["args"]
    assert frames[: len(args)] == [
        {"event": "subscribe", "arg": arg, "connId": session.conn_id} for arg in args
    ]
    current = frames[len(args):]
    assert [(f["arg"]["channel"], f["arg"]["instId"]) for f in current] == [
        ("bbo-tbt", "BTC-USDT"), ("bbo-tbt", "BTC-USDT-SWAP"), ("bbo-tbt", "ETH-USD-SWAP"),
        ("tickers", "BTC-USDT"), ("tickers", "BTC-USDT-SWAP"), ("tickers", "ETH-USD-SWAP"),
    ]
    assert [f["data"][0]["instType"] for f in current[3:]] == ["SPOT", "SWAP", "SWAP"]
    events = [event for frame in reply.frames for event in client.decode(frame, 1)]
    assert [type(event) for event in events] == [Quote] * 3 + [Ticker] * 3
    assert sim.view is not None
    for quote in events[:3]:
        market = sim.view.quote(quote.symbol)
        assert (quote.bid, quote.ask, quote.update_id) == (market.bid, market.ask, market.update_id)
    assert client.stats.errors == {} and client.stats.control == len(args)


def test_each_connection_has_its_own_conn_id():
    sim = venue()
    assert sim.accept("/ws/v5/public").conn_id != sim.accept("/ws/v5/public").conn_id


def test_the_text_ping_gets_the_text_pong():
    session = venue().accept("/ws/v5/public")
    assert session.on_text(b"ping", NOW_NS).frames == (PONG,) == (b"pong",)
    assert adapter().decode(PONG, 1) == ()


def test_the_swap_list_has_okxs_shape_and_the_contracts_the_pushes_count():
    status, body = venue().http_get("/api/v5/public/instruments?instType=SWAP")
    assert status == 200
    answer = json.loads(body)
    assert (answer["code"], answer["msg"]) == ("0", "")
    real = json.loads(gzip.decompress((FIXTURES / "instruments_swap.json.gz").read_bytes()))
    real_fields = set(real["data"][0]) | {"instFamily"}  # instFamily: OKX's newer name of uly
    assert all(set(entry) <= real_fields for entry in answer["data"])
    contracts = {e["instId"]: (e["ctType"], e["ctVal"], e["ctValCcy"], e["settleCcy"], e["ctMult"])
                 for e in answer["data"]}
    assert contracts == {
        "BTC-USDT-SWAP": ("linear", "0.01", "BTC", "USDT", "1"),
        "ETH-USD-SWAP": ("inverse", "10", "USD", "ETH", "1"),
    }


def test_the_spot_list_has_base_and_quote_and_there_are_no_dated_futures():
    sim = venue()
    status, body = sim.http_get("/api/v5/public/instruments?instType=SPOT")
    (entry,) = json.loads(body)["data"]
    assert (status, entry["instId"], entry["baseCcy"], entry["quoteCcy"]) == (200, "BTC-USDT", "BTC", "USDT")
    assert sim.http_get("/api/v5/public/instruments?instType=FUTURES") == (200, b'{"code":"0","msg":"","data":[]}')
    assert OkxSimVenue(None).http_get("/api/v5/public/instruments?instType=SWAP")[1] == (
        b'{"code":"0","msg":"","data":[]}'  # a replaying venue lists nothing
    )


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v5/public/instruments", 400, "50014"),
        ("/api/v5/public/instruments?instType=PERP", 400, "51000"),
    ],
)
def test_a_missing_or_unknown_inst_type_gets_okxs_error(path, status, code):
    answer_status, body = venue().http_get(path)
    assert (answer_status, json.loads(body)["code"]) == (status, code)


@pytest.mark.parametrize("path", ["/api/v5/market/books?instId=BTC-USDT", "/ws/v5/public", "/"])
def test_other_http_paths_are_refused_with_404(path):
    with pytest.raises(RequestPathError) as refused:
        venue().http_get(path)
    assert refused.value.status == 404


def test_an_unlisted_instrument_gets_an_error_and_the_other_args_are_still_subscribed():
    session = venue().accept("/ws/v5/public")
    frames = request(session, subscribe(("trades", "FOO-USDT"), ("trades", "BTC-USDT"), id="17"))
    assert frames == [
        {"id": "17", "event": "error", "code": "60018",
         "msg": NO_SUCH_CHANNEL.format("trades", "FOO-USDT"), "connId": session.conn_id},
        {"id": "17", "event": "subscribe", "arg": {"channel": "trades", "instId": "BTC-USDT"},
         "connId": session.conn_id},
    ]
    assert list(session.topics) == ["trades:BTC-USDT"]


def test_the_error_reaches_the_adapter_as_a_venue_error_message():
    client = adapter()
    session = venue().accept("/ws/v5/public")
    request_text = json.dumps(subscribe(("bbo-tbt", "FOO-USDT"))).encode()
    for frame in session.on_text(request_text, NOW_NS).frames:
        assert client.decode(frame, 1) == ()
    assert client.stats.venue_errors == [
        "okx error 60018: " + NO_SUCH_CHANNEL.format("bbo-tbt", "FOO-USDT")
    ]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (b"{not json", "60012"),
        (b"[]", "60012"),
        ({"op": "login", "args": [{"apiKey": "x"}]}, "60012"),
        ({"op": "subscribe"}, "60012"),
        ({"op": "subscribe", "args": []}, "60012"),
        ({"op": "subscribe", "args": [{"channel": "trades"}]}, "60012"),
        (subscribe(("trades", "BTC-USDT"), id=5), "60012"),
        (subscribe(("books", "BTC-USDT")), "60018"),
        (subscribe(("bbo-tbt", "BTC-USDT-PERP")), "60018"),  # OKX names it BTC-USDT-SWAP
    ],
)
def test_bad_requests_get_an_error_event_and_change_nothing(message, code):
    session = venue().accept("/ws/v5/public")
    (error,) = request(session, message)
    assert error["event"] == "error" and error["code"] == code and error["msg"]
    assert not session.topics


def test_unsubscribe_is_acked_and_a_repeated_subscribe_sends_no_second_snapshot():
    session = venue().accept("/ws/v5/public")
    assert len(request(session, subscribe(("bbo-tbt", "BTC-USDT")))) == 2
    assert request(session, subscribe(("bbo-tbt", "BTC-USDT"))) == [
        {"event": "subscribe", "arg": {"channel": "bbo-tbt", "instId": "BTC-USDT"},
         "connId": session.conn_id}
    ]
    unsubscribe = {"op": "unsubscribe", "args": [{"channel": "bbo-tbt", "instId": "BTC-USDT"}]}
    reply = session.on_text(json.dumps(unsubscribe).encode(), NOW_NS)
    assert not reply.subscribed
    assert json.loads(reply.frames[0])["event"] == "unsubscribe"
    assert not session.topics


def test_every_rendered_push_decodes_with_the_adapter_into_the_markets_integers():
    market, sim = market_and_venue(seed=6)
    assert sim.view is not None
    client = adapter(sim=sim)
    client.on_connected()
    counts = {MarketQuote: 0, MarketTrade: 0, MarketTicker: 0}
    for event in market_events(market, sim.view, 900):
        counts[type(event)] += 1
        (topic,) = sim.topics(event)
        (payload,) = sim.render(event, topic)
        assert payload.startswith(b'{"arg":{"channel":"')  # the adapter's fast path
        decoded = client.decode(payload, 1)
        symbol, exchange_ns = event.symbol, event.time_ms * 1_000_000
        if isinstance(event, MarketQuote):
            assert decoded == (
                Quote("okx", symbol, event.bid, decoded_size(symbol, event.bid_size, event.bid),
                      event.ask, decoded_size(symbol, event.ask_size, event.ask), 1, exchange_ns,
                      event.update_id),
            )
        elif isinstance(event, MarketTrade):
            last_fill = event.first_trade_id + len(event.fill_sizes) - 1
            assert decoded == (
                Trade("okx", symbol, event.price, decoded_size(symbol, event.size, event.price),
                      event.taker_side, last_fill, 1, exchange_ns),
            )
        else:
            assert decoded == (Ticker("okx", symbol, event.last, 1, exchange_ns),)
    assert all(counts.values()), counts
    assert client.stats.errors == {}  # no stale seqId, no bad number


def test_bbo_levels_and_trades_have_okxs_shape():
    sim = venue(["BTC-USDT"])
    quote = MarketQuote("BTC-USDT", 77, 67_000 * ONE, 25 * ONE // 10, 67_000_10 * ONE // 100,
                        ONE // 4, NOW_MS)
    (payload,) = sim.render(quote, "bbo-tbt:BTC-USDT")
    assert json.loads(payload) == {
        "arg": {"channel": "bbo-tbt", "instId": "BTC-USDT"},
        "data": [{"asks": [["67000.1", "0.25", "0", "1"]], "bids": [["67000", "2.5", "0", "3"]],
                  "ts": str(NOW_MS), "seqId": 77}],
    }
    trade = MarketTrade("BTC-USDT", 9, 67_000 * ONE, 3 * ONE, BUY, 500, (ONE, 2 * ONE), NOW_MS)
    (payload,) = sim.render(trade, "trades:BTC-USDT")
    assert json.loads(payload)["data"] == [
        {"instId": "BTC-USDT", "tradeId": "501", "px": "67000", "sz": "3", "side": "buy",
         "ts": str(NOW_MS), "count": "2"}
    ]


def test_swap_ticker_volumes_are_contracts_and_base_coin_spot_volumes_base_and_quote():
    sim = venue(["BTC-USDT", "BTC-USDT-PERP"])
    fields = dict(time_ms=NOW_MS, open=60_000 * ONE, high=60_000 * ONE, low=60_000 * ONE,
                  last=60_000 * ONE, last_size=ONE // 100, volume=2 * ONE,
                  quote_volume=120_000 * ONE, first_trade_id=1, last_trade_id=2, trade_count=2,
                  bid=59_999 * ONE, bid_size=ONE, ask=60_000 * ONE, ask_size=ONE)
    spot = json.loads(sim.render(MarketTicker("BTC-USDT", **fields), "tickers:BTC-USDT")[0])
    swap = json.loads(
        sim.render(MarketTicker("BTC-USDT-PERP", **fields), "tickers:BTC-USDT-SWAP")[0]
    )
    assert (spot["data"][0]["vol24h"], spot["data"][0]["volCcy24h"]) == ("2", "120000")
    assert (swap["data"][0]["vol24h"], swap["data"][0]["volCcy24h"]) == ("200", "2")
    assert (spot["data"][0]["lastSz"], swap["data"][0]["lastSz"]) == ("0.01", "1")


@pytest.mark.parametrize(
    ("base", "quote", "size", "price", "contracts"),
    [
        ("BTC", "USDT", ONE // 10_000, 67_000 * ONE, ONE // 100),  # 0.0001 BTC = 0.01 contract
        ("ETH", "USDT", ONE, 3_500 * ONE, 10 * ONE),  # 0.1 ETH a contract
        ("SOL", "USDC", 2 * ONE, 150 * ONE, 2 * ONE),  # 1 coin a contract
        ("BTC", "USD", ONE, 67_000 * ONE, 670 * ONE),  # 100 USD a contract, inverse
        ("ETH", "USD", ONE, 3_500 * ONE, 350 * ONE),  # 10 USD a contract, inverse
        ("BTC", "USD", ONE // 10_000, 67_000 * ONE, ONE),  # at least one whole contract
    ],
)
def test_swap_sizes_are_contract_counts(base, quote, size, price, contracts):
    assert swap_contracts(base, quote, size, price) == contracts


@given(st.integers(min_value=0, max_value=10**17))
def test_okx_numbers_are_the_shortest_exact_text(units):
    text = format_units_short(units)
    assert "e" not in text.lower()
    assert Decimal(text) * ONE == units
    assert "." not in text or text[-1] not in "0."  # no trailing zeros


def test_the_service_upgrade_notice_makes_the_adapter_ask_for_a_reconnect():
    client = adapter()
    client.on_connected()
    assert client.decode(SERVICE_UPGRADE_NOTICE, 1) == ()
    assert client.wants_reconnect() and client.stats.errors == {}


def test_a_replaying_venue_accepts_any_inst_id_and_sends_no_snapshot():
    session = OkxSimVenue(None).accept("/ws/v5/public")
    assert len(request(session, subscribe(("tickers", "BTC-USD-220527")))) == 1
    (error,) = request(session, subscribe(("tickers", "btc usdt")))
    assert error["code"] == "60018"


def test_the_real_recorded_pushes_replay_to_their_channel_and_inst_id():
    sim = OkxSimVenue(None)
    for name in ("tickers.jsonl", "trades.jsonl"):
        for line in (FIXTURES / name).read_bytes().splitlines():
            arg = json.loads(line)["arg"]
            assert sim.recorded_frame(line) == (f"{arg['channel']}:{arg['instId']}", line)
    control = (FIXTURES / "control.jsonl").read_bytes().splitlines()
    assert {sim.recorded_frame(line)[0] for line in control} == {""}


@pytest.mark.parametrize("line", [b"pong", b"[1]", b'{"arg":{"instId":"BTC-USDT"}}'])
def test_a_line_that_is_not_an_okx_frame_is_refused(line):
    with pytest.raises(ValueError):
        OkxSimVenue(None).recorded_frame(line)
