"""The JSON line schema of every local sink (stdout, the consumer WebSocket API).

``JsonLines`` encodes each update, trade or ticker into one reused buffer as one JSON object
followed by a newline; the sink that owns it decides where the buffer's bytes go.
"""

from __future__ import annotations

import msgspec

from tickwire.aggregate import PRICE_EXTRA_DIGITS
from tickwire.fixedpoint import text_cache
from tickwire.model import BUY, ConsolidatedQuote, Ticker, Trade

__all__ = ["JsonLines", "PriceLine", "TickerLine", "TradeLine"]


class PriceLine(msgspec.Struct, tag_field="type", tag="price", gc=False):
    """The line schema of a consolidated update (see README, "Output")."""

    symbol: str
    bid: str | None
    bid_size: str | None
    bid_venues: tuple[str, ...]
    ask: str | None
    ask_size: str | None
    ask_venues: tuple[str, ...]
    bbo_state: str | None
    price: str | None
    confidence: str | None
    method: str
    status: str
    n_venues: int
    used: tuple[str, ...]
    excluded: dict[str, str]
    venue: str
    exchange_ns: int
    recv_ns: int
    publish_ns: int


class TradeLine(msgspec.Struct, tag_field="type", tag="trade", gc=False):
    """The line schema of a trade."""

    symbol: str
    venue: str
    price: str
    size: str
    side: str
    trade_id: int
    exchange_ns: int
    recv_ns: int
    publish_ns: int


class TickerLine(msgspec.Struct, tag_field="type", tag="ticker", gc=False):
    """The line schema of a venue's ticker (last traded price)."""

    symbol: str
    venue: str
    last: str
    exchange_ns: int
    recv_ns: int
    publish_ns: int


class JsonLines:
    """Encodes updates, trades and tickers as JSON lines appended to ``self._buffer``.

    Prices and sizes are exact decimal text at each symbol's scale (``size_scales`` and
    ``price_scales`` map every symbol that can be published to its scale); ``lines`` counts
    the lines encoded.
    """

    def __init__(self, size_scales: dict[str, int], price_scales: dict[str, int]) -> None:
        self._buffer = bytearray()
        self._encoder = msgspec.json.Encoder()
        self._size_text = {s: text_cache(scale) for s, scale in size_scales.items()}
        self._price_text = {s: text_cache(scale) for s, scale in price_scales.items()}
        self._mid_text = {
            s: text_cache(scale + PRICE_EXTRA_DIGITS) for s, scale in price_scales.items()
        }
        self.lines = 0

    def publish(self, update: ConsolidatedQuote, publish_ns: int) -> None:
        """Encode ``update`` into the pending buffer."""
        basis = update.basis
        if basis.n_venues:
            prices = self._price_text[update.symbol]
            sizes = self._size_text[update.symbol]
            mids = self._mid_text[update.symbol]
            price_memo = prices.memo
            size_memo = sizes.memo
            bid, ask, bid_size, ask_size = update.bid, update.ask, update.bid_size, update.ask_size
            confidence = update.confidence
            line = PriceLine(
                update.symbol,
                price_memo.get(bid) or prices.format(bid),
                size_memo.get(bid_size) or sizes.format(bid_size),
                update.bid_venues,
                price_memo.get(ask) or prices.format(ask),
                size_memo.get(ask_size) or sizes.format(ask_size),
                update.ask_venues,
                update.bbo_state,
                mids.memo.get(update.price) or mids.format(update.price),
                None if confidence is None else mids.memo.get(confidence) or mids.format(confidence),
                basis.method,
                basis.status,
                basis.n_venues,
                basis.used,
                basis.excluded,
                update.venue,
                update.exchange_ns,
                update.recv_ns,
                publish_ns,
            )
        else:
            line = PriceLine(
                update.symbol, None, None, (), None, None, (), None, None, None, basis.method,
                basis.status, 0, (), basis.excluded, update.venue, update.exchange_ns,
                update.recv_ns, publish_ns,
            )
        buffer = self._buffer
        self._encoder.encode_into(line, buffer, len(buffer))
        buffer.append(10)
        self.lines += 1

    def publish_trade(self, trade: Trade, publish_ns: int) -> None:
        """Encode ``trade`` into the pending buffer."""
        line = TradeLine(
            trade.symbol,
            trade.venue,
            self._price_text[trade.symbol].format(trade.price),
            self._size_text[trade.symbol].format(trade.size),
            "buy" if trade.side == BUY else "sell",
            trade.trade_id,
            trade.exchange_ns,
            trade.recv_ns,
            publish_ns,
        )
        buffer = self._buffer
        self._encoder.encode_into(line, buffer, len(buffer))
        buffer.append(10)
        self.lines += 1

    def publish_ticker(self, ticker: Ticker, publish_ns: int) -> None:
        """Encode ``ticker`` into the pending buffer."""
        prices = self._price_text[ticker.symbol]
        line = TickerLine(
            ticker.symbol,
            ticker.venue,
            prices.memo.get(ticker.last) or prices.format(ticker.last),
            ticker.exchange_ns,
            ticker.recv_ns,
            publish_ns,
        )
        buffer = self._buffer
        self._encoder.encode_into(line, buffer, len(buffer))
        buffer.append(10)
        self.lines += 1
