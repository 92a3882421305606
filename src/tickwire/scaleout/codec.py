"""Subjects and wire structs of tickwire on NATS (pure).

Subjects::

    tickwire.quote.<venue>.<symbol>    Envelope[Quote]     from ingest nodes
    tickwire.trade.<venue>.<symbol>    Envelope[Trade]     from ingest nodes
    tickwire.ticker.<venue>.<symbol>   Envelope[Ticker]    from ingest nodes
    tickwire.status.<venue>            VenueStatus         from ingest nodes, every heartbeat
    tickwire.price.<symbol>            Envelope[ConsolidatedQuote]   from aggregate nodes

Payloads are MessagePack (msgspec) of the same structs the single process uses, wrapped in an
``Envelope`` that says which node sent it, its sequence number on that subject (a gap is a lost
message), when it was sent, and the scales its integers are at.
"""

from __future__ import annotations

import zlib
from typing import Generic, TypeVar

import msgspec

from tickwire.model import ConsolidatedQuote, Quote, Ticker, Trade

__all__ = [
    "PREFIX",
    "Envelope",
    "Outbound",
    "Shard",
    "VenueStatus",
    "event_of",
    "event_subject",
    "parse_shard",
    "price_subject",
    "status_subject",
    "symbol_filter",
    "widen",
]

PREFIX = "tickwire"
QUOTE = "quote"
TRADE = "trade"
TICKER = "ticker"
KIND_OF = {Quote: QUOTE, Trade: TRADE, Ticker: TICKER}
"""The subject kind of each event type an ingest node publishes."""

E = TypeVar("E", Quote, Trade, Ticker, ConsolidatedQuote)


class Envelope(
    msgspec.Struct, Generic[E], array_like=True, frozen=True, gc=False, omit_defaults=True
):
    """One event on its way between nodes.

    ``seq`` counts 1, 2, 3, … per sending node and subject, including messages the node could not
    publish, so a receiver sees every loss as a gap. ``sent_ns`` is the sender's wall clock when
    it published. ``price_scale`` and ``size_scale`` are the scales of the event's integers; a
    receiver configured with other scales drops the event rather than misread it.
    ``wide_trade_id`` carries a trade id too wide for MessagePack (a 128-bit UUID), big-endian;
    the event's own ``trade_id`` is then 0 (see ``widen`` and ``event_of``).
    """

    node: str
    seq: int
    sent_ns: int
    price_scale: int
    size_scale: int
    event: E
    wide_trade_id: bytes = b""


def widen(message: Envelope[Trade]) -> Envelope[Trade]:
    """``message`` with its trade id moved to ``wide_trade_id`` (MessagePack integers stop at
    64 bits). Raises OverflowError for an id wider than 128 bits."""
    trade = message.event
    wide = trade.trade_id.to_bytes(16, "big")
    return msgspec.structs.replace(
        message, event=msgspec.structs.replace(trade, trade_id=0), wide_trade_id=wide
    )


def event_of(message: Envelope[E]) -> E:
    """The event of a received ``message``, with a wide trade id put back."""
    if message.wide_trade_id:
        return msgspec.structs.replace(  # type: ignore[return-value]
            message.event, trade_id=int.from_bytes(message.wide_trade_id, "big")
        )
    return message.event


class VenueStatus(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """An ingest node's word on one venue, sent every heartbeat and when the venue goes down.

    A receiver counts the node's copy of the venue stale once ``stale_after_ns`` pass without a
    status or an event from it. ``last_frame_ns`` is when the venue last sent the node anything
    (data or heartbeat), for the aggregator's own staleness rules. ``lost`` counts the node's messages for the venue that never
    reached NATS (NATS away, or publishing faster than NATS takes them).
    """

    node: str
    venue: str
    live: bool
    sent_ns: int
    stale_after_ns: int
    last_frame_ns: int
    published: int
    lost: int


class Outbound:
    """One subject a node publishes: its name, last sequence number, the scales of its integers
    and how many of its messages were published or lost."""

    __slots__ = ("subject", "seq", "price_scale", "size_scale", "published", "lost")

    def __init__(self, subject: str, price_scale: int, size_scale: int) -> None:
        self.subject = subject
        self.seq = 0
        self.price_scale = price_scale
        self.size_scale = size_scale
        self.published = 0
        self.lost = 0


def event_subject(kind: str, venue: str, symbol: str) -> str:
    """``tickwire.<kind>.<venue>.<symbol>``."""
    return f"{PREFIX}.{kind}.{venue}.{symbol}"


def symbol_filter(symbol: str) -> str:
    """The subscription subject for every venue event (quote, trade, ticker) of ``symbol``."""
    return f"{PREFIX}.*.*.{symbol}"


def status_subject(venue: str) -> str:
    """``tickwire.status.<venue>`` (``*`` for every venue)."""
    return f"{PREFIX}.status.{venue}"


def price_subject(symbol: str) -> str:
    """``tickwire.price.<symbol>``: consolidated updates."""
    return f"{PREFIX}.price.{symbol}"


class Shard(msgspec.Struct, frozen=True):
    """Shard ``index`` (1-based) of ``count``: the instruments whose stable hash falls on it."""

    index: int = 1
    count: int = 1

    def owns(self, symbol: str) -> bool:
        """True for the symbols of this shard; every symbol has exactly one shard of ``count``.

        The hash is CRC-32 of the symbol's text, the same on every machine and Python version.
        """
        return zlib.crc32(symbol.encode()) % self.count == self.index - 1


def parse_shard(text: str) -> Shard:
    """``"K/N"`` with 1 <= K <= N; raises ValueError saying what is wrong."""
    index, sep, count = text.partition("/")
    if not (sep and index.isdigit() and count.isdigit()):
        raise ValueError(f"shard {text!r} is not K/N (e.g. 2/4)")
    shard = Shard(int(index), int(count))
    if not 1 <= shard.index <= shard.count:
        raise ValueError(f"shard {text!r}: K must be between 1 and N")
    return shard
