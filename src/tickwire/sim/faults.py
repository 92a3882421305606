"""What goes wrong in the simulator, when, and to which venue; pure (no sockets, no clock).

A fault plan is written as a SPEC, a comma-separated list of faults, each ``KIND`` followed by
``:KEY=VALUE`` settings::

    reset:every=5s,garbage:rate=0.02,silence:at=10s:for=3s,refuse:at=20s:for=2s:venue=okx

Times are seconds after the simulator started (``5``, ``5s``, ``500ms``). Keys:

- ``at=T`` first (or only) time the fault happens; ``every=T`` repeat it that often (the first
  time at ``at``, or at ``every`` without ``at``);
- ``for=T`` how long a window fault lasts;
- ``rate=P`` the chance (0 < P <= 1) that a frame fault hits each data frame a client is sent;
- ``venue=NAME`` only this venue (default: every venue served);
- ``code=N`` the close code of ``close`` (default: one of ``ODD_CLOSE_CODES`` at random);
- ``bytes=N`` the size of an ``oversized`` frame (default 5,000,000);
- ``variant=NAME`` the kind of ``garbage`` (default: one of ``GARBAGE_VARIANTS`` at random).

Kinds (``KINDS``): connection faults happen to every connected client of the venue at their
times; window faults last ``for`` seconds from each of their times; frame faults hit data frames
(``rate``) or, at their times, each client once:

- ``reset`` abort the TCP connection (an RST, no close frame);
- ``close`` a close frame with an odd code, then the connection ends;
- ``reconnect`` the venue's own "please reconnect" message (venues without one are skipped);
- ``silence`` no frames, pings or pongs (frames are held and sent when the window ends);
- ``pingflood`` WebSocket pings, ``FLOOD_BATCH`` per loop tick;
- ``substorm`` a subscription storm: the replies to each client's subscribe, ``FLOOD_BATCH``
  times per loop tick;
- ``refuse`` upgrade requests are answered 503;
- ``garbage`` a broken copy of the frame in the venue's own shape (``corrupt``), then the frame;
- ``oversized`` the frame padded with JSON whitespace to ``bytes``;
- ``fragment`` the frame in three WebSocket fragments (continuation frames);
- ``slow`` the frame written one byte per loop tick (other frames wait for it);
- ``duplicate`` the frame twice;
- ``reorder`` the frame held back and sent after the next one.

Random choices (``rate``, variants, close codes) come from one ``random.Random(seed)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tickwire.sim.market import PRICE_DECIMALS, MarketQuote
from tickwire.sim.venue import format_units

__all__ = [
    "CONNECTION_KINDS",
    "FRAME_KINDS",
    "GARBAGE_VARIANTS",
    "KINDS",
    "ODD_CLOSE_CODES",
    "FLOOD_BATCH",
    "WINDOW_KINDS",
    "Fault",
    "FaultPlan",
    "corrupt",
    "parse_duration",
    "websocket_frame",
]

CONNECTION_KINDS = ("reset", "close", "reconnect")
WINDOW_KINDS = ("silence", "pingflood", "substorm", "refuse")
FRAME_KINDS = ("garbage", "oversized", "fragment", "slow", "duplicate", "reorder")
KINDS = CONNECTION_KINDS + WINDOW_KINDS + FRAME_KINDS
ODD_CLOSE_CODES = (1001, 1002, 1003, 1008, 1011, 1013, 4000, 4009)
FLOOD_BATCH = 200
GARBAGE_VARIANTS = (
    "invalid_utf8",
    "invalid_json",
    "wrong_shape",
    "wrong_type",
    "huge_number",
    "negative_price",
    "zero_price",
    "nan_price",
    "exponent_price",
    "crossed",
)
_PRICE_VARIANTS = frozenset((GARBAGE_VARIANTS[0], *GARBAGE_VARIANTS[3:]))
_DEFAULT_OVERSIZED_BYTES = 5_000_000
_KEYS = frozenset(("at", "every", "for", "rate", "venue", "code", "bytes", "variant"))


@dataclass(frozen=True)
class Fault:
    """One fault of a plan (see the module docstring for the kinds and settings)."""

    kind: str
    at: float | None = None
    every: float | None = None
    duration: float = 0.0
    rate: float = 0.0
    venue: str | None = None
    code: int | None = None
    size: int = _DEFAULT_OVERSIZED_BYTES
    variant: str | None = None

    def __post_init__(self) -> None:
        kind = self.kind
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}: choose from {', '.join(KINDS)}")
        for name, seconds in (("at", self.at), ("every", self.every)):
            if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
                raise ValueError(f"{kind}: {name} must be >= 0 seconds, got {seconds}")
        if self.every is not None and self.every <= 0:
            raise ValueError(f"{kind}: every must be > 0 seconds, got {self.every}")
        if not (math.isfinite(self.rate) and 0 <= self.rate <= 1):
            raise ValueError(f"{kind}: rate must be a chance between 0 and 1, got {self.rate}")
        if self.rate and kind not in FRAME_KINDS:
            raise ValueError(f"{kind}: rate is for frame faults ({', '.join(FRAME_KINDS)})")
        if kind in WINDOW_KINDS and not (math.isfinite(self.duration) and self.duration > 0):
            raise ValueError(f"{kind}: needs for=SECONDS > 0")
        if kind not in WINDOW_KINDS and self.duration:
            raise ValueError(f"{kind}: for= is for window faults ({', '.join(WINDOW_KINDS)})")
        if self.code is not None and (kind != "close" or not 1000 <= self.code <= 4999):
            raise ValueError(f"{kind}: code= is a close code 1000..4999 of close faults")
        if self.size < 1:
            raise ValueError(f"{kind}: bytes must be >= 1, got {self.size}")
        if self.variant is not None and (kind != "garbage" or self.variant not in GARBAGE_VARIANTS):
            raise ValueError(
                f"{kind}: variant= is for garbage, one of {', '.join(GARBAGE_VARIANTS)}"
            )

    @property
    def scheduled(self) -> bool:
        """True when the fault happens at times (``at`` / ``every``), not per frame."""
        return self.at is not None or self.every is not None

    def times(self) -> Iterator[float]:
        """The seconds after start at which the fault happens, in order (endless with ``every``)."""
        first = self.at if self.at is not None else self.every
        if first is None:
            return
        yield first
        if self.every is not None:
            n = 1
            while True:
                yield first + n * self.every
                n += 1

    @classmethod
    def parse(cls, item: str) -> Fault:
        """One ``KIND[:KEY=VALUE]...`` item; raises ValueError naming what is wrong."""
        kind, *settings = item.strip().split(":")
        values: dict[str, object] = {}
        for setting in settings:
            key, equals, text = setting.partition("=")
            if not equals or key not in _KEYS:
                raise ValueError(
                    f"{item!r}: {setting!r} is not KEY=VALUE with KEY one of {', '.join(sorted(_KEYS))}"
                )
            if key in ("at", "every", "for"):
                values["duration" if key == "for" else key] = parse_duration(text)
            elif key == "rate":
                values[key] = _number(text, float, item)
            elif key in ("code", "bytes"):
                values["size" if key == "bytes" else key] = _number(text, int, item)
            else:
                values[key] = text
        fault = cls(kind, **values)  # type: ignore[arg-type]
        if kind in FRAME_KINDS and not (fault.rate or fault.scheduled):
            raise ValueError(f"{item!r}: a frame fault needs rate=P or at=/every=")
        if kind not in FRAME_KINDS and not fault.scheduled:
            raise ValueError(f"{item!r}: needs at=T or every=T")
        return fault


@dataclass(frozen=True)
class FaultPlan:
    """The faults a simulator injects, with the seed of its random choices."""

    faults: tuple[Fault, ...] = ()
    seed: int = 0

    @classmethod
    def parse(cls, spec: str, seed: int = 0) -> FaultPlan:
        """The plan a SPEC describes (see the module docstring); raises ValueError."""
        items = [item for item in spec.split(",") if item.strip()]
        if not items:
            raise ValueError("empty fault spec")
        return cls(tuple(Fault.parse(item) for item in items), seed)

    def check_venues(self, served: Sequence[str]) -> None:
        """Raise ValueError for a fault naming a venue not in ``served``."""
        for fault in self.faults:
            if fault.venue is not None and fault.venue not in served:
                raise ValueError(
                    f"{fault.kind}: venue {fault.venue!r} is not served ({', '.join(served)})"
                )


def parse_duration(text: str) -> float:
    """Seconds in ``text``: ``2``, ``2.5s``, ``500ms``; raises ValueError."""
    text = text.strip()
    scale = 1.0
    if text.endswith("ms"):
        text, scale = text[:-2], 0.001
    elif text.endswith("s"):
        text = text[:-1]
    try:
        seconds = float(text) * scale
    except ValueError:
        raise ValueError(f"{text!r} is not a duration (e.g. 5s, 500ms)") from None
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"duration {text!r} must be >= 0")
    return seconds


def _number(text: str, kind: type, item: str) -> object:
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{item!r}: {text!r} is not a number") from None


def _price_pattern(units: int) -> re.Pattern[bytes]:
    """The texts a venue may write ``units`` as (any number of decimals), quoted or not."""
    whole, _, fraction = format_units(units, PRICE_DECIMALS).partition(".")
    fraction = fraction.rstrip("0")
    decimals = rb"(?:\.%b0*)" % fraction.encode() if fraction else rb"(?:\.0*)?"
    return re.compile(rb'"?(?<![\d.])%b%b(?![\d.])"?' % (whole.encode(), decimals))


def corrupt(payload: bytes, quote: MarketQuote | None, variant: str) -> bytes:
    """``payload`` (a venue's rendering of ``quote``, or of another event when ``quote`` is None)
    broken the way ``variant`` says, keeping the venue's shape where it can, so the broken frame
    reaches the codec's validation: a price variant (all but ``invalid_json`` and
    ``wrong_shape``) rewrites the bid price text (``crossed`` swaps bid and ask,
    ``invalid_utf8`` puts bytes that are not UTF-8 in it); without a quote, or when its price is
    not found in ``payload``, ``invalid_utf8`` puts them first and the others give
    ``invalid_json`` (the frame cut short).
    """
    if variant == "wrong_shape":
        return b'{"unexpected":[1,2,3],"data":null}'
    if variant in _PRICE_VARIANTS and quote is not None:
        bid = _price_pattern(quote.bid).search(payload)
        if bid is not None:
            quoted = bid.group().startswith(b'"')
            if variant == "crossed":
                ask = _price_pattern(quote.ask).search(payload)
                if ask is not None and (ask.end() <= bid.start() or bid.end() <= ask.start()):
                    first, second = sorted((bid, ask), key=lambda match: match.start())
                    return (
                        payload[: first.start()] + second.group()
                        + payload[first.end() : second.start()] + first.group()
                        + payload[second.end() :]
                    )
            else:
                text = bid.group().strip(b'"')
                replacement = {
                    "invalid_utf8": text[:1] + b"\xff\xfe" + text[1:],
                    "wrong_type": b"true",
                    "huge_number": b"9" * 400,
                    "negative_price": b"-" + text,
                    "zero_price": b"0",
                    "nan_price": b"NaN",
                    "exponent_price": b"1e" + str(len(text)).encode(),
                }[variant]
                if quoted and variant != "wrong_type":
                    replacement = b'"' + replacement + b'"'
                return payload[: bid.start()] + replacement + payload[bid.end() :]
    if variant == "invalid_utf8":  # bytes a decoder skipping unread fields might not check
        return b"\xff\xfe" + payload
    return payload[: len(payload) // 2] + b"\x00"  # cut short by a byte JSON never holds raw


def websocket_frame(payload: bytes) -> bytes:
    """``payload`` as one unmasked, final WebSocket text frame (a server's frame), header and all."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload

