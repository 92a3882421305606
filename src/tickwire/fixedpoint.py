"""Exact decimal text <-> scaled integers. No float anywhere.

A price or size travels through tickwire as an ``int`` counting units of ``10**-scale``:
``"67012.41"`` at scale 8 is ``6701241000000``. Parsing is strict (ASCII digits, at most one dot,
no sign, no exponent, no whitespace) and exact; formatting back gives the shortest exact text.
"""

from __future__ import annotations

__all__ = [
    "INT64_MAX",
    "MEMO_ENTRIES",
    "DecimalTextError",
    "PriceCache",
    "TextCache",
    "shortest_text",
    "text_cache",
    "format_scaled",
    "parse_scaled",
]

INT64_MAX = 2**63 - 1

_POW10 = tuple(10**i for i in range(40))
MAX_SCALE = 38
_INT64_DIGITS = 19
_MAX_SHOWN = 64  # how much of a rejected text an error keeps
MEMO_ENTRIES = 4096
"""Default size of a conversion memo: the prices near the top of a book repeat within far fewer
distinct values, and a memo this size stays under half a megabyte, so a process with memos per
venue and symbol keeps a flat footprint."""


class DecimalTextError(ValueError):
    """Text that is not an exact non-negative decimal at the wanted scale.

    ``reason`` is a short stable tag (``empty``, ``sign``, ``exponent``, ``not_a_number``,
    ``junk``, ``precision``, ``overflow``, ``not_text``) used as a metrics label.
    """

    def __init__(self, reason: str, text: object) -> None:
        super().__init__(f"{reason}: {text!r}")
        self.reason = reason
        self.text = text


def _check_scale(scale: int) -> None:
    if not 0 <= scale <= MAX_SCALE:
        raise ValueError(f"scale {scale} is outside 0..{MAX_SCALE}")


def _reject_reason(text: str) -> str:
    if not text:
        return "empty"
    head = text[0]
    if head in "+-":
        return "sign"
    lowered = text.lower()
    if "e" in lowered and lowered not in ("inf", "infinity") and not lowered.startswith("nan"):
        mantissa, _, exponent = lowered.partition("e")
        if mantissa.replace(".", "", 1).isdigit() and exponent.lstrip("+-").isdigit():
            return "exponent"
    if lowered in ("nan", "inf", "infinity") or lowered.startswith("nan"):
        return "not_a_number"
    return "junk"


def parse_scaled(text: str, scale: int) -> int:
    """Parse non-negative decimal ``text`` into an integer count of ``10**-scale`` units.

    Accepts ``digits``, ``digits.digits``; digits beyond ``scale`` must be zeros. Raises
    DecimalTextError (with a ``reason``) for anything else, including values above int64.
    """
    if not isinstance(text, str):
        raise DecimalTextError("not_text", text)
    if not 0 <= scale <= MAX_SCALE:
        _check_scale(scale)
    whole, dot, frac = text.partition(".")
    if not (whole.isdigit() and whole.isascii()) or (dot and not (frac.isdigit() and frac.isascii())):
        raise DecimalTextError(_reject_reason(text[:_MAX_SHOWN]), text[:_MAX_SHOWN])
    if len(whole) > _INT64_DIGITS:
        whole = whole.lstrip("0") or "0"
        if len(whole) > _INT64_DIGITS:
            raise DecimalTextError("overflow", text[:_MAX_SHOWN])
    decimals = len(frac)
    if decimals > scale:
        if frac[scale:].strip("0"):
            raise DecimalTextError("precision", text[:_MAX_SHOWN])
        value = int(whole + frac[:scale])
    elif decimals:
        value = int(whole + frac) * _POW10[scale - decimals]
    else:
        value = int(whole) * _POW10[scale]
    if value > INT64_MAX:
        raise DecimalTextError("overflow", text[:_MAX_SHOWN])
    return value


def format_scaled(value: int, scale: int) -> str:
    """Exact shortest decimal text of ``value * 10**-scale`` (no exponent, no trailing zeros)."""
    if not 0 <= scale <= MAX_SCALE:
        _check_scale(scale)
    if value < 0:
        return "-" + format_scaled(-value, scale)
    digits = str(value)
    if not scale:
        return digits
    if len(digits) <= scale:
        frac = digits.rjust(scale, "0").rstrip("0")
        return "0." + frac if frac else "0"
    frac = digits[-scale:].rstrip("0")
    return digits[:-scale] + "." + frac if frac else digits[:-scale]


def shortest_text(text: str) -> str:
    """The text ``format_scaled`` gives for the value of valid decimal ``text`` (no parsing)."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    text = text.lstrip("0")
    return "0" + text if not text or text[0] == "." else text


class _ScaledMemo:
    """A bounded memo of one scale's conversion: once full it is cleared and refilled, so a
    stream of ever-new values costs a conversion each and never grows memory."""

    __slots__ = ("scale", "max_entries", "memo")

    # ``memo`` maps already converted keys to values; hot paths may read it directly
    # (``memo.get(text) or prices.parse(text)``, ``memo.get(value) or texts.format(value)``)
    # and must never write to it. Each subclass's ``_miss`` converts a key and stores it:
    # ``_store`` does the storing, and the two per-frame ones (PriceCache, TextCache) spell it
    # out themselves (a Python call less per miss).

    def __init__(self, scale: int, max_entries: int = MEMO_ENTRIES) -> None:
        _check_scale(scale)
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.scale = scale
        self.max_entries = max_entries
        self.memo: dict = {}

    def _store(self, key, value):  # type: ignore[no-untyped-def]
        memo = self.memo
        if len(memo) >= self.max_entries:
            memo.clear()
        memo[key] = value
        return value


class PriceCache(_ScaledMemo):
    """Memoised ``parse_scaled``: market prices repeat, and a hit costs one dict lookup.

    Each newly parsed value's text is also noted for the shared ``text_cache`` of the scale
    (``TextCache.sources``), so printing a price that came in costs a trim of that text rather
    than a format, and a price that is never printed costs one dict store.
    """

    __slots__ = ("_sources",)

    def __init__(self, scale: int, max_entries: int = MEMO_ENTRIES) -> None:
        super().__init__(scale, max_entries)
        self._sources = text_cache(scale).sources

    def _miss(self, text: str) -> int:
        value = parse_scaled(text, self.scale)
        memo = self.memo
        if len(memo) >= self.max_entries:
            memo.clear()
            self._sources.clear()  # so the shared sources stay bounded too
        memo[text] = value
        self._sources[value] = text
        return value

    def parse(self, text: str) -> int:
        """Return the scaled integer of ``text``; raises DecimalTextError like parse_scaled."""
        try:
            value = self.memo.get(text)
        except TypeError:  # unhashable, so certainly not text
            raise DecimalTextError("not_text", text) from None
        return self._miss(text) if value is None else value


class TextCache(_ScaledMemo):
    """Memoised ``format_scaled``. ``sources`` maps values to a decimal text they were parsed
    from (any spelling; the PriceCaches of the scale fill it and bound it): a miss on such a
    value trims that text instead of formatting the integer."""

    __slots__ = ("sources",)

    def __init__(self, scale: int, max_entries: int = MEMO_ENTRIES) -> None:
        super().__init__(scale, max_entries)
        self.sources: dict[int, str] = {}

    def _miss(self, value: int) -> str:
        source = self.sources.get(value)
        text = format_scaled(value, self.scale) if source is None else shortest_text(source)
        memo = self.memo
        if len(memo) >= self.max_entries:
            memo.clear()
        memo[value] = text
        return text

    def format(self, value: int) -> str:
        """Exact decimal text of ``value`` at this scale."""
        text = self.memo.get(value)
        return self._miss(value) if text is None else text


_TEXT_CACHES: dict[int, TextCache] = {}


def text_cache(scale: int) -> TextCache:
    """The process-wide TextCache of ``scale`` (shared by parsers and sinks)."""
    cache = _TEXT_CACHES.get(scale)
    if cache is None:
        cache = _TEXT_CACHES[scale] = TextCache(scale)
    return cache
