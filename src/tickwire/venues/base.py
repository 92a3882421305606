"""What every venue adapter offers the transport and the engine (sans-I/O)."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Iterable, Protocol, Sequence, TypeVar, Union
from urllib.parse import urlsplit

import msgspec

from tickwire.fixedpoint import DecimalTextError, PriceCache
from tickwire.instruments import Instrument
from tickwire.model import Event

__all__ = [
    "DECODE_ERRORS",
    "NO_EVENTS",
    "UNSEEN",
    "AdapterBase",
    "Channel",
    "DecodeStats",
    "SymbolState",
    "TopOfBookState",
    "VenueAdapter",
    "failure_reason",
    "narrowed",
    "parse_json_number",
    "price_reason",
    "quote_rejection",
    "single",
    "symbol_states",
    "tagged_union",
    "validation_reason",
]

NO_EVENTS: tuple[Event, ...] = ()
# What msgspec raises for bytes that are not the JSON asked for: msgspec.DecodeError (and its
# ValidationError), or UnicodeDecodeError for a string it reads that is not UTF-8.
DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError)
UNSEEN = -1  # a top-of-book field the venue has not sent yet on this connection


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


class TopOfBookState(SymbolState):
    """SymbolState plus a top of book merged from updates that may leave fields out.

    ``bid``, ``bid_size``, ``ask`` and ``ask_size`` hold ``UNSEEN`` until the venue sends them on
    this connection, so a field never sent (``missing_field``) stays apart from a venue sending 0
    (``zero_price``, ``zero_size``).
    """

    __slots__ = ("bid", "bid_size", "ask", "ask_size")

    def __init__(self, instrument: Instrument, caches: dict[int, PriceCache]) -> None:
        super().__init__(instrument, caches)
        self.reset()

    def reset(self, unseen: int = UNSEEN) -> None:
        """Forget the top of book and the last update id (a new connection).

        A venue that counts a field never sent as 0 passes ``unseen=0``.
        """
        self.bid = self.bid_size = self.ask = self.ask_size = unseen
        self.last_update_id = -1

    def unseen(self, names: tuple[str, str, str, str]) -> list[str]:
        """The ``names`` (of bid, bid size, ask, ask size) of the fields still ``UNSEEN``."""
        values = (self.bid, self.bid_size, self.ask, self.ask_size)
        return [name for name, value in zip(names, values) if value == UNSEEN]


S = TypeVar("S", bound=SymbolState)


def symbol_states(
    instruments: Iterable[Instrument],
    venue_name: Callable[[Instrument], str],
    state_type: Callable[[Instrument, dict[int, PriceCache]], S] = SymbolState,  # type: ignore[assignment]
) -> dict[str, S]:
    """The venue's name of each instrument -> its state; states of one scale share a PriceCache."""
    caches: dict[int, PriceCache] = {}
    return {venue_name(i): state_type(i, caches) for i in instruments}


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


def failure_reason(error: ValueError) -> str:
    """Metrics reason for an error raised while decoding a frame or reading its fields."""
    if isinstance(error, DecimalTextError):
        return price_reason(error)
    if isinstance(error, msgspec.ValidationError):
        return validation_reason(str(error))
    if isinstance(error, DECODE_ERRORS):
        return "malformed_json"
    return "wrong_type"  # a time, id or other text field that does not hold what it must


class _Unrouted(msgspec.Struct, gc=False):
    """The union member tagged NUL, which no route names: it keeps a tagged union a union when it
    has one real member (a lone tagged struct would also decode objects without the tag)."""


# (struct, tag field, tag) -> its tagged subclass; bounded by the streams of the instruments used
_TAGGED: dict[tuple[type, str, str], Any] = {}


def _tagged(struct: type[msgspec.Struct], tag_field: str, tag: str) -> Any:
    key = (struct, tag_field, tag)
    subclass = _TAGGED.get(key)
    if subclass is None:
        subclass = _TAGGED[key] = msgspec.defstruct(
            struct.__name__, [], bases=(struct,), tag_field=tag_field, tag=tag, gc=False
        )
    return subclass


# (struct, (field, type), ...) -> its narrowed subclass; bounded like _TAGGED
_NARROWED: dict[tuple, Any] = {}


def narrowed(struct: type[msgspec.Struct], **fields: Any) -> Any:
    """A subclass of ``struct`` whose ``fields`` have the given types instead, one class per
    distinct request.

    A narrower type makes msgspec check more while it parses, in C, and a frame that differs fail
    to decode: a ``Literal`` of the subscribed symbols, a field required that may be absent
    elsewhere, ``single(...)`` for a list of one. A Literal field reads as the Literal's own
    string, so looking it up in a dict keyed by those strings hashes nothing.
    """
    key = (struct, *fields.items())
    subclass = _NARROWED.get(key)
    if subclass is None:
        subclass = _NARROWED[key] = msgspec.defstruct(struct.__name__, list(fields.items()), bases=(struct,), gc=False)
    return subclass


_SINGLES: dict[Any, Any] = {}


def single(item_type: Any) -> Any:
    """The struct of a JSON array of exactly one ``item_type``, read as its ``item``; an array of
    any other length fails to decode (msgspec.ValidationError)."""
    struct = _SINGLES.get(item_type)
    if struct is None:
        struct = _SINGLES[item_type] = msgspec.defstruct(
            "Single", [("item", item_type)], array_like=True, forbid_unknown_fields=True, gc=False
        )
    return struct


def tagged_union(tag_field: str, members: dict[str, type[msgspec.Struct]]) -> tuple[Any, dict[type, str]]:
    """A JSON decoder of the frames whose ``tag_field`` is one of ``members``' keys, each into a
    subclass of its struct, and each subclass -> its tag.

    The tag picks the struct while msgspec parses the frame, once and in C, so a frame needs no
    routing by hand. A frame with another tag, or none, raises msgspec.ValidationError; one
    tagged NUL decodes to a struct that is not among the routes.
    """
    routes = {_tagged(struct, tag_field, tag): tag for tag, struct in members.items()}
    members_and_unrouted = (*routes, _tagged(_Unrouted, tag_field, "\x00"))
    return msgspec.json.Decoder(Union[members_and_unrouted]), routes  # type: ignore[valid-type]


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
    carries ("" for spot, "PERP" for perpetual swaps) and ``perp_quotes``, where set, the only
    quote currencies of its perpetuals (a USD-margined linear venue has no ``BTC-USD-PERP``). The transport calls ``on_connected`` once
    per new connection and sends what it returns,
    then feeds every text frame to ``decode`` with the receive time, and sends
    ``keepalive_message()`` every ``keepalive_interval`` seconds when that is not None.
    """

    name: ClassVar[str]
    default_url: ClassVar[str]
    instrument_kinds: ClassVar[frozenset[str]]
    perp_quotes: ClassVar[frozenset[str] | None]
    keepalive_interval: ClassVar[float | None]
    max_connection_age: ClassVar[float | None]
    stats: DecodeStats

    def connect_url(self, endpoint: str | None) -> str: ...

    def on_connected(self) -> list[bytes]: ...

    def keepalive_message(self) -> bytes | None: ...

    def decode(self, payload: bytes, recv_ns: int) -> Sequence[Event]: ...

    def wants_reconnect(self) -> bool: ...


class AdapterBase:
    """What the venue adapters share off the per-frame hot path: construction checks, the URL
    rule, the reconnect flag, and the counting of dropped frames, control frames and venue errors.

    Subclasses set ``name`` and ``default_url``, build ``_symbols`` (venue name -> state) and
    decode frames themselves.
    """

    name: ClassVar[str]
    default_url: ClassVar[str]
    instrument_kinds: ClassVar[frozenset[str]] = frozenset({""})  # spot
    perp_quotes: ClassVar[frozenset[str] | None] = None  # any
    keepalive_interval: ClassVar[float | None] = None
    keepalive: ClassVar[bytes | None] = None  # what keepalive_message() sends
    max_connection_age: ClassVar[float | None] = None
    _symbols: dict[str, Any]

    def __init__(self, channels: frozenset[str]) -> None:
        unknown = channels - Channel.ALL
        if unknown:
            raise ValueError(f"{self.name}: unknown channel(s) {', '.join(sorted(unknown))}")
        self.stats = DecodeStats()
        self._reconnect_requested = False

    def connect_url(self, endpoint: str | None) -> str:
        """``endpoint`` (or the real venue); an endpoint without a path gets ``default_url``'s."""
        url = endpoint or self.default_url
        default_path = urlsplit(self.default_url).path
        if default_path and urlsplit(url).path in ("", "/"):
            url = url.rstrip("/") + default_path
        return url

    def keepalive_message(self) -> bytes | None:
        """The venue's application-level ping (``keepalive``), or None when it needs none."""
        return self.keepalive

    def wants_reconnect(self) -> bool:
        """True once the venue asked for a new connection (cleared by ``on_connected``)."""
        return self._reconnect_requested

    def _decode_or_count(self, decoder: Any, payload: bytes) -> Any:
        """``decoder.decode(payload)`` for a frame of any layout, or None after counting it as
        ``unknown_message`` (not a frame of that shape) or ``malformed_json``."""
        try:
            return decoder.decode(payload)
        except msgspec.ValidationError as exc:
            self.stats.error("unknown_message", str(exc))
        except DECODE_ERRORS as exc:
            self.stats.error("malformed_json", str(exc))
        return None

    def _count_failure(self, error: ValueError, where: str = "") -> None:
        """Count a frame dropped by ``error``; ``where`` (a channel, a topic) prefixes the detail."""
        reason = failure_reason(error)
        detail = f"{where}: {error}" if where and reason != "malformed_json" else str(error)
        self.stats.error(reason, detail)

    def _venue_error(self, message: str) -> None:
        """Count a venue's error reply and keep its ``message`` for the operator."""
        self.stats.error("venue_error", message)
        self.stats.venue_errors.append(message)

    def _state(self, name: str) -> Any:
        """The state of venue symbol ``name``, or None after counting ``unknown_symbol``."""
        state = self._symbols.get(name)
        if state is None:
            self.stats.error("unknown_symbol", name)
        return state
