#!/usr/bin/env python3
"""Cost of one ``Aggregator.on_quote`` with 1, 2, 8 and 32 venues, for each price method.

    python benchmarks/bench_aggregate.py [--venues 1,2,8,32] [--quotes 200000] [--repeat 7]

The venues quote one instrument around a common price; quotes arrive round-robin, each with a
new best bid/offer for its venue (a random walk of a few ticks), so the consolidated view
changes on most updates, as in a busy market. Every venue's mid stays within 0.2 % of the
others, so no outlier is left out and the default band check runs on every update. The quotes
are built before timing; a repeat times ``on_quote`` over all of them in a list comprehension
(~30 ns per quote, not subtracted) on the thread's CPU clock, so that time the shared machine
spends on other processes is not counted. Prints the median ns per quote over the repeats and
the share of updates published. Pinned to CPU 1 where the machine allows it.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

try:
    import tickwire.aggregate  # noqa: F401
except ImportError:  # run from a checkout without installing: fall back to ./src
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tickwire.aggregate import METHODS, Aggregator, PriceRules
from tickwire.instruments import parse_symbol
from tickwire.model import Quote

CENTRE = 67_000 * 10**8
TICK = 10**6  # 0.01
DISTINCT = 4096  # quotes per venue in the cycle


def make_quotes(venues: int, count: int, seed: int) -> list[Quote]:
    """``count`` quotes, round-robin over ``venues`` venues, each a small step of its venue's
    own random walk."""
    rng = random.Random(seed)
    names = [f"venue{i:02d}" for i in range(venues)]
    offsets = [rng.randrange(-500, 500) * TICK for _ in names]
    quotes = []
    for n in range(min(count, DISTINCT * venues)):
        i = n % venues
        offsets[i] = max(-5000 * TICK, min(5000 * TICK, offsets[i] + rng.choice((-2, -1, 1, 2)) * TICK))
        bid = CENTRE + offsets[i]
        spread = rng.randrange(1, 5) * TICK
        sizes = rng.randrange(1, 10**9), rng.randrange(1, 10**9)
        quotes.append(Quote(names[i], "BTC-USDT", bid, sizes[0], bid + spread, sizes[1], n + 1))
    return (quotes * (count // len(quotes) + 1))[:count]


def one_repeat(method: str, quotes: list[Quote]) -> tuple[float, float]:
    aggregator = Aggregator([parse_symbol("BTC-USDT")], lambda symbol: PriceRules(method=method))
    on_quote = aggregator.on_quote
    for quote in quotes[: len({q.venue for q in quotes})]:
        on_quote(quote)  # every venue known before timing
    started = time.thread_time_ns()
    published = [on_quote(quote) for quote in quotes]
    elapsed = time.thread_time_ns() - started
    return elapsed / len(quotes), sum(u is not None for u in published) / len(quotes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venues", default="1,2,8,32")
    parser.add_argument("--quotes", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    try:
        os.sched_setaffinity(0, {1})
    except (AttributeError, OSError):
        pass
    counts = [int(v) for v in args.venues.split(",")]
    print(f"python {platform.python_version()} ({sys.executable}), {args.quotes} quotes, "
          f"median of {args.repeat} repeats, ns per on_quote (share published)")
    print("| venues | " + " | ".join(METHODS) + " |")
    print("|---:|" + "---:|" * len(METHODS))
    for venues in counts:
        quotes = make_quotes(venues, args.quotes, seed=venues)
        cells = []
        for method in METHODS:
            runs = [one_repeat(method, quotes) for _ in range(args.repeat)]
            ns = statistics.median(r[0] for r in runs)
            cells.append(f"{ns:.0f} ({runs[0][1]:.0%})")
        print(f"| {venues} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
