"""What every venue adapter offers the transport and the engine (sans-I/O)."""

from __future__ import annotations

from typing import ClassVar, Protocol, Sequence

import msgspec

from tickwire.fixedpoint import DecimalTextError, PriceCache
from tickwire.instruments import Instrument
from tickwire.model import Event

__all__ = [
    "NO_EVENTS",
    "Channel",
    "DecodeStats",
    "SymbolState",
    "VenueAdapter",
    "parse_json_number",
    "price_reason",
    "quote_rejection",
    "validation_reason",
]

NO_EVENTS: tuple[Event, ...] = ()


class Channel:
    """Channel names a user asks for; each venue maps them to its own streams."""

    BBO = "bbo"
    TRADES = "trades"
    TICKER = "ticker"
    ALL = frozenset((BBO, TRADES, TICKER))


class DecodeStats:
    """Per-venue decode counters; errors by reason. Touched on the hot path only on errors."""

    __slots__ = ("errors", "control", "sequence_gaps", "last_error", "venue_errors")

    def __init__(self) -> None:
        self.errors: dict[str, int] = {}
        self.control = 0
        self.sequence_gaps = 0
        self.last_error = ""
        self.venue_errors: list[str] = []

    def error(self, reason: str, detail: str = "") -> None:
        """Count one dropped frame for ``reason`` and remember a short description of it."""
        self.errors[reason] = self.errors.get(reason, 0) + 1
        self.last_error = f"{reason}: {detail}" if detail else reason

    @property
    def total_errors(self) -> int:
        """Frames dropped for any reason."""
        return sum(self.errors.values())


class SymbolState:
    """Per-subscribed-instrument decoding state: canonical name, scales and parse caches."""

    __slots__ = (
        "instrument",
        "symbol",
        "prices",
        "sizes",
        "price_memo",
        "size_memo",
        "last_update_id",
    )

    def __init__(self, instrument: Instrument, caches: dict[int, PriceCache]) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.prices = _shared_cache(caches, instrument.price_scale)
        self.sizes = _shared_cache(caches, instrument.size_scale)
        # Read-only views of the caches for the hot path: ``price_memo.get(t) or prices.parse(t)``.
        self.price_memo = self.prices.memo
        self.size_memo = self.sizes.memo
        self.last_update_id = -1


def _shared_cache(caches: dict[int, PriceCache], scale: int) -> PriceCache:
    cache = caches.get(scale)
    if cache is None:
        cache = caches[scale] = PriceCache(scale)
    return cache


def validation_reason(message: str) -> str:
    """Metrics reason for a msgspec ValidationError message."""
    return "missing_field" if "missing required field" in message else "wrong_type"


def price_reason(error: DecimalTextError) -> str:
    """Metrics reason for a rejected decimal text."""
    return f"bad_number_{error.reason}"


def quote_rejection(bid: int, bid_size: int, ask: int, ask_size: int) -> str:
    """Metrics reason why a top of book is not a valid Quote, or "" when it is one."""
    if bid <= 0 or ask <= 0:
        return "zero_price"
    if bid >= ask:
        return "crossed"
    if bid_size <= 0 or ask_size <= 0:
        return "zero_size"
    return ""


def parse_json_number(raw: msgspec.Raw, cache: PriceCache) -> int:
    """The scaled integer of a JSON number held in a ``msgspec.Raw`` field, from its exact text.

    Raises msgspec.ValidationError when the value is not a JSON number (a string, null, …) and
    DecimalTextError for a number the cache refuses (exponent, sign, too many digits, …).
    """
    text = str(raw, "latin-1")  # never fails; a JSON number is ASCII
    value = cache.memo.get(text)
    if value is None:
        if not text or text[0] not in "0123456789-":
            raise msgspec.ValidationError(f"Expected a JSON number, got {text[:32] or 'nothing'}")
        value = cache.parse(text)
    return value


class VenueAdapter(Protocol):
    """A venue's protocol, without I/O: where to connect, what to send, how to read frames.

    One adapter is one connection. ``instrument_kinds`` says which canonical instruments it
    carries ("" for spot, "PERP" for perpetual swaps). The transport calls ``on_connected`` once
    per new connection and sends what it returns,
    then feeds every text frame to ``decode`` with the receive time, and sends
    ``keepalive_message()`` every ``keepalive_interval`` seconds when that is not None.
    """

    name: ClassVar[str]
    default_url: ClassVar[str]
    instrument_kinds: ClassVar[frozenset[str]]
    keepalive_interval: ClassVar[float | None]
    max_connection_age: ClassVar[float | None]
    stats: DecodeStats

    def connect_url(self, endpoint: str | None) -> str: ...

    def on_connected(self) -> list[bytes]: ...

    def keepalive_message(self) -> bytes | None: ...

    def decode(self, payload: bytes, recv_ns: int) -> Sequence[Event]: ...

    def wants_reconnect(self) -> bool: ...
