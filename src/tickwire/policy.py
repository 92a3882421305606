"""Reconnect policy, pure: delays come from a generator, randomness is injected."""

from __future__ import annotations

import random
from typing import Iterator

import msgspec

__all__ = ["Backoff", "backoff_delays"]


class Backoff(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Exponential backoff with full jitter, capped; it never gives up."""

    initial: float = 0.1
    factor: float = 2.0
    cap: float = 30.0
    stable_after: float = 10.0

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        if not 0 < self.initial <= self.cap:
            raise ValueError(f"backoff: need 0 < initial ({self.initial}) <= cap ({self.cap})")
        if self.factor < 1:
            raise ValueError(f"backoff: factor {self.factor} must be >= 1")
        if self.stable_after < 0:
            raise ValueError(f"backoff: stable_after {self.stable_after} must be >= 0")


def backoff_delays(policy: Backoff, rng: random.Random) -> Iterator[float]:
    """Endless reconnect delays in seconds: the n-th lies in [ceiling/2, ceiling], where the
    ceiling is ``initial * factor**n`` capped at ``cap``. Half jitter keeps clients that lost the
    same server apart without ever retrying at once in a tight loop.
    """
    ceiling = policy.initial
    while True:
        yield ceiling / 2 + rng.random() * ceiling / 2
        ceiling = min(ceiling * policy.factor, policy.cap)
