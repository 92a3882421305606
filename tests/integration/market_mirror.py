"""What a simulated venue sends, worked out without sockets, to check ``tickwire run``'s output.

The simulator's market is seeded and steps only while some client is subscribed, so a venue's
quotes can be replayed here: the snapshot of each symbol (the venue's quote before any step)
then every quote step, exactly as a ``Simulator(venues=[venue], channels=["bbo"], seed=seed)``
produces them for a client that subscribes to all its symbols in one request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from tickwire.sim.market import MarketQuote, SyntheticMarket, VenueView, symbol_spec
from tickwire.sim.registry import SIM_VENUES

from .conftest import line_touch

Touch = tuple[int, int, int, int]
"""Bid, bid size, ask and ask size, in ``10**-8`` units."""
SizeOnTheWire = Callable[[str, int, int], int]
"""(canonical symbol, size, price) -> the size as the venue writes it (swap contracts…)."""


def venue_touches(
    venue: str,
    symbols: Sequence[str],
    *,
    seed: int,
    steps: int,
    size_on_the_wire: SizeOnTheWire = lambda symbol, size, price: size,
) -> dict[str, list[Touch]]:
    """Per canonical symbol, the touches ``venue`` sends in its first ``steps`` market steps."""
    venue_type = SIM_VENUES[venue]
    market = SyntheticMarket([symbol_spec(s) for s in symbols], seed=seed, channels=["bbo"])
    view = VenueView(
        market,
        venue,
        instrument_kinds=venue_type.instrument_kinds,
        quote_interval_ms=venue_type.quote_interval_ms,
    )
    quotes = {spec.symbol: [view.quote(spec.symbol)] for spec in view.specs}
    for _ in range(steps):
        event = view.on_step(market.step(), 0)
        if event is not None:
            assert isinstance(event, MarketQuote)
            quotes[event.symbol].append(event)
    return {
        symbol: [
            (q.bid, size_on_the_wire(symbol, q.bid_size, q.bid), q.ask,
             size_on_the_wire(symbol, q.ask_size, q.ask))
            for q in sent
        ]
        for symbol, sent in quotes.items()
    }


def units(text: str) -> int:
    """Decimal text as an integer count of ``10**-8``."""
    return int(Decimal(text).scaleb(8))


def changes(touches: Sequence[Touch]) -> list[Touch]:
    """``touches`` without repeats of the one before: tickwire publishes only changes."""
    return [t for i, t in enumerate(touches) if i == 0 or t != touches[i - 1]]


def published_count(touches: dict[str, Sequence[Touch]]) -> int:
    """How many lines tickwire prints for all of ``touches``."""
    return sum(len(changes(sent)) for sent in touches.values())


def assert_lines_follow(
    lines: Sequence[dict[str, Any]], touches: dict[str, Sequence[Touch]], venue: str
) -> None:
    """Every symbol's stdout lines are, in order, the first changes of its ``touches``, all
    from ``venue`` alone."""
    for line in lines:
        assert line["type"] == "price" and line["n_venues"] == 1
        assert line["bid_venues"] == line["ask_venues"] == [venue]
    for symbol, sent in touches.items():
        printed = [line_touch(line)[1:] for line in lines if line["symbol"] == symbol]
        assert printed, f"no line for {symbol}"
        assert printed == changes(sent)[: len(printed)], symbol
