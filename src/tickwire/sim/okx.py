"""OKX v5 public WebSocket server, without I/O: ``OkxSimVenue`` for ``tickwire.sim.server``.

Clients connect to ``/ws/v5/public`` and send ``{"op":"subscribe"|"unsubscribe","args":[…]}``
over ``bbo-tbt``, ``tickers`` and ``trades`` args (``instId`` ``BTC-USDT`` for spot,
``BTC-USDT-SWAP`` for the canonical ``BTC-USDT-PERP``); every arg gets its own ack or error
event, and a ``bbo-tbt`` or ``tickers`` subscription gets the current value right after its ack.
Prices, sizes and ``ts`` (ms) are strings in OKX's shortest form (``67012.5``, ``30236``); swap
sizes count contracts (``contract_value``). The client sends the text ``ping`` and gets the text
``pong``; the server closes a client that sent nothing for 30 s.

A plain HTTP ``GET /api/v5/public/instruments?instType=SPOT|SWAP|FUTURES|…`` answers OKX's
instrument list in OKX's shape (``{"code":"0","msg":"","data":[…]}``, each entry with ``ctVal``,
``ctValCcy``, ``ctType``, ``ctMult``, ``lotSz``…): the listed spot pairs, the perpetual swaps
with the contract values the pushes use, no dated futures or options; nothing while replaying.

Not simulated: the 3 connections a second and 480 subscribe requests an hour limits, the other
channels (``books``, ``books5``, candles…) and the ``notice`` of a service upgrade, which tests
send with ``Simulator.send_raw(SERVICE_UPGRADE_NOTICE)``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from tickwire.instruments import Instrument, parse_symbol
from tickwire.model import BUY
from tickwire.sim.market import (
    PRICE_DECIMALS,
    MarketEvent,
    MarketQuote,
    MarketTicker,
    MarketTrade,
    SymbolSpec,
    VenueView,
)
from tickwire.sim.venue import (
    SessionReply,
    SimSession,
    SimVenue,
    format_units_short,
    unknown_path,
)
from tickwire.venues.okx import venue_symbol

__all__ = [
    "CHANNELS",
    "PONG",
    "SERVICE_UPGRADE_NOTICE",
    "OkxSession",
    "OkxSimVenue",
    "contract_value",
    "swap_contracts",
]

CHANNELS = ("bbo-tbt", "tickers", "trades")
PONG = b"pong"
SERVICE_UPGRADE_NOTICE = (
    b'{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service '
    b'upgrade. Please reconnect.","connId":"00000000"}'
)

_ONE = 10**PRICE_DECIMALS
_PING = b"ping"
_PATH = "/ws/v5/public"
_INSTRUMENTS_PATH = "/api/v5/public/instruments"
_LISTED_INST_TYPES = ("SPOT", "SWAP", "FUTURES", "MARGIN", "OPTION")
_LIST_TIME_MS = "1611916828000"
_INST_ID_RE = re.compile(r"[A-Z0-9]{1,16}(?:-[A-Z0-9]{1,16}){1,4}")
_LINEAR_CONTRACT = {"BTC": _ONE // 100, "ETH": _ONE // 10}  # base coin per contract, else 1
_INVERSE_CONTRACT_USD = {"BTC": 100 * _ONE}  # USD per contract, else 10
_DEFAULT_INVERSE_CONTRACT_USD = 10 * _ONE
_INVERSE_QUOTE = "USD"
_ERROR_INVALID_REQUEST = "60012"
_ERROR_NO_SUCH_CHANNEL = "60018"
_ERROR_PARAMETER_EMPTY = "50014"
_ERROR_PARAMETER = "51000"
_NS_PER_MS = 1_000_000
_MAX_ERROR_ECHO = 200


def contract_value(base: str, quote: str) -> tuple[int, str]:
    """What one simulated swap contract of ``base``/``quote`` is worth: units of ``10**-8`` and
    the currency. A linear swap's contract is 0.01 BTC, 0.1 ETH or 1 coin of anything else; an
    inverse (``quote`` USD) swap's 100 USD for BTC and 10 USD otherwise."""
    if quote == _INVERSE_QUOTE:
        return _INVERSE_CONTRACT_USD.get(base, _DEFAULT_INVERSE_CONTRACT_USD), quote
    return _LINEAR_CONTRACT.get(base, _ONE), base


def swap_contracts(base: str, quote: str, size: int, price: int) -> int:
    """``size`` units of ``base`` traded at ``price`` as a count of OKX swap contracts, in units.

    Linear contracts divide the size exactly, so fractions of a contract show; inverse ones
    divide its USD value, counted in whole contracts, at least one.
    """
    value, currency = contract_value(base, quote)
    if currency == quote:
        return max(1, (size * price + value * _ONE // 2) // (value * _ONE)) * _ONE
    return size * _ONE // value


# -- wire shapes ----------------------------------------------------------------------------------


class _Arg(msgspec.Struct, gc=False):
    channel: str
    instId: str


class _Reply(msgspec.Struct, omit_defaults=True, kw_only=True):
    id: str | None = None
    event: str
    arg: _Arg | None = None
    code: str | None = None
    msg: str | None = None
    connId: str


class _Bbo(msgspec.Struct, gc=False):
    asks: list[tuple[str, str, str, str]]
    bids: list[tuple[str, str, str, str]]
    ts: str
    seqId: int


class _Ticker(msgspec.Struct, gc=False):
    instType: str
    instId: str
    last: str
    lastSz: str
    askPx: str
    askSz: str
    bidPx: str
    bidSz: str
    open24h: str
    high24h: str
    low24h: str
    sodUtc0: str
    sodUtc8: str
    volCcy24h: str
    vol24h: str
    ts: str


class _Trade(msgspec.Struct, gc=False):
    instId: str
    tradeId: str
    px: str
    sz: str
    side: str
    ts: str
    count: str


class _Push(msgspec.Struct, gc=False):
    arg: _Arg
    data: list[Any]


class _Listing(msgspec.Struct, gc=False):
    """An entry of the REST instrument list (OKX's field names, a subset of its fields)."""

    alias: str
    baseCcy: str
    ctMult: str
    ctType: str
    ctVal: str
    ctValCcy: str
    expTime: str
    instFamily: str
    instId: str
    instType: str
    lever: str
    listTime: str
    lotSz: str
    minSz: str
    quoteCcy: str
    settleCcy: str
    state: str
    tickSz: str
    uly: str


class _RestAnswer(msgspec.Struct, gc=False):
    code: str
    msg: str
    data: list[_Listing]


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class _RecordedLine(msgspec.Struct):
    arg: _Arg | None = None
    event: str = ""


_decode_recorded_line = msgspec.json.Decoder(_RecordedLine).decode


def _topic(channel: str, inst_id: str) -> str:
    return f"{channel}:{inst_id}"


def _level(price: int, size: int) -> tuple[str, str, str, str]:
    """A book level: price, size, the deprecated liquidated-orders "0", a made-up order count."""
    return format_units_short(price), format_units_short(size), "0", str(1 + size // _ONE % 9)


# -- the session ----------------------------------------------------------------------------------


class _InvalidRequest(Exception):
    pass


class OkxSession(SimSession):
    """One connection: its subscriptions (topics ``bbo-tbt:BTC-USDT``, ``tickers:…``,
    ``trades:…``), its ``connId`` and the replies to its requests."""

    def __init__(self, venue: OkxSimVenue, conn_id: str) -> None:
        super().__init__()
        self.venue = venue
        self.conn_id = conn_id

    def on_text(self, message: bytes, now_ns: int) -> SessionReply:
        """Answer ``ping`` with ``pong``, or a request with an ack or error event per arg and
        then the current values of new ``bbo-tbt`` and ``tickers`` subscriptions."""
        if message == _PING:
            return SessionReply((PONG,))
        request_id: str | None = None
        try:
            try:
                request = _decode(message)
            except msgspec.DecodeError:
                raise _InvalidRequest from None
            if not isinstance(request, dict):
                raise _InvalidRequest
            raw_id = request.get("id")
            request_id = raw_id if isinstance(raw_id, str) else None
            op, args = request.get("op"), request.get("args")
            if raw_id is not None and request_id is None:
                raise _InvalidRequest
            if op not in ("subscribe", "unsubscribe") or not (isinstance(args, list) and args):
                raise _InvalidRequest
            if not all(
                isinstance(arg, dict)
                and isinstance(arg.get("channel"), str)
                and isinstance(arg.get("instId"), str)
                for arg in args
            ):
                raise _InvalidRequest
        except _InvalidRequest:
            text = message[:_MAX_ERROR_ECHO].decode("utf-8", "replace")
            problem = f"Invalid request: {text}"
            return SessionReply((self._error(_ERROR_INVALID_REQUEST, problem, request_id),))
        return self._subscription(op, args, request_id, now_ns // _NS_PER_MS)

    def _subscription(
        self, op: str, args: list[dict[str, str]], request_id: str | None, now_ms: int
    ) -> SessionReply:
        venue = self.venue
        subscribing = op == "subscribe"
        replies: list[bytes] = []
        snapshots: list[bytes] = []
        acked = False
        for raw_arg in args:
            arg = _Arg(raw_arg["channel"], raw_arg["instId"])
            if arg.channel not in CHANNELS or not venue.lists(arg.instId):
                problem = (
                    f"Wrong URL or channel:{arg.channel},instId:{arg.instId} doesn't exist. "
                    "Please use the correct URL, channel and parameters referring to API document."
                )
                replies.append(self._error(_ERROR_NO_SUCH_CHANNEL, problem, request_id))
                continue
            topic = _topic(arg.channel, arg.instId)
            if subscribing:
                if topic not in self.topics:
                    self.topics[topic] = None
                    snapshots.extend(venue.current(arg.channel, arg.instId, now_ms))
            else:
                self.topics.pop(topic, None)
            reply = _Reply(id=request_id, event=op, arg=arg, connId=self.conn_id)
            replies.append(_encode(reply))
            acked = True
        return SessionReply((*replies, *snapshots), subscribing and acked)

    def _error(self, code: str, message: str, request_id: str | None) -> bytes:
        reply = _Reply(id=request_id, event="error", code=code, msg=message, connId=self.conn_id)
        return _encode(reply)


# -- the venue ------------------------------------------------------------------------------------


class _Instrument:
    """One listed instrument: its instId, instType, pushes' args, size rule and REST listing."""

    def __init__(self, spec: SymbolSpec) -> None:
        instrument = parse_symbol(spec.symbol)
        self.inst_id = venue_symbol(instrument)
        self.inst_type = "SWAP" if instrument.kind else "SPOT"
        self.args = {channel: _Arg(channel, self.inst_id) for channel in CHANNELS}
        self.topics = {channel: (_topic(channel, self.inst_id),) for channel in CHANNELS}
        base, quote = instrument.base, instrument.quote
        self.size: Callable[[int, int], int] = (
            (lambda size, price: swap_contracts(base, quote, size, price))
            if instrument.kind
            else (lambda size, price: size)
        )
        self.listing = self._listing(instrument, spec)

    def _listing(self, instrument: Instrument, spec: SymbolSpec) -> _Listing:
        base, quote, tick = instrument.base, instrument.quote, format_units_short(spec.tick)
        if not instrument.kind:
            lot = format_units_short(spec.lot)
            return _Listing(
                alias="", baseCcy=base, ctMult="", ctType="", ctVal="", ctValCcy="", expTime="",
                instFamily="", instId=self.inst_id, instType="SPOT", lever="10",
                listTime=_LIST_TIME_MS, lotSz=lot, minSz=lot, quoteCcy=quote, settleCcy="",
                state="live", tickSz=tick, uly="",
            )
        value, currency = contract_value(base, quote)
        inverse = currency == quote
        # the finest contract count the pushes carry: whole ones (inverse) or a lot's worth
        lot = "1" if inverse else format_units_short(max(1, spec.lot * _ONE // value))
        family = f"{base}-{quote}"
        return _Listing(
            alias="", baseCcy="", ctMult="1", ctType="inverse" if inverse else "linear",
            ctVal=format_units_short(value), ctValCcy=currency, expTime="", instFamily=family,
            instId=self.inst_id, instType="SWAP", lever="100", listTime=_LIST_TIME_MS, lotSz=lot,
            minSz=lot, quoteCcy="", settleCcy=base if inverse else quote, state="live",
            tickSz=tick, uly=family,
        )

    def size_text(self, size: int, price: int) -> str:
        return format_units_short(self.size(size, price))


class OkxSimVenue(SimVenue):
    """OKX v5 public channels at ``/ws/v5/public``: ``bbo-tbt``, ``tickers`` and ``trades``.

    Quotes become ``bbo-tbt`` pushes (one level a side, ``seqId`` increasing per instrument),
    the market's tickers ``tickers`` pushes with the 24 h fields, and trades one ``trades``
    push per taker order (its total size, ``count`` fills, the last fill's ``tradeId``). Lists
    spot and perpetual swaps; while replaying, any instId is accepted.
    """

    name = "okx"
    default_path = _PATH
    instrument_kinds = frozenset(("", "PERP"))
    idle_timeout = 30.0

    def __init__(self, view: VenueView | None) -> None:
        super().__init__(view)
        self._instruments = {
            spec.symbol: _Instrument(spec) for spec in (view.specs if view else ())
        }
        self._listed = {state.inst_id: symbol for symbol, state in self._instruments.items()}
        self._channels: dict[type, str] = {
            MarketQuote: "bbo-tbt",
            MarketTicker: "tickers",
            MarketTrade: "trades",
        }
        self._connection_numbers = itertools.count(1)

    def accept(self, path: str) -> OkxSession:
        """A session for ``/ws/v5/public``; RequestPathError 404 for any other path."""
        if path.rstrip("/") != _PATH:
            raise unknown_path(path)
        return OkxSession(self, f"{next(self._connection_numbers):08x}")

    def http_get(self, path: str) -> tuple[int, bytes]:
        """OKX's answer to ``GET /api/v5/public/instruments?instType=…``: status 200 and the
        listed instruments of that type, or status 400 and OKX's error for a missing or unknown
        instType; RequestPathError 404 for any other path."""
        parts = urlsplit(path)
        if parts.path.rstrip("/") != _INSTRUMENTS_PATH:
            raise unknown_path(path)
        inst_type = parse_qs(parts.query).get("instType", [""])[0]
        if not inst_type:
            return 400, _encode(
                _RestAnswer(_ERROR_PARAMETER_EMPTY, "Parameter instType can not be empty", [])
            )
        if inst_type not in _LISTED_INST_TYPES:
            return 400, _encode(_RestAnswer(_ERROR_PARAMETER, "Parameter instType error", []))
        listed = [
            state.listing for state in self._instruments.values() if state.inst_type == inst_type
        ]
        return 200, _encode(_RestAnswer("0", "", listed))

    def lists(self, inst_id: str) -> bool:
        """Whether ``inst_id`` can be subscribed (any well-formed instId while replaying)."""
        if self.view is None:
            return _INST_ID_RE.fullmatch(inst_id) is not None
        return inst_id in self._listed

    def topics(self, event: MarketEvent) -> tuple[str, ...]:
        """The one topic ``event`` feeds, e.g. ``("bbo-tbt:BTC-USDT-SWAP",)``."""
        return self._instruments[event.symbol].topics[self._channels[type(event)]]

    def render(self, event: MarketEvent, topic: str) -> Sequence[bytes]:
        """The ``bbo-tbt``, ``tickers`` or ``trades`` push for ``event``."""
        if isinstance(event, MarketQuote):
            return (self._bbo(event),)
        if isinstance(event, MarketTicker):
            return (self._ticker(event),)
        return (self._trade(event),)

    def current(self, channel: str, inst_id: str, now_ms: int) -> tuple[bytes, ...]:
        """The push a new subscription to ``channel`` of listed ``inst_id`` gets first: the
        current best bid/offer or ticker; nothing for trades or while replaying."""
        if self.view is None or channel == "trades":
            return ()
        symbol = self._listed[inst_id]
        if channel == "bbo-tbt":
            quote = self.view.quote(symbol)
            return (self._bbo(quote, quote.time_ms or now_ms),)
        return (self._ticker(self.view.ticker(symbol, now_ms)),)

    def reconnect_message(self, now_ms: int) -> bytes:
        """The ``notice`` event OKX sends before a service upgrade cuts the connection."""
        return (
            b'{"event":"notice","code":"64008","msg":"The connection will soon be closed for a '
            b'service upgrade. Please reconnect.","connId":"sim"}'
        )

    def recorded_frame(self, line: bytes) -> tuple[str, bytes]:
        """The topic of a recorded push (``tickers:BTC-USDT``…); events go to no one."""
        frame = _decode_recorded_line(line)
        if frame.arg is None or frame.event:
            return "", line
        return _topic(frame.arg.channel, frame.arg.instId), line

    def _bbo(self, quote: MarketQuote, time_ms: int | None = None) -> bytes:
        instrument = self._instruments[quote.symbol]
        data = _Bbo(
            asks=[_level(quote.ask, instrument.size(quote.ask_size, quote.ask))],
            bids=[_level(quote.bid, instrument.size(quote.bid_size, quote.bid))],
            ts=str(quote.time_ms if time_ms is None else time_ms),
            seqId=quote.update_id,
        )
        return _encode(_Push(instrument.args["bbo-tbt"], [data]))

    def _ticker(self, ticker: MarketTicker) -> bytes:
        instrument = self._instruments[ticker.symbol]
        size_text = instrument.size_text
        swap = instrument.inst_type == "SWAP"
        # spot: vol24h in the base coin, volCcy24h in the quote; swaps: contracts and base coin
        volume_ccy = format_units_short(ticker.volume if swap else ticker.quote_volume)
        open_price = format_units_short(ticker.open)
        data = _Ticker(
            instType=instrument.inst_type,
            instId=instrument.inst_id,
            last=format_units_short(ticker.last),
            lastSz=size_text(ticker.last_size, ticker.last),
            askPx=format_units_short(ticker.ask),
            askSz=size_text(ticker.ask_size, ticker.ask),
            bidPx=format_units_short(ticker.bid),
            bidSz=size_text(ticker.bid_size, ticker.bid),
            open24h=open_price,
            high24h=format_units_short(ticker.high),
            low24h=format_units_short(ticker.low),
            sodUtc0=open_price,
            sodUtc8=open_price,
            volCcy24h=volume_ccy,
            vol24h=size_text(ticker.volume, ticker.last) if ticker.volume else "0",
            ts=str(ticker.time_ms),
        )
        return _encode(_Push(instrument.args["tickers"], [data]))

    def _trade(self, trade: MarketTrade) -> bytes:
        instrument = self._instruments[trade.symbol]
        data = _Trade(
            instId=instrument.inst_id,
            tradeId=str(trade.first_trade_id + len(trade.fill_sizes) - 1),
            px=format_units_short(trade.price),
            sz=instrument.size_text(trade.size, trade.price),
            side="buy" if trade.taker_side == BUY else "sell",
            ts=str(trade.time_ms),
            count=str(len(trade.fill_sizes)),
        )
        return _encode(_Push(instrument.args["trades"], [data]))
