"""The arithmetic of the steady-state memory benchmark (benchmarks/bench_memory.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_memory  # noqa: E402

SAMPLES = [
    {"t_s": 0.0, "rss_kib": 1000, "frames": 0, "client_cpu_s": 1.0, "feed_cpu_s": 0.5},
    {"t_s": 10.0, "rss_kib": 1010, "frames": 200_000, "client_cpu_s": 6.0, "feed_cpu_s": 2.0},
    {"t_s": 20.0, "rss_kib": 1020, "frames": 350_000, "client_cpu_s": 11.0, "feed_cpu_s": 3.5},
]


def test_rates_per_window_and_overall() -> None:
    assert bench_memory.window_rates(SAMPLES) == [20_000.0, 15_000.0]
    assert bench_memory.frame_rate(SAMPLES) == 17_500.0


def test_cpu_share_is_cores_used_between_first_and_last_sample() -> None:
    assert bench_memory.cpu_share(SAMPLES, "client_cpu_s") == 0.5
    assert bench_memory.cpu_share(SAMPLES, "feed_cpu_s") == 0.15


def test_slope_is_per_minute_and_zero_when_flat() -> None:
    assert bench_memory.slope_kib_per_minute(SAMPLES) == pytest.approx(60.0)
    flat = [dict(sample, rss_kib=1000) for sample in SAMPLES]
    assert bench_memory.slope_kib_per_minute(flat) == 0.0
