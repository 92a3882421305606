"""Venue time texts convert to exact integer nanoseconds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.times import TimestampError, decimal_seconds_to_ns, rfc3339_to_ns

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
