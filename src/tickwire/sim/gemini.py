"""Gemini WebSocket v2 market data server, without I/O: ``GeminiSimVenue`` for ``tickwire.sim.server``.

Clients connect to ``/v2/marketdata`` and send
``{"type":"subscribe"|"unsubscribe","subscriptions":[{"name":"l2","symbols":["BTCUSD",…]}]}``.
There is no acknowledgement: each newly subscribed symbol gets its first ``l2_updates`` message,
the whole book with ``trades`` (recent trades; none are kept here) and ``auction_events``, then
``l2_updates`` with the changed levels (``["buy"|"sell", price, quantity]``, quantity 0 deleting)
and one ``trade`` message per fill (``side`` the taker's, ``timestamp`` ms). The simulated book
holds the quote's level on each side. Prices and quantities are strings written as Gemini does,
shortest with at least one decimal (``65317.0``); keys come in alphabetical order, as Gemini
sends them. Every 5 s a subscribed client gets ``{"type":"heartbeat","timestamp":…}``; the client
sends nothing to stay connected. Errors come in the shape of Gemini's error replies,
``{"result":"error","reason":…,"message":…}``: ``InvalidJson``, ``InvalidSubscription`` (no
``l2`` subscription or no symbols) and ``InvalidSymbol`` (the symbols not listed; the listed ones
of the request are subscribed).

Not simulated: candles, the ``auction_events`` contents, the request rate limit. Statistics
(tickers) have no v2 channel and go nowhere.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

import msgspec

from tickwire.instruments import parse_symbol
from tickwire.model import BUY
from tickwire.sim.levels import LevelChange, PublishedBooks
from tickwire.sim.market import MarketEvent, MarketQuote, MarketTrade, VenueView
from tickwire.sim.venue import SessionReply, SimSession, SimVenue, format_units_short, unknown_path
from tickwire.venues.gemini import venue_symbol

__all__ = ["HEARTBEAT_SECONDS", "GeminiSession", "GeminiSimVenue", "gemini_number"]

HEARTBEAT_SECONDS = 5.0

_PATH = "/v2/marketdata"
_SYMBOL_RE = re.compile(r"[A-Z0-9]{3,24}")
_FIRST_EVENT_ID = 1_764_551_741_926_942  # real event ids are about this large


def gemini_number(units: int) -> str:
    """``units`` (``10**-8``) as Gemini writes a price or quantity: ``65317.0``, ``0.0031``."""
    return format_units_short(units, min_decimals=1)


# -- wire shapes (fields in alphabetical order, as Gemini sends them) ------------------------------


class _Book(msgspec.Struct, gc=False):
    auction_events: list[object]
    changes: list[tuple[str, str, str]]
    symbol: str
    trades: list[object]
    type: str = "l2_updates"


class _Update(msgspec.Struct, gc=False):
    changes: list[tuple[str, str, str]]
    symbol: str
    type: str = "l2_updates"


class _Trade(msgspec.Struct, gc=False):
    event_id: int
    price: str
    quantity: str
    side: str
    symbol: str
    tid: int
    timestamp: int
    type: str = "trade"


class _Heartbeat(msgspec.Struct, gc=False):
    timestamp: int
    type: str = "heartbeat"


class _Error(msgspec.Struct, gc=False):
    message: str
    reason: str
    result: str = "error"


class _Subscription(msgspec.Struct, gc=False):
    name: str
    symbols: list[str] = []


class _Request(msgspec.Struct, gc=False):
    type: str
    subscriptions: list[_Subscription]


class _RecordedLine(msgspec.Struct, gc=False):
    type: str = ""
    symbol: str = ""


_encode = msgspec.json.Encoder().encode
_decode_request = msgspec.json.Decoder(_Request).decode
_decode_recorded_line = msgspec.json.Decoder(_RecordedLine).decode


def _error(reason: str, message: str) -> bytes:
    return _encode(_Error(message, reason))


def _topic(symbol: str) -> str:
    return f"l2:{symbol}"


def _change(change: LevelChange) -> tuple[str, str, str]:
    return ("buy" if change.is_bid else "sell", gemini_number(change.price), gemini_number(change.size))


# -- the session ----------------------------------------------------------------------------------


class GeminiSession(SimSession):
    """One connection: ``topics`` are ``l2:<SYMBOL>`` per subscribed symbol."""

    def __init__(self, venue: GeminiSimVenue) -> None:
        super().__init__()
        self.venue = venue

    def on_text(self, message: bytes, now_ns: int) -> SessionReply:
        """Apply a subscribe or unsubscribe request: the books of new symbols, or an error."""
        try:
            request = _decode_request(message)
        except (msgspec.DecodeError, msgspec.ValidationError):
            text = message[:200].decode("utf-8", "replace")
            return SessionReply((_error("InvalidJson", f"Failed to parse request: {text}"),))
        symbols = [s for sub in request.subscriptions if sub.name == "l2" for s in sub.symbols]
        if request.type not in ("subscribe", "unsubscribe") or not symbols:
            return SessionReply((_error("InvalidSubscription", "Expected a subscribe or unsubscribe "
                                        "request with an l2 subscription and its symbols"),))
        listed = [symbol for symbol in dict.fromkeys(symbols) if self.venue.lists(symbol)]
        unlisted = [symbol for symbol in dict.fromkeys(symbols) if symbol not in listed]
        frames: list[bytes] = []
        if request.type == "subscribe":
            new = [symbol for symbol in listed if _topic(symbol) not in self.topics]
            self.topics.update(dict.fromkeys(_topic(symbol) for symbol in new))
            for symbol in new:
                frames.extend(self.venue.book(symbol))
        else:
            for symbol in listed:
                self.topics.pop(_topic(symbol), None)
        if unlisted:
            frames.append(_error("InvalidSymbol", f"Supplied value(s) {', '.join(unlisted)} are not valid symbols"))
        return SessionReply(frames, subscribed=request.type == "subscribe" and bool(listed))

    def heartbeat(self, now_ms: int, quiet: bool) -> bytes | None:
        """A heartbeat every 5 s once subscribed, busy or quiet."""
        return _encode(_Heartbeat(now_ms)) if self.topics else None


# -- the venue ------------------------------------------------------------------------------------


class GeminiSimVenue(SimVenue):
    """Gemini v2 market data at ``/v2/marketdata`` (see the module docstring). Lists spot pairs
    and perpetuals (``BTCUSDCPERP``); while replaying, any well-formed symbol."""

    name = "gemini"
    default_path = _PATH
    instrument_kinds = frozenset(("", "PERP"))
    heartbeat_interval = HEARTBEAT_SECONDS

    def __init__(self, view: VenueView | None) -> None:
        super().__init__(view)
        self._symbols = {
            venue_symbol(parse_symbol(spec.symbol)): spec.symbol for spec in (view.specs if view else ())
        }
        self._venue_symbols = {symbol: name for name, symbol in self._symbols.items()}
        self._books = PublishedBooks(view)
        self._event_ids = itertools.count(_FIRST_EVENT_ID)

    def accept(self, path: str) -> GeminiSession:
        """A session for ``/v2/marketdata``; RequestPathError 404 for any other path."""
        if path.rstrip("/") != _PATH:
            raise unknown_path(path)
        return GeminiSession(self)

    def lists(self, symbol: str) -> bool:
        """Whether ``symbol`` can be subscribed (any well-formed one while replaying)."""
        if self.view is None:
            return _SYMBOL_RE.fullmatch(symbol) is not None
        return symbol in self._symbols

    def book(self, symbol: str) -> tuple[bytes, ...]:
        """The first ``l2_updates`` of listed ``symbol``: its whole book; none while replaying."""
        if self.view is None:
            return ()
        quote = self._books.current(self._symbols[symbol])
        changes = [("buy", gemini_number(quote.bid), gemini_number(quote.bid_size)),
                   ("sell", gemini_number(quote.ask), gemini_number(quote.ask_size))]
        return (_encode(_Book([], changes, symbol, [])),)

    def topics(self, event: MarketEvent) -> tuple[str, ...]:
        """``l2:<SYMBOL>`` for quotes and trades; nothing for statistics."""
        if isinstance(event, (MarketQuote, MarketTrade)):
            return (_topic(self._venue_symbols[event.symbol]),)
        return ()

    def render(self, event: MarketEvent, topic: str) -> Sequence[bytes]:
        """The ``l2_updates`` of a quote's changed levels; a ``trade`` message per fill."""
        symbol = self._venue_symbols[event.symbol]
        if isinstance(event, MarketQuote):
            changes = [_change(change) for change in self._books.changes(event)]
            return (_encode(_Update(changes, symbol)),) if changes else ()
        assert isinstance(event, MarketTrade)
        side = "buy" if event.taker_side == BUY else "sell"
        price = gemini_number(event.price)
        return [
            _encode(_Trade(next(self._event_ids), price, gemini_number(size), side, symbol,
                           event.first_trade_id + fill, event.time_ms))
            for fill, size in enumerate(event.fill_sizes)
        ]

    def recorded_frame(self, line: bytes) -> tuple[str, bytes]:
        """``l2:<SYMBOL>`` for a recorded ``l2_updates`` or ``trade``; "" for anything else."""
        frame = _decode_recorded_line(line)
        if frame.type in ("l2_updates", "trade") and frame.symbol:
            return _topic(frame.symbol), line
        return "", line
