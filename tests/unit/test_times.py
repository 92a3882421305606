"""Venue time texts convert to exact integer nanoseconds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.times import Rfc3339Clock, TimestampError, decimal_seconds_to_ns, rfc3339_to_ns

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def test_coinbase_and_kraken_style_times_convert_exactly():
    assert rfc3339_to_ns("2026-08-09T21:05:48.123456Z") == 1786309548123456000
    assert rfc3339_to_ns("2026-08-09T21:05:48.123456789Z") == 1786309548123456789
    assert rfc3339_to_ns("2026-08-09T21:05:48Z") == 1786309548000000000
    assert rfc3339_to_ns("2026-08-09T23:05:48.5+02:00") == 1786309548500000000
    assert rfc3339_to_ns("2026-08-09T21:05:48.1234567891Z") == 1786309548123456789  # truncated


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)))
def test_any_utc_time_round_trips_through_its_iso_text(moment):
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    delta = moment.replace(tzinfo=timezone.utc) - EPOCH
    assert rfc3339_to_ns(text) == (delta // timedelta(microseconds=1)) * 1000


@pytest.mark.parametrize(
    "text", ["", "2026-08-09", "2026-08-09T21:05:48", "2026-13-09T21:05:48Z", "2026-08-09T21:05:48.x1Z",
             "2026-08-09T21:05:48+0200", "twenty-six"],
)
def test_malformed_times_are_refused(text):
    with pytest.raises(TimestampError):
        rfc3339_to_ns(text)


def test_decimal_seconds_convert_exactly():
    assert decimal_seconds_to_ns("1534614248.456738") == 1534614248456738000
    assert decimal_seconds_to_ns("1534614248") == 1534614248000000000
    with pytest.raises(TimestampError):
        decimal_seconds_to_ns("1e9")


_TIME_TEXTS = st.one_of(
    st.builds(
        lambda moment, digits, fraction: moment.strftime("%Y-%m-%dT%H:%M:%S")
        + (f".{fraction:0{digits}d}"[: digits + 1] if digits else "") + "Z",
        st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
        st.integers(0, 11),
        st.integers(0, 10**11 - 1),
    ),
    st.sampled_from(["2026-08-09T21:05:48.5+02:00", "2026-08-09T21:05:48.1z", "2026-13-09T21:05:48.1Z",
                     "2026-08-09T21:05:48.x1Z", "2026-08-09T21:05:48.Z", ""]),
)


def _outcome(convert, text):
    try:
        return convert(text)
    except TimestampError:
        return "refused"


@given(st.lists(_TIME_TEXTS, max_size=8))
def test_the_per_second_clock_gives_exactly_what_rfc3339_to_ns_gives(texts):
    clock = Rfc3339Clock()
    texts = texts + [t.replace(".", ".9", 1) for t in texts]  # same seconds again, other fractions
    assert [_outcome(clock.to_ns, t) for t in texts] == [_outcome(rfc3339_to_ns, t) for t in texts]


def test_more_digits_than_int_converts_are_a_timestamp_error_not_a_crash():
    many = "1" * 5000  # above sys.get_int_max_str_digits() (4300), where int() raises ValueError
    with pytest.raises(TimestampError):
        decimal_seconds_to_ns(many)
    with pytest.raises(TimestampError):
        decimal_seconds_to_ns(many + ".5")


def test_a_fraction_of_any_length_is_truncated_to_the_nanosecond():
    digits = "123456789" + "9" * 5000
    assert decimal_seconds_to_ns("1534614248." + digits) == 1534614248123456789
    assert rfc3339_to_ns("2026-08-09T21:05:48." + digits + "Z") == 1786309548123456789
    assert Rfc3339Clock().to_ns("2026-08-09T21:05:48." + digits + "Z") == 1786309548123456789
    with pytest.raises(TimestampError):
        decimal_seconds_to_ns("1534614248." + digits + "x")


@given(st.lists(st.tuples(st.sampled_from(["00", "07", "59", "60", "61", "6x", "٣4", "5"]),
                          st.sampled_from(["1", "123456789", "5Z", "", "1234567890"])), max_size=12))
def test_the_clock_reads_new_seconds_of_one_minute_exactly_as_rfc3339_to_ns(parts):
    clock = Rfc3339Clock()
    texts = [f"2026-08-09T21:05:{second}.{fraction}Z" for second, fraction in parts]
    texts += ["2026-08-09T21:06:00.5Z", "2026-08-09T21:05:59.5Z"]
    assert [_outcome(clock.to_ns, t) for t in texts] == [_outcome(rfc3339_to_ns, t) for t in texts]
