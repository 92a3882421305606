#!/usr/bin/env python3
"""Wire-to-output latency and throughput: tickwire vs a raw picows floor vs a naive client.

What is measured: the time from the sender's ``send()`` of a Binance bookTicker frame on a
loopback WebSocket to the moment this harness reads the client's output line for that frame
from the client's stdout pipe. Method as in ``shared/reference/PERF_FACTS.md`` §2/§8:

* **Sender** (``w2o_server.py``): blocking-socket Python WebSocket server in its own process,
  pinned to CPU0; real RFC 6455 handshake, unmasked text frames, TCP_NODELAY; answers the
  client's SUBSCRIBE with the ack; every frame's prices identify it (``u`` = seq,
  bid = 10000 + seq/1e4, ask = bid + 0.01), so every frame changes the consolidated price and
  each client prints exactly one line per frame. Paced mode: busy-wait pacing, ``time.time_ns()``
  stamped right before each ``send``. Max-rate mode: pre-built frames streamed with ``sendall``.
* **Client under test** on CPU1, stdout to a pipe (1 MiB) read by this harness, also on CPU1.
  The harness stamps ``time.time_ns()`` right after each ``os.read`` returns; every line that
  completes in that read gets that stamp. CLOCK_REALTIME is read on both sides (system-wide),
  which also makes tickwire's own ``recv_ns``/``publish_ns`` (``time.time_ns``) comparable, so the
  tickwire latency can be split into wire / in-process / pipe parts.
* **Clients**: ``tickwire`` (the real ``tickwire run ... --sink stdout`` console script),
  ``floor`` (``w2o_floor_client.py``: picows + uvloop, payload written unparsed, one os.write per
  socket read batch — tickwire's flushing rule), ``naive`` (``w2o_naive_client.py``: websockets +
  asyncio + json.loads + logging.info + float + asyncio.Queue(100) + print(flush=True)), and, on
  request, ``cryptofeed`` (``w2o_cryptofeed_client.py``: cryptofeed's Binance feed, TICKER channel,
  a callback printing one JSON line per update; in its own venv, made by ``peer_venvs.py`` unless
  ``--cryptofeed-python`` names one).
* Latency: ``--paced-count`` messages at ``--rate`` msg/s, the first ``--warmup`` discarded;
  p50 / p99 / p99.9 / max. Throughput: ``--maxrate-count`` pre-built frames at max rate,
  (lines − 1) / (last line time − first line time) as seen by the harness.
* ``--repeats`` repeats of every client, interleaved round-robin (order rotated each repeat);
  the table shows the median over repeats of each statistic.

* ``--price-levels K``: bids cycle over K levels instead of being unique per message (a new
  price every message, but prices repeat as they do in real markets); lines are then matched to
  sends by level and order.
* ``floor-stamped`` (not in the default set): the floor plus a receive stamp per line, to split
  the harness/pipe constant from the wire part.
* ``step1`` … ``step5`` (not in the default set): ``w2o_step_client.py``, the roadmap ablation's
  clients (``tickwire bench --ablation``); ``--unpinned`` starts the clients it names on every CPU
  instead of ``--client-cpu``.
* Hygiene: tickwire runs from a copy of ``src/tickwire`` taken at start (others may be editing
  the tree); before each run the harness waits (bounded) for a second in which other processes
  use < ``--quiet-below`` cores, and it reports other processes' CPU use during every run.

Loopback only (127.0.0.1), bounded counts, hard per-run and total timeouts.

    .venv/bin/python benchmarks/wire_to_output.py [--quick] [--json out.json] [--plot docs/img/x.png]
    .venv/bin/python benchmarks/wire_to_output.py --client-python /tmp/venv-deb/bin/python
    .venv/bin/python benchmarks/wire_to_output.py --clients tickwire,floor,naive,cryptofeed
"""

from __future__ import annotations

import argparse
import datetime as _dt
import fcntl
import gc
import hashlib
import json
import math
import multiprocessing
import os
import platform
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from pathlib import Path

import msgspec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import w2o_server  # noqa: E402
from peer_venvs import PeerVenvError, cryptofeed_python  # noqa: E402
from plot_latency import repeat_curves  # noqa: E402

from tickwire.plots import PlotUnavailableError, write_percentile_plot  # noqa: E402

CLIENTS = ("tickwire", "floor", "naive")
# floor-stamped: calibration, the floor plus a receive stamp per line;
# tickwire-*: ``tickwire run`` with more flags; tickwire-record records into a temporary directory
# (the recording's cost), tickwire-metrics times the stages (endpoint unscraped)
TICKWIRE_CLIENTS = {
    "tickwire": [],
    "tickwire-record": ["--record"],  # + the directory, made for each run
    "tickwire-metrics": ["--metrics", "127.0.0.1:0"],
    "tickwire-busy": ["--busy-poll"],
    "tickwire-conflate": ["--conflate"],
    "tickwire-busy-conflate": ["--busy-poll", "--conflate"],
}
# step1 … step5: the roadmap ablation (``tickwire bench --ablation``), w2o_step_client.py's flags
# per client; step5 is step 4's client, pinned (the ablation starts the earlier steps unpinned)
STEP_CLIENTS = {
    "step1": ["--step", "1"],
    "step2": ["--step", "2"],
    "step3": ["--step", "3"],
    "step3-queue10k": ["--step", "3", "--queue", "10000"],
    "step3-unbounded": ["--step", "3", "--queue", "0"],
    "step4": ["--step", "4"],
    "step5": ["--step", "4"],
}
EXTRA_CLIENTS = ("floor-stamped", "floor-busy", *(k for k in TICKWIRE_CLIENTS if k != "tickwire"), *STEP_CLIENTS)
# one line per socket read at most: throughput is the seqs reflected per second
CONFLATING = {kind for kind, flags in TICKWIRE_CLIENTS.items() if "--conflate" in flags}
# cryptofeed (w2o_cryptofeed_client.py) runs in its own venv: --cryptofeed-python, or peer_venvs.py's
PEER_CLIENTS = ("cryptofeed",)
ALL_CPUS = frozenset(os.sched_getaffinity(0))  # where an --unpinned client may run
F_SETPIPE_SZ = 1031
PIPE_BYTES = 1 << 20
BID_BASE_4 = 10_000 * 10_000  # bid of seq 0 in units of 1e-4


# ---------------------------------------------------------------------------------------------
# client commands


def _client_bin(client_python: str, name: str) -> str | None:
    candidate = Path(client_python).parent / name
    return str(candidate) if candidate.exists() else None


def client_command(kind: str, client_python: str, port: int, duration: float) -> list[str]:
    url = f"ws://127.0.0.1:{port}"
    if kind in TICKWIRE_CLIENTS:
        exe = _client_bin(client_python, "tickwire")
        head = [exe] if exe else [client_python, "-m", "tickwire"]
        extra = list(TICKWIRE_CLIENTS[kind])
        if kind == "tickwire-record":
            extra.append(tempfile.mkdtemp(prefix="w2o-record-"))
        return head + [
            "run", "--venues", "binance", "--symbols", "BTC-USDT",
            "--endpoint", f"binance={url}", "--sink", "stdout", "--duration", f"{duration:g}",
            # every line counts here: wait for the harness (the default drops lines past a backlog)
            "--stdout-when-full", "wait", *extra,
        ]  # fmt: skip
    if kind in ("floor", "floor-stamped", "floor-busy"):
        extra = {"floor": [], "floor-stamped": ["--stamp"], "floor-busy": ["--busy-poll"]}[kind]
        return [client_python, str(HERE / "w2o_floor_client.py"), f"{url}/stream", "--duration", f"{duration:g}", *extra]
    if kind == "naive":
        return [client_python, str(HERE / "w2o_naive_client.py"), f"{url}/stream", "--duration", f"{duration:g}"]
    if kind == "cryptofeed":  # it adds /stream?streams=btcusdt@bookTicker to the address itself
        return [client_python, str(HERE / "w2o_cryptofeed_client.py"), url, "--duration", f"{duration:g}"]
    if kind in STEP_CLIENTS:
        return [client_python, str(HERE / "w2o_step_client.py"), f"{url}/stream", *STEP_CLIENTS[kind],
                "--duration", f"{duration:g}"]
    raise ValueError(kind)


# ---------------------------------------------------------------------------------------------
# line parsing


class _TickwireLine(msgspec.Struct):
    bid: str | None = None
    recv_ns: int = 0
    publish_ns: int = 0


class _NaiveLine(msgspec.Struct):
    bid: float | None = None


_tw_decode = msgspec.json.Decoder(_TickwireLine).decode
_naive_decode = msgspec.json.Decoder(_NaiveLine).decode


def _seq_tickwire(line: bytes) -> tuple[int, int, int] | None:
    rec = _tw_decode(line)
    if rec.bid is None:
        return None
    return w2o_server.seq_from_price_text(rec.bid), rec.recv_ns, rec.publish_ns


def _seq_floor(line: bytes) -> tuple[int, int, int] | None:
    i = line.find(b'"u":')
    if i < 0:
        return None
    j = line.find(b",", i)
    return int(line[i + 4 : j]), 0, 0


def _seq_naive(line: bytes) -> tuple[int, int, int] | None:
    rec = _naive_decode(line)
    if rec.bid is None:
        return None
    return round(rec.bid * 10_000) - BID_BASE_4, 0, 0


def _seq_floor_stamped(line: bytes) -> tuple[int, int, int] | None:
    got = _seq_floor(line)
    if got is None:
        return None
    stamp = int(line[: line.find(b" ")])
    return got[0], stamp, stamp  # recv_ns == publish_ns: the split is wire | pipe


PRICE_KEYED = {*TICKWIRE_CLIENTS, "naive", "cryptofeed"}  # seq from the printed bid (a level index if --price-levels)
EXTRACT = {
    **dict.fromkeys(TICKWIRE_CLIENTS, _seq_tickwire),
    "floor": _seq_floor,
    "floor-busy": _seq_floor,
    "naive": _seq_naive,
    "cryptofeed": _seq_tickwire,  # its bid is printed as decimal text too
    "floor-stamped": _seq_floor_stamped,
}
for _kind in STEP_CLIENTS:  # floats printed up to step 2, decimal text from step 3 on
    EXTRACT[_kind] = _seq_naive if _kind in ("step1", "step2") else _seq_tickwire
    PRICE_KEYED.add(_kind)


def _progress(kind: str, data: bytes, lines: int) -> int:
    """How far the client is: lines so far, or for a conflating client the seq of the last
    complete line in ``data``."""
    if kind not in CONFLATING:
        return lines
    end = data.rfind(b"\n")
    try:
        got = EXTRACT[kind](data[data.rfind(b"\n", 0, end) + 1 : end])
    except (msgspec.DecodeError, ValueError):
        got = None
    return got[0] if got else 0


def iter_lines(chunks: list[tuple[int, bytes]]):  # type: ignore[no-untyped-def]
    """(stamp, line) for every complete line; a line gets the stamp of the read that ended it."""
    carry = b""
    for stamp, data in chunks:
        parts = (carry + data).split(b"\n") if carry else data.split(b"\n")
        carry = parts.pop()
        for part in parts:
            yield stamp, part


def pct(sorted_values: list[int], p: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_values:
        return math.nan
    rank = max(0, min(len(sorted_values) - 1, math.ceil(p * len(sorted_values)) - 1))
    return sorted_values[rank]


# ---------------------------------------------------------------------------------------------
# one run


_run_ids = iter(range(1, 1 << 30))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _system_busy_s() -> float:
    """CPU-seconds spent busy by all CPUs since boot (/proc/stat: everything but idle+iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def _process_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class CpuAccount:
    """How much CPU processes other than this benchmark's used between start() and stop()."""

    def __init__(self, sender_pid: int) -> None:
        self.sender_pid = sender_pid

    def _ours(self) -> float:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for clients
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime + _process_cpu_s(self.sender_pid)

    def start(self) -> None:
        self.t0, self.busy0, self.ours0 = time.monotonic(), _system_busy_s(), self._ours()

    def stop(self) -> float:
        """Foreign CPU load during the interval, in cores (0 .. nproc)."""
        wall = time.monotonic() - self.t0
        foreign = (_system_busy_s() - self.busy0) - (self._ours() - self.ours0)
        return max(0.0, foreign / wall) if wall > 0 else 0.0


def wait_quiet(account: CpuAccount, threshold: float, limit: float) -> tuple[float, float]:
    """Sample 1 s windows until foreign load < ``threshold`` cores (or ``limit`` s passed)."""
    waited = 0.0
    while True:
        account.start()
        time.sleep(1.0)
        load = account.stop()
        if load < threshold or waited >= limit:
            return load, waited
        waited += 1.0


def _receive(ctl, kind: str, run_id: int, timeout: float):  # type: ignore[no-untyped-def]
    """The sender's next ``(kind, run_id, ...)`` message; stale ones are dropped. None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not ctl.poll(remaining):
            return None
        message = ctl.recv()
        if message[0] == kind and message[1] == run_id:
            return message[2]


def run_once(ctl, kind: str, mode: str, args: argparse.Namespace, port: int, env_vars: dict,  # type: ignore[no-untyped-def]
             account: CpuAccount) -> dict:
    run_id = next(_run_ids)
    quiet_load, quiet_waited = (0.0, 0.0)
    if args.quiet_below > 0:
        quiet_load, quiet_waited = wait_quiet(account, args.quiet_below, args.quiet_wait)
    account.start()
    count = args.paced_count if mode == "paced" else args.maxrate_count
    if mode == "paced":
        hard = args.settle + count / args.rate + 30.0
    else:
        hard = args.settle + args.maxrate_timeout
    spec = {
        "run_id": run_id,
        "mode": mode,
        "count": count,
        "rate": args.rate,
        "levels": args.price_levels,
        "settle": args.settle,
        "accept_timeout": 20.0,
        "hold_timeout": hard + 40.0,
    }
    ctl.send(("run", spec))
    read_fd, write_fd = os.pipe()
    try:
        fcntl.fcntl(write_fd, F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:
        pass
    err_file = None
    if kind == "naive":
        stderr = subprocess.DEVNULL  # its per-message log records go nowhere (but are made)
    else:
        err_file = tempfile.TemporaryFile()
        stderr = err_file
    python = args.cryptofeed_python if kind == "cryptofeed" else args.client_python
    cmd = client_command(kind, python, port, hard + 20.0)
    cpus = ALL_CPUS if kind in args.unpinned else {args.client_cpu}
    proc = subprocess.Popen(
        cmd, stdout=write_fd, stderr=stderr, stdin=subprocess.DEVNULL, close_fds=True, env=env_vars,
        preexec_fn=lambda: os.sched_setaffinity(0, cpus),
    )
    os.close(write_fd)
    expected = count + (1 if kind.startswith("floor") else 0)  # the floor also writes the ack line
    final_line = None  # a conflating client is done with the line of the last seq
    if kind in CONFLATING and not args.price_levels:
        last_bid = w2o_server.BID_BASE_UNITS + count * w2o_server.SEQ_UNITS
        final_line = b'"bid":"%s"' % w2o_server.units_text(last_bid).rstrip("0").rstrip(".").encode()
    started = time.monotonic()
    state: dict = {"last_data": started, "sent": None, "reason": "all lines", "sender_error": None}
    stop = threading.Event()

    def stop_client() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()

    def watchdog() -> None:
        while not stop.is_set():
            if state["sent"] is None:
                info = _receive(ctl, "sent", run_id, 0.25)
                if info is not None:
                    state["sent"] = info
                    if info.get("error"):
                        state["reason"] = f"sender: {info['error']}"
                        stop_client()
                        return
            else:
                stop.wait(0.25)
            if stop.is_set():
                return  # the harness got every line and ends the client itself
            now = time.monotonic()
            if now - started > hard:
                state["reason"] = "hard timeout"
                stop_client()
                return
            if state["sent"] is not None and now - state["last_data"] > args.idle_timeout:
                state["reason"] = f"no new line for {args.idle_timeout:g} s after the last send"
                stop_client()
                return
            if proc.poll() is not None and not stop.is_set():
                state["reason"] = f"client exited with {proc.returncode}"
                return

    guard = threading.Thread(target=watchdog, daemon=True)
    guard.start()
    chunks: list[tuple[int, bytes]] = []
    append = chunks.append
    read = os.read
    now_ns = time.time_ns
    lines = 0
    cpu_marks: list[tuple[float, int]] = []  # the client's CPU seconds at the first and last read, and its progress
    gc.disable()
    try:
        while True:
            data = read(read_fd, PIPE_BYTES)
            stamp = now_ns()
            if not data:
                break
            append((stamp, data))
            lines += data.count(b"\n")
            state["last_data"] = time.monotonic()
            if not cpu_marks:
                cpu_marks.append((_process_cpu_s(proc.pid), _progress(kind, data, lines)))
            if lines >= expected or (final_line is not None and final_line in data):
                cpu_marks.append((_process_cpu_s(proc.pid), _progress(kind, data, lines)))
                break
    finally:
        gc.enable()
        stop.set()
        stop_client()
        guard.join()
        os.close(read_fd)
    client_rc = proc.returncode
    foreign_load = account.stop()
    stderr_tail = ""
    if err_file is not None:
        err_file.seek(0)
        stderr_tail = err_file.read()[-2000:].decode(errors="replace")
        err_file.close()
    ctl.send(("close", run_id))
    sender: dict = _receive(ctl, "done", run_id, spec["hold_timeout"] + 10) or {"error": "sender silent"}
    result = analyse(kind, mode, count, args.warmup, chunks, sender, args.price_levels)
    result.update(
        kind=kind,
        mode=mode,
        end_reason=state["reason"],
        client_rc=client_rc,
        wall_s=round(time.monotonic() - started, 2),
        sender_error=sender.get("error"),
        pong_before_data=sender.get("pong_before_data"),
        client_pings=sender.get("client_pings"),
        path=sender.get("path"),
        foreign_load_cores=round(foreign_load, 3),
        pre_run_foreign_load=round(quiet_load, 3),
        waited_for_quiet_s=quiet_waited,
    )
    if len(cpu_marks) == 2 and cpu_marks[1][1] > cpu_marks[0][1]:
        # CPU the client spent per line while streaming: unlike throughput, barely moved by
        # other processes sharing the CPU (10 ms tick resolution)
        (cpu_first, lines_first), (cpu_last, lines_last) = cpu_marks
        result["client_cpu_us_per_line"] = (cpu_last - cpu_first) / (lines_last - lines_first) * 1e6
    if stderr_tail.strip() and kind != "naive":
        result["stderr_tail"] = stderr_tail
    return result


def analyse(kind: str, mode: str, count: int, warmup: int, chunks, sender: dict,  # type: ignore[no-untyped-def]
            levels: int = 0) -> dict:
    """Match lines to sends. With ``levels`` > 0 a printed bid names a level, not a seq: the seq
    is the next one after the previous line's that carries that level (lines arrive in order;
    fewer than ``levels`` consecutive losses are still attributed right). A conflating client
    prints at most one line per socket read: nothing of it is missing when its seqs only rise and
    its last line carries the last seq, and its throughput is the seqs its lines moved through."""
    extract = EXTRACT[kind]
    cyclic = levels > 0 and kind in PRICE_KEYED
    seen = bytearray(count + 1)
    duplicates = out_of_range = unparsed = out_of_order = 0
    last_seq = 0
    stamps_sorted: list[int] = []
    latencies: list[int] = []
    parts: dict[str, list[int]] = {"wire": [], "inside": [], "pipe": []}
    send = array("q")
    send.frombytes(sender.get("stamps", b""))
    have_send = len(send) == count
    first_t = last_t = 0
    first_seq = valid = 0
    for stamp, line in iter_lines(chunks):
        try:
            got = extract(line)
        except (msgspec.DecodeError, ValueError):
            got = None
        if got is None:
            unparsed += 1
            continue
        seq, recv_ns, publish_ns = got
        if cyclic:
            if not 1 <= seq <= levels:
                out_of_range += 1
                continue
            seq = last_seq + 1 + (seq - 1 - last_seq) % levels
        if not 1 <= seq <= count:
            out_of_range += 1
            continue
        if seen[seq]:
            duplicates += 1
            continue
        seen[seq] = 1
        if seq < last_seq:
            out_of_order += 1
        last_seq = seq
        valid += 1
        if not first_t:
            first_t, first_seq = stamp, seq
        last_t = stamp
        if mode == "paced" and have_send and seq > warmup:
            sent = send[seq - 1]
            latencies.append(stamp - sent)
            if recv_ns:
                parts["wire"].append(recv_ns - sent)
                parts["inside"].append(publish_ns - recv_ns)
                parts["pipe"].append(stamp - publish_ns)
    conflating = kind in CONFLATING
    reflected = last_seq if conflating and not out_of_order else valid
    result: dict = {
        "count": count,
        "lines_valid": valid,
        "missing": count - reflected,
        "duplicates": duplicates,
        "out_of_range": out_of_range,
        "out_of_order": out_of_order,
        "other_lines": unparsed,
        "reads": len(chunks),
    }
    if mode == "paced":
        latencies.sort()
        us = [v / 1000 for v in latencies]
        result.update(
            measured=len(us),
            p50_us=pct(us, 0.50),
            p90_us=pct(us, 0.90),
            p99_us=pct(us, 0.99),
            p999_us=pct(us, 0.999),
            max_us=us[-1] if us else math.nan,
            mean_us=statistics.fmean(us) if us else math.nan,
            latencies_ns=latencies,
        )
        if parts["wire"]:
            result["split_p50_us"] = {
                name: statistics.median(values) / 1000 for name, values in parts.items()
            }
    else:
        span = (last_t - first_t) / 1e9
        moved = last_seq - first_seq if conflating else valid - 1
        result["throughput"] = moved / span if moved > 0 and span > 0 else math.nan
        start = sender.get("send_start_ns")
        if start and valid:
            result["throughput_from_first_send"] = reflected / ((last_t - start) / 1e9)
            result["sender_rate"] = count / ((sender["send_end_ns"] - start) / 1e9)
    return result


# ---------------------------------------------------------------------------------------------
# environment, summary, output


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def python_identity(python: str) -> dict:
    """Version, executable, compiler and the benchmark's package versions of an interpreter."""
    probe = (
        "import sys, sysconfig, importlib.metadata as m\n"
        "v = {}\n"
        "for p in ('tickwire','picows','uvloop','msgspec','websockets','aiofastnet','cryptofeed'):\n"
        "    try: v[p] = m.version(p)\n"
        "    except Exception: v[p] = None\n"
        "print(__import__('json').dumps({'version': sys.version.split()[0], 'executable': sys.executable,"
        " 'compiler': __import__('platform').python_compiler(), 'packages': v}))\n"
    )
    try:
        return json.loads(subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=30).stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {}


def environment(args: argparse.Namespace) -> dict:
    model = next(
        (l.split(":", 1)[1].strip() for l in _read("/proc/cpuinfo").splitlines() if l.startswith("model name")),
        "?",
    )
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "harness_python": sys.version.split()[0],
        "client_python": python_identity(args.client_python),
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "loadavg_start": _read("/proc/loadavg").strip(),
    }


def src_fingerprint(root: Path) -> str:
    """sha256 over the tickwire package's .py files (path + content), to name the code measured."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def git_state(repo: Path) -> dict:
    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(repo), *a], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    return {"head": git("rev-parse", "--short", "HEAD"),
            "dirty_src_files": len([l for l in git("status", "--porcelain", "src").splitlines() if l.strip()])}


def _median(values: list[float]) -> float:
    values = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(values) if values else math.nan


def summarise(results: dict[str, dict[str, list[dict]]]) -> dict[str, dict]:
    summary: dict[str, dict] = {}
    for kind, modes in results.items():
        paced = modes.get("paced", [])
        maxrate = modes.get("maxrate", [])
        row = {
            "p50_us": _median([r["p50_us"] for r in paced]),
            "p90_us": _median([r["p90_us"] for r in paced]),
            "p99_us": _median([r["p99_us"] for r in paced]),
            "p999_us": _median([r["p999_us"] for r in paced]),
            "max_us": _median([r["max_us"] for r in paced]),
            "p99_best_us": min((r["p99_us"] for r in paced), default=math.nan),
            "p50_runs": [round(r["p50_us"], 1) for r in paced],
            "throughput": _median([r.get("throughput", math.nan) for r in maxrate]),
            "throughput_runs": [round(r.get("throughput", math.nan)) for r in maxrate if not math.isnan(r.get("throughput", math.nan))],
            "cpu_us_per_line": _median([r.get("client_cpu_us_per_line", math.nan) for r in maxrate]),
            "cpu_us_per_line_runs": [round(r["client_cpu_us_per_line"], 2) for r in maxrate if "client_cpu_us_per_line" in r],
            "missing_paced": [r["missing"] for r in paced],
            "missing_maxrate": [r["missing"] for r in maxrate],
            "runs": len(paced),
            "foreign_load_cores": [r.get("foreign_load_cores") for r in paced + maxrate],
        }
        splits = [r["split_p50_us"] for r in paced if "split_p50_us" in r]
        if splits:
            row["split_p50_us"] = {k: _median([s[k] for s in splits]) for k in splits[0]}
        summary[kind] = row
    floor_p50 = summary.get("floor", {}).get("p50_us", math.nan)
    naive_tput = summary.get("naive", {}).get("throughput", math.nan)
    for row in summary.values():
        row["p50_vs_floor"] = row["p50_us"] / floor_p50 if floor_p50 else math.nan
        row["throughput_vs_naive"] = row["throughput"] / naive_tput if naive_tput else math.nan
    return summary


def _f(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def markdown_table(summary: dict[str, dict]) -> str:
    out = [
        "| client | p50 µs | p99 µs | p99.9 µs | max msg/s | p50 / floor p50 | msg/s / naive msg/s | per-run p50 µs | missing lines (paced; max-rate) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for kind, row in summary.items():
        out.append(
            f"| {kind} | {_f(row['p50_us'])} | {_f(row['p99_us'])} | {_f(row['p999_us'])} | "
            f"{_f(row['throughput'], 0)} | {_f(row['p50_vs_floor'], 2)}× | {_f(row['throughput_vs_naive'], 2)}× | "
            f"{' / '.join(str(v) for v in row['p50_runs'])} | "
            f"{'/'.join(map(str, row['missing_paced']))}; {'/'.join(map(str, row['missing_maxrate']))} |"
        )
    return "\n".join(out)


def plot(results: dict[str, dict[str, list[dict]]], path: str, title: str) -> bool:
    """Every paced repeat of every client on one HDR-style percentile plot (repeat 1 bold)."""
    try:
        write_percentile_plot(repeat_curves(results), path, title=title,
                              ylabel="wire-to-output latency, µs (log)")
    except (PlotUnavailableError, ValueError) as exc:
        print(f"no plot: {exc}", file=sys.stderr)
        return False
    return True


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated: tickwire,floor,naive (also: floor-stamped, cryptofeed, …)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1000.0, help="paced rate, msg/s")
    parser.add_argument("--paced-count", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=1_000, help="paced messages discarded first")
    parser.add_argument("--maxrate-count", type=int, default=200_000)
    parser.add_argument("--maxrate-timeout", type=float, default=60.0, help="hard limit of one max-rate run (s)")
    parser.add_argument("--idle-timeout", type=float, default=3.0, help="give up this long after the last line once all is sent")
    parser.add_argument("--settle", type=float, default=0.3, help="pause after the ack before streaming (s)")
    parser.add_argument("--modes", default="paced,maxrate")
    parser.add_argument("--price-levels", type=int, default=0, metavar="K",
                        help="0 (default): every message has its own prices; K: bids cycle over K levels, "
                             "so prices repeat as in real markets (tickwire's price caches then hit)")
    parser.add_argument("--sender-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1, help="CPU of the client under test")
    parser.add_argument("--unpinned", type=lambda text: set(text.split(",")), default=set(), metavar="CLIENTS",
                        help="comma-separated clients started on every CPU instead of --client-cpu")
    parser.add_argument("--harness-cpu", type=int, default=None,
                        help="CPU of this harness (default: the client's; -1: not pinned)")
    parser.add_argument("--client-python", default=sys.executable, help="interpreter (venv) of the clients")
    parser.add_argument("--cryptofeed-python", metavar="PYTHON",
                        help="interpreter with cryptofeed (default: a venv made by peer_venvs.py from "
                             "--client-python's base interpreter, reused across runs)")
    parser.add_argument("--max-total", type=float, default=600.0, help="stop starting runs after this long (s)")
    parser.add_argument("--quiet-below", type=float, default=0.15, metavar="CORES",
                        help="before each run wait until other processes use less than this many cores "
                             "(1 s samples; 0 disables)")
    parser.add_argument("--quiet-wait", type=float, default=10.0, help="longest wait for quiet before a run (s)")
    parser.add_argument("--no-snapshot", action="store_true",
                        help="run tickwire from the live src/ tree instead of a copy taken at start")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, 3k paced, 20k max-rate")
    parser.add_argument("--json", metavar="PATH", help="write all results (incl. raw latencies unless --no-raw)")
    parser.add_argument("--no-raw", action="store_true", help="leave raw latency samples out of --json")
    parser.add_argument("--plot", metavar="PATH", help="HDR-style percentile plot (PNG, needs matplotlib)")
    parser.add_argument("--label", default="", help="free text for the plot title")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.paced_count, args.warmup, args.maxrate_count = 1, 3_000, 500, 20_000
    clients = [c for c in args.clients.split(",") if c]
    for c in clients:
        if c not in CLIENTS + EXTRA_CLIENTS + PEER_CLIENTS:
            parser.error(f"unknown client {c!r}")
    modes = [m for m in args.modes.split(",") if m]
    if args.warmup >= args.paced_count:
        parser.error("--warmup must be below --paced-count")

    if "cryptofeed" in clients and args.cryptofeed_python is None:
        try:
            args.cryptofeed_python = cryptofeed_python(args.client_python)
        except PeerVenvError as exc:
            print(f"wire_to_output: no venv for cryptofeed: {exc}", file=sys.stderr)
            return 2
    env = environment(args)
    if "cryptofeed" in clients:
        env["cryptofeed_python"] = python_identity(args.cryptofeed_python)
        print(f"# cryptofeed {env['cryptofeed_python'].get('packages', {}).get('cryptofeed')} on "
              f"{args.cryptofeed_python} {env['cryptofeed_python'].get('version')}", file=sys.stderr)
    print(f"# wire_to_output: clients={clients} repeats={args.repeats} paced={args.paced_count}@{args.rate:g}/s "
          f"maxrate={args.maxrate_count} client python={env['client_python'].get('executable')} "
          f"{env['client_python'].get('version')}", file=sys.stderr)
    print(f"# load average at start: {env['loadavg_start']}", file=sys.stderr)

    live_src = HERE.parent / "src" / "tickwire"
    env_vars = dict(os.environ)
    snapshot_dir = None
    env["git"] = git_state(HERE.parent)
    env["src_fingerprint_start"] = src_fingerprint(live_src)
    if not args.no_snapshot:
        # Others may edit src/ while this runs: measure a frozen copy (PYTHONPATH beats the
        # editable install's .pth entry).
        snapshot_dir = tempfile.mkdtemp(prefix="w2o-src-")
        shutil.copytree(live_src, Path(snapshot_dir) / "tickwire", ignore=shutil.ignore_patterns("__pycache__"))
        env_vars["PYTHONPATH"] = snapshot_dir + (os.pathsep + env_vars["PYTHONPATH"] if env_vars.get("PYTHONPATH") else "")
        env["tickwire_snapshot_fingerprint"] = src_fingerprint(Path(snapshot_dir) / "tickwire")
    probe = subprocess.run([args.client_python, "-c", "import tickwire; print(tickwire.__file__)"],
                           capture_output=True, text=True, env=env_vars, timeout=30)
    env["tickwire_imported_from"] = probe.stdout.strip() or probe.stderr.strip()[-300:]
    print(f"# tickwire from {env['tickwire_imported_from']} (src fingerprint {env['src_fingerprint_start']}, "
          f"git {env['git']})", file=sys.stderr)

    ctx = multiprocessing.get_context("fork")
    ctl, child_ctl = ctx.Pipe()
    sender = ctx.Process(target=w2o_server.serve_forever, args=(child_ctl, args.sender_cpu), daemon=True)
    sender.start()
    if not ctl.poll(10):
        print("sender did not start", file=sys.stderr)
        if snapshot_dir:
            shutil.rmtree(snapshot_dir, ignore_errors=True)
        return 1
    port = ctl.recv()[1]
    harness_cpu = args.client_cpu if args.harness_cpu is None else args.harness_cpu
    if harness_cpu >= 0:
        os.sched_setaffinity(0, {harness_cpu})

    account = CpuAccount(sender.pid)
    results: dict[str, dict[str, list[dict]]] = {c: {m: [] for m in modes} for c in clients}
    t0 = time.monotonic()
    aborted = False
    try:
        for mode in modes:
            for rep in range(args.repeats):
                order = clients[rep % len(clients):] + clients[: rep % len(clients)]
                for kind in order:
                    if time.monotonic() - t0 > args.max_total:
                        aborted = True
                        break
                    r = run_once(ctl, kind, mode, args, port, env_vars, account)
                    results[kind][mode].append(r)
                    if mode == "paced":
                        msg = (f"p50 {_f(r['p50_us'])} p99 {_f(r['p99_us'])} p99.9 {_f(r['p999_us'])} "
                               f"max {_f(r['max_us'])} µs")
                        if "split_p50_us" in r:
                            msg += " split " + " ".join(f"{k}={v:.1f}" for k, v in r["split_p50_us"].items())
                    else:
                        msg = f"{_f(r.get('throughput', math.nan), 0)} msg/s"
                    print(f"[{time.monotonic() - t0:6.1f}s] {mode:7s} rep {rep + 1} {kind:8s} {msg}; "
                          f"lines {r['lines_valid']}/{r['count']} missing {r['missing']} ({r['end_reason']}, "
                          f"pong {r['pong_before_data']}, {r['wall_s']} s, other load {r['foreign_load_cores']:.2f} cores"
                          f"{', waited %.0f s for quiet' % r['waited_for_quiet_s'] if r['waited_for_quiet_s'] else ''})",
                          file=sys.stderr)
                    if r.get("sender_error") or (r.get("stderr_tail") and (r["missing"] or r["client_rc"])):
                        print(f"    sender_error={r.get('sender_error')} stderr={r.get('stderr_tail', '')[-400:]!r}",
                              file=sys.stderr)
    except KeyboardInterrupt:
        aborted = True
    finally:
        try:
            ctl.send(("quit",))
        except OSError:
            pass
        sender.join(5)
        if sender.is_alive():
            sender.terminate()
        if snapshot_dir:
            shutil.rmtree(snapshot_dir, ignore_errors=True)
    env["loadavg_end"] = _read("/proc/loadavg").strip()
    env["src_fingerprint_end"] = src_fingerprint(live_src)
    if env["src_fingerprint_end"] != env["src_fingerprint_start"]:
        print("# note: src/tickwire changed during the run"
              + (" (the snapshot taken at start was measured)" if snapshot_dir else " (LIVE tree measured!)"),
              file=sys.stderr)
    env["total_s"] = round(time.monotonic() - t0, 1)
    env["aborted"] = aborted
    summary = summarise(results)
    table = markdown_table(summary)
    print(table)
    loads = [r.get("foreign_load_cores", 0.0) for m in results.values() for runs in m.values() for r in runs]
    if loads:
        print(f"\nother processes' CPU load during the runs (cores, of {os.cpu_count()}): median "
              f"{statistics.median(loads):.2f}, max {max(loads):.2f}")
    for kind, row in summary.items():
        if row["cpu_us_per_line_runs"]:
            print(f"\n{kind} CPU per line{' (per message: it conflates)' if kind in CONFLATING else ''} while streaming at max rate (µs, median over repeats): "
                  f"{row['cpu_us_per_line']:.2f} (runs: {' / '.join(map(str, row['cpu_us_per_line_runs']))})")
        if "split_p50_us" in row:
            s = row["split_p50_us"]
            print(f"\n{kind} p50 split (µs, median over repeats): send→recv_ns {s['wire']:.1f}, "
                  f"recv_ns→publish_ns {s['inside']:.1f}, publish_ns→harness read {s['pipe']:.1f}")
    print(f"\n# load average at end: {env['loadavg_end']}; total {env['total_s']} s"
          f"{' (ABORTED: --max-total reached)' if aborted else ''}", file=sys.stderr)
    if args.plot:
        cp = env["client_python"]
        title = (f"wire→output latency, {args.paced_count - args.warmup} msgs @ {args.rate:g}/s × {args.repeats} runs; "
                 f"Python {cp.get('version')} {args.label}")
        if plot(results, args.plot, title):
            print(f"# plot: {args.plot}", file=sys.stderr)
    if args.json:
        if args.no_raw:
            for modes_ in results.values():
                for runs in modes_.values():
                    for r in runs:
                        r.pop("latencies_ns", None)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"environment": env, "args": vars(args), "summary": summary,
                                               "runs": results}, default=str))
        print(f"# json: {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
