"""HDR-style percentile curves and the PNG they are drawn into."""

from __future__ import annotations

import builtins
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.plots import (
    PlotUnavailableError,
    curve_from_percentiles,
    curve_from_samples,
    write_percentile_plot,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_a_sample_curve_runs_from_the_median_to_the_maximum_by_nearest_rank():
    samples_ns = [value * 1000 for value in range(1000, 0, -1)]  # 1..1000 µs, any order

    curve = curve_from_samples("run", samples_ns)

    assert curve.points[0] == (0.5, 500.0)
    assert curve.points[-1] == pytest.approx((0.999, 1000.0))
    at = {round(percentile, 6): value for percentile, value in curve.points}
    assert at[0.9] == 900.0
    assert at[0.99] == 990.0


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=2, max_size=300))
def test_sample_curves_rise_and_every_point_is_a_sample(samples_ns):
    curve = curve_from_samples("run", samples_ns)

    percentiles = [p for p, _ in curve.points]
    latencies = [value for _, value in curve.points]
    assert percentiles == sorted(percentiles) and 0.5 <= percentiles[0]
    assert percentiles[-1] == pytest.approx(1 - 1 / len(samples_ns))
    assert latencies == sorted(latencies)
    assert set(latencies) <= {value / 1000 for value in samples_ns}
    assert latencies[-1] == max(samples_ns) / 1000


def test_known_percentiles_make_a_marked_curve_without_the_ones_it_cannot_show():
    curve = curve_from_percentiles("summary", {0.999: 2000.0, 0.5: 130.0, 0.25: 90.0, 0.99: math.nan, 0.9: 190.0})

    assert curve.points == ((0.5, 130.0), (0.9, 190.0), (0.999, 2000.0))
    assert curve.markers and curve.group == "summary"


def test_the_plot_is_a_png_with_every_curve(tmp_path):
    pytest.importorskip("matplotlib")
    curves = [
        curve_from_samples("tickwire", [100_000 + i * 37 for i in range(5000)], group="tickwire"),
        curve_from_samples("", [90_000 + i * 41 for i in range(5000)], group="tickwire", emphasised=False),
        curve_from_percentiles("floor", {0.5: 80.0, 0.9: 95.0, 0.99: 140.0, 0.999: 900.0}),
    ]
    path = tmp_path / "plots" / "latency.png"

    write_percentile_plot(curves, path, title="wire-to-output")

    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_nothing_to_plot_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no latency data"):
        write_percentile_plot([curve_from_samples("empty", [])], tmp_path / "x.png", title="t")


def test_without_matplotlib_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def without_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_matplotlib)
    with pytest.raises(PlotUnavailableError, match=r"pip install 'tickwire\[plot\]'"):
        write_percentile_plot([curve_from_percentiles("a", {0.5: 1.0})], tmp_path / "x.png", title="t")
    assert not (tmp_path / "x.png").exists()
