"""Command line: ``tickwire run | record | replay | simulate | demo | profile | top | bench``.

Bad flags or configuration print one line naming the problem and exit with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, Callable, Coroutine, NoReturn, Sequence

from tickwire import __version__
from tickwire.config import STDOUT_WHEN_FULL, Config, ConfigError, load_config

if TYPE_CHECKING:
    from tickwire.engine import Engine
    from tickwire.families import ObservedNode
    from tickwire.metrics_server import MetricsServer
    from tickwire.record.writer import Recorder
    from tickwire.scaleout.aggregate_node import AggregateNode

__all__ = ["main"]

DEFAULT_METRICS_ADDRESS = "127.0.0.1:9464"

EXIT_USAGE = 2

_REPLAY_SINKS = ("stdout", "none")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _comma_list(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"empty item in list {text!r}")
    return items


def _endpoint(text: str) -> tuple[str, str]:
    venue, sep, url = text.partition("=")
    if not sep or not venue or not url:
        raise argparse.ArgumentTypeError(f"expected VENUE=URL, got {text!r}")
    return venue, url


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _ws_address(text: str) -> dict[str, object]:
    from tickwire.metrics import parse_address

    try:
        host, port = parse_address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}") from None
    return {"host": host, "port": port}


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that say what to connect to and where the output goes (``run`` and ``demo``)."""
    parser.add_argument("--config", metavar="FILE", help="TOML configuration (flags win)")
    parser.add_argument("--venues", type=_comma_list, help="comma-separated venues, e.g. binance")
    parser.add_argument(
        "--symbols", type=_comma_list, help="canonical BASE-QUOTE symbols, e.g. BTC-USDT,ETH-USDT"
    )
    parser.add_argument(
        "--channels", type=_comma_list, help="bbo (default), trades, ticker (comma-separated)"
    )
    parser.add_argument(
        "--endpoint",
        type=_endpoint,
        action="append",
        metavar="VENUE=URL",
        help="connect VENUE to URL instead of the real venue (repeatable)",
    )
    parser.add_argument("--connect-timeout", type=_positive_float, metavar="SECONDS")
    parser.add_argument(
        "--ca-file", metavar="PEM",
        help="also trust the CA certificates in PEM for wss:// and https:// (verification is always on)",
    )
    parser.add_argument(
        "--busy-poll", action="store_true", default=None,
        help="poll the sockets without ever sleeping: lower latency at quiet times, one core kept busy",
    )
    parser.add_argument(
        "--conflate", action="store_true", default=None,
        help="aggregate and publish once per socket read (each symbol's latest quote); every frame is still decoded",
    )
    parser.add_argument(
        "--silence-timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="reconnect a venue that sent nothing (not even a ping) for this long",
    )
    parser.add_argument(
        "--duration", type=_positive_float, metavar="SECONDS", help="stop after this long"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="report connects on stderr too (not only problems)"
    )


def add_record_arguments(parser: argparse.ArgumentParser, directory_flag: bool) -> None:
    """Where and how to record (``run --record DIR``, ``record DIR``)."""
    where = "record every frame and connection event into rotated files in DIR"
    if directory_flag:
        parser.add_argument("--record", metavar="DIR", help=where)
    else:
        parser.add_argument("record", metavar="DIR", help=where)
    parser.add_argument(
        "--rotate-mb", type=_positive_float, metavar="MB",
        help="start a new recording file after this many compressed MB (default 256)",
    )
    parser.add_argument(
        "--rotate-seconds", type=_positive_float, metavar="SECONDS",
        help="start a new recording file after this long (default 3600)",
    )
    parser.add_argument(
        "--chunk-kb", type=int, metavar="KB",
        help="compress and write records in chunks of this many KiB (default 1024)",
    )
    parser.add_argument(
        "--flush-seconds", type=_positive_float, metavar="SECONDS",
        help="write buffered records at least this often (default 1); all four are also "
        "settings of [record] in the TOML configuration",
    )


def _replay_speed(text: str) -> float | None:
    if text == "max":
        return None
    return _positive_float(text)


def add_aggregation_arguments(parser: argparse.ArgumentParser) -> None:
    """How the consolidated price is made, for every instrument (``[aggregation]`` in TOML)."""
    from tickwire.aggregate import METHODS, OUTLIER_RULES

    parser.add_argument(
        "--method", choices=METHODS, help="consolidated price: median of venue mids (default), "
        "weighted-median by top-of-book size, or pyth (price and confidence)",
    )
    parser.add_argument(
        "--stale-after", type=_positive_float, metavar="SECONDS",
        help="leave out a venue that sent no frame for this long (default 5)",
    )
    parser.add_argument(
        "--outliers", choices=OUTLIER_RULES,
        help="band (default: a venue 1%% from the median mid is left out), mad, or off",
    )


def _cpu_list(text: str) -> str | list[int]:
    if text == "auto":
        return text
    try:
        return [int(item) for item in _comma_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or CPU ids like 0,1, got {text!r}") from None


def _worker_count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def add_process_arguments(parser: argparse.ArgumentParser) -> None:
    """Multi-core mode and CPU pinning (``[process]`` in TOML; docs/ARCHITECTURE.md)."""
    parser.add_argument(
        "--workers", type=_worker_count, metavar="N",
        help="N venue worker processes feed this one through shared-memory rings (default 0: "
        "everything in one process)",
    )
    parser.add_argument(
        "--pin", type=_cpu_list, nargs="?", const="auto", metavar="CPUS",
        help="pin this process, then each worker, to one CPU each: round-robin over CPUS "
        "(e.g. 0,1) or, alone, over the CPUs this process may use",
    )


def add_scaleout_arguments(parser: argparse.ArgumentParser) -> None:
    """Scale-out on NATS (``run --role ingest|aggregate``; docs/SCALEOUT.md)."""
    parser.add_argument(
        "--role", choices=("all", "ingest", "aggregate"),
        help="all (default): one process; ingest: venues -> NATS; aggregate: NATS -> prices",
    )
    parser.add_argument("--nats", metavar="URL", help="NATS server, e.g. nats://10.0.0.5:4222")
    parser.add_argument("--node", metavar="NAME", help="this node's name on NATS (default host-pid)")
    parser.add_argument(
        "--heartbeat", type=_positive_float, metavar="SECONDS",
        help="ingest: venue status every S seconds; a venue is stale after 3 missed (default 1)",
    )
    parser.add_argument("--shard", metavar="K/N", help="aggregate: only the instruments of shard K of N")
    parser.add_argument(
        "--jetstream-retention", type=_positive_float, metavar="SECONDS",
        help="ingest: keep the quote subjects in a JetStream stream for this long",
    )
    parser.add_argument(
        "--jetstream-replay", action="store_true",
        help="aggregate: start from the last quote per subject that JetStream kept",
    )


def overrides_from(args: argparse.Namespace) -> dict[str, object]:
    """The configuration values that flags set."""
    overrides: dict[str, object] = {}
    for name in ("venues", "symbols", "channels", "connect_timeout", "silence_timeout", "ca_file",
                 "busy_poll", "conflate", "metrics", "stage_sample", "stdout_when_full"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "sink", None) is not None:
        overrides["sinks"] = args.sink
    record = {
        key: value
        for key, value in (
            ("directory", getattr(args, "record", None)),
            *((name, getattr(args, name, None))
              for name in ("rotate_mb", "rotate_seconds", "chunk_kb", "flush_seconds")),
        )
        if value is not None
    }
    if record:
        overrides["record"] = record
    if args.endpoint:
        overrides["endpoints"] = dict(args.endpoint)
    if getattr(args, "ws", None) is not None:
        overrides["ws"] = args.ws
    process = {
        key: value for key in ("workers", "pin") if (value := getattr(args, key, None)) is not None
    }
    if process:
        overrides["process"] = process
    if getattr(args, "role", None) is not None:
        overrides["role"] = args.role
    nats = {
        key: value
        for key, value in (
            ("url", getattr(args, "nats", None)),
            ("node", getattr(args, "node", None)),
            ("heartbeat", getattr(args, "heartbeat", None)),
            ("shard", getattr(args, "shard", None)),
            ("jetstream_retention", getattr(args, "jetstream_retention", None)),
            ("jetstream_replay", getattr(args, "jetstream_replay", None) or None),
        )
        if value is not None
    }
    if nats:
        overrides["nats"] = nats
    aggregation = {
        key: value
        for key in ("method", "stale_after", "outliers")
        if (value := getattr(args, key, None)) is not None
    }
    if aggregation:
        overrides["aggregation"] = aggregation
    return overrides


def _build_parser(command: str | None) -> argparse.ArgumentParser:
    """The parser; only the chosen ``command``'s module is imported for its flags, so a
    problem in the simulator or the demo can never stop ``tickwire run``."""
    parser = _Parser(prog="tickwire", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"tickwire {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="connect to venues and publish consolidated prices")
    add_pipeline_arguments(run)
    run.add_argument(
        "--sink", type=_comma_list,
        help="stdout (default), ws (the consumer WebSocket API; docs/CONSUMER_API.md), or none",
    )
    run.add_argument(
        "--ws", type=_ws_address, metavar="HOST:PORT",
        help="with --sink ws: listen there (default 127.0.0.1:9465; port 0: any free port; "
        "another host than loopback needs ws.token in the config file)",
    )
    run.add_argument(
        "--metrics", nargs="?", const=DEFAULT_METRICS_ADDRESS, metavar="HOST:PORT",
        help=f"serve /metrics and /debug/status there (default {DEFAULT_METRICS_ADDRESS}; "
        "port 0: any free port) and time every stage",
    )
    run.add_argument(
        "--stage-sample", type=int, metavar="N",
        help="with --metrics: inside a burst of frames read at once, time every Nth at every "
        "stage (default 64; 1: every frame); a frame that ends a socket read always is",
    )
    run.add_argument(
        "--stdout-when-full", choices=STDOUT_WHEN_FULL,
        help="when stdout's reader falls behind: drop-oldest lines past a 4 MiB backlog, counted "
        "(default; ingestion never waits), or wait for the reader (no line lost)",
    )
    add_record_arguments(run, directory_flag=True)
    add_scaleout_arguments(run)
    add_aggregation_arguments(run)
    add_process_arguments(run)

    record = commands.add_parser("record", help="connect to venues and only record (no output)")
    add_record_arguments(record, directory_flag=False)
    add_pipeline_arguments(record)

    replay = commands.add_parser(
        "replay", help="push recorded frames through the same codecs and aggregator"
    )
    replay.add_argument(
        "paths", nargs="+", metavar="PATH",
        help="recording files or directories (*.twr.zst), or cryptofeed captures (*.jsonl.zst)",
    )
    replay.add_argument(
        "--speed", type=_replay_speed, default=None, metavar="max|N",
        help="max (default): as fast as possible; N: N times the recorded pace",
    )
    replay.add_argument("--sink", type=_comma_list, default=["stdout"], help="stdout (default) or none")
    replay.add_argument("--venues", type=_comma_list, help="replay only these venues")

    simulate = commands.add_parser("simulate", help="serve simulated venues on loopback")
    if command == "simulate":
        from tickwire.sim.server import add_arguments as add_simulator_arguments

        add_simulator_arguments(simulate)

    top = commands.add_parser("top", help="live view of a running tickwire (run --metrics)")
    top.add_argument(
        "--url", default=f"http://{DEFAULT_METRICS_ADDRESS}",
        help="the instance's metrics address (default %(default)s)",
    )
    top.add_argument("--once", action="store_true", help="print one snapshot as text and exit")
    top.add_argument(
        "--interval", type=_positive_float, default=1.0, metavar="SECONDS",
        help="refresh period, and the window of rates and percentiles (default %(default)g)",
    )

    demo = commands.add_parser("demo", help="simulator + pipeline + live terminal view")
    if command == "demo":
        from tickwire.demo import add_arguments as add_demo_arguments

        add_demo_arguments(demo)

    profile = commands.add_parser("profile", help="the pipeline under load, sampled by py-spy")
    if command == "profile":
        from tickwire.profile import add_arguments as add_profile_arguments

        add_profile_arguments(profile)

    bench = commands.add_parser("bench", help="wire-to-output benchmarks: roadmap ablation, peers")
    if command == "bench":
        from tickwire.bench import add_arguments as add_bench_arguments

        add_bench_arguments(bench)
    return parser


def _run_loop(coroutine_factory: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every POSIX platform
        return asyncio.run(coroutine_factory())
    return uvloop.run(coroutine_factory())


async def _run(args: argparse.Namespace) -> int:
    from tickwire.engine import Engine

    config = load_config(args.config, overrides_from(args))
    if config.role != "all":
        return await _run_node(args, config)
    recorder = _recorder(config, args)
    engine = Engine(config, recorder=recorder, timed=config.metrics is not None)
    return await _serve_and_run(engine, config, args.duration)


async def _run_node(args: argparse.Namespace, config: Config) -> int:
    try:
        from tickwire.scaleout.aggregate_node import AggregateNode
        from tickwire.scaleout.ingest import IngestNode
    except ImportError as exc:
        raise ValueError(f"role {config.role} needs nats-py ({exc}): pip install 'tickwire[nats]'") from None
    from tickwire.engine import start_local_sinks

    node: IngestNode | AggregateNode
    if config.role == "ingest":
        node = IngestNode(config, recorder=_recorder(config, args))
    elif config.record.directory is not None:
        raise ValueError("--record needs venue connections: role all or ingest")
    elif config.transport.busy_poll:
        raise ValueError("--busy-poll polls venue connections: role all or ingest")
    else:
        node = AggregateNode(config)
    await start_local_sinks(node.sinks)
    return await _serve_and_run(node, config, args.duration)


async def _serve_and_run(node: Engine | AggregateNode, config: Config, duration: float | None) -> int:
    """Run ``node`` (with its metrics endpoint, if configured); its summary goes to stderr."""
    server = await _metrics_server(node, config.metrics, config.metrics_token)
    try:
        await node.run(duration)
    finally:
        if server is not None:
            await server.close()
    print(node.summary(), file=sys.stderr)
    return 0


async def _metrics_server(
    engine: Engine | ObservedNode, address: str | None, token: str | None
) -> MetricsServer | None:
    if address is None:
        return None
    from tickwire.metrics import parse_address
    from tickwire.metrics_server import MetricsServer

    host, port = parse_address(address)
    server = MetricsServer(engine, token=token)
    try:
        await server.start(host, port)
    except OSError as exc:
        raise ValueError(f"metrics: cannot listen on {address}: {exc.strerror or exc}") from None
    print(f"tickwire: metrics on {server.url}/metrics", file=sys.stderr, flush=True)
    return server


def _recorder(config: Config, args: argparse.Namespace) -> Recorder | None:
    record = config.record
    if record.directory is None:
        return None
    from tickwire.record.writer import Recorder, RecordSettings

    settings = RecordSettings(
        directory=record.directory,
        rotate_bytes=int(record.rotate_mb * 1024 * 1024),
        rotate_seconds=record.rotate_seconds,
        chunk_bytes=record.chunk_kb * 1024,
        flush_seconds=record.flush_seconds,
        level=record.level,
        writer_cpus=getattr(args, "writer_cpus", frozenset()),
    )
    try:
        return Recorder(settings, config)
    except OSError as exc:
        raise ValueError(f"cannot record into {record.directory}: {exc.strerror or exc}") from None


def _run_workers(args: argparse.Namespace, config: Config) -> int:
    if config.record.directory is not None:
        raise ValueError("--record records in one process: leave out --workers")
    from tickwire.workers import run_workers

    return run_workers(config, args.duration)


def _replay(args: argparse.Namespace) -> int:
    from tickwire.record.replay import Replayer
    from tickwire.record.sources import open_sources

    for sink in args.sink:
        if sink not in _REPLAY_SINKS:
            raise ValueError(f"unknown sink {sink!r} (a replay writes to: {', '.join(_REPLAY_SINKS)})")
    unreplayable: list[str] = []
    sources = open_sources(args.paths, unreplayable)
    replayer = Replayer(sources, venues=args.venues, sinks=args.sink, speed=args.speed)
    replayer.run()
    for reason in unreplayable:
        print(f"tickwire replay: skipped {reason}", file=sys.stderr)
    print(replayer.summary(), file=sys.stderr)
    return 130 if replayer.interrupted else 0


def _profile(args: argparse.Namespace) -> int:
    from tickwire.profile import PY_SPY_MISSING, ProfileError, find_py_spy, run_profile

    py_spy = find_py_spy()
    if py_spy is None:
        raise ValueError(PY_SPY_MISSING)
    try:
        return _run_loop(lambda: run_profile(args, py_spy))
    except ProfileError as exc:
        print(f"tickwire profile: error: {exc}", file=sys.stderr)
        return 1


def _bench(args: argparse.Namespace) -> int:
    from tickwire.bench import BenchError, run_bench

    try:
        return run_bench(args)
    except BenchError as exc:
        print(f"tickwire bench: error: {exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tickwire`` command; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in arguments if not a.startswith("-")), None)
    parser = _build_parser(command)
    args = parser.parse_args(arguments)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(asctime)s tickwire %(levelname)s %(message)s",
    )
    try:
        if args.command in ("run", "record"):
            if args.command == "record":
                args.sink = ["none"]
            config = load_config(args.config, overrides_from(args))  # fail before any connection
            if config.process.workers:
                return _run_workers(args, config)
            if config.process.pin is not None:
                from tickwire.affinity import cpu_plan

                allowed = os.sched_getaffinity(0)
                (cpu,) = cpu_plan(config.process.pin, 1, allowed)
                os.sched_setaffinity(0, {cpu})
                args.writer_cpus = frozenset(allowed - {cpu})  # where a recording's writer goes
            return _run_loop(lambda: _run(args))
        if args.command == "top":
            from tickwire.top import run_top

            return run_top(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "simulate":
            from tickwire.sim.server import run_from_args

            return _run_loop(lambda: run_from_args(args))
        if args.command == "demo":
            from tickwire.demo import run_demo

            return _run_loop(lambda: run_demo(args))
        if args.command == "profile":
            return _profile(args)
        if args.command == "bench":
            return _bench(args)
    except (ConfigError, ValueError) as exc:
        print(f"tickwire {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.command}")
