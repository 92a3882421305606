"""What the simulated venues' unit tests share: recorded frames, and a synthetic market stepped
through a venue's view."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tickwire.sim.market import MarketEvent, SyntheticMarket, VenueView
from tickwire.sim.venue import SimVenue

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NOW_MS = 1_790_001_234_567


def fixture_lines(venue: str, name: str) -> list[bytes]:
    """The lines of the recorded frames ``tests/fixtures/<venue>/<name>``."""
    return (FIXTURES / venue / name).read_bytes().splitlines()


def market_events(
    market: SyntheticMarket, view: VenueView, count: int, start_ms: int = NOW_MS, every_ms: int = 1
) -> Iterator[MarketEvent]:
    """The events ``view`` publishes over ``count`` market steps, ``every_ms`` apart from
    ``start_ms``."""
    for step in range(count):
        event = view.on_step(market.step(), start_ms + every_ms * step)
        if event is not None:
            yield event


def rendered(
    venue: SimVenue, market: SyntheticMarket, count: int, start_ms: int = NOW_MS, every_ms: int = 1
) -> Iterator[tuple[MarketEvent, str, bytes]]:
    """(event, topic, payload) for every payload ``venue`` renders over ``count`` market steps."""
    assert venue.view is not None
    for event in market_events(market, venue.view, count, start_ms, every_ms):
        for topic in venue.topics(event):
            for payload in venue.render(event, topic):
                yield event, topic, payload
