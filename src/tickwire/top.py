"""``tickwire top``: a live view of a running tickwire (``tickwire run --metrics``).

Reads the instance's ``/debug/status`` every ``--interval`` seconds and shows, per venue, the
rates and latency percentiles of the last interval, the connection state, errors and
reconnects, the event-loop lag, and the asyncio tasks with what each one waits on. ``--once``
takes two readings ``--interval`` apart, prints them as plain text and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tickwire.metrics import LatencyHistogram, micros

__all__ = ["Reading", "fetch", "render", "run_top"]

EXIT_UNREACHABLE = 1
EXIT_USAGE = 2
_PERCENTILES = (0.5, 0.99, 0.999)


class Reading:
    """One ``/debug/status`` answer and when it was read."""

    def __init__(self, status: dict[str, Any], at: float) -> None:
        self.status = status
        self.at = at
        self.venues = {venue["name"]: venue for venue in status["venues"]}


def fetch(base_url: str, timeout: float = 5.0) -> Reading:
    """Read ``base_url``/debug/status, with the token in ``TICKWIRE_METRICS_TOKEN`` if set.
    Raises OSError (unreachable, or refused) or ValueError (not tickwire)."""
    token = os.environ.get("TICKWIRE_METRICS_TOKEN")
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/debug/status",
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        body = answer.read()
    at = time.monotonic()
    try:
        status = json.loads(body)
    except ValueError:
        status = None
    if not isinstance(status, dict) or "venues" not in status:
        raise ValueError(f"{base_url} does not answer like tickwire's metrics endpoint")
    return Reading(status, at)


def _histogram(stage: dict[str, Any] | None) -> LatencyHistogram:
    if not stage:
        return LatencyHistogram()
    return LatencyHistogram.from_sparse(
        {int(index): count for index, count in stage["buckets"].items()}, stage["negative"]
    )


def _rate(now: float, before: float, seconds: float) -> str:
    return f"{(now - before) / seconds:,.0f}"


def _windowed(current: dict[str, Any] | None, previous: dict[str, Any] | None) -> LatencyHistogram:
    return _histogram(current).since(_histogram(previous))


def render(current: Reading, previous: Reading, wide: bool) -> Group:
    """The view of what happened between ``previous`` and ``current``."""
    seconds = max(current.at - previous.at, 1e-9)
    status = current.status
    table_box = box.SIMPLE_HEAD if wide else box.ASCII2
    lag = _windowed(status["loop"]["lag"], previous.status["loop"]["lag"])
    lag_p50, lag_p99, _ = lag.percentiles(_PERCENTILES)
    header = Text(
        f"tickwire {status['version']} {_role(status)}pid {status['pid']}, up {status['uptime_s']:.0f} s; "
        f"{status['updates']:,} updates ({_rate(status['updates'], previous.status['updates'], seconds)}/s); "
        f"event-loop lag µs: last {micros(status['loop']['lag_last_ns'])}, "
        f"p50 {micros(lag_p50)}, p99 {micros(lag_p99)} (last {seconds:.1f} s)"
    )

    headline = status.get("headline_stage", "recv_to_published")  # counts updates (or events)
    venues = Table(title="venues", box=table_box, title_justify="left")
    for column in ("venue", "state", "frames/s", "KiB/s", "updates/s", "errors", "errors/s",
                   "reconnects", "left out", "last frame ms", "rx queue B", "last error"):
        venues.add_column(column, justify="left" if column in ("venue", "state", "last error") else "right")
    for name, venue in current.venues.items():
        before = previous.venues.get(name, venue)
        whole, whole_before = (v["stages"].get(headline) for v in (venue, before))
        age = venue["last_frame_age_ns"]
        queue = venue["receive_queue_bytes"]
        venues.add_row(
            name,
            venue["state"],
            _rate(venue["frames"], before["frames"], seconds),
            f"{(venue['bytes'] - before['bytes']) / 1024 / seconds:,.1f}",
            f"{_windowed(whole, whole_before).count / seconds:,.0f}" if whole else "-",
            f"{venue['errors']:,}",
            _rate(venue["errors"], before["errors"], seconds),
            f"{venue['reconnects']:,}",
            f"{venue['left_out']:,}",
            "-" if age is None else f"{age / 1e6:,.0f}",
            "-" if queue is None else f"{queue:,}",
            venue["last_error"][:60],
        )
    parts: list[Any] = [header, venues]

    if status["timed"]:
        stages = Table(
            title=f"latency by stage, µs (last {seconds:.1f} s)", box=table_box, title_justify="left"
        )
        for column in ("venue", "stage", "samples/s", "p50", "p99", "p99.9", "samples"):
            stages.add_column(column, justify="left" if column in ("venue", "stage") else "right")
        for name, venue in current.venues.items():
            before = previous.venues.get(name, venue)
            for stage in status["stages"]:
                total = _histogram(venue["stages"].get(stage))
                window = total.since(_histogram(before["stages"].get(stage)))
                if not total.count:
                    continue
                p50, p99, p999 = (micros(v) for v in window.percentiles(_PERCENTILES))
                stages.add_row(
                    name, stage, f"{window.count / seconds:,.0f}", p50, p99, p999, f"{total.count:,}"
                )
        parts.append(stages)
    else:
        parts.append(Text("stage timing is off in this instance"))

    tasks = Table(title="asyncio tasks", box=table_box, title_justify="left")
    for column in ("task", "state", "waiting in", "where"):
        tasks.add_column(column)
    for task in status["tasks"]:
        waiting_in = " > ".join([*task["stack"][-3:], *filter(None, [task["awaiting"]])])
        tasks.add_row(task["name"], task["state"], waiting_in, task["where"])
    parts.append(tasks)
    return Group(*parts)


def _role(status: dict[str, Any]) -> str:
    role = status.get("role", "all")
    return "" if role == "all" else f"{role} node, "


def _check_url(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return f"--url must be http://HOST:PORT, got {url!r}"
    return None


def run_top(args: argparse.Namespace) -> int:
    """``tickwire top``; returns the exit status."""
    problem = _check_url(args.url)
    if problem:
        print(f"tickwire top: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        previous = fetch(args.url)
        if args.once:
            time.sleep(args.interval)
            console = Console(width=200) if not sys.stdout.isatty() else Console()
            console.print(render(fetch(args.url), previous, console.is_terminal))
            return 0
        return _live(args, previous)
    except (OSError, ValueError) as exc:
        print(f"tickwire top: cannot read {args.url}: {_reason(exc)}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return 0


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return str(exc.reason)
    return str(exc)


def _live(args: argparse.Namespace, previous: Reading) -> int:
    """Redraw in place on a terminal; elsewhere print one view per interval."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
        while True:
            time.sleep(args.interval)
            current = fetch(args.url)
            console.print(render(current, previous, wide=False))
            previous = current
    with Live(Text("reading…"), console=console, refresh_per_second=4, screen=True) as live:
        while True:
            time.sleep(args.interval)
            try:
                current = fetch(args.url)
            except (OSError, ValueError) as exc:
                live.update(Text(f"cannot read {args.url}: {_reason(exc)} (retrying)"))
                continue
            live.update(render(current, previous, wide=True))
            previous = current
