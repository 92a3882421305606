"""What the aggregator's tests share: quotes written as decimal text, prices read back as text,
and a sink that keeps what an engine publishes."""

from __future__ import annotations

from decimal import Decimal

from tickwire.aggregate import Aggregator, PriceRules
from tickwire.instruments import parse_symbol
from tickwire.model import ConsolidatedQuote, Quote, Ticker, Trade

BTC = parse_symbol("BTC-USD")
SCALE = BTC.price_scale
SECOND = 1_000_000_000


def units(text: str | int) -> int:
    """Decimal text as an integer at the instrument scale (8 decimals)."""
    value = Decimal(str(text)).scaleb(SCALE)
    assert value == value.to_integral_value(), text
    return int(value)


def quote(venue: str, bid: str | int, ask: str | int, bid_size: str | int = 1,
          ask_size: str | int = 1, symbol: str = "BTC-USD", recv_ns: int = 1) -> Quote:
    return Quote(venue, symbol, units(bid), units(bid_size), units(ask), units(ask_size), recv_ns)


def aggregator(symbols: tuple[str, ...] = ("BTC-USD",), **rules: object) -> Aggregator:
    return Aggregator([parse_symbol(s) for s in symbols], lambda symbol: PriceRules(**rules))  # type: ignore[arg-type]


def feed(agg: Aggregator, *quotes: Quote) -> ConsolidatedQuote | None:
    """Apply ``quotes`` in order; the last update published (None if none was)."""
    last = None
    for q in quotes:
        last = agg.on_quote(q) or last
    return last


def price_text(value: int | None, update: ConsolidatedQuote) -> str | None:
    """A price or confidence of ``update`` as normalised decimal text."""
    if value is None:
        return None
    return str(Decimal(value).scaleb(-update.price_scale).normalize())


def current(agg: Aggregator, symbol: str = "BTC-USD") -> ConsolidatedQuote:
    view = agg.views[symbol].current
    assert view is not None
    return view


class ListSink:
    """Keeps what an engine publishes, and how many updates there were at each flush."""

    def __init__(self) -> None:
        self.updates: list[ConsolidatedQuote] = []
        self.trades: list[Trade] = []
        self.flushed: list[int] = []  # len(updates) at each flush

    def publish(self, update: ConsolidatedQuote, publish_ns: int) -> None:
        self.updates.append(update)

    def publish_trade(self, trade: Trade, publish_ns: int) -> None:
        self.trades.append(trade)

    def publish_ticker(self, ticker: Ticker, publish_ns: int) -> None:
        raise AssertionError("no ticker channel in these tests")

    def flush(self) -> None:
        self.flushed.append(len(self.updates))

    def close(self) -> None:
        pass
