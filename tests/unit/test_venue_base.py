"""The pieces every venue adapter shares (venues/base.py)."""

from __future__ import annotations

import msgspec
import pytest

from tickwire.fixedpoint import DecimalTextError
from tickwire.instruments import parse_symbol
from tickwire.times import TimestampError
from tickwire.venues.base import (
    UNSEEN,
    AdapterBase,
    Channel,
    TopOfBookState,
    failure_reason,
    symbol_states,
    tagged_union,
)


class Frame(msgspec.Struct):
    data: int


class Venue(AdapterBase):
    name = "venue"
    default_url = "wss://example.test/ws/v1"


def test_a_lone_tagged_member_still_requires_its_tag():
    decoder, routes = tagged_union("stream", {"btcusdt@bookTicker": Frame})
    message = decoder.decode(b'{"stream":"btcusdt@bookTicker","data":1}')
    assert routes[type(message)] == "btcusdt@bookTicker" and message.data == 1
    for frame in (b'{"data":1}', b'{"stream":"ethusdt@bookTicker","data":1}'):
        with pytest.raises(msgspec.ValidationError):
            decoder.decode(frame)
    assert type(decoder.decode(b'{"stream":"\\u0000"}')) not in routes


def test_tags_pick_their_struct_wherever_the_tag_stands():
    decoder, routes = tagged_union("channel", {"a": Frame, "b": Frame})
    assert routes[type(decoder.decode(b'{"data":2,"channel":"b"}'))] == "b"
    assert routes[type(decoder.decode(b'{"channel":"a","data":2}'))] == "a"


def test_an_endpoint_without_a_path_gets_the_default_path():
    venue = Venue(Channel.ALL)
    assert venue.connect_url(None) == "wss://example.test/ws/v1"
    assert venue.connect_url("ws://127.0.0.1:9000") == "ws://127.0.0.1:9000/ws/v1"
    assert venue.connect_url("ws://127.0.0.1:9000/") == "ws://127.0.0.1:9000/ws/v1"
    assert venue.connect_url("ws://127.0.0.1:9000/venue") == "ws://127.0.0.1:9000/venue"


def test_unknown_channels_are_refused_naming_the_venue():
    with pytest.raises(ValueError, match="venue: unknown channel.s. depth"):
        Venue(frozenset({"depth", Channel.BBO}))


def test_errors_map_to_their_metrics_reasons():
    assert failure_reason(DecimalTextError("exponent", "1e5")) == "bad_number_exponent"
    assert failure_reason(msgspec.ValidationError("Object missing required field `u`")) == "missing_field"
    assert failure_reason(msgspec.ValidationError("Expected `str`, got `int`")) == "wrong_type"
    assert failure_reason(msgspec.DecodeError("truncated")) == "malformed_json"
    assert failure_reason(TimestampError("not a time")) == "wrong_type"


def test_a_dropped_frame_is_counted_with_where_it_happened():
    venue = Venue(Channel.ALL)
    venue._count_failure(DecimalTextError("sign", "-1"), "bookTicker")
    assert venue.stats.errors == {"bad_number_sign": 1}
    assert venue.stats.last_error == "bad_number_sign: bookTicker: sign: '-1'"
    venue._count_failure(msgspec.DecodeError("truncated"), "bookTicker")
    assert venue.stats.last_error == "malformed_json: truncated"


def test_a_top_of_book_field_stays_unseen_until_sent_and_a_new_connection_forgets_it():
    states = symbol_states([parse_symbol("BTC-USD")], lambda i: i.base + i.quote, TopOfBookState)
    state = states["BTCUSD"]
    assert state.unseen(("bid", "bid_size", "ask", "ask_size")) == ["bid", "bid_size", "ask", "ask_size"]
    state.bid, state.bid_size = 0, 5  # a venue sending 0 is not a field never sent
    assert state.unseen(("bid", "bid_size", "ask", "ask_size")) == ["ask", "ask_size"]
    state.last_update_id = 7
    state.reset()
    assert (state.bid, state.last_update_id) == (UNSEEN, -1)
    state.reset(unseen=0)
    assert (state.bid, state.bid_size, state.ask, state.ask_size) == (0, 0, 0, 0)
