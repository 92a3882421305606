"""What a simulated venue implements to be served by ``tickwire.sim.server``; pure, no sockets.

A venue is a ``SimVenue`` subclass in its own module (``sim/binance.py``, …), listed in
``tickwire.sim.registry.SIM_VENUES``. The server routes every connection whose path starts with
``/<name>`` to it (paths without a known venue prefix go to the first venue served), and calls:

- ``accept(path)`` once per upgrade request: a ``SimSession`` for the connection, or
  ``RequestPathError`` for a path the venue refuses;
- ``topics(event)`` for every event of the venue's ``VenueView``, then ``render(event, topic)``
  once per topic some client is subscribed to; the payloads go to every such client, through
  ``SimSession.frame`` where the session has a ``framing``;
- ``recorded_frame(line)`` for every line of a recording replayed through this venue;
- ``http_get(path)`` for a plain HTTP GET (no upgrade), e.g. a REST instrument list.

Keepalive is declared, the server keeps the clocks: ``ping_interval`` / ``pong_timeout`` for
server WebSocket pings, ``idle_timeout`` to close clients that send nothing, and
``heartbeat_interval`` to ask each session for an application-level heartbeat.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from typing import ClassVar, NamedTuple

from tickwire.sim.market import (
    PRICE_DECIMALS,
    MarketEvent,
    MarketQuote,
    MarketTicker,
    MarketTrade,
    VenueView,
)

__all__ = [
    "EventTopics",
    "RequestPathError",
    "SessionReply",
    "SimSession",
    "SimVenue",
    "format_rfc3339",
    "format_units",
    "format_units_short",
    "step_decimals",
    "unknown_path",
]

_ONE = 10**PRICE_DECIMALS


def format_units(value: int, decimals: int = PRICE_DECIMALS) -> str:
    """Format an integer count of ``10**-8`` units as decimal text with ``decimals`` places.

    ``format_units(6_701_240_000_000)`` is ``"67012.40000000"``; with ``decimals=2`` it is
    ``"67012.40"``. Digits beyond ``decimals`` are cut, so pass a value that has none (a price on
    a tick of at least ``10**-decimals``).
    """
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(abs(value), _ONE)
    if decimals == 0:
        return f"{sign}{whole}"
    fraction //= 10 ** (PRICE_DECIMALS - decimals)
    return f"{sign}{whole}.{fraction:0{decimals}d}"


def format_units_short(value: int, min_decimals: int = 0) -> str:
    """Format an integer count of ``10**-8`` units as the shortest exact decimal text, with at
    least ``min_decimals`` places: ``67012.4``, ``67011`` (``67011.0`` with ``min_decimals=1``),
    ``0.00027625``; never an exponent."""
    whole, _, fraction = format_units(value).partition(".")
    fraction = fraction.rstrip("0").ljust(min_decimals, "0")
    return f"{whole}.{fraction}" if fraction else whole


def step_decimals(step: int) -> int:
    """How many decimal places exact multiples of ``step`` units need: 2 for a tick of
    ``1_000_000`` units (0.01), 0 for one of ``10**8`` (1), 8 for one unit."""
    return len(format_units_short(step).partition(".")[2])


def format_rfc3339(time_ms: int) -> str:
    """Format wall-clock ``time_ms`` as RFC 3339 UTC with microseconds:
    ``2026-09-30T14:30:03.123000Z``."""
    seconds, millis = divmod(time_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}000Z"


class RequestPathError(ValueError):
    """An upgrade request path the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def unknown_path(path: str) -> RequestPathError:
    """The 404 refusal of an upgrade request to a ``path`` the venue does not serve; raise it."""
    return RequestPathError(404, f"unknown path {path!r}")


class EventTopics:
    """The topics each market event feeds, by event type and canonical symbol: a venue fills it
    once from its view's symbols with ``set`` and answers ``SimVenue.topics`` with ``of``."""

    def __init__(self) -> None:
        self._by_type: dict[type, dict[str, tuple[str, ...]]] = {
            MarketQuote: {},
            MarketTicker: {},
            MarketTrade: {},
        }

    def set(self, event_type: type, symbol: str, topics: tuple[str, ...]) -> None:
        """Make events of ``event_type`` for canonical ``symbol`` feed ``topics``."""
        self._by_type[event_type][symbol] = topics

    def of(self, event: MarketEvent) -> tuple[str, ...]:
        """The topics ``event`` feeds."""
        return self._by_type[type(event)][event.symbol]


class SessionReply(NamedTuple):
    """What to do after a client message: ``frames`` to send back in order (acks, errors, pongs,
    snapshots) and whether it was an accepted subscribe request (counted in the server's stats)."""

    frames: Sequence[bytes] = ()
    subscribed: bool = False


class SimSession(ABC):
    """The protocol state of one client connection; a venue subclasses it.

    ``topics`` (a dict used as an ordered set) is what the client is subscribed to: it gets the
    payloads of exactly these topics. When ``framing`` is None it gets them as rendered; otherwise
    the server sends ``frame(topic, payload)``, computed once per payload for all sessions with an
    equal ``framing`` key (a session whose frames are its own alone, e.g. numbered per
    connection, uses a key no other session has, such as itself).
    """

    def __init__(self, topics: Sequence[str] = ()) -> None:
        self.topics: dict[str, None] = dict.fromkeys(topics)

    @property
    def framing(self) -> Hashable | None:
        """None: payloads go out as rendered; otherwise the key under which ``frame`` is shared."""
        return None

    @abstractmethod
    def on_text(self, message: bytes, now_ns: int) -> SessionReply:
        """Apply one text (or binary) message from the client, received at wall-clock ``now_ns``."""

    def frame(self, topic: str, payload: bytes) -> bytes:
        """The frame this connection gets for ``payload`` of ``topic`` (when ``framing`` is set)."""
        return payload

    def count_incoming(self, now_ns: int) -> bool:
        """Count one incoming frame of any type at monotonic ``now_ns``; True when the client is
        over the venue's message rate limit (the server counts it and may close the connection)."""
        return False

    def heartbeat(self, now_ms: int, quiet: bool) -> bytes | None:
        """The heartbeat to send now, every ``heartbeat_interval`` of the venue, or None.

        ``quiet`` is True when the client got no data frame since the previous call.
        """
        return None


class SimVenue(ABC):
    """One simulated venue: its protocol, keepalive rules and wire format; a venue subclasses it.

    The server builds one instance per simulator with the venue's ``VenueView`` of the synthetic
    market, or None when it replays a recording (nothing to snapshot from).
    """

    name: ClassVar[str]
    """URL prefix and registry key, e.g. ``binance``."""
    default_path: ClassVar[str] = ""
    """Path a client connects to after ``/<name>``, e.g. ``/stream``, for ``Simulator.endpoint``.

    Name the venue as tickwire's own adapter (``tickwire.venues.registry``) and use the real
    venue's path, so the endpoint plugs into ``--endpoint NAME=URL`` as it is."""
    extra_endpoints: ClassVar[Mapping[str, str]] = {}
    """Other tickwire adapters this venue serves, with their path after ``/<name>``: e.g. a
    ``binance_usdm`` venue serving ``{"binance_usdm_market": "/market/stream"}`` too."""
    instrument_kinds: ClassVar[frozenset[str]] = frozenset(("",))
    """Kinds of canonical instruments the venue lists: "" for spot, ``PERP``, …"""
    quote_interval_ms: ClassVar[int] = 0
    """Shortest time between two quotes of one symbol (the feed's push cadence); 0 for real time."""
    ping_interval: ClassVar[float | None] = None
    """Seconds between server WebSocket pings; None if the venue sends none."""
    pong_timeout: ClassVar[float | None] = None
    """Close a client whose last matching pong is older than this; needed with ``ping_interval``."""
    idle_timeout: ClassVar[float | None] = None
    """Close (code 1008) a client that sent nothing for this many seconds; None if never."""
    heartbeat_interval: ClassVar[float | None] = None
    """Seconds between calls of ``SimSession.heartbeat``; None if the venue sends none."""

    def __init__(self, view: VenueView | None) -> None:
        self.view = view

    @abstractmethod
    def accept(self, path: str) -> SimSession:
        """A session for an upgrade request to ``path`` (what follows ``/<name>``, query included).

        Raises RequestPathError (404 for an unknown path, 400 for a bad parameter).
        """

    @abstractmethod
    def topics(self, event: MarketEvent) -> Sequence[str]:
        """The topics whose subscribers get frames for ``event``; empty for none."""

    @abstractmethod
    def render(self, event: MarketEvent, topic: str) -> Sequence[bytes]:
        """The payloads ``event`` gives subscribers of ``topic``, one of ``topics(event)``."""

    def recorded_frame(self, line: bytes) -> tuple[str, bytes]:
        """The topic and payload of one recorded line (stripped, not blank); raises ValueError
        for a line that is not one of the venue's frames.

        This default sends the line as is under the topic "", which no session subscribes to:
        such a recording reaches only the clients of a ``subscribe_all`` simulator.
        """
        return "", line

    def reconnect_message(self, now_ms: int) -> bytes | None:
        """The venue's own "please reconnect" message at wall-clock ``now_ms``, sent as is (no
        ``framing``); None (this default) for a venue that has none."""
        return None

    def http_get(self, path: str) -> tuple[int, bytes]:
        """The HTTP status and JSON body answering a plain ``GET`` of ``path`` (what follows
        ``/<name>``, query included). This default serves nothing: RequestPathError 404."""
        raise unknown_path(path)
