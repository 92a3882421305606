"""Import of cryptofeed v3 captures (``capture.v3.jsonl.zst``) as a replay source.

A capture is zstd-compressed JSON lines: a header ``{"t":"header","exchange",
"config":{channel: [symbols]}, …}``, then records ``{"t":"connect|send|recv|http","conn",
"ts"(receipt time, epoch seconds),"data"|"b64","url"|"addr"}``. Each cryptofeed exchange maps to
tickwire venues and channels (``CAPTURE_EXCHANGES``); the instruments are the capture's
subscribed symbols that those venues carry. Receipt times are read exactly from their decimal
text. What tickwire cannot replay (REST responses, binary frames, symbols without a canonical
name, connections of no known venue) is counted and listed by ``notes``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import zstandard

from tickwire.config import Config
from tickwire.instruments import InstrumentError, parse_symbol
from tickwire.record.format import NothingToReplay, Record, RecordingError, RecordKind
from tickwire.times import TimestampError, decimal_seconds_to_ns
from tickwire.venues.base import Channel
from tickwire.venues.registry import VENUES

__all__ = ["CAPTURE_EXCHANGES", "CaptureExchange", "CaptureFile", "is_capture"]

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_READ_BYTES = 1 << 20

Router = Callable[[bytes], int]
"""Which of a connection's venues (an index) gets a frame."""


def _first(payload: bytes) -> int:
    return 0


_BINANCE_PUBLIC_STREAMS = (b"@bookTicker", b"@depth")


def _binance_usdm_route(payload: bytes) -> int:
    """USD-M serves book streams on /public (venue 0) and the rest on /market (venue 1)."""
    head = payload[:64]
    if not head.startswith(b'{"stream":'):
        return 0  # replies to requests
    return 0 if any(stream in head for stream in _BINANCE_PUBLIC_STREAMS) else 1


class CaptureExchange(msgspec.Struct, frozen=True):
    """How a cryptofeed exchange's capture replays: ``venues(url)`` names the tickwire venues a
    connection feeds, ``route`` picks the one each frame goes to, ``channels`` the tickwire
    channels whose adapters read what cryptofeed subscribed."""

    venues: Callable[[str], tuple[str, ...]]
    channels: tuple[str, ...]
    route: Router = _first


def _always(*names: str) -> Callable[[str], tuple[str, ...]]:
    return lambda url: names


def _bybit_venues(url: str) -> tuple[str, ...]:
    category = url.rstrip("/").rpartition("/")[2]
    return {"spot": ("bybit",), "linear": ("bybit_linear",)}.get(category, ())


_BBO, _TRADES, _TICKER = Channel.BBO, Channel.TRADES, Channel.TICKER

CAPTURE_EXCHANGES: dict[str, CaptureExchange] = {
    "BINANCE": CaptureExchange(_always("binance"), (_BBO, _TRADES)),
    "BINANCE_FUTURES": CaptureExchange(
        _always("binance_usdm", "binance_usdm_market"), (_BBO, _TRADES), _binance_usdm_route
    ),
    "COINBASE": CaptureExchange(_always("coinbase"), (_BBO, _TICKER, _TRADES)),
    "KRAKEN": CaptureExchange(_always("kraken_v1"), (_BBO, _TICKER, _TRADES)),
    # OKX's capture has ``tickers`` and no ``bbo-tbt``: without BBO the adapter quotes from tickers.
    "OKX": CaptureExchange(_always("okx"), (_TICKER, _TRADES)),
    "BYBIT": CaptureExchange(_bybit_venues, (_BBO, _TICKER, _TRADES)),
    "BITSTAMP": CaptureExchange(_always("bitstamp"), (_BBO, _TRADES)),
    "GEMINI": CaptureExchange(_always("gemini"), (_BBO, _TRADES)),
    # cryptofeed subscribed ``book`` with 100 levels, tickwire keeps 25: quotes come from tickers.
    "BITFINEX": CaptureExchange(_always("bitfinex"), (_TICKER, _TRADES)),
}


class _Header(msgspec.Struct, frozen=True):
    t: str
    exchange: str
    config: dict[str, list[str]] = {}


class _Line(msgspec.Struct, frozen=True):
    t: str
    conn: str = ""
    ts: msgspec.Raw = msgspec.Raw(b"")
    data: str | None = None
    b64: str | None = None
    addr: str = ""
    url: str = ""

    def __post_init__(self) -> None:
        if self.url and not self.addr:  # http records name their "url", connections an "addr"
            msgspec.structs.force_setattr(self, "addr", self.url)


_decode_header = msgspec.json.Decoder(_Header).decode
_decode_line = msgspec.json.Decoder(_Line).decode


def is_capture(path: str | Path) -> bool:
    """True when ``path`` is zstd-compressed (how captures are stored) and not a recording."""
    with open(path, "rb") as file:
        return file.read(4) == _ZSTD_MAGIC


class CaptureFile:
    """One capture as replay records. Raises RecordingError when the header is unreadable or
    names an exchange (or symbols) tickwire cannot replay."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.torn = ""
        self.skipped: Counter[str] = Counter()
        lines = self._lines()
        try:
            header = _decode_header(next(lines))
        except (StopIteration, msgspec.DecodeError):
            raise RecordingError(f"{self.path}: no capture header line") from None
        finally:
            lines.close()
        exchange = CAPTURE_EXCHANGES.get(header.exchange)
        if exchange is None:
            raise NothingToReplay(
                f"{self.path}: exchange {header.exchange!r} has no tickwire venue "
                f"(importable: {', '.join(CAPTURE_EXCHANGES)})"
            )
        self.exchange_name = header.exchange
        self.exchange = exchange
        self.config, self.unnamed = _config(self.path, header, exchange, self._connect_urls())
        self.venues = self.config.venues

    def notes(self) -> list[str]:
        """What was skipped, one line each (after ``records`` has run)."""
        lines = [f"{self.path}: {count} {what} skipped" for what, count in sorted(self.skipped.items())]
        if self.unnamed:
            lines.append(
                f"{self.path}: symbols no {'/'.join(self.venues)} adapter reads, skipped: "
                + ", ".join(self.unnamed)
            )
        return lines

    def records(self) -> Iterator[Record]:
        """The capture's connect, send and recv records of its venues, in capture order."""
        known = set(self.venues)
        conn_ids: dict[str, int] = {}
        conn_venues: dict[str, tuple[str, ...]] = {}
        route = self.exchange.route
        skipped = self.skipped
        skipped.clear()
        self.torn = ""
        lines = self._lines()
        next(lines, None)  # the header
        for line in lines:
            try:
                record = _decode_line(line)
                time_ns = decimal_seconds_to_ns(bytes(record.ts).decode())
            except (msgspec.DecodeError, TimestampError, UnicodeDecodeError):
                skipped["unreadable lines"] += 1
                continue
            kind = record.t
            if kind == "connect":
                venues = tuple(v for v in self.exchange.venues(record.addr) if v in known)
                if not venues:
                    skipped[f"connections to {record.addr} (no venue replayed)"] += 1
                    continue
                conn_venues[record.conn] = venues
                conn = conn_ids[record.conn] = len(conn_ids) + 1
                for venue in venues:
                    yield Record(RecordKind.CONNECT, venue, conn, time_ns, record.addr.encode())
                continue
            if kind == "http" and record.data is not None:
                answer = record.addr.encode() + b"\n" + record.data.encode()
                for venue in self.venues:  # whichever of them asked for it reads it
                    yield Record(RecordKind.HTTP, venue, 0, time_ns, answer)
                continue
            venues = conn_venues.get(record.conn)
            if kind not in ("recv", "send"):
                skipped[f"{kind} records"] += 1
            elif venues is None:
                skipped[f"{kind} records of connections no venue replays"] += 1
            elif record.data is None:
                skipped[f"binary {kind} frames" if record.b64 is not None else f"empty {kind} records"] += 1
            else:
                payload = record.data.encode()
                conn = conn_ids[record.conn]
                if kind == "send":
                    for venue in venues:
                        yield Record(RecordKind.SEND, venue, conn, time_ns, payload)
                else:
                    yield Record(RecordKind.FRAME, venues[route(payload)], conn, time_ns, payload)

    def _lines(self) -> Iterator[bytes]:
        """The non-blank lines of the decompressed capture; a cut or damaged stream ends them
        early (its last partial line is dropped) and sets ``torn``."""
        self.torn = ""
        pending = b""
        with open(self.path, "rb") as file:
            decompressor = zstandard.ZstdDecompressor().decompressobj()
            while data := file.read(_READ_BYTES):
                try:
                    text = decompressor.decompress(data)
                    while decompressor.eof and decompressor.unused_data:  # the next zstd frame
                        rest = decompressor.unused_data
                        decompressor = zstandard.ZstdDecompressor().decompressobj()
                        text += decompressor.decompress(rest)
                except zstandard.ZstdError as exc:
                    self.torn = f"compressed stream damaged: {exc}"
                    return
                *lines, pending = (pending + text).split(b"\n")
                yield from (line for line in lines if line.strip())
        if not decompressor.eof:
            self.torn = "compressed stream cut short"
        elif pending.strip():
            yield pending

    def _connect_urls(self) -> list[str]:
        urls: list[str] = []
        for line in self._lines():
            if b'"connect"' in line:
                try:
                    record = _decode_line(line)
                except msgspec.DecodeError:
                    continue
                if record.t == "connect" and record.addr not in urls:
                    urls.append(record.addr)
        return urls


def _config(
    path: Path, header: _Header, exchange: CaptureExchange, urls: list[str]
) -> tuple[Config, list[str]]:
    """The replay configuration: the exchange's venues that exist in this tickwire and carry some
    subscribed symbol, those symbols, and the symbols none of them reads."""
    wanted = list(dict.fromkeys(v for url in urls for v in exchange.venues(url)))
    venues = [v for v in wanted if v in VENUES]
    if not venues:
        raise NothingToReplay(
            f"{path}: {header.exchange} is read by tickwire venue(s) {', '.join(wanted) or 'none'}, "
            "which this tickwire does not have"
        )
    channels = frozenset(exchange.channels)
    subscribed = list(dict.fromkeys(s for symbols in header.config.values() for s in symbols))
    carried: dict[str, list[str]] = {venue: [] for venue in venues}
    unnamed = []
    for symbol in subscribed:
        readers = [venue for venue in venues if _reads(venue, symbol, channels)]
        for venue in readers:
            carried[venue].append(symbol)
        if not readers:
            unnamed.append(symbol)
    venues = [venue for venue in venues if carried[venue]]
    if not venues:
        raise NothingToReplay(
            f"{path}: {header.exchange} capture has no symbol a tickwire venue reads "
            f"(subscribed: {', '.join(subscribed) or 'none'})"
        )
    symbols = [s for s in subscribed if s not in unnamed]
    return Config(venues=venues, symbols=symbols, channels=sorted(channels)), unnamed


def _reads(venue: str, symbol: str, channels: frozenset[str]) -> bool:
    """Whether ``venue``'s adapter accepts ``symbol`` with ``channels``."""
    try:
        instrument = parse_symbol(symbol)
    except InstrumentError:
        return False
    adapter = VENUES[venue]
    if instrument.kind not in adapter.instrument_kinds:
        return False
    try:
        adapter([instrument], channels)  # type: ignore[call-arg]
    except ValueError:
        return False
    return True
