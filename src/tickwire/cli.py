"""Command line: ``tickwire run | simulate | demo``.

Bad flags or configuration print one line naming the problem and exit with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any, Callable, Coroutine, NoReturn, Sequence

from tickwire import __version__
from tickwire.config import ConfigError, load_config

__all__ = ["main"]

EXIT_USAGE = 2


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


def overrides_from(args: argparse.Namespace) -> dict[str, object]:
    """The configuration values that flags set."""
    overrides: dict[str, object] = {}
    for name in ("venues", "symbols", "channels", "connect_timeout", "silence_timeout"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "sink", None) is not None:
        overrides["sinks"] = args.sink
    if args.endpoint:
        overrides["endpoints"] = dict(args.endpoint)
    return overrides


def _build_parser(command: str | None) -> argparse.ArgumentParser:
    """The parser; only the chosen ``command``'s module is imported for its flags, so a
    problem in the simulator or the demo can never stop ``tickwire run``."""
    parser = _Parser(prog="tickwire", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"tickwire {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="connect to venues and publish consolidated prices")
    add_pipeline_arguments(run)
    run.add_argument("--sink", type=_comma_list, help="stdout (default) or none")

    simulate = commands.add_parser("simulate", help="serve simulated venues on loopback")
    if command == "simulate":
        from tickwire.sim.server import add_arguments as add_simulator_arguments

        add_simulator_arguments(simulate)

    demo = commands.add_parser("demo", help="simulator + pipeline + live terminal view")
    if command == "demo":
        from tickwire.demo import add_arguments as add_demo_arguments

        add_demo_arguments(demo)
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
    engine = Engine(config)
    await engine.run(args.duration)
    print(engine.summary(), file=sys.stderr)
    return 0


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
        if args.command == "run":
            load_config(args.config, overrides_from(args))  # fail before any connection
            return _run_loop(lambda: _run(args))
        if args.command == "simulate":
            from tickwire.sim.server import run_from_args

            return _run_loop(lambda: run_from_args(args))
        if args.command == "demo":
            from tickwire.demo import run_demo

            return _run_loop(lambda: run_demo(args))
    except (ConfigError, ValueError) as exc:
        print(f"tickwire {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.command}")
