"""``tickwire bench``: the wire-to-output benchmark of the source checkout, from the command line.

``--ablation`` runs one loopback Binance feed (``benchmarks/w2o_server.py``) through the roadmap's
steps, each client adding one step to the one before: the naive client, then no hot-path logging,
typed structs, fixed-point prices, a direct call instead of the queue hop (with queue sizes
10,000 and unbounded as side rows), CPU pinning, and finally the real ``tickwire run``
(zero-copy decode, pre-allocated output buffers, uvloop and picows). It prints each step's
latency percentiles and maximum throughput, the change against the step before, and what the
roadmap expected; it also times the decode of step 1 and step 2 alone (parse time).

``--peers`` runs tickwire, the raw picows floor, the naive client and cryptofeed side by side.

Both drive ``benchmarks/wire_to_output.py`` (see docs/BENCHMARKS.md for the method), so they need
the source checkout's ``benchmarks/`` directory: found next to the ``src/`` the package runs from,
or given with ``--benchmarks-dir``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tickwire.plots import PlotUnavailableError, curve_from_percentiles, curve_from_samples, write_percentile_plot

__all__ = [
    "ABLATION",
    "AblationStep",
    "BenchError",
    "ablation_rows",
    "ablation_table",
    "add_arguments",
    "find_benchmarks_dir",
    "run_bench",
    "write_plot",
]

PEERS = "tickwire,tickwire-busy-conflate,floor,naive,cryptofeed"
HARNESS = "wire_to_output.py"
STEP_CLIENT = "w2o_step_client.py"
FULL = {"repeats": 3, "rate": 1000.0, "paced_count": 10_000, "maxrate_count": 100_000}
QUICK = {"repeats": 1, "rate": 1000.0, "paced_count": 1_500, "maxrate_count": 10_000}
MAX_WARMUP = 1_000


class BenchError(RuntimeError):
    """The benchmark could not run or its results could not be read; the message says why."""


@dataclass(frozen=True)
class AblationStep:
    """One row: ``client`` is the harness's client name, ``name`` and ``detail`` say what the step
    is; the changes are taken against the client ``versus`` (the step before; for a side row, the
    row it varies). ``claim`` is the roadmap's expected gain as (metric, lowest %, highest %) when
    it gave numbers, ``expected`` says it in words. A ``pinned`` client is started on one CPU,
    the others on every CPU."""

    label: str
    client: str
    name: str
    detail: str
    versus: str | None
    expected: str
    claim: tuple[str, float, float] | None = None
    pinned: bool = False


ABLATION = (
    AblationStep("0", "naive", "naive", "dicts, info log per message, float, Queue(100)", None, ""),
    AblationStep("1", "step1", "no hot-path logging", "", "naive", "−50–90% latency", ("p50", 50, 90)),
    AblationStep("2", "step2", "typed structs", "msgspec Structs", "step1", "−20–40% parse time",
                 ("parse", 20, 40)),
    AblationStep("3", "step3", "fixed-point prices", "", "step2", "– (exact prices)"),
    AblationStep("3·q10k", "step3-queue10k", "Queue(10,000)", "side row", "step3", "less back-pressure delay"),
    AblationStep("3·q∞", "step3-unbounded", "unbounded queue", "side row", "step3", "less back-pressure delay"),
    AblationStep("4", "step4", "direct call", "no queue hop", "step3", "less back-pressure delay"),
    AblationStep("5", "step5", "CPU pinning", "sched_setaffinity", "step4", "−10–30% p99", ("p99", 10, 30),
                 pinned=True),
    AblationStep("6", "tickwire", "tickwire run", "zero-copy, pre-allocated buffers, uvloop + picows", "step5",
                 "–", pinned=True),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``tickwire bench``."""
    add = parser.add_argument
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--ablation", action="store_true", help="the roadmap's steps one at a time")
    which.add_argument("--peers", action="store_true", help=f"peers side by side ({PEERS})")
    add("--quick", action="store_true",
        help="smoke run: {repeats} repeat, {paced_count:,} paced messages, {maxrate_count:,} at max rate".format(**QUICK))
    add("--repeats", type=int, metavar="N", help=f"repeats of every client (default {FULL['repeats']})")
    add("--rate", type=float, metavar="MSG/S", help=f"paced rate (default {FULL['rate']:g})")
    add("--paced-count", type=int, metavar="N",
        help=f"paced messages per run, the first tenth (at most {MAX_WARMUP:,}) discarded "
        f"(default {FULL['paced_count']:,})")
    add("--maxrate-count", type=int, metavar="N",
        help=f"messages per max-rate run (default {FULL['maxrate_count']:,})")
    add("--clients", default=PEERS, help="with --peers: the clients (default %(default)s)")
    add("--json", metavar="PATH", help="write the results as JSON")
    add("--plot", metavar="PATH", help="write the latency percentile plot (PNG, needs matplotlib)")
    add("--benchmarks-dir", metavar="DIR", help="the checkout's benchmarks/ (default: found from the package)")


def find_benchmarks_dir(given: str | None) -> Path:
    """The directory holding the wire-to-output harness: ``given``, or ``benchmarks/`` of the
    source checkout this package runs from. Raises ValueError when it is not there."""
    directory = Path(given) if given else Path(__file__).resolve().parents[2] / "benchmarks"
    if not (directory / HARNESS).is_file() or not (directory / STEP_CLIENT).is_file():
        where = f"--benchmarks-dir {given}" if given else f"{directory} (next to the package's src/)"
        raise ValueError(
            f"no {HARNESS} and {STEP_CLIENT} in {where}: tickwire bench runs from a source checkout; "
            "give its benchmarks/ directory with --benchmarks-dir"
        )
    return directory


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    base = QUICK if args.quick else FULL
    chosen = {name: getattr(args, name) for name in base if getattr(args, name) is not None}
    settings = {**base, **chosen}
    for name, lowest in (("repeats", 1), ("rate", 1), ("paced_count", 10), ("maxrate_count", 2)):
        if not settings[name] >= lowest:
            raise ValueError(f"--{name.replace('_', '-')} must be at least {lowest}, got {settings[name]:g}")
    settings["warmup"] = min(MAX_WARMUP, settings["paced_count"] // 10)
    return settings


def _harness_command(benchmarks: Path, args: argparse.Namespace, clients: Sequence[str]) -> list[str]:
    settings = _settings(args)
    command = [
        sys.executable, str(benchmarks / HARNESS), "--clients", ",".join(clients),
        "--repeats", str(settings["repeats"]), "--rate", f"{settings['rate']:g}",
        "--paced-count", str(settings["paced_count"]), "--warmup", str(settings["warmup"]),
        "--maxrate-count", str(settings["maxrate_count"]), "--max-total", "3600",
    ]  # fmt: skip
    if args.quick:
        command += ["--quiet-below", "0"]
    return command


def _run_harness(command: list[str], show_table: bool) -> int:
    """Run the harness, its progress going to stderr (its own table to stdout if ``show_table``);
    returns its exit status."""
    print("# " + " ".join(command), file=sys.stderr)
    stdout = None if show_table else subprocess.DEVNULL
    return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=stdout).returncode


def run_bench(args: argparse.Namespace) -> int:
    """``tickwire bench``; returns the exit status."""
    benchmarks = find_benchmarks_dir(args.benchmarks_dir)
    if args.peers:
        clients = [client for client in args.clients.split(",") if client]
        command = _harness_command(benchmarks, args, clients)
        command += ["--json", args.json] if args.json else []
        command += ["--plot", args.plot] if args.plot else []
        return _run_harness(command, show_table=True)
    return _run_ablation(benchmarks, args)


def _run_ablation(benchmarks: Path, args: argparse.Namespace) -> int:
    unpinned = [step.client for step in ABLATION if not step.pinned]
    with tempfile.TemporaryDirectory(prefix="tickwire-bench-") as scratch:
        raw_path = Path(scratch) / "ablation.json"
        command = _harness_command(benchmarks, args, [step.client for step in ABLATION])
        command += ["--unpinned", ",".join(unpinned), "--harness-cpu", "1", "--json", str(raw_path)]
        status = _run_harness(command, show_table=False)
        if status:
            raise BenchError(f"{HARNESS} exited with status {status}")
        try:
            document = json.loads(raw_path.read_text())
        except (OSError, ValueError) as exc:
            raise BenchError(f"no readable results from {HARNESS}: {exc}") from None
    if document["environment"].get("aborted"):
        print(f"# note: {HARNESS} stopped early, some runs are missing", file=sys.stderr)
    parse_ns = time_decode(benchmarks)
    rows = ablation_rows(document["summary"], parse_ns)
    print(ablation_table(rows))
    print()
    print(parse_time_line(parse_ns))
    loads = [run.get("foreign_load_cores", 0.0) for modes in document["runs"].values()
             for runs in modes.values() for run in runs]  # fmt: skip
    if loads:
        print(f"other processes' CPU load during the runs (cores, of {os.cpu_count()}): "
              f"median {statistics.median(loads):.2f}, max {max(loads):.2f}")
    if args.plot:
        write_plot(document["runs"], document["args"], args.plot)
    if args.json:
        _write_json(args.json, document, rows, parse_ns)
    return 0


def time_decode(benchmarks: Path) -> dict[str, float]:
    """ns per frame of the decode of step 1 (json.loads into dicts) and step 2 (msgspec Structs),
    timed by the step client on the sender's frames."""
    command = [sys.executable, str(benchmarks / STEP_CLIENT), "--time-decode"]
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    try:
        return {name: float(value) for name, value in json.loads(done.stdout).items()}
    except (ValueError, AttributeError):
        raise BenchError(f"{STEP_CLIENT} --time-decode failed: {done.stderr.strip()[-300:]}") from None


def _change(new: float, old: float) -> float:
    """Signed % change from ``old`` to ``new`` (NaN when either is missing)."""
    if not old or math.isnan(old) or math.isnan(new):
        return math.nan
    return (new - old) / old * 100


def _verdict(claim: tuple[str, float, float] | None, changes: dict[str, float]) -> str:
    if claim is None:
        return ""
    metric, lowest, highest = claim
    reduction = -changes.get(metric, math.nan)
    if math.isnan(reduction):
        return "not measured"
    if reduction <= 0:
        return f"not reproduced ({metric})"
    if reduction < lowest:
        return f"smaller than expected ({metric})"
    if reduction <= highest:
        return f"in range ({metric})"
    return f"beyond the range ({metric})"


def ablation_rows(summary: dict[str, dict[str, Any]], parse_ns: dict[str, float]) -> list[dict[str, Any]]:
    """One row per ablation step: its statistics (median over repeats), the % changes against
    the row it is compared with, and the verdict on the roadmap's claim (noting lines the client lost)."""
    rows = []
    for step in ABLATION:
        stats = summary.get(step.client, {})
        before = summary.get(step.versus, {}) if step.versus else {}
        row = {
            "step": step.label,
            "client": step.client,
            "what": f"{step.name} ({step.detail})" if step.detail else step.name,
            "p50_us": stats.get("p50_us", math.nan),
            "p99_us": stats.get("p99_us", math.nan),
            "p999_us": stats.get("p999_us", math.nan),
            "throughput": stats.get("throughput", math.nan),
            "cpu_us_per_msg": stats.get("cpu_us_per_line", math.nan),
            "versus": step.versus,
            "expected": step.expected,
        }
        changes = {
            "p50": _change(row["p50_us"], before.get("p50_us", math.nan)),
            "p99": _change(row["p99_us"], before.get("p99_us", math.nan)),
            "throughput": _change(row["throughput"], before.get("throughput", math.nan)),
            "cpu": _change(row["cpu_us_per_msg"], before.get("cpu_us_per_line", math.nan)),
        }
        if step.claim and step.claim[0] == "parse":
            changes["parse"] = _change(parse_ns["msgspec_struct"], parse_ns["dict_json_loads"])
        row["change_pct"] = changes
        row["verdict"] = _verdict(step.claim, changes)
        lost = sum(stats.get("missing_paced", [])) + sum(stats.get("missing_maxrate", []))
        row["lines_missing"] = lost
        if lost:
            changes["throughput"] = math.nan
            row["verdict"] = "; ".join(filter(None, (row["verdict"], f"{lost:,} lines missing: its msg/s is not comparable")))
        rows.append(row)
    return rows


def _number(value: float, digits: int = 1) -> str:
    return "–" if math.isnan(value) else f"{value:,.{digits}f}"


def _percent(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:+.0f}%".replace("-", "−")


def ablation_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| step | what | p50 µs | p99 µs | p99.9 µs | max msg/s | CPU µs/msg | Δ p50 | Δ p99 | Δ msg/s | Δ CPU/msg "
        "| roadmap expects | measured |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        changes = row["change_pct"]
        expected = row["expected"]
        throughput = _number(row["throughput"], 0)
        if row["lines_missing"]:
            throughput = f"({throughput})"
        if "parse" in changes:
            expected += f" (parse time {_percent(changes['parse'])})"
        lines.append(
            f"| {row['step']} | {row['what']} | {_number(row['p50_us'])} | {_number(row['p99_us'])} | "
            f"{_number(row['p999_us'])} | {throughput} | {_number(row['cpu_us_per_msg'])} | "
            f"{_percent(changes['p50'])} | {_percent(changes['p99'])} | {_percent(changes['throughput'])} | "
            f"{_percent(changes['cpu'])} | {expected} | {row['verdict']} |"
        )
    return "\n".join(lines)


def parse_time_line(parse_ns: dict[str, float]) -> str:
    """One sentence on the parse time of step 1 against step 2."""
    before, after = parse_ns["dict_json_loads"], parse_ns["msgspec_struct"]
    return (f"parse time per frame (decode + field reads + float, the sender's frames): json.loads "
            f"into dicts {before:,.0f} ns, msgspec Structs {after:,.0f} ns ({_percent(_change(after, before))}; "
            f"the roadmap expects −20–40%)")


def write_plot(runs: dict[str, Any], settings: dict[str, Any], path: str) -> None:
    """Each step's median repeat (by p50) on one percentile plot: drawn from its raw samples when
    the run kept them, else through its p50, p90, p99, p99.9 and maximum. ``runs`` and
    ``settings`` are the harness's ``runs`` and ``args``."""
    curves = []
    for step in ABLATION:
        paced = sorted(runs.get(step.client, {}).get("paced", []), key=lambda run: run["p50_us"])
        if not paced:
            continue
        run = paced[len(paced) // 2]
        label = f"{step.label} {step.name}"
        if run.get("latencies_ns"):
            curves.append(curve_from_samples(label, run["latencies_ns"]))
        else:
            points = {0.5: run["p50_us"], 0.9: run["p90_us"], 0.99: run["p99_us"], 0.999: run["p999_us"],
                      1 - 1 / run["measured"]: run["max_us"]}  # fmt: skip
            curves.append(curve_from_percentiles(label, points))
    title = (f"roadmap ablation: wire→output latency, median of {settings['repeats']} runs of "
             f"{settings['paced_count'] - settings['warmup']:,} msgs @ {settings['rate']:g}/s")
    try:
        write_percentile_plot(curves, path, title=title, ylabel="wire-to-output latency, µs (log)")
    except (PlotUnavailableError, ValueError) as exc:
        print(f"no plot: {exc}", file=sys.stderr)
        return
    print(f"# plot: {path}", file=sys.stderr)


def _write_json(path: str, document: dict[str, Any], rows: list[dict[str, Any]], parse_ns: dict[str, float]) -> None:
    for modes in document["runs"].values():
        for runs in modes.values():
            for run in runs:
                run.pop("latencies_ns", None)
    output = {"environment": document["environment"], "harness_args": document["args"], "ablation": rows,
              "parse_time_ns": parse_ns, "summary": document["summary"], "runs": document["runs"]}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(output, indent=1, default=str))
    print(f"# json: {path}", file=sys.stderr)
