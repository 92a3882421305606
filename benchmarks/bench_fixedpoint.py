#!/usr/bin/env python3
"""Micro-benchmark of tickwire.fixedpoint against the usual (inexact) one-liners.

Method (same as PERF_FACTS.md §2): ``timeit`` with statement strings (no lambda overhead), names
bound as locals through the setup string, loop count chosen so one repeat takes ~0.15 s, 7 repeats
by default, and the per-call value is the median of the repeats. GC stays enabled. The timeit loop
itself costs roughly 8-10 ns per iteration and is *not* subtracted.

    PYTHONPATH=src python benchmarks/bench_fixedpoint.py [--repeat 7] [--target 0.15]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import timeit
from pathlib import Path

try:
    import tickwire.fixedpoint  # noqa: F401
except ImportError:  # run from a checkout without installing: fall back to ./src
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SCALE = 8
INPUTS = ("67012.41000000", "0.0025")

_IMPORTS = (
    "from tickwire.fixedpoint import parse_scaled, format_scaled, PriceCache\n"
    "from decimal import Decimal\n"
)

# (method, input shown, statement, setup after imports, note); ``s`` is text, ``v`` its value.
CASES: list[tuple[str, str, str, str, str]] = []
for _text in INPUTS:
    _value = int(_text.replace(".", "").ljust(len(_text.split(".")[0]) + SCALE, "0"))
    CASES += [
        ("parse_scaled(s, 8)", repr(_text), "parse_scaled(s, 8)", f"s = {_text!r}", "exact, strict"),
        (
            "PriceCache.parse(s) hit",
            repr(_text),
            "cache.parse(s)",
            f"s = {_text!r}\ncache = PriceCache(8)\ncache.parse(s)",
            "exact, strict (memo hit)",
        ),
        ("format_scaled(v, 8)", str(_value), "format_scaled(v, 8)", f"v = {_value}", "exact"),
        (
            "int(Decimal(s)*10**8)",
            repr(_text),
            "int(Decimal(s)*10**8)",
            f"s = {_text!r}",
            "INEXACT BASELINE (truncates sub-unit, accepts junk)",
        ),
        (
            "round(float(s)*1e8)",
            repr(_text),
            "round(float(s)*1e8)",
            f"s = {_text!r}",
            "INEXACT BASELINE (float, loses digits > 2**53)",
        ),
    ]


def time_case(stmt: str, setup: str, repeat: int, target: float) -> tuple[float, float, int]:
    """Return (median ns/call, min ns/call, loops per repeat)."""
    timer = timeit.Timer(stmt, setup=_IMPORTS + setup)
    loops = 1
    while True:  # calibrate: grow until a run is long enough to extrapolate reliably
        elapsed = timer.timeit(loops)
        if elapsed >= target / 10:
            break
        loops *= 10
    loops = max(1, int(loops * target / elapsed))
    per_call = [t / loops * 1e9 for t in timer.repeat(repeat=repeat, number=loops)]
    return statistics.median(per_call), min(per_call), loops


def check_results() -> None:
    """Sanity before timing: the exact paths agree, and the format inputs are the parsed values."""
    from tickwire.fixedpoint import PriceCache, format_scaled, parse_scaled

    cache = PriceCache(SCALE)
    values = {parse_scaled(text, SCALE) for text in INPUTS}
    for text in INPUTS:
        value = parse_scaled(text, SCALE)
        assert cache.parse(text) == value == cache.parse(text)
        assert parse_scaled(format_scaled(value, SCALE), SCALE) == value
    for label, shown, *_ in CASES:
        if label.startswith("format_scaled"):
            assert int(shown) in values, shown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed repeats per case (default 7)")
    parser.add_argument(
        "--target", type=float, default=0.15, help="seconds per repeat (default 0.15)"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.target <= 0:
        parser.error("--repeat must be >= 1 and --target > 0")

    check_results()
    print(f"# tickwire.fixedpoint micro-benchmark (scale {SCALE})")
    print()
    print(f"- python: {platform.python_version()} ({platform.python_implementation()})")
    print(f"- build: {sys.version.splitlines()[0]}")
    print(f"- executable: {sys.executable}")
    print(f"- platform: {platform.platform()} / {platform.machine()}")
    print(
        f"- method: timeit statement strings, ~{args.target} s per repeat, "
        f"{args.repeat} repeats, median (timeit loop overhead ~8-10 ns not subtracted)"
    )
    print()
    print("| method | input | median ns | min ns | loops | note |")
    print("|---|---|---:|---:|---:|---|")
    for label, shown, stmt, setup, note in CASES:
        median_ns, min_ns, loops = time_case(stmt, setup, args.repeat, args.target)
        print(
            f"| {label} | {shown} | {median_ns:.0f} | {min_ns:.0f} | {loops} | {note} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
