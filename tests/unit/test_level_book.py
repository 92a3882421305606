"""The price-level book that venues publishing books rather than quotes are quoted from."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.book import LevelBook

LEVEL_UPDATES = st.lists(
    st.tuples(st.booleans(), st.integers(1, 40), st.sampled_from([0, 0, 1, 2, 7, 10**8])),
    max_size=200,
)


def model_top(bids: dict[int, int], asks: dict[int, int]) -> tuple[int, int, int, int]:
    best_bid = max(bids, default=0)
    best_ask = min(asks, default=0)
    return best_bid, bids.get(best_bid, 0), best_ask, asks.get(best_ask, 0)


def apply(book: LevelBook, is_bid: bool, price: int, size: int) -> None:
    (book.set_bid if is_bid else book.set_ask)(price, size)


@given(LEVEL_UPDATES)
def test_the_top_is_always_the_best_level_of_each_side_as_a_dict_keeps_it(updates):
    book = LevelBook()
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    for is_bid, price, size in updates:
        apply(book, is_bid, price, size)
        levels = bids if is_bid else asks
        if size:
            levels[price] = size
        else:
            levels.pop(price, None)
        assert book.top() == model_top(bids, asks)
        assert (book.bids, book.asks) == (bids, asks)


@given(LEVEL_UPDATES, st.integers(1, 5))
def test_a_bounded_book_keeps_only_the_best_levels_of_each_side(updates, depth):
    book = LevelBook(depth)
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    for is_bid, price, size in updates:
        apply(book, is_bid, price, size)
        levels = bids if is_bid else asks
        if size:
            levels[price] = size
            if len(levels) > depth:  # the worst level leaves the window
                del levels[min(levels) if is_bid else max(levels)]
        else:
            levels.pop(price, None)
        assert book.top() == model_top(bids, asks)
        assert len(book.bids) <= depth and len(book.asks) <= depth


def test_deleting_the_best_level_makes_the_next_one_best_and_an_empty_side_reads_zero():
    book = LevelBook()
    book.set_bid(100, 1)
    book.set_bid(99, 2)
    book.set_ask(101, 3)
    assert book.top() == (100, 1, 101, 3)
    book.set_bid(100, 0)
    assert book.top() == (99, 2, 101, 3)
    book.set_ask(101, 0)
    assert book.top() == (99, 2, 0, 0)
    book.set_ask(555, 0)  # deleting a level the book never had changes nothing
    assert book.top() == (99, 2, 0, 0)
    book.clear()
    assert book.top() == (0, 0, 0, 0) and book.bids == book.asks == {}


def test_a_phantom_level_outside_the_window_never_comes_back_as_best():
    book = LevelBook(depth=1)
    book.set_ask(105, 1)
    book.set_ask(104, 1)  # 105 leaves the one-level window; the venue says no more about it
    book.set_ask(104, 0)
    assert book.top() == (0, 0, 0, 0)


def test_a_depth_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        LevelBook(0)


LEVEL_BATCHES = st.lists(
    st.tuples(
        st.dictionaries(st.integers(1, 40), st.sampled_from([0, 0, 1, 2, 7]), max_size=8),
        st.dictionaries(st.integers(1, 40), st.sampled_from([0, 0, 1, 2, 7]), max_size=8),
    ),
    max_size=60,
)


@given(LEVEL_BATCHES, st.sampled_from([None, 3]))
def test_a_batch_of_changes_leaves_the_book_as_the_same_changes_made_one_by_one(batches, depth):
    batched, one_by_one = LevelBook(depth), LevelBook(depth)
    for bids, asks in batches:
        batched.apply(bids, asks)
        for price, size in bids.items():
            one_by_one.set_bid(price, size)
        for price, size in asks.items():
            one_by_one.set_ask(price, size)
        assert batched.top() == one_by_one.top()
        assert (batched.bids, batched.asks) == (one_by_one.bids, one_by_one.asks)


def test_a_snapshot_replaces_the_whole_book():
    book = LevelBook()
    book.apply({10: 1, 11: 2}, {12: 3})
    book.replace({5: 4}, {}, 5, 0)
    assert book.top() == (5, 4, 0, 0)
    book.apply({}, {6: 1})
    assert book.top() == (5, 4, 6, 1)
