"""Bitfinex WebSocket v2 public server, without I/O: ``BitfinexSimVenue`` for ``tickwire.sim.server``.

Clients connect to ``/ws/2`` and send events: ``conf`` (flags; SEQ_ALL makes every data message
end with the connection's next sequence number), ``subscribe`` to ``book`` (P0, F0 or F1, ``len``
1, 25, 100 or 250), ``trades`` or ``ticker`` of a ``t`` pair, ``unsubscribe`` by ``chanId``, and
``ping`` (answered ``pong`` with the same ``cid``). The first request is preceded by the ``info``
event the real server sends on connect. Each subscription gets a ``subscribed`` event with its
own ``chanId`` (numbered per connection) and then its snapshot: the book's levels, the current
ticker, or an empty list of recent trades (none are kept). Data arrays are
``[chanId,<body>,seq]``:

- a quote becomes one book message per changed level, ``[PRICE,COUNT,AMOUNT]`` (``COUNT`` 0
  deletes; ``AMOUNT`` 1 or -1 then), in an order that never empties a side nor crosses the
  book (``tickwire.sim.levels``); the simulated book holds the quote's level on each side;
- a trade becomes, per fill, ``"te",[ID,MTS,AMOUNT,PRICE]`` (``AMOUNT`` < 0 when the taker sold),
  then the same again as ``"tu"`` (the real venue sends ``tu`` a second or two later);
- statistics become ``[BID,BID_SIZE,ASK,ASK_SIZE,DAILY_CHANGE,DAILY_CHANGE_RELATIVE,LAST_PRICE,
  VOLUME,HIGH,LOW]``.

Numbers are JSON numbers with their exact shortest text. Every 15 s the server sends
``[chanId,"hb",seq]`` for one of the client's channels in turn (the real server beats every quiet
channel every 15 s). Errors are ``{"event":"error","msg":…,"code":…}``: 10300 (subscription
failed: unlisted symbol, unsupported parameter), 10301 (already subscribed), 10302 (unknown
channel), 10305 (more than 25 channels), 10000 (unknown event or not JSON).

Replaying, the recording's ``subscribed`` events tell which channel and symbol each recorded
``chanId`` is; recorded data go to the connections subscribed to the same channel and symbol,
under their own ``chanId`` and sequence numbers, the body byte for byte.

Not simulated: funding (``f``) symbols, precisions P1-P4 and R0, checksums, candles, status and
the info events of restarts and maintenance, which tests send with ``Simulator.send_raw``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Hashable, Sequence

import msgspec

from tickwire.instruments import parse_symbol
from tickwire.model import BUY
from tickwire.sim.levels import LevelChange, PublishedBooks
from tickwire.sim.market import PRICE_DECIMALS, MarketEvent, MarketQuote, MarketTicker, MarketTrade, VenueView
from tickwire.sim.venue import EventTopics, SessionReply, SimSession, SimVenue, format_units_short, unknown_path
from tickwire.venues.bitfinex import MAX_CHANNELS_PER_CONNECTION, SEQ_ALL, venue_symbol

__all__ = ["HEARTBEAT_SECONDS", "INFO", "BitfinexSession", "BitfinexSimVenue", "info_event"]

HEARTBEAT_SECONDS = 15.0
INFO = b'{"event":"info","version":2,"serverId":"5b73a436-19ca-4a06-8472-a5b5a3b2b1b6","platform":{"status":1}}'

_PATH = "/ws/2"
_CHANNELS = ("book", "trades", "ticker")
_PRECISIONS = ("P0",)
_FREQUENCIES = ("F0", "F1")
_LENGTHS = ("1", "25", "100", "250")
_SYMBOL_RE = re.compile(r"t[A-Z0-9]{3,16}(?::[A-Z0-9]{3,16})?")
_FIRST_CHAN_ID = 17082
_ONE = 10**PRICE_DECIMALS
_RELATIVE_DECIMALS = 4
_SUBSCRIPTION_FAILED, _ALREADY_SUBSCRIBED, _UNKNOWN_CHANNEL, _TOO_MANY = 10300, 10301, 10302, 10305
_UNKNOWN_EVENT = 10000


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def info_event(code: int, message: str) -> bytes:
    """An ``info`` event with ``code``: 20051 (restart: reconnect), 20060 / 20061 (maintenance)."""
    return _encode({"event": "info", "code": code, "msg": message})


def _number(units: int) -> bytes:
    return format_units_short(units).encode()


def _level(change: LevelChange) -> bytes:
    if not change.size:
        return b"[%b,0,%d]" % (_number(change.price), 1 if change.is_bid else -1)
    count = 1 + change.size // _ONE % 3
    return b"[%b,%d,%b%b]" % (_number(change.price), count, b"" if change.is_bid else b"-", _number(change.size))


def _ticker(ticker: MarketTicker) -> bytes:
    change = ticker.last - ticker.open
    relative = change * 10**_RELATIVE_DECIMALS // ticker.open if ticker.open else 0
    fields = (
        _number(ticker.bid), _number(ticker.bid_size), _number(ticker.ask), _number(ticker.ask_size),
        _number(change), _number(relative * 10 ** (PRICE_DECIMALS - _RELATIVE_DECIMALS)), _number(ticker.last),
        _number(ticker.volume), _number(ticker.high), _number(ticker.low),
    )
    return b"[" + b",".join(fields) + b"]"


class _RecordedEvent(msgspec.Struct, gc=False):
    event: str
    channel: str = ""
    chanId: int = 0
    symbol: str = ""
    flags: int = 0


_decode_recorded_event = msgspec.json.Decoder(_RecordedEvent).decode


def _topic(channel: str, symbol: str) -> str:
    return f"{channel}:{symbol}"


# -- the session ----------------------------------------------------------------------------------


class BitfinexSession(SimSession):
    """One connection: its conf flags, its channels (``topics`` ``book:tBTCUSD``…) by ``chanId``
    and its sequence numbers."""

    def __init__(self, venue: BitfinexSimVenue) -> None:
        super().__init__()
        self.venue = venue
        self.flags = 0
        self.greeted = False
        self.chan_ids: dict[str, int] = {}  # topic -> chanId
        self._next_chan_id = itertools.count(_FIRST_CHAN_ID)
        self._seq = 0
        self._beats = 0

    @property
    def framing(self) -> Hashable:
        """This session: chanIds and sequence numbers are its own."""
        return self

    def frame(self, topic: str, payload: bytes) -> bytes:
        """``[chanId,<payload>]``, with the next sequence number when SEQ_ALL is on."""
        return self._array(self.chan_ids[topic], payload)

    def _array(self, chan_id: int, body: bytes) -> bytes:
        if not self.flags & SEQ_ALL:
            return b"[%d,%b]" % (chan_id, body)
        self._seq += 1
        return b"[%d,%b,%d]" % (chan_id, body, self._seq)

    def on_text(self, message: bytes, now_ns: int) -> SessionReply:
        """Answer one event (see the module docstring); the first answer follows ``INFO``."""
        frames = [] if self.greeted else [INFO]
        self.greeted = True
        try:
            request = _decode(message)
        except msgspec.DecodeError:
            request = None
        event = request.get("event") if isinstance(request, dict) else None
        subscribed = False
        if event == "conf" and isinstance(request.get("flags"), int):
            self.flags = request["flags"]
            frames.append(_encode({"event": "conf", "status": "OK", "flags": self.flags}))
        elif event == "ping":
            frames.append(_encode({"event": "pong", "ts": now_ns // 1_000_000, "cid": request.get("cid")}))
        elif event == "subscribe":
            replies, subscribed = self._subscribe(request)
            frames.extend(replies)
        elif event == "unsubscribe":
            frames.append(self._unsubscribe(request.get("chanId")))
        else:
            frames.append(_encode({"event": "error", "msg": "Unknown event", "code": _UNKNOWN_EVENT}))
        return SessionReply(frames, subscribed)

    def _subscribe(self, request: dict) -> tuple[list[bytes], bool]:
        channel, symbol = request.get("channel"), request.get("symbol")
        echo = {key: request[key] for key in ("channel", "symbol") if isinstance(request.get(key), str)}
        problem = ""
        code = _SUBSCRIPTION_FAILED
        if channel not in _CHANNELS:
            problem, code = "channel: unknown", _UNKNOWN_CHANNEL
        elif not (isinstance(symbol, str) and self.venue.lists(symbol)):
            problem = "symbol: invalid"
        elif channel == "book" and (
            request.get("prec", "P0") not in _PRECISIONS
            or request.get("freq", "F0") not in _FREQUENCIES
            or str(request.get("len", "25")) not in _LENGTHS
        ):
            problem = "book: prec, freq or len not supported"
        elif _topic(channel, symbol) in self.topics:
            problem, code = "subscribe: dup", _ALREADY_SUBSCRIBED
        elif len(self.topics) >= MAX_CHANNELS_PER_CONNECTION:
            problem, code = "subscribe: limit", _TOO_MANY
        if problem:
            return [_encode({"event": "error", "msg": problem, "code": code, **echo})], False
        topic = _topic(channel, symbol)
        chan_id = next(self._next_chan_id)
        self.chan_ids[topic] = chan_id
        self.topics[topic] = None
        reply = {"event": "subscribed", "channel": channel, "chanId": chan_id, "symbol": symbol}
        if channel == "book":
            reply.update(prec="P0", freq=request.get("freq", "F0"), len=str(request.get("len", "25")))
        reply["pair"] = symbol[1:]
        frames = [_encode(reply)]
        frames.extend(self._array(chan_id, body) for body in self.venue.snapshot(channel, symbol))
        return frames, True

    def _unsubscribe(self, chan_id: object) -> bytes:
        for topic, subscribed_id in self.chan_ids.items():
            if subscribed_id == chan_id:
                del self.chan_ids[topic]
                self.topics.pop(topic, None)
                return _encode({"event": "unsubscribed", "status": "OK", "chanId": chan_id})
        return _encode({"event": "error", "msg": "unsubscribe: invalid", "code": 10400})

    def heartbeat(self, now_ms: int, quiet: bool) -> bytes | None:
        """``[chanId,"hb",seq]`` for the next of this connection's channels, in turn."""
        if not self.chan_ids:
            return None
        chan_ids = list(self.chan_ids.values())
        self._beats += 1
        return self._array(chan_ids[self._beats % len(chan_ids)], b'"hb"')


# -- the venue ------------------------------------------------------------------------------------


class BitfinexSimVenue(SimVenue):
    """Bitfinex v2 public channels at ``/ws/2`` (see the module docstring). Lists spot pairs and
    perpetuals (``tBTCF0:USTF0``); while replaying, any well-formed ``t`` symbol."""

    name = "bitfinex"
    default_path = _PATH
    instrument_kinds = frozenset(("", "PERP"))
    heartbeat_interval = HEARTBEAT_SECONDS

    def __init__(self, view: VenueView | None) -> None:
        super().__init__(view)
        self._symbols: dict[str, str] = {}  # venue symbol -> canonical
        self._event_topics = EventTopics()
        for spec in view.specs if view else ():
            symbol = venue_symbol(parse_symbol(spec.symbol))
            self._symbols[symbol] = spec.symbol
            self._event_topics.set(MarketQuote, spec.symbol, (_topic("book", symbol),))
            self._event_topics.set(MarketTrade, spec.symbol, (_topic("trades", symbol),))
            self._event_topics.set(MarketTicker, spec.symbol, (_topic("ticker", symbol),))
        self._books = PublishedBooks(view)
        self._recorded_topics: dict[int, str] = {}  # recorded chanId -> topic
        self._recorded_sequenced = False

    def accept(self, path: str) -> BitfinexSession:
        """A session for ``/ws/2``; RequestPathError 404 for any other path."""
        if path.rstrip("/") != _PATH:
            raise unknown_path(path)
        return BitfinexSession(self)

    def lists(self, symbol: str) -> bool:
        """Whether ``symbol`` can be subscribed (any well-formed ``t`` symbol while replaying)."""
        if self.view is None:
            return _SYMBOL_RE.fullmatch(symbol) is not None
        return symbol in self._symbols

    def snapshot(self, channel: str, symbol: str) -> list[bytes]:
        """The body of the snapshot a new subscription to listed ``symbol`` gets; none while
        replaying (the recording's own snapshots follow)."""
        if self.view is None:
            return []
        canonical = self._symbols[symbol]
        if channel == "book":
            quote = self._books.current(canonical)
            levels = (LevelChange(True, quote.bid, quote.bid_size), LevelChange(False, quote.ask, quote.ask_size))
            return [b"[" + b",".join(map(_level, levels)) + b"]"]
        if channel == "ticker":
            return [_ticker(self.view.ticker(canonical, self._books.current(canonical).time_ms))]
        return [b"[]"]

    def topics(self, event: MarketEvent) -> tuple[str, ...]:
        """``book:<symbol>``, ``trades:<symbol>`` or ``ticker:<symbol>``."""
        return self._event_topics.of(event)

    def render(self, event: MarketEvent, topic: str) -> Sequence[bytes]:
        """The bodies of the messages ``event`` becomes (framed per connection)."""
        if isinstance(event, MarketQuote):
            return [_level(change) for change in self._books.changes(event)]
        if isinstance(event, MarketTicker):
            return (_ticker(event),)
        assert isinstance(event, MarketTrade)
        price = _number(event.price)
        sign = b"" if event.taker_side == BUY else b"-"
        fills = [
            b"[%d,%d,%b%b,%b]" % (event.first_trade_id + fill, event.time_ms, sign, _number(size), price)
            for fill, size in enumerate(event.fill_sizes)
        ]
        return [b'"te",' + fill for fill in fills] + [b'"tu",' + fill for fill in fills]

    def reconnect_message(self, now_ms: int) -> bytes:
        """Info code 20051: the server is stopping or restarting, reconnect."""
        return info_event(20051, "Stopping. Please try to reconnect")

    def recorded_frame(self, line: bytes) -> tuple[str, bytes]:
        """The topic and body of a recorded data array; "" for events and heartbeats (the
        recorded ``subscribed`` events map the chanIds of the lines after them)."""
        if line[:1] != b"[":
            event = _decode_recorded_event(line)
            if event.event == "subscribed":
                self._recorded_topics[event.chanId] = _topic(event.channel, event.symbol)
            elif event.event == "conf":
                self._recorded_sequenced = bool(event.flags & SEQ_ALL)
            return "", line
        comma = line.find(b",")
        topic = self._recorded_topics.get(int(line[1:comma]), "")
        end = line.rfind(b",") if self._recorded_sequenced else len(line) - 1
        body = line[comma + 1 : end]
        if not line.endswith(b"]") or body == b'"hb"':
            return "", line
        return topic, body
