"""Consolidated price per instrument across venues (pure, sans-I/O).

``Aggregator.on_quote`` takes a venue's latest best bid/offer and returns the instrument's new
``ConsolidatedQuote``, or None when nothing a consumer sees changed (or the publishing policy
holds it back). Each update carries the consolidated best bid/offer over the venues used (sizes
summed at the best price, locked and crossed flagged), a fair ``price`` by the instrument's
method (median, weighted median or Pyth-style with a confidence), and which venues were used and
which were left out and why: stale, reconnecting, or outlier.

Modules: ``rules`` (the settings), ``methods`` (integer arithmetic of the price and the BBO),
``outliers``, ``view`` (one instrument) and ``aggregator`` (routing and time).
"""

from tickwire.aggregate.aggregator import Aggregator, composite_instrument
from tickwire.aggregate.methods import PRICE_EXTRA_DIGITS
from tickwire.aggregate.rules import METHODS, OUTLIER_RULES, PUBLISH_POLICIES, PriceRules
from tickwire.aggregate.view import InstrumentView

__all__ = [
    "METHODS",
    "OUTLIER_RULES",
    "PRICE_EXTRA_DIGITS",
    "PUBLISH_POLICIES",
    "Aggregator",
    "InstrumentView",
    "PriceRules",
    "composite_instrument",
]
