"""tickwire.fixedpoint: exact decimal text <-> scaled int64, checked against a Decimal oracle.

Decimal appears only here, as the oracle; the code under test never uses it.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from tickwire.fixedpoint import (
    shortest_text,
    text_cache,
    INT64_MAX,
    DecimalTextError,
    PriceCache,
    format_scaled,
    parse_scaled,
)

DIGITS = "0123456789"
DIGITS_AND_DOT = DIGITS + "."
REASONS = {"empty", "sign", "exponent", "not_a_number", "junk", "precision", "overflow", "not_text"}

scales = st.integers(min_value=0, max_value=18)
int64_values = st.integers(min_value=0, max_value=INT64_MAX)


# --------------------------------------------------------------------------- oracle helpers


def oracle_units(text: str, scale: int) -> int:
    """Exact value of ``text`` in units of 10**-scale, computed with Decimal at ample precision."""
    with localcontext() as ctx:
        ctx.prec = 200
        units = Decimal(text).scaleb(scale)
        assert units == units.to_integral_value(), "oracle asked for a non-integral unit count"
        return int(units)


def oracle_shortest(text: str) -> str:
    """The shortest plain (no exponent, no trailing zeros) spelling of the decimal ``text``."""
    with localcontext() as ctx:
        ctx.prec = 200
        return format(Decimal(text).normalize(), "f")


def outcome(fn, *args):
    """('ok', value) or ('error', reason): lets two parsers be compared on any input."""
    try:
        return ("ok", fn(*args))
    except DecimalTextError as exc:
        return ("error", exc.reason)


def cached_entries(cache: PriceCache) -> int:
    return len(cache.memo)


def reason_of(text: object, scale: int = 8) -> str:
    with pytest.raises(DecimalTextError) as info:
        parse_scaled(text, scale)  # type: ignore[arg-type]
    return info.value.reason


# --------------------------------------------------------------------------- text strategies


@st.composite
def valid_texts(draw, scale: int, trailing_zeros: int = 0) -> str:
    """Digit-string decimal text with at most ``scale`` decimals (plus optional padding zeros),
    whose value fits in int64 at ``scale`` and whose length stays within 64 characters."""
    leading_zeros = "0" * draw(st.integers(0, 3))
    whole = leading_zeros + draw(st.text(DIGITS, min_size=1, max_size=max(1, 19 - scale)))
    frac = draw(st.text(DIGITS, min_size=0, max_size=scale))
    frac += "0" * draw(st.integers(0, trailing_zeros))
    text = f"{whole}.{frac}" if frac else whole
    assume(len(text) <= 64)
    assume(oracle_units(text, scale) <= INT64_MAX)
    return text


@st.composite
def scale_and_text(draw, trailing_zeros: int = 0):
    scale = draw(scales)
    return scale, draw(valid_texts(scale, trailing_zeros))


@st.composite
def text_with_a_foreign_char(draw) -> str:
    """Text built around at least one character that is neither an ASCII digit nor a dot."""
    foreign = draw(st.characters().filter(lambda c: c not in DIGITS_AND_DOT))
    before = draw(st.text(DIGITS_AND_DOT, max_size=20))
    after = draw(st.text(max_size=20))
    return before + foreign + after


# --------------------------------------------------------------------------- round trips


@given(int64_values, scales)
@example(0, 0)
@example(INT64_MAX, 0)
@example(INT64_MAX, 18)
@example(1, 18)
@example(10**18, 18)
def test_any_int64_survives_format_then_parse(value, scale):
    assert parse_scaled(format_scaled(value, scale), scale) == value


@given(int64_values, scales)
def test_formatted_text_is_the_shortest_exact_spelling(value, scale):
    text = format_scaled(value, scale)
    assert oracle_units(text, scale) == value
    assert text == oracle_shortest(text)
    assert "e" not in text.lower()
    if "." in text:
        assert not text.endswith(("0", "."))
    assert text == "0" or not text.startswith("0") or text.startswith("0.")


@given(scale_and_text(trailing_zeros=4))
@example((8, "67012.41000000"))
@example((8, "0.0025"))
@example((8, "007.50"))
@example((0, "5.000"))
@example((8, "0.00000000"))
def test_valid_text_formats_back_to_its_shortest_form(case):
    scale, text = case
    out = format_scaled(parse_scaled(text, scale), scale)
    assert Decimal(out) == Decimal(text)
    assert out == oracle_shortest(text)
    assert "e" not in out.lower() and "E" not in out
    if "." in out:
        assert not out.endswith("0")


# --------------------------------------------------------------------------- exactness


@given(scale_and_text())
@example((8, "12345678901.12345678"))
@example((8, "92233720368.54775807"))
@example((0, "9223372036854775807"))
@example((18, "9.223372036854775807"))
def test_parse_matches_the_decimal_oracle_exactly(case):
    scale, text = case
    assert parse_scaled(text, scale) == oracle_units(text, scale)


@given(scale_and_text(), st.integers(1, 20))
def test_extra_decimals_that_are_zeros_are_accepted(case, extra_zeros):
    scale, text = case
    whole, _, frac = text.partition(".")
    padded = f"{whole}.{frac.ljust(scale, '0')}{'0' * extra_zeros}"
    assume(len(padded) <= 64)
    assert parse_scaled(padded, scale) == oracle_units(text, scale)


@given(
    scale=scales,
    whole=st.text(DIGITS, min_size=1, max_size=4),
    data=st.data(),
    tail_zeros=st.text("0", max_size=5),
    nonzero=st.sampled_from("123456789"),
    tail_rest=st.text(DIGITS, max_size=5),
)
def test_non_zero_extra_decimals_are_rejected_as_precision(
    scale, whole, data, tail_zeros, nonzero, tail_rest
):
    in_scale = data.draw(st.text(DIGITS, min_size=scale, max_size=scale), label="in_scale")
    text = f"{whole}.{in_scale}{tail_zeros}{nonzero}{tail_rest}"
    assert reason_of(text, scale) == "precision"


def test_a_sub_unit_price_is_rejected_rather_than_truncated():
    assert reason_of("0.000000015", 8) == "precision"
    assert parse_scaled("0.00000001", 8) == 1


@pytest.mark.parametrize(
    ("text", "scale", "expected"),
    [
        ("67012.41", 8, 6_701_241_000_000),
        ("67012.41000000", 8, 6_701_241_000_000),
        ("0.0025", 8, 250_000),
        ("0", 8, 0),
        ("0.0", 8, 0),
        ("007.50", 8, 750_000_000),
        ("12345678901.12345678", 8, 1_234_567_890_112_345_678),
        ("92233720368.54775807", 8, INT64_MAX),
        ("9223372036854775807", 0, INT64_MAX),
        ("5.000", 0, 5),
    ],
)
def test_known_prices_parse_to_known_integers(text, scale, expected):
    assert parse_scaled(text, scale) == expected


@pytest.mark.parametrize(
    ("value", "scale", "expected"),
    [
        (6_701_241_000_000, 8, "67012.41"),
        (250_000, 8, "0.0025"),
        (0, 8, "0"),
        (1, 8, "0.00000001"),
        (100_000_000, 8, "1"),
        (INT64_MAX, 8, "92233720368.54775807"),
        (1200, 0, "1200"),
        (-50_000_000, 8, "-0.5"),
    ],
)
def test_known_integers_format_to_known_text(value, scale, expected):
    assert format_scaled(value, scale) == expected


# --------------------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("text", "scale", "reason"),
    [
        ("1e-5", 8, "exponent"),
        ("1E5", 8, "exponent"),
        ("1.5e+3", 8, "exponent"),
        ("-1", 8, "sign"),
        ("-0.5", 8, "sign"),
        ("+1.5", 8, "sign"),
        ("NaN", 8, "not_a_number"),
        ("nan", 8, "not_a_number"),
        ("inf", 8, "not_a_number"),
        ("Infinity", 8, "not_a_number"),
        ("", 8, "empty"),
        (".5", 8, "junk"),
        ("5.", 8, "junk"),
        ("1_000.5", 8, "junk"),
        (" 12.5", 8, "junk"),
        ("12.5 ", 8, "junk"),
        ("12.5\n", 8, "junk"),
        ("١٢٣", 8, "junk"),
        ("１２", 8, "junk"),  # fullwidth digits
        ("1.2.3", 8, "junk"),
        ("12,5", 8, "junk"),
        ("0x10", 8, "junk"),
        ("0.000000015", 8, "precision"),
        ("1.5", 0, "precision"),
        ("99999999999.99999999", 8, "overflow"),
        ("92233720368.54775808", 8, "overflow"),
        ("9223372036854775808", 0, "overflow"),
        ("10", 18, "overflow"),
    ],
)
def test_invalid_text_is_rejected_with_its_reason(text, scale, reason):
    with pytest.raises(DecimalTextError) as info:
        parse_scaled(text, scale)
    assert info.value.reason == reason
    assert info.value.text == text


@pytest.mark.parametrize(
    "not_text",
    [None, 5, 5.0, b"1.5", bytearray(b"1.5"), Decimal("1.5"), ["1.5"]],
    ids=lambda v: type(v).__name__,
)
def test_non_str_input_is_rejected_as_not_text(not_text):
    assert reason_of(not_text) == "not_text"


def test_rejections_are_value_errors_so_generic_handlers_still_catch_them():
    with pytest.raises(ValueError):
        parse_scaled("NaN", 8)


@settings(deadline=None)  # first draws of arbitrary Unicode build tables; not our latency
@given(text_with_a_foreign_char(), scales)
@example("1_000.5", 8)
@example(" 12.5", 8)
@example("١٢٣", 8)
@example("12.5\x00", 8)
def test_any_text_with_a_char_outside_digits_and_dot_is_rejected(text, scale):
    with pytest.raises(DecimalTextError) as info:
        parse_scaled(text, scale)
    assert info.value.reason in {"sign", "exponent", "not_a_number", "junk"}


@settings(deadline=None)  # first draws of arbitrary Unicode build tables; not our latency
@given(st.text(), scales)
def test_arbitrary_text_either_parses_into_int64_range_or_raises_decimal_text_error(text, scale):
    try:
        value = parse_scaled(text, scale)
    except DecimalTextError as exc:
        assert exc.reason in REASONS
    else:
        assert type(value) is int
        assert 0 <= value <= INT64_MAX
        assert value == oracle_units(text, scale)


@pytest.mark.parametrize("text", ["1" * 5000, "1" * 4301, "0." + "1" * 5000, "9" * 100_000])
def test_huge_digit_strings_are_rejected_cleanly_not_by_int_digit_limits(text):
    # DecimalTextError subclasses ValueError, so check the exact type, not just "a ValueError".
    with pytest.raises(DecimalTextError) as info:
        parse_scaled(text, 8)
    assert type(info.value) is DecimalTextError
    assert info.value.reason in {"overflow", "precision"}


@given(st.integers(20, 6000), st.sampled_from("123456789"), scales)
def test_numbers_with_too_many_significant_digits_are_overflow(n_digits, first, scale):
    text = first + "0" * (n_digits - 1)
    with pytest.raises(DecimalTextError) as info:
        parse_scaled(text, scale)
    assert type(info.value) is DecimalTextError
    assert info.value.reason == "overflow"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0" * 70 + "1", ("ok", 100_000_000)),
        ("0." + "0" * 70 + "1", ("error", "precision")),
        ("1." + "0" * 70, ("ok", 100_000_000)),
        ("x" * 65, ("error", "junk")),
    ],
    ids=["leading_zeros", "tiny_fraction", "trailing_zero_decimals", "long_junk"],
)
def test_text_longer_than_64_chars_is_judged_by_its_content(text, expected):
    assert outcome(parse_scaled, text, 8) == expected


# --------------------------------------------------------------------------- PriceCache

# A small pool so that hypothesis lists contain repeats (cache hits) and invalid texts.
cache_texts = st.one_of(
    st.sampled_from(
        ["67012.41", "67012.41000000", "0.0025", "0", "1e-5", "NaN", "", "-1", " 1", "0.000000015"]
    ),
    st.text(DIGITS_AND_DOT, max_size=12),
    st.text(max_size=6),
)


@settings(deadline=None)  # first draws of arbitrary Unicode build tables; not our latency
@given(scales, st.integers(1, 8), st.lists(cache_texts, max_size=60))
def test_price_cache_answers_exactly_like_parse_scaled(scale, max_entries, texts):
    cache = PriceCache(scale, max_entries=max_entries)
    for text in texts:
        assert outcome(cache.parse, text) == outcome(parse_scaled, text, scale)


@pytest.mark.parametrize("text", ["1e-5", "NaN", "", "-1", " 12.5", "0.000000015"])
def test_price_cache_raises_the_same_error_every_time_and_does_not_cache_it(text):
    cache = PriceCache(8)
    for _ in range(3):
        assert outcome(cache.parse, text) == outcome(parse_scaled, text, 8)
        assert outcome(cache.parse, text)[0] == "error"


@pytest.mark.parametrize("not_text", [None, 5, b"1.5"], ids=lambda v: type(v).__name__)
def test_price_cache_rejects_hashable_non_str_as_not_text(not_text):
    with pytest.raises(DecimalTextError) as info:
        PriceCache(8).parse(not_text)  # type: ignore[arg-type]
    assert info.value.reason == "not_text"


@pytest.mark.parametrize("not_text", [bytearray(b"1.5"), ["1.5"]], ids=lambda v: type(v).__name__)
def test_price_cache_rejects_unhashable_non_str_as_not_text(not_text):
    with pytest.raises(DecimalTextError) as info:
        PriceCache(8).parse(not_text)  # type: ignore[arg-type]
    assert info.value.reason == "not_text"


class _StrSubclass(str):
    pass


def test_price_cache_and_parse_scaled_agree_on_str_subclasses():
    cache = PriceCache(8)
    cache.parse("1.5")
    text = _StrSubclass("1.5")
    assert outcome(cache.parse, text) == outcome(parse_scaled, text, 8)


def test_price_cache_hit_returns_the_first_answer_and_distinct_spellings_stay_distinct():
    cache = PriceCache(8)
    assert cache.parse("1.5") == 150_000_000
    assert cache.parse("1.5") == 150_000_000
    assert cache.parse("1.50") == 150_000_000
    assert cache.parse("15") == 1_500_000_000


@given(st.integers(1, 64), st.integers(1, 3))
def test_price_cache_stays_bounded_after_more_distinct_texts_than_its_capacity(
    max_entries, overshoot_factor
):
    cache = PriceCache(8, max_entries=max_entries)
    n_texts = max_entries * overshoot_factor + 1
    for i in range(n_texts):
        text = f"{i}.25"
        assert cache.parse(text) == i * 100_000_000 + 25_000_000
        assert cached_entries(cache) <= max_entries
    # Evicted entries are re-parsed correctly, not lost or mixed up.
    for i in range(n_texts):
        assert cache.parse(f"{i}.25") == i * 100_000_000 + 25_000_000
        assert cached_entries(cache) <= max_entries


@given(st.integers(1, 64))
def test_the_spellings_noted_for_the_text_cache_stay_bounded_with_the_price_cache(max_entries):
    cache = PriceCache(13, max_entries=max_entries)
    for i in range(3 * max_entries + 1):
        cache.parse(f"{i}.5")
    assert len(text_cache(13).sources) <= max_entries  # emptied with the memo, refilled since


def test_price_cache_at_default_capacity_stays_bounded():
    cache = PriceCache(8)
    for i in range(cache.max_entries + 1):
        cache.parse(str(i))
    assert cached_entries(cache) <= cache.max_entries
    assert cache.parse(str(cache.max_entries)) == cache.max_entries * 100_000_000


@given(st.integers(0, INT64_MAX), st.integers(0, 18), st.integers(0, 3), st.integers(0, 5))
def test_shortest_text_of_any_padded_spelling_equals_format_scaled(value, scale, leading, trailing):
    canonical = format_scaled(value, scale)
    padded = "0" * leading + canonical
    if trailing:
        padded += ("" if "." in padded else ".") + "0" * trailing
    assert shortest_text(padded) == canonical


def test_parsing_a_price_teaches_the_shared_text_cache_its_spelling():
    cache = PriceCache(7)
    value = cache.parse("00123.4500000")
    assert text_cache(7).sources[value] == "00123.4500000"
    assert text_cache(7).format(value) == "123.45" == format_scaled(value, 7)


@given(scale_and_text(trailing_zeros=3))
def test_a_parsed_price_prints_as_format_scaled_prints_its_value(scale_and_text):
    scale, text = scale_and_text
    value = PriceCache(scale).parse(text)
    assert text_cache(scale).format(value) == format_scaled(value, scale)
