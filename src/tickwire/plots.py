"""Latency percentile plots in the HdrHistogram style, for benchmarks and ``tickwire bench``.

The x axis counts nines: a point at percentile p sits at 1 / (1 - p) on a log scale, so 50%, 90%,
99%, 99.9% and 99.99% are evenly spaced and the tail gets as much room as the median. The y axis
(latency) is logarithmic too. Each curve is a run; curves of one ``group`` share a colour, and a
curve that is not ``emphasised`` (a repeat, a reference) is drawn thinner.

matplotlib is optional (``pip install 'tickwire[plot]'``); only ``write_percentile_plot`` needs it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PercentileCurve",
    "PlotUnavailableError",
    "curve_from_percentiles",
    "curve_from_samples",
    "write_percentile_plot",
]

LOWEST_PERCENTILE = 0.5
_NINES_TICKS = (0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999)
_POINTS_PER_DECADE = 100


class PlotUnavailableError(RuntimeError):
    """matplotlib is not installed; the message says how to install it."""


@dataclass(frozen=True)
class PercentileCurve:
    """One run's latency by percentile: ``points`` are (percentile in [0.5, 1), microseconds),
    by rising percentile. A curve without a label stays out of the legend."""

    label: str
    points: tuple[tuple[float, float], ...]
    group: str = ""
    emphasised: bool = True
    markers: bool = False


def curve_from_samples(
    label: str,
    samples_ns: Sequence[int],
    *,
    group: str = "",
    emphasised: bool = True,
) -> PercentileCurve:
    """The nearest-rank percentile curve of raw latency samples (ns, any order) from p50, ending
    with the maximum at the highest percentile n samples resolve, 1 - 1/n."""
    ordered = sorted(samples_ns)
    count = len(ordered)
    points: list[tuple[float, float]] = []
    if count >= 2:
        lowest = 1 / (1 - LOWEST_PERCENTILE)
        first = math.floor(math.log10(lowest) * _POINTS_PER_DECADE) + 1
        last = math.ceil(math.log10(count) * _POINTS_PER_DECADE) - 1
        grid = [10 ** (step / _POINTS_PER_DECADE) for step in range(first, last + 1)]
        for nines in (lowest, *grid):
            percentile = 1 - 1 / nines
            rank = max(1, math.ceil(percentile * count - 1e-9))
            points.append((percentile, ordered[rank - 1] / 1000))
        points.append((1 - 1 / count, ordered[-1] / 1000))
    return PercentileCurve(label, tuple(points), group or label, emphasised)


def curve_from_percentiles(
    label: str,
    latency_us_by_percentile: Mapping[float, float],
    *,
    group: str = "",
    emphasised: bool = True,
) -> PercentileCurve:
    """A curve through a few known percentiles (e.g. p50, p90, p99, p99.9 of a summary), drawn
    with markers at the known points. Percentiles below p50 and NaN values are left out."""
    points = tuple(
        (percentile, value)
        for percentile, value in sorted(latency_us_by_percentile.items())
        if LOWEST_PERCENTILE <= percentile < 1 and not math.isnan(value)
    )
    return PercentileCurve(label, points, group or label, emphasised, markers=True)


def _nines_label(percentile: float) -> str:
    return f"{percentile * 100:.{max(0, round(-math.log10(1 - percentile)) - 2)}f}%"


def write_percentile_plot(
    curves: Sequence[PercentileCurve],
    path: str | Path,
    *,
    title: str,
    ylabel: str = "latency, µs (log)",
) -> None:
    """Draw ``curves`` on one nines axis and write the PNG to ``path`` (folders are made).

    Raises PlotUnavailableError when matplotlib is missing, ValueError when no curve has points.
    """
    drawn = [curve for curve in curves if curve.points]
    if not drawn:
        raise ValueError("no latency data to plot")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
    except ImportError:
        raise PlotUnavailableError(
            "plots need matplotlib: pip install 'tickwire[plot]' (or pip install matplotlib)"
        ) from None
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour_of: dict[str, str] = {}
    figure, axes = plt.subplots(figsize=(8, 5))
    for curve in drawn:
        colour = colour_of.setdefault(curve.group, colours[len(colour_of) % len(colours)])
        axes.plot(
            [1 / (1 - percentile) for percentile, _ in curve.points],
            [value for _, value in curve.points],
            color=colour,
            linewidth=1.6 if curve.emphasised else 0.9,
            alpha=0.9 if curve.emphasised else 0.5,
            marker="o" if curve.markers else None,
            markersize=3.5,
            label=curve.label or "_nolegend_",
        )
    highest = max(percentile for curve in drawn for percentile, _ in curve.points)
    ticks = [p for p in _NINES_TICKS if p <= max(highest, 0.9999) + 1e-12]
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xticks([1 / (1 - p) for p in ticks])
    axes.set_xticklabels([_nines_label(p) for p in ticks])
    axes.xaxis.set_minor_locator(NullLocator())
    axes.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.6g}"))
    axes.yaxis.set_minor_locator(NullLocator())
    axes.set_xlim(1 / (1 - LOWEST_PERCENTILE), max(1 / (1 - highest), 1 / (1 - ticks[-1])))
    axes.set_xlabel("percentile")
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
