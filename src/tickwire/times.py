"""Venue timestamps -> integer nanoseconds since the Unix epoch, exactly (no float)."""

from __future__ import annotations

import calendar

__all__ = ["Rfc3339Clock", "TimestampError", "decimal_seconds_to_ns", "rfc3339_to_ns"]

_SECOND_NS = 1_000_000_000


class TimestampError(ValueError):
    """A timestamp text that is not in the expected format."""


_MAX_SHOWN = 64  # how much of a rejected text an error keeps


def _digits(text: str, what: str, source: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise TimestampError(f"bad {what} in timestamp {source[:_MAX_SHOWN]!r}")
    try:
        return int(text)
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits())
        raise TimestampError(f"too many digits of {what} in timestamp {source[:_MAX_SHOWN]!r}") from None


def _fraction_ns(fraction: str, source: str) -> int:
    """Nanoseconds of a fractional-second digit string (more than 9 digits: truncated)."""
    if not fraction:
        return 0
    if len(fraction) <= 9:
        return _digits(fraction, "fraction", source) * 10 ** (9 - len(fraction))
    if not (fraction.isascii() and fraction.isdigit()):
        raise TimestampError(f"bad fraction in timestamp {source[:_MAX_SHOWN]!r}")
    return int(fraction[:9])  # the digits beyond the nanosecond are truncated, however many


def rfc3339_to_ns(text: str) -> int:
    """``2026-08-09T21:05:48.123456Z`` (or a ``+HH:MM`` offset) -> ns since the epoch."""
    if len(text) < 20 or text[4] != "-" or text[7] != "-" or text[10] not in "Tt " or text[13] != ":" or text[16] != ":":
        raise TimestampError(f"not an RFC 3339 time: {text!r}")
    rest = text[19:]
    fraction = ""
    if rest.startswith("."):
        end = 1
        while end < len(rest) and rest[end].isdigit():
            end += 1
        fraction, rest = rest[1:end], rest[end:]
    if rest in ("Z", "z"):
        offset_s = 0
    elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
        sign = 1 if rest[0] == "+" else -1
        offset_s = sign * (_digits(rest[1:3], "offset", text) * 3600 + _digits(rest[4:6], "offset", text) * 60)
    else:
        raise TimestampError(f"no time zone in {text!r}")
    fields = (
        _digits(text[0:4], "year", text),
        _digits(text[5:7], "month", text),
        _digits(text[8:10], "day", text),
        _digits(text[11:13], "hour", text),
        _digits(text[14:16], "minute", text),
        _digits(text[17:19], "second", text),
    )
    if not (1 <= fields[1] <= 12 and 1 <= fields[2] <= 31 and fields[3] < 24 and fields[4] < 60 and fields[5] <= 60):
        raise TimestampError(f"field out of range in {text!r}")
    seconds = calendar.timegm((*fields, 0, 0, 0)) - offset_s
    return seconds * _SECOND_NS + _fraction_ns(fraction, text)


def decimal_seconds_to_ns(text: str) -> int:
    """``"1534614248.456738"`` (seconds with a decimal fraction) -> ns since the epoch."""
    whole, _, fraction = text.partition(".")
    return _digits(whole, "seconds", text) * _SECOND_NS + _fraction_ns(fraction, text)


_FRACTION_UNIT_NS = tuple(10 ** (9 - digits) for digits in range(10))


class Rfc3339Clock:
    """``rfc3339_to_ns`` for a stream of times, converting each minute's date and time once.

    Times of one second share their first 20 characters (``2026-08-09T21:05:48.``); for UTC texts
    with a 1-9 digit fraction only the fraction is read, and when the second changes within the
    minute only the seconds. Results and errors are exactly ``rfc3339_to_ns``'s. Keep one per
    stream (it remembers the last second and minute seen).
    """

    __slots__ = ("_second", "_second_ns", "_minute", "_minute_ns")

    def __init__(self) -> None:
        self._second = "-"  # the first 20 characters of the last time read, up to its dot
        self._second_ns = 0
        self._minute = "-"  # its first 16 (``2026-08-09T21:05``)
        self._minute_ns = 0

    def to_ns(self, text: str) -> int:
        """ns since the epoch of the RFC 3339 ``text``; raises TimestampError like rfc3339_to_ns."""
        fraction = text[20:-1]
        if (
            text[:20] == self._second
            and text[-1:] == "Z"
            and len(fraction) <= 9
            and fraction.isdigit()  # also false when empty
            and fraction.isascii()
        ):
            return self._second_ns + int(fraction) * _FRACTION_UNIT_NS[len(fraction)]
        return self._new_second(text)

    def _new_second(self, text: str) -> int:
        fraction = text[20:-1]
        if not (
            text[19:20] == "."
            and text[-1:] == "Z"
            and 0 < len(fraction) <= 9
            and fraction.isascii()
            and fraction.isdigit()
        ):
            return rfc3339_to_ns(text)
        minute, seconds = text[:16], text[17:19]
        if minute == self._minute and text[16] == ":" and seconds.isascii() and seconds.isdigit() and seconds <= "60":
            second_ns = self._minute_ns + int(seconds) * _SECOND_NS
        else:
            second_ns = rfc3339_to_ns(text[:19] + "Z")  # checks every field, or raises
            self._minute, self._minute_ns = minute, second_ns - int(seconds) * _SECOND_NS
        self._second, self._second_ns = text[:20], second_ns
        return second_ns + int(fraction) * _FRACTION_UNIT_NS[len(fraction)]
