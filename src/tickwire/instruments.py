"""Canonical instrument names and their scales.

A canonical symbol is ``BASE-QUOTE`` with an optional kind suffix (``BTC-USDT``,
``BTC-USDT-PERP``), upper case ASCII letters and digits. USD, USDT and USDC are different quotes.
"""

from __future__ import annotations

import re

import msgspec

__all__ = [
    "DEFAULT_PRICE_SCALE",
    "DEFAULT_SIZE_SCALE",
    "Instrument",
    "InstrumentError",
    "parse_symbol",
]

DEFAULT_PRICE_SCALE = 8
DEFAULT_SIZE_SCALE = 8
MAX_SCALE = 18

_SYMBOL_RE = re.compile(r"([A-Z0-9]{1,20})-([A-Z0-9]{1,20})(?:-([A-Z0-9]{1,20}))?")


class InstrumentError(ValueError):
    """A symbol or instrument setting that tickwire cannot use."""


class Instrument(msgspec.Struct, frozen=True):
    """One canonical instrument and the fixed-point scales its prices and sizes use."""

    symbol: str
    base: str
    quote: str
    kind: str = ""
    price_scale: int = DEFAULT_PRICE_SCALE
    size_scale: int = DEFAULT_SIZE_SCALE


def parse_symbol(
    symbol: str,
    price_scale: int = DEFAULT_PRICE_SCALE,
    size_scale: int = DEFAULT_SIZE_SCALE,
) -> Instrument:
    """Validate a canonical ``BASE-QUOTE[-KIND]`` symbol; raises InstrumentError saying why not."""
    match = _SYMBOL_RE.fullmatch(symbol)
    if match is None:
        raise InstrumentError(
            f"symbol {symbol!r} is not canonical BASE-QUOTE[-KIND] (upper case, e.g. BTC-USDT)"
        )
    for name, scale in (("price_scale", price_scale), ("size_scale", size_scale)):
        if not 0 <= scale <= MAX_SCALE:
            raise InstrumentError(f"{symbol}: {name} {scale} is outside 0..{MAX_SCALE}")
    base, quote, kind = match.groups()
    return Instrument(symbol, base, quote, kind or "", price_scale, size_scale)
