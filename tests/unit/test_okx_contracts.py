"""OKX swap sizes in the base currency: contract values from OKX's real instrument lists or a
pinned ``contract_size``, exact linear conversion, inverse conversion at the price."""

from __future__ import annotations

import gzip
import json
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.config import ConfigError, load_config
from tickwire.fixedpoint import INT64_MAX, DecimalTextError, format_scaled, text_cache
from tickwire.instruments import InstrumentError, parse_symbol
from tickwire.venues.base import Channel
from tickwire.venues.okx import (
    ContractSize,
    ContractSizeCache,
    OkxInstrument,
    OkxPublic,
    base_size,
    listed_contract_size,
    parse_instruments,
)

from .venue_cases import FIXTURES, assert_dropped, scaled

SWAP_URL = "https://www.okx.com/api/v5/public/instruments?instType=SWAP"
SWAP_LIST = gzip.decompress((FIXTURES / "okx" / "instruments_swap.json.gz").read_bytes())
FUTURES_LIST = gzip.decompress((FIXTURES / "okx" / "instruments_futures.json.gz").read_bytes())


UNDERLYING = {x["instId"]: x["uly"] for body in (SWAP_LIST, FUTURES_LIST) for x in json.loads(body)["data"]}


def canonical(listed: OkxInstrument) -> str:
    """The canonical symbol of a real listing: BASE-QUOTE from its uly, PERP or the expiry date."""
    base_quote = UNDERLYING[listed.instId]
    expiry = listed.instId.rsplit("-", 1)[1]
    return f"{base_quote}-PERP" if expiry == "SWAP" else f"{base_quote}-20{expiry}"


def swap_venue(symbols, channels=Channel.ALL) -> OkxPublic:
    """An adapter that read OKX's real swap list, just connected."""
    venue = OkxPublic([parse_symbol(s) for s in symbols], frozenset(channels))
    venue.load_metadata(SWAP_URL, SWAP_LIST)
    venue.on_connected()
    return venue


def bbo(inst: str, bid: tuple[str, str], ask: tuple[str, str], seq: int = 1) -> bytes:
    data = {"asks": [[ask[0], ask[1], "0", "1"]], "bids": [[bid[0], bid[1], "0", "1"]],
            "ts": "1790001234563", "seqId": seq}
    return json.dumps({"arg": {"channel": "bbo-tbt", "instId": inst}, "data": [data]},
                      separators=(",", ":")).encode()


def half_up(value: Decimal, scale: int = 8) -> int:
    return int(value.scaleb(scale).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# -- the real instrument lists ----------------------------------------------------------------------


def test_the_real_swap_list_gives_linear_and_inverse_contracts():
    listed = parse_instruments(SWAP_LIST)
    assert len(listed) == 166
    cases = {
        "BTC-USDT-SWAP": ("BTC-USDT-PERP", "0.01 BTC", False),
        "ETH-USDT-SWAP": ("ETH-USDT-PERP", "0.1 ETH", False),
        "SHIB-USDT-SWAP": ("SHIB-USDT-PERP", "1000000 SHIB", False),
        "BTC-USD-SWAP": ("BTC-USD-PERP", "100 USD", True),
        "UNI-USD-SWAP": ("UNI-USD-PERP", "10 USD", True),
    }
    for inst_id, (symbol, value, inverse) in cases.items():
        contract = listed_contract_size(parse_symbol(symbol), listed[inst_id])
        assert (str(contract), contract.inverse) == (value, inverse)


def test_every_real_swap_and_dated_future_has_a_contract_tickwire_converts_exactly():
    for body in (SWAP_LIST, FUTURES_LIST):
        for listed in parse_instruments(body).values():
            contract = listed_contract_size(parse_symbol(canonical(listed)), listed)
            assert Decimal(str(contract).split()[0]) == Decimal(listed.ctVal)
            assert contract.inverse == (listed.ctType == "inverse")


def test_the_real_futures_list_reads_the_same_way():
    listed = parse_instruments(FUTURES_LIST)
    btc_usdt = listed_contract_size(parse_symbol("BTC-USDT-20220527"), listed["BTC-USDT-220527"])
    btc_usd = listed_contract_size(parse_symbol("BTC-USD-20220527"), listed["BTC-USD-220527"])
    assert (btc_usdt, btc_usd) == (ContractSize(1, 2, "BTC", False), ContractSize(100, 0, "USD", True))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"code":"50011","msg":"Too Many Requests","data":[]}', "code 50011: Too Many Requests"),
        (b"<html>Bad gateway</html>", "not an OKX instruments answer"),
        (b'{"code":"0","data":[{"ctVal":"0.01"}]}', "not an OKX instruments answer"),
    ],
)
def test_an_answer_that_is_no_instrument_list_is_refused(body, message):
    with pytest.raises(ValueError, match=message):
        parse_instruments(body)


def listing(**fields: str) -> OkxInstrument:
    values = {"instId": "BTC-USDT-SWAP", "instType": "SWAP", "ctVal": "0.01", "ctValCcy": "BTC",
              "ctType": "linear", "ctMult": "1"}
    return OkxInstrument(**{**values, **fields})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ctType": ""}, "with ctType ''"),
        ({"ctMult": "10"}, "with ctMult 10, not 1"),
        ({"ctValCcy": "USDT"}, "as linear with contracts of 0.01 USDT"),
        ({"ctType": "inverse"}, "as inverse with contracts of 0.01 BTC"),
        ({"ctValCcy": "ETH"}, "contracts in ETH, neither its base BTC nor its quote USDT"),
        ({"ctVal": ""}, "contract value '' is not a decimal"),
        ({"ctVal": "1e-2"}, "contract value '1e-2' is not a decimal"),
        ({"ctVal": "0"}, "contract value 0 BTC is zero"),
        ({"ctVal": "0.000000001"}, "needs size_scale 9 or more, not 8"),
    ],
)
def test_a_contract_that_cannot_be_converted_exactly_is_refused_with_the_reason(fields, message):
    with pytest.raises(ValueError, match=message) as refused:
        listed_contract_size(parse_symbol("BTC-USDT-PERP"), listing(**fields))
    assert str(refused.value).startswith("BTC-USDT-PERP: ")


# -- the conversion -----------------------------------------------------------------------------------

_SCALES = st.integers(min_value=0, max_value=12)


@st.composite
def contracts_and_counts(draw):
    """A contract value (units, decimals <= size scale), a size scale, and a count text with at
    most as many decimals as the contract leaves."""
    size_scale = draw(_SCALES)
    decimals = draw(st.integers(min_value=0, max_value=size_scale))
    units = draw(st.integers(min_value=1, max_value=10**7))
    count_decimals = draw(st.integers(min_value=0, max_value=size_scale - decimals))
    count = draw(st.integers(min_value=0, max_value=10**9))
    text = str(count).rjust(count_decimals + 1, "0")
    if count_decimals:
        text = f"{text[:-count_decimals]}.{text[-count_decimals:]}"
    return ContractSize(units, decimals, "BTC", False), size_scale, text


@given(contracts_and_counts())
def test_linear_sizes_are_exactly_the_count_times_the_contract_value(case):
    contract, size_scale, count = case
    value = Decimal(contract.units).scaleb(-contract.decimals)
    expected = Decimal(count) * value * 10**size_scale
    assert expected == expected.to_integral_value()  # exact at the size scale
    if expected > INT64_MAX:
        with pytest.raises(DecimalTextError, match="overflow"):
            ContractSizeCache(size_scale, contract).parse(count)
    else:
        size = ContractSizeCache(size_scale, contract).parse(count)
        assert size == int(expected)
        assert text_cache(size_scale).format(size) == format_scaled(size, size_scale)  # not the count


@given(contracts_and_counts(), st.integers(min_value=0, max_value=10**6))
def test_a_count_finer_than_the_size_scale_allows_is_refused_not_rounded(case, whole):
    contract, size_scale, _ = case
    finer = f"{whole}.{'0' * (size_scale - contract.decimals)}1"  # one decimal too many
    with pytest.raises(DecimalTextError, match="precision"):
        ContractSizeCache(size_scale, contract).parse(finer)


@given(
    st.integers(min_value=0, max_value=10**15),
    st.integers(min_value=1, max_value=10**15),
    st.integers(min_value=0, max_value=12),
)
def test_inverse_sizes_are_the_value_over_the_price_rounded_half_up(value, price, price_scale):
    exact = Decimal(value) * 10**price_scale / Decimal(price)
    try:
        size = base_size(value, price, 10**price_scale)
    except DecimalTextError:
        assert exact.to_integral_value(rounding=ROUND_HALF_UP) > INT64_MAX
        return
    assert size == exact.to_integral_value(rounding=ROUND_HALF_UP)
    assert abs(size - exact) <= Decimal("0.5")


def test_linear_swap_quotes_are_in_the_base_currency_exactly():
    venue = swap_venue(["BTC-USDT-PERP", "SHIB-USDT-PERP"])
    (quote,) = venue.decode(bbo("BTC-USDT-SWAP", ("67000.1", "12"), ("67000.2", "0.5")), 1)
    assert (quote.bid_size, quote.ask_size) == (scaled("0.12"), scaled("0.005"))
    (shib,) = venue.decode(bbo("SHIB-USDT-SWAP", ("0.00001", "3"), ("0.00002", "4")), 1)
    assert (shib.bid_size, shib.ask_size) == (scaled("3000000"), scaled("4000000"))
    assert venue.stats.errors == {}


def test_inverse_swap_quotes_are_the_contracts_value_at_their_own_side_s_price():
    venue = swap_venue(["BTC-USD-PERP"])
    (quote,) = venue.decode(bbo("BTC-USD-SWAP", ("67000", "3"), ("67001.5", "7")), 1)
    assert quote.bid_size == half_up(Decimal(300) / Decimal("67000"))  # 0.00447761 BTC
    assert quote.ask_size == half_up(Decimal(700) / Decimal("67001.5"))
    assert (quote.bid, quote.ask) == (scaled("67000"), scaled("67001.5"))


def test_inverse_swap_trades_are_the_contracts_value_at_the_trade_price():
    venue = swap_venue(["BTC-USD-PERP"])
    data = {"instId": "BTC-USD-SWAP", "tradeId": "7", "px": "66999.9", "sz": "25", "side": "sell",
            "ts": "1790001234592", "count": "1"}
    frame = json.dumps({"arg": {"channel": "trades", "instId": "BTC-USD-SWAP"}, "data": [data]},
                       separators=(",", ":")).encode()
    (trade,) = venue.decode(frame, 1)
    assert trade.size == half_up(Decimal(2500) / Decimal("66999.9"))


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        # 0.0000001 contract of 0.01 BTC is 1e-9 BTC: finer than size scale 8
        (bbo("BTC-USDT-SWAP", ("67000", "0.0000001"), ("67001", "1")), "bad_number_precision"),
        (bbo("BTC-USDT-SWAP", ("67000", "0"), ("67001", "1")), "zero_size"),
        # 1 contract of 100 USD at a price so high that its value rounds to 0 BTC
        (bbo("BTC-USD-SWAP", ("30000000000", "1"), ("30000000001", "1")), "zero_size"),
    ],
)
def test_a_swap_size_that_is_not_exact_or_is_zero_in_the_base_is_dropped(frame, reason):
    assert_dropped(swap_venue(["BTC-USDT-PERP", "BTC-USD-PERP"]), frame, reason)


# -- metadata before connecting --------------------------------------------------------------------


def test_swaps_need_the_swap_list_from_okx_unless_their_contract_is_pinned():
    spot = OkxPublic([parse_symbol("BTC-USDT")])
    pinned = OkxPublic([parse_symbol("BTC-USDT-PERP", contract_size="0.01 BTC")])
    swaps = OkxPublic([parse_symbol(s) for s in ("BTC-USDT", "BTC-USDT-PERP", "ETH-USD-PERP")])
    assert spot.metadata_requests(None, None) == pinned.metadata_requests(None, None) == []
    assert swaps.metadata_requests(None, None) == [
        (SWAP_URL, "the contract sizes of BTC-USDT-PERP, ETH-USD-PERP")
    ]
    swaps.load_metadata(SWAP_URL, SWAP_LIST)
    assert swaps.metadata_requests(None, None) == []
    assert swaps.stats.venue_errors == []


@pytest.mark.parametrize(
    ("endpoint", "rest_endpoint", "base"),
    [
        (None, None, "https://www.okx.com"),
        ("ws://127.0.0.1:9002/okx/ws/v5/public", None, "http://127.0.0.1:9002/okx"),
        ("ws://127.0.0.1:9002", None, "http://127.0.0.1:9002"),
        ("wss://ws.example:8443/ws/v5/public/", None, "https://ws.example:8443"),
        ("ws://127.0.0.1:9002/okx", "https://rest.example/", "https://rest.example"),
    ],
)
def test_the_rest_base_follows_the_endpoint_unless_one_is_set(endpoint, rest_endpoint, base):
    venue = OkxPublic([parse_symbol("BTC-USDT-PERP")])
    ((url, _),) = venue.metadata_requests(endpoint, rest_endpoint)
    assert url == f"{base}/api/v5/public/instruments?instType=SWAP"


def test_a_swap_okx_does_not_list_is_left_out_with_a_message_and_the_others_subscribed():
    venue = OkxPublic([parse_symbol(s) for s in ("BTC-USDT-PERP", "FOO-USDT-PERP")])
    venue.load_metadata(SWAP_URL, SWAP_LIST)
    assert venue.stats.venue_errors == [
        f"FOO-USDT-PERP: OKX lists no SWAP FOO-USDT-SWAP ({SWAP_URL}); left out"
    ]
    assert venue.metadata_requests(None, None) == []  # not asked for again
    (request,) = venue.on_connected()
    assert json.loads(request)["args"] == [{"channel": "bbo-tbt", "instId": "BTC-USDT-SWAP"}]
    assert_dropped(venue, bbo("FOO-USDT-SWAP", ("1", "1"), ("2", "1")), "unknown_symbol")


def test_an_error_answer_changes_nothing_and_the_list_is_asked_for_again():
    venue = OkxPublic([parse_symbol("BTC-USDT-PERP")])
    with pytest.raises(ValueError, match="code 50011"):
        venue.load_metadata(SWAP_URL, b'{"code":"50011","msg":"Too Many Requests","data":[]}')
    assert venue.metadata_requests(None, None) == [(SWAP_URL, "the contract sizes of BTC-USDT-PERP")]
    assert venue.stats.venue_errors == []


def test_a_swap_whose_contract_was_never_loaded_is_not_subscribed_and_its_frames_not_decoded():
    venue = OkxPublic([parse_symbol(s) for s in ("BTC-USDT", "BTC-USDT-PERP")])
    (request,) = venue.on_connected()
    assert json.loads(request)["args"] == [{"channel": "bbo-tbt", "instId": "BTC-USDT"}]
    assert venue.stats.venue_errors == ["BTC-USDT-PERP: contract size not loaded; left out"]
    venue.on_connected()
    assert len(venue.stats.venue_errors) == 1  # said once
    assert_dropped(venue, bbo("BTC-USDT-SWAP", ("67000", "1"), ("67001", "1")), "unknown_symbol")


def test_a_pinned_contract_size_needs_no_fetch_and_converts_like_a_listed_one():
    pinned = OkxPublic([parse_symbol("BTC-USD-PERP", contract_size="100 USD")])
    listed = swap_venue(["BTC-USD-PERP"], {Channel.BBO})
    pinned.on_connected()
    frame = bbo("BTC-USD-SWAP", ("67000", "3"), ("67001.5", "7"))
    assert pinned.decode(frame, 1) == listed.decode(frame, 1)


@pytest.mark.parametrize(
    ("symbol", "pinned", "message"),
    [
        ("BTC-USDT", "0.01 BTC", "a spot instrument has no contract_size"),
        ("BTC-USDT-PERP", "0.01", "is not 'AMOUNT CURRENCY'"),
        ("BTC-USDT-PERP", "0 BTC", "with an amount above 0"),
        ("BTC-USDT-PERP", "-1 BTC", "is not 'AMOUNT CURRENCY'"),
        ("BTC-USDT-PERP", "0.01 ETH", "must be in BTC (linear) or USDT (inverse)"),
    ],
)
def test_a_malformed_pinned_contract_size_is_refused(symbol, pinned, message):
    with pytest.raises(InstrumentError) as refused:
        parse_symbol(symbol, contract_size=pinned)
    assert message in str(refused.value)


def test_a_pinned_contract_too_fine_for_the_size_scale_is_refused_by_the_adapter():
    with pytest.raises(ValueError, match="needs size_scale 4 or more, not 2"):
        OkxPublic([parse_symbol("BTC-USDT-PERP", size_scale=2, contract_size="0.0001 BTC")])


def write_config(tmp_path, text: str) -> str:
    path = tmp_path / "tickwire.toml"
    path.write_text(text)
    return str(path)


def test_the_config_pins_contract_sizes_and_sets_the_rest_endpoint(tmp_path):
    path = write_config(tmp_path, (
        'venues = ["okx"]\nsymbols = ["BTC-USD-PERP"]\n'
        'rest_endpoints = {okx = "http://127.0.0.1:9003/okx"}\n'
        '[instruments."BTC-USD-PERP"]\ncontract_size = "100 USD"\n'
    ))
    config = load_config(path, {})
    (instrument,) = config.instrument_list()
    assert instrument.contract_size == "100 USD"
    assert config.rest_endpoints == {"okx": "http://127.0.0.1:9003/okx"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[instruments."BTC-USDT-PERP"]\ncontract_size = "0.01 ETH"\n',
         "BTC-USDT-PERP: contract_size '0.01 ETH' must be in BTC"),
        ('[instruments."BTC-USDT-PERP"]\ncontract_size = "0.000000001 BTC"\n',
         "needs size_scale 9 or more, not 8"),
        ('rest_endpoints = {okx = "ws://127.0.0.1:9003"}\n',
         "rest_endpoints.okx is not an http:// or https:// base URL"),
        ('rest_endpoints = {nope = "http://127.0.0.1:9003"}\n', "rest endpoint for unknown venue 'nope'"),
    ],
)
def test_bad_contract_settings_are_one_line_config_errors(tmp_path, text, message):
    path = write_config(tmp_path, 'venues = ["okx"]\nsymbols = ["BTC-USDT-PERP"]\n' + text)
    with pytest.raises(ConfigError) as refused:
        load_config(path, {})
    assert message in str(refused.value) and "\n" not in str(refused.value)
