"""``tickwire profile``: the real pipeline under a simulated load, sampled by py-spy.

The simulator runs as a child process (as in ``tickwire demo``) and ``tickwire run`` runs as
py-spy's own child, so py-spy needs no right beyond tracing its child. py-spy writes the
flamegraph SVG (or a speedscope JSON file); the frames with the most self time are then read back
from that file and printed.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import re
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

from tickwire.config import load_config
from tickwire.demo import start_simulator

__all__ = [
    "PY_SPY_MISSING",
    "ProfileError",
    "add_arguments",
    "find_py_spy",
    "format_top_frames",
    "run_profile",
    "self_samples",
]

PY_SPY_MISSING = (
    "py-spy is not installed: pip install 'tickwire[profile]' (or pip install py-spy)"
)
FORMATS = {"flamegraph": "flame.svg", "speedscope": "profile.speedscope.json"}
DEFAULT_VENUES = "binance,coinbase,kraken,okx"
DEFAULT_SYMBOLS = "BTC-USDT,ETH-USDT"
SYNTHETIC_RATE = 2000.0

_SVG = "{http://www.w3.org/2000/svg}"
_INFERNO = "{http://github.com/jonhoo/inferno}"
_TITLE_COUNTS = re.compile(r" \([\d,]+ samples?, [\d.]+%\)$")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
_PERMISSION_WORDS = ("permission", "not permitted", "ptrace")
_IMPORT_ROOTS = sorted({path.rstrip("/") + "/" for path in sys.path if path}, key=len, reverse=True)


class ProfileError(RuntimeError):
    """Profiling could not be done or its output could not be read; the message says why."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``tickwire profile``."""
    add = parser.add_argument
    add("--venues", default=DEFAULT_VENUES, help="simulated venues (default %(default)s)")
    add("--symbols", default=DEFAULT_SYMBOLS, help="symbols (default %(default)s)")
    add(
        "--rate", type=float, metavar="N",
        help=f"market steps per second per symbol, each venue sending one frame a step (default "
        f"{SYNTHETIC_RATE:g}); with --replay: frames per second (default: as fast as tickwire reads)",
    )
    add(
        "--replay", metavar="PATH",
        help="replay a recording instead of the synthetic market (what `tickwire simulate --replay` "
        "takes); give the --venues and --symbols it holds",
    )
    add("--duration", type=float, default=10.0, help="seconds to profile (default %(default)g)")
    add("-o", "--output", metavar="FILE", help="where py-spy writes (default flame.svg, or "
        "profile.speedscope.json with --format speedscope)")
    add("--format", choices=tuple(FORMATS), default="flamegraph", help="default %(default)s")
    add("--top", type=int, default=15, metavar="N", help="list the N functions with most self time")
    add("--sample-rate", type=int, default=200, metavar="HZ", help="py-spy samples per second")
    add("--native", action="store_true", help="sample C frames too (uvloop, picows, msgspec)")


def find_py_spy() -> str | None:
    """The py-spy executable: next to this interpreter (a virtual environment) or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.is_file():
        return str(beside)
    return shutil.which("py-spy")


def _frame_key(frame: str) -> str:
    """``function (package/file.py)`` for a py-spy frame ``function (path/file.py:line)``: the
    line number dropped and the path made relative to sys.path, as py-spy shortens it."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    file = match["file"]
    for entry in _IMPORT_ROOTS:
        if file.startswith(entry):
            file = file[len(entry) :]
            break
    return f"{match['function']} ({file})"


def _flamegraph_self_samples(svg: bytes) -> Counter[str]:
    root = ElementTree.fromstring(svg)
    rows: dict[float, list[tuple[int, int, str]]] = {}
    for group in root.iter(f"{_SVG}g"):
        title = group.find(f"{_SVG}title")
        rect = group.find(f"{_SVG}rect")
        if title is None or rect is None or f"{_INFERNO}x" not in rect.attrib:
            continue
        frame = _TITLE_COUNTS.sub("", title.text or "")
        start, width = int(rect.attrib[f"{_INFERNO}x"]), int(rect.attrib[f"{_INFERNO}w"])
        rows.setdefault(float(rect.attrib["y"]), []).append((start, width, frame))
    if not rows:
        return Counter()
    depths = sorted(rows)
    if len(rows[depths[0]]) != 1 or rows[depths[0]][0][2] != "all":
        depths.reverse()  # the root ("all") is drawn at the bottom
    samples: Counter[str] = Counter()
    for parents, children in zip(depths, [*depths[1:], None]):
        row = sorted(rows[parents])
        own = [width for _, width, _ in row]
        starts = [start for start, _, _ in row]
        for start, width, _ in rows[children] if children is not None else ():
            own[bisect.bisect_right(starts, start) - 1] -= width
        for (_, _, frame), count in zip(row, own):
            if parents != depths[0] and count > 0:
                samples[_frame_key(frame)] += count
    return samples


def _speedscope_self_samples(document: bytes) -> Counter[str]:
    profile = json.loads(document)
    frames = [
        _frame_key(f"{frame['name']} ({frame.get('file') or '?'})")
        for frame in profile["shared"]["frames"]
    ]
    samples: Counter[str] = Counter()
    for thread in profile["profiles"]:
        for stack in thread["samples"]:  # py-spy weighs every sample the same
            if stack:
                samples[frames[stack[-1]]] += 1
    return samples


def self_samples(path: str | Path, output_format: str) -> Counter[str]:
    """Samples per function (``function (package/file.py)``) in which it was the innermost frame,
    read from a py-spy ``flamegraph`` SVG or ``speedscope`` JSON file.

    Raises ProfileError when the file cannot be read as that format.
    """
    data = Path(path).read_bytes()
    read = _speedscope_self_samples if output_format == "speedscope" else _flamegraph_self_samples
    try:
        samples = read(data)
    except (ValueError, KeyError, TypeError, IndexError, ElementTree.ParseError) as exc:
        raise ProfileError(f"cannot read {path} as a py-spy {output_format} file: {exc}") from None
    if not samples:
        raise ProfileError(f"{path} holds no samples")
    return samples


def format_top_frames(samples: Counter[str], top: int) -> str:
    """The ``top`` functions by self time as a table, with their share of all samples."""
    total = sum(samples.values())
    shown = min(top, len(samples))
    lines = [f"top {shown} of {len(samples)} functions by self time ({total} samples):",
             f"{'self %':>7}  {'samples':>7}  function (file)"]
    for frame, count in samples.most_common(top):
        lines.append(f"{100 * count / total:>6.1f}%  {count:>7}  {frame}")
    return "\n".join(lines)


def _simulator_arguments(args: argparse.Namespace) -> list[str]:
    arguments = ["--venues", args.venues, "--symbols", args.symbols]
    if args.replay:
        arguments += ["--replay", args.replay]
        if args.rate is not None:
            arguments += ["--replay-speed", f"{args.rate:g}"]
    else:
        arguments += ["--rate", f"{args.rate or SYNTHETIC_RATE:g}"]
    return arguments


def _check(args: argparse.Namespace) -> None:
    rate_ok = args.rate is None or args.rate > 0
    if not (args.duration > 0 and rate_ok and args.top >= 1 and args.sample_rate >= 1):
        raise ValueError("--duration, --rate, --top and --sample-rate must be > 0")
    if args.replay and not Path(args.replay).exists():
        raise ValueError(f"no recording at {args.replay}")
    load_config(None, {"venues": args.venues.split(","), "symbols": args.symbols.split(",")})


async def run_profile(args: argparse.Namespace, py_spy: str) -> int:
    """Profile ``tickwire run`` against the simulator as ``args`` say, with the ``py_spy``
    executable; print where the profile went and the top frames. Returns the exit status.

    Raises ValueError for bad flags and ProfileError when py-spy fails.
    """
    _check(args)
    output = Path(args.output or FORMATS[args.format])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    simulator_log = tempfile.TemporaryFile()  # once tickwire is gone it warns about every send
    try:
        simulator, endpoints = await start_simulator(
            _simulator_arguments(args), stderr=simulator_log
        )
    except RuntimeError as exc:
        simulator_log.seek(0)
        said = simulator_log.read().decode(errors="replace").strip()[-600:]
        simulator_log.close()
        raise ProfileError(f"{exc}: {said}" if said else str(exc)) from None
    try:
        run = [
            sys.executable, "-m", "tickwire", "run", "--venues", args.venues,
            "--symbols", args.symbols, "--sink", "none", "--duration", f"{args.duration:g}",
        ]  # fmt: skip
        for venue in args.venues.split(","):
            if venue not in endpoints:
                served = ", ".join(endpoints)
                raise ProfileError(f"the simulator serves no {venue} (it serves {served})")
            run += ["--endpoint", f"{venue}={endpoints[venue]}"]
        record = [
            py_spy, "record", "--output", str(output), "--format", args.format,
            "--rate", str(args.sample_rate), *(["--native"] if args.native else []), "--", *run,
        ]  # fmt: skip
        spy = await asyncio.create_subprocess_exec(
            *record, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, said = await spy.communicate()
    finally:
        simulator.terminate()
        await simulator.wait()
        simulator_log.close()
    text = said.decode(errors="replace")
    if spy.returncode != 0 or not output.is_file():
        hint = ""
        if any(word in text.lower() for word in _PERMISSION_WORDS):
            hint = (" (py-spy may not trace processes here: run as root, or give the container "
                    "CAP_SYS_PTRACE, e.g. docker run --cap-add SYS_PTRACE)")
        raise ProfileError(f"py-spy failed{hint}: {text.strip()[-600:] or 'no output'}")
    for line in text.splitlines():
        if line.startswith("tickwire"):
            print(line, file=sys.stderr)
    samples = self_samples(output, args.format)
    print(f"wrote {output} ({args.format})")
    print(format_top_frames(samples, args.top))
    if not args.native:
        print("(a Python frame's self time includes the C code it calls: uvloop, picows, msgspec; "
              "--native splits it out)")
    return 0
