"""Reconnect delays: exponential, jittered, capped, never zero, never ending."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.policy import Backoff, backoff_delays


@given(
    st.floats(0.01, 5), st.floats(1, 4), st.floats(5, 120), st.integers(0, 2**32)
)
def test_each_delay_lies_between_half_and_all_of_its_capped_exponential_ceiling(initial, factor, cap, seed):
    policy = Backoff(initial=initial, factor=factor, cap=cap)
    delays = list(itertools.islice(backoff_delays(policy, random.Random(seed)), 40))
    for n, delay in enumerate(delays):
        ceiling = min(initial * factor**n, cap)
        assert ceiling / 2 <= delay <= ceiling
        assert delay > 0


def test_delays_grow_then_stay_at_the_cap_forever():
    delays = list(itertools.islice(backoff_delays(Backoff(initial=1, factor=2, cap=8), random.Random(1)), 1000))
    assert delays[0] <= 1 and 4 <= delays[4] <= 8
    assert all(4 <= d <= 8 for d in delays[3:])


def test_two_clients_with_different_randomness_do_not_retry_in_lockstep():
    policy = Backoff(initial=1, factor=2, cap=30)
    first = list(itertools.islice(backoff_delays(policy, random.Random(1)), 10))
    second = list(itertools.islice(backoff_delays(policy, random.Random(2)), 10))
    assert first != second


@pytest.mark.parametrize(
    "policy", [Backoff(initial=0), Backoff(initial=5, cap=1), Backoff(factor=0.5), Backoff(stable_after=-1)]
)
def test_settings_that_cannot_work_are_refused(policy):
    with pytest.raises(ValueError):
        policy.validate()
