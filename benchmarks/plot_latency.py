#!/usr/bin/env python3
"""HDR-style latency percentile plots of ``wire_to_output.py`` results, comparing runs.

    .venv/bin/python benchmarks/plot_latency.py RESULTS.json[=LABEL] ... -o PLOT.png
        [--clients tickwire,floor] [--title TEXT]

Each results file gives one curve per client: the median over its repeats of p50, p90, p99,
p99.9 and the maximum (plotted at 1 - 1/n for n measured messages). ``wire_to_output.py --plot``
draws every repeat instead, from the raw samples when it has them (see ``repeat_curves``).
Needs matplotlib (``pip install 'tickwire[plot]'``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tickwire.plots import (
    PercentileCurve,
    PlotUnavailableError,
    curve_from_percentiles,
    curve_from_samples,
    write_percentile_plot,
)

PERCENTILE_KEYS = {0.5: "p50_us", 0.9: "p90_us", 0.99: "p99_us", 0.999: "p999_us"}


def _percentile_points(statistics: Mapping[str, Any], measured: int) -> dict[float, float]:
    points = {p: statistics[key] for p, key in PERCENTILE_KEYS.items() if key in statistics}
    if measured > 1 and "max_us" in statistics:
        points[1 - 1 / measured] = statistics["max_us"]
    return points


def repeat_curves(runs: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]) -> list[PercentileCurve]:
    """One curve per paced repeat of every client (``runs`` as ``wire_to_output.py`` keeps them):
    repeat 1 bold and labelled with the client, later repeats thin; raw samples where the run
    kept them, else its percentiles."""
    curves = []
    for client, modes in runs.items():
        for repeat, run in enumerate(modes.get("paced", [])):
            label = client if repeat == 0 else ""
            emphasised = repeat == 0
            samples = run.get("latencies_ns")
            if samples:
                curve = curve_from_samples(label, samples, group=client, emphasised=emphasised)
            else:
                points = _percentile_points(run, run.get("measured", 0))
                curve = curve_from_percentiles(label, points, group=client, emphasised=emphasised)
            curves.append(curve)
    return curves


def median_curves(document: Mapping[str, Any], name: str, clients: Sequence[str]) -> list[PercentileCurve]:
    """The median-over-repeats curve of each of ``clients`` in one results document; the first
    client listed is drawn bold, the others thin, all in the colour of ``name``."""
    curves = []
    for position, client in enumerate(clients):
        statistics = document.get("summary", {}).get(client)
        if statistics is None:
            continue
        paced = document.get("runs", {}).get(client, {}).get("paced", [])
        measured = min((run.get("measured", 0) for run in paced), default=0)
        curves.append(
            curve_from_percentiles(
                f"{name}: {client}",
                _percentile_points(statistics, measured),
                group=name,
                emphasised=position == 0,
            )
        )
    return curves


def _named_file(text: str) -> tuple[Path, str]:
    path, _, label = text.partition("=")
    return Path(path), label or Path(path).stem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=_named_file, metavar="RESULTS.json[=LABEL]")
    parser.add_argument("-o", "--output", required=True, metavar="PLOT.png")
    parser.add_argument("--clients", default="tickwire,floor", help="comma-separated (default %(default)s)")
    parser.add_argument("--title", default="wire-to-output latency, median over repeats")
    args = parser.parse_args(argv)
    clients = [client for client in args.clients.split(",") if client]
    curves: list[PercentileCurve] = []
    for path, label in args.results:
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            parser.exit(2, f"plot_latency: cannot read {path}: {exc}\n")
        curves += median_curves(document, label, clients)
    try:
        write_percentile_plot(curves, args.output, title=args.title, ylabel="wire-to-output latency, µs (log)")
    except (PlotUnavailableError, ValueError) as exc:
        parser.exit(2, f"plot_latency: {exc}\n")
    print(f"plot: {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
