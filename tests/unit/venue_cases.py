"""What the venue codec tests share: recorded frames, exact scaled numbers, connected adapters, and
the checks every codec must pass on bad input."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Iterable, TypeVar

from tickwire.instruments import parse_symbol
from tickwire.model import Event, Quote
from tickwire.venues.base import Channel, VenueAdapter

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MS = 1_000_000

A = TypeVar("A", bound=VenueAdapter)


def recorded_lines(venue: str, name: str) -> list[bytes]:
    """The frames of ``tests/fixtures/<venue>/<name>``, one a line (``.gz`` files decompressed)."""
    data = (FIXTURES / venue / name).read_bytes()
    return (gzip.decompress(data) if name.endswith(".gz") else data).splitlines()


def with_cryptofeed(
    venue: VenueAdapter, venue_dir: str, frames: str, expected: str, recv_ns: int = 0
) -> list[tuple[Event, dict]]:
    """Each event the recorded ``frames`` give, with cryptofeed's normalized output for it
    (``expected_cryptofeed_v3/<expected>``): there must be as many of one as of the other."""
    theirs = [json.loads(x) for x in recorded_lines(venue_dir, f"expected_cryptofeed_v3/{expected}")]
    ours = [event for frame in recorded_lines(venue_dir, frames) for event in venue.decode(frame, recv_ns)]
    assert len(ours) == len(theirs)
    return list(zip(ours, theirs))


def scaled(text: str, scale: int = 8) -> int:
    """The exact integer of decimal ``text`` at ``scale`` (an independent reading, via Decimal)."""
    return int(Decimal(text).scaleb(scale))


def connected(adapter: type[A], symbols: Iterable[str], channels: Iterable[str] = Channel.ALL) -> A:
    """An adapter for ``symbols`` and ``channels``, just connected."""
    venue = adapter([parse_symbol(s) for s in symbols], frozenset(channels))  # type: ignore[call-arg]
    venue.on_connected()
    return venue


def assert_counted(venue: VenueAdapter, reason: str) -> None:
    """The adapter dropped exactly one frame (or item), for ``reason``, and says so last."""
    assert venue.stats.errors == {reason: 1}
    assert venue.stats.last_error.startswith(reason)


def assert_dropped(venue: VenueAdapter, frame: bytes, reason: str) -> None:
    """``frame`` produces nothing and is counted once, for ``reason``."""
    assert venue.decode(frame, 0) == ()
    assert_counted(venue, reason)


def assert_no_invalid_quote(venue: VenueAdapter, payload: bytes, *, quotes_only: bool = False) -> None:
    """Decoding ``payload`` does not raise, and any Quote it gives has its bid below its ask."""
    for event in venue.decode(payload, 0):
        if quotes_only:
            assert isinstance(event, Quote)
        if isinstance(event, Quote):
            assert 0 < event.bid < event.ask


def valid_quote_or_counted(venue: VenueAdapter, frame: bytes) -> Quote | None:
    """The one valid Quote ``frame`` gives, or None when it gave nothing and was counted once."""
    events = venue.decode(frame, 0)
    if not events:
        assert venue.stats.total_errors == 1
        return None
    (quote,) = events
    assert 0 < quote.bid < quote.ask and quote.bid_size > 0 and quote.ask_size > 0
    return quote
