"""Replaying the real cryptofeed v3 captures: every BBO frame gives the quote it carries."""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
import zstandard

from tickwire.model import Quote
from tickwire.record.capture import CaptureFile
from tickwire.record.format import NothingToReplay, RecordKind
from tickwire.times import decimal_seconds_to_ns
from tickwire.transport.rest import NeedsMetadata
from tickwire.venues.base import VenueAdapter
from tickwire.venues.registry import VENUES, instruments_for

CAPTURES = Path(__file__).resolve().parent.parent / "fixtures" / "captures"
WITH_TICKERS = ["binance", "binance_futures", "bitfinex", "bybit", "coinbase", "kraken", "okx"]


def capture(name: str) -> CaptureFile:
    return CaptureFile(CAPTURES / f"{name}.capture.v3.jsonl.zst")


def quotes_by_receipt(source: CaptureFile) -> tuple[dict[int, list[Quote]], dict[int, bytes]]:
    """Every quote the capture's frames give and every frame, by the receipt time of their
    frame, decoded by the adapters a replay builds (a CONNECT resets one, as a new connection
    does)."""
    config = source.config
    instruments = config.instrument_list()
    adapters: dict[str, VenueAdapter] = {
        name: VENUES[name](instruments_for(name, instruments), frozenset(config.channels))
        for name in config.venues
    }
    quotes: dict[int, list[Quote]] = defaultdict(list)
    frames: dict[int, bytes] = {}
    for record in source.records():
        adapter = adapters[record.venue]
        if record.kind is RecordKind.CONNECT:
            adapter.on_connected()
        elif record.kind is RecordKind.HTTP and isinstance(adapter, NeedsMetadata):
            url, _, body = record.payload.partition(b"\n")
            with contextlib.suppress(ValueError):  # answers for other instrument types
                adapter.load_metadata(url.decode(), body)
        elif record.kind is RecordKind.FRAME:
            frames[record.time_ns] = record.payload
            for event in adapter.decode(record.payload, record.time_ns):
                if isinstance(event, Quote):
                    quotes[record.time_ns].append(event)
    return quotes, frames


def without_top_of_book(frame: bytes) -> bool:
    """A Bybit ``tickers`` delta that changes no best bid/offer field (cryptofeed repeats the last
    ticker for it; there is no new quote to give)."""
    if not frame.startswith(b'{"topic":"tickers.'):
        return False
    data = json.loads(frame)["data"]
    return not {"bid1Price", "bid1Size", "ask1Price", "ask1Size"} & set(data)


def superseded(quotes: dict[int, list[Quote]], symbol: str, time_ns: int, frame: bytes) -> bool:
    """A Bybit ``tickers`` quote older (by cross sequence ``cs``) than a quote the adapter already
    emitted from the order book: the adapter never moves a price back."""
    message = json.loads(frame)
    sequence = message.get("cs") if isinstance(message, dict) else None
    emitted = [q.update_id for t, qs in quotes.items() if t <= time_ns for q in qs if q.symbol == symbol]
    return sequence is not None and bool(emitted) and sequence < max(emitted)


def scaled(text: str) -> int:
    return int(Decimal(text).scaleb(8))


@pytest.mark.parametrize("name", WITH_TICKERS)
def test_every_ticker_cryptofeed_read_is_a_quote_of_the_same_frame(name: str) -> None:
    source = capture(name)
    quotes, frames = quotes_by_receipt(source)
    expected = [json.loads(line) for line in (CAPTURES / f"{name}.expected_ticker.jsonl").open()]
    carried = [e for e in expected if e["symbol"] in source.config.symbols]
    assert carried, "the capture has tickers of instruments tickwire reads"
    for ticker in carried:
        # cryptofeed's receipt time is the capture's "ts" as a float: the same text, read back
        time_ns = decimal_seconds_to_ns(repr(ticker["receipt_timestamp"]))
        wanted = (ticker["symbol"], scaled(ticker["bid"]), scaled(ticker["ask"]))
        given = [(q.symbol, q.bid, q.ask) for q in quotes[time_ns]]
        frame = frames[time_ns]
        if without_top_of_book(frame):
            continue
        assert wanted in given or superseded(quotes, ticker["symbol"], time_ns, frame), ticker


def test_receipt_times_are_read_exactly_from_their_text() -> None:
    first_frame = next(r for r in capture("binance").records() if r.kind is RecordKind.FRAME)
    assert first_frame.time_ns == 1633998512_063356900  # "ts":1633998512.0633569
    assert first_frame.venue == "binance"


def test_binance_futures_frames_go_to_the_connection_their_stream_is_served_on() -> None:
    venues_of = defaultdict(set)
    for record in capture("binance_futures").records():
        if record.kind is RecordKind.FRAME:
            stream = json.loads(record.payload)["stream"].partition("@")[2]
            venues_of[stream].add(record.venue)
    assert venues_of["bookTicker"] == {"binance_usdm"}
    assert venues_of["depth@100ms"] == {"binance_usdm"}
    assert venues_of["aggTrade"] == {"binance_usdm_market"}
    assert venues_of["kline_1m"] == {"binance_usdm_market"}


def test_bybit_connections_are_spot_or_linear_by_their_url() -> None:
    source = capture("bybit")
    connects = {r.venue: r.payload for r in source.records() if r.kind is RecordKind.CONNECT}
    assert connects == {
        "bybit": b"wss://stream.bybit.com/v5/public/spot",
        "bybit_linear": b"wss://stream.bybit.com/v5/public/linear",
    }
    assert source.config.symbols == [
        "BTC-USDT-PERP", "ETH-USDT-PERP", "SOL-USDT-PERP", "DOGE-USDT-PERP", "BTC-USDT", "ETH-USDT"
    ]  # fmt: skip


def test_what_cannot_be_replayed_is_counted_and_named() -> None:
    source = capture("okx")
    frames = sum(1 for r in source.records() if r.kind is RecordKind.FRAME)
    assert frames == 410
    assert source.unnamed == ["BTC-USD-22K27"]  # a dated future: no canonical name yet
    notes = source.notes()
    http = [r for r in source.records() if r.kind is RecordKind.HTTP]
    assert len(http) == 25  # instrument lists, for the adapter to read swap contract values
    assert any("BTC-USD-22K27" in note for note in notes)


def test_a_capture_of_an_exchange_without_a_venue_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deribit.capture.v3.jsonl.zst"
    header = b'{"t":"header","exchange":"DERIBIT","config":{"ticker":["BTC-USD-PERP"]}}\n'
    path.write_bytes(zstandard.ZstdCompressor().compress(header))
    with pytest.raises(NothingToReplay, match="exchange 'DERIBIT' has no tickwire venue"):
        CaptureFile(path)


def test_a_capture_cut_short_gives_its_records_up_to_the_cut(tmp_path: Path) -> None:
    whole = (CAPTURES / "okx.capture.v3.jsonl.zst").read_bytes()
    cut = tmp_path / "cut.capture.v3.jsonl.zst"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    source = CaptureFile(cut)
    records = list(source.records())
    complete = list(capture("okx").records())
    assert 0 < len(records) < len(complete)
    assert records == complete[: len(records)] or records[:-1] == complete[: len(records) - 1]
    assert source.torn
