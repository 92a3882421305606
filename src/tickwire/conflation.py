"""Conflation (``conflate = true``): each symbol's latest quote of a socket read waits for the
end of the read, so a burst is aggregated or published once per symbol instead of once per quote.

A quote is a venue's whole top of book, so the latest one says everything the earlier ones of
the read said; trades and tickers are never held. Pure: the frame consumers call it.
"""

from __future__ import annotations

from collections.abc import Sequence

from tickwire.model import Event, Quote

__all__ = ["QuoteHold"]


class QuoteHold:
    """One venue connection's held quotes. ``held`` (read it, never write it) is empty between
    reads; ``conflated`` counts the quotes never let through."""

    __slots__ = ("held", "conflated")

    def __init__(self) -> None:
        self.held: dict[str, Quote] = {}
        self.conflated = 0

    def let_through(self, events: Sequence[Event], last_in_buffer: bool) -> list[Event]:
        """Hold each quote of ``events`` (a later one of its symbol replaces it) and pass the
        rest; when the read ends (``last_in_buffer``), the symbols' latest quotes pass too."""
        held = self.held
        passing = []
        for event in events:
            if type(event) is Quote:
                symbol = event.symbol
                if symbol in held:
                    self.conflated += 1
                held[symbol] = event
            else:
                passing.append(event)
        if last_in_buffer:
            passing.extend(held.values())
            held.clear()
        return passing

    def forget(self) -> None:
        """The connection broke inside a read: what it held is never let through."""
        self.conflated += len(self.held)
        self.held.clear()
