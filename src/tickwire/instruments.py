"""Canonical instrument names and their scales.

A canonical symbol is ``BASE-QUOTE`` with an optional kind suffix (``BTC-USDT``,
``BTC-USDT-PERP``), upper case ASCII letters and digits. USD, USDT and USDC are different quotes.

Sizes are always in the base currency. Where a venue counts contracts (OKX swaps), one contract
is worth an amount of the base (a linear contract, ``0.01 BTC``) or of the quote (an inverse
one, ``100 USD``); ``contract_size`` may pin that value instead of reading it from the venue.
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
_CONTRACT_SIZE_RE = re.compile(r"(\d{1,19}(?:\.\d{1,19})?) ([A-Z0-9]{1,20})")


class InstrumentError(ValueError):
    """A symbol or instrument setting that tickwire cannot use."""


class Instrument(msgspec.Struct, frozen=True):
    """One canonical instrument and the fixed-point scales its prices and sizes use.

    ``contract_size`` is ``""`` or a pinned contract value, ``"AMOUNT CURRENCY"`` with the
    currency the base or the quote (see the module docstring).
    """

    symbol: str
    base: str
    quote: str
    kind: str = ""
    price_scale: int = DEFAULT_PRICE_SCALE
    size_scale: int = DEFAULT_SIZE_SCALE
    contract_size: str = ""


def parse_symbol(
    symbol: str,
    price_scale: int = DEFAULT_PRICE_SCALE,
    size_scale: int = DEFAULT_SIZE_SCALE,
    contract_size: str = "",
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
    if contract_size:
        _check_contract_size(symbol, base, quote, kind, contract_size)
    return Instrument(symbol, base, quote, kind or "", price_scale, size_scale, contract_size)


def _check_contract_size(symbol: str, base: str, quote: str, kind: str | None, text: str) -> None:
    if not kind:
        raise InstrumentError(f"{symbol}: a spot instrument has no contract_size")
    match = _CONTRACT_SIZE_RE.fullmatch(text)
    if match is None or not match.group(1).strip("0."):
        raise InstrumentError(
            f"{symbol}: contract_size {text!r} is not 'AMOUNT CURRENCY' with an amount above 0 "
            f"(e.g. '0.01 {base}' or '100 {quote}')"
        )
    if match.group(2) not in (base, quote):
        raise InstrumentError(
            f"{symbol}: contract_size {text!r} must be in {base} (linear) or {quote} (inverse)"
        )
