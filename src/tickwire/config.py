"""Run configuration: a TOML file and command-line flags, validated before anything connects.

Every problem raises ConfigError with one line that names the setting and what is wrong.
"""

from __future__ import annotations

import math
import os
import ssl
import tomllib
from urllib.parse import SplitResult, urlsplit

import msgspec

from tickwire.affinity import cpu_plan
from tickwire.aggregate import Aggregator, PriceRules, composite_instrument
from tickwire.instruments import (
    DEFAULT_PRICE_SCALE,
    DEFAULT_SIZE_SCALE,
    Instrument,
    InstrumentError,
    parse_symbol,
)
from tickwire.auth import MIN_TOKEN_LENGTH
from tickwire.metrics import is_loopback, parse_address
from tickwire.policy import Backoff
from tickwire.ring import Ring, RingError
from tickwire.scaleout.codec import parse_shard
from tickwire.venues.base import Channel
from tickwire.venues.registry import VENUES, instruments_for

__all__ = [
    "ROLES",
    "AggregationConfig",
    "Config",
    "ConfigError",
    "InstrumentSettings",
    "NatsConfig",
    "ProcessConfig",
    "TransportConfig",
    "WsConfig",
    "load_config",
]

SINKS = frozenset({"stdout", "ws", "none"})
STDOUT_WHEN_FULL = ("drop-oldest", "wait")
ROLES = ("all", "ingest", "aggregate")


class ConfigError(ValueError):
    """A configuration problem, described in one line."""


class InstrumentSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    price_scale: int = DEFAULT_PRICE_SCALE
    size_scale: int = DEFAULT_SIZE_SCALE
    contract_size: str = ""  # "0.01 BTC" (linear) or "100 USD" (inverse): no fetch from the venue


class TransportConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    connect_timeout: float = 10.0
    silence_timeout: float = 30.0
    max_frame_bytes: int = 4 * 1024 * 1024
    max_frames_per_second: int = 0  # per venue, data frames and pings over it dropped (0: no cap)
    max_connection_age: float | None = None
    ca_file: str | None = None
    busy_poll: bool = False  # the event loop never sleeps: lower latency for a whole core
    backoff: Backoff = Backoff()


class AggregationConfig(PriceRules, frozen=True, forbid_unknown_fields=True):
    """``[aggregation]``: the ``PriceRules`` of every consolidated symbol, ``instruments``
    holding complete rules for some symbols (``load_config`` fills what a table leaves out from
    the section), and ``merge_quotes`` mapping quote currencies together (``{USDC = "USD"}``)."""

    merge_quotes: dict[str, str] = msgspec.field(default_factory=dict)
    instruments: dict[str, PriceRules] = msgspec.field(default_factory=dict)

    def rules(self, symbol: str) -> PriceRules:
        """The rules of consolidated ``symbol``."""
        rules = self.instruments.get(symbol)
        if rules is None:
            rules = PriceRules(**{name: getattr(self, name) for name in PriceRules.__struct_fields__})
        return rules


def _complete_aggregation(section: object, flags: dict[str, object]) -> object:
    """The raw ``[aggregation]`` table with ``flags`` set in it and in every per-instrument
    table, and each per-instrument table completed from the section's own rules."""
    if not isinstance(section, dict):
        return section  # msgspec.convert names the problem
    section = {**section, **flags}
    defaults = {k: v for k, v in section.items() if k in PriceRules.__struct_fields__}
    tables = section.get("instruments")
    if isinstance(tables, dict):
        section["instruments"] = {
            symbol: {**defaults, **table, **flags} if isinstance(table, dict) else table
            for symbol, table in tables.items()
        }
    return section


class ProcessConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``[process]``: multi-core mode and CPU pinning (see ``tickwire.workers``)."""

    workers: int = 0  # venue worker processes feeding this one through rings (0: one process)
    pin: list[int] | str | None = None  # "auto" or CPU ids: this process, then each worker
    ring_slots: int = 65536  # records per worker ring (a power of two)
    ring_full: str = "drop"  # a full ring: drop the newest record, or "wait" (up to 1 s) first
    poll_spin: int = 64  # empty poll turns before the aggregator sleeps on the doorbell
    poll_wait_max: float = 0.002  # seconds: the longest such sleep


class WsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``[ws]``: the consumer WebSocket API of ``sinks = ["ws"]`` (docs/CONSUMER_API.md)."""

    host: str = "127.0.0.1"
    port: int = 9465  # 0: any free port
    token: str | None = None  # required when host is not a loopback address; never logged
    max_buffer_bytes: int = 256 * 1024  # per consumer; above it, the latest line per symbol only


class RecordConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``[record]``: recording every frame (docs/RECORDING.md); on when ``directory`` is set."""

    directory: str | None = None  # rotated *.twr.zst files go here
    rotate_mb: float = 256.0  # a new file after this many compressed MB
    rotate_seconds: float = 3600.0  # … or after this long
    chunk_kb: int = 1024  # records are compressed and written in chunks of this size
    flush_seconds: float = 1.0  # the longest a record waits in a chunk while running
    level: int = 3  # zstd compression level


class NatsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Scale-out on NATS (roles ``ingest`` and ``aggregate``); see docs/SCALEOUT.md."""

    url: str | None = None  # nats://HOST:4222 (tls://… for TLS)
    node: str = ""  # this node's name on NATS; default <host>-<pid>
    heartbeat: float = 1.0  # ingest: seconds between venue statuses (stale after 3 missed)
    shard: str | None = None  # aggregate: "K/N", the instruments of shard K of N
    jetstream_retention: float | None = None  # ingest: keep quotes in JetStream this many seconds
    jetstream_replay: bool = False  # aggregate: start from the last quote JetStream kept per subject


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything ``tickwire run`` needs; field names are the TOML keys."""

    venues: list[str] = msgspec.field(default_factory=lambda: ["binance"])
    symbols: list[str] = msgspec.field(default_factory=lambda: ["BTC-USDT"])
    channels: list[str] = msgspec.field(default_factory=lambda: [Channel.BBO])
    sinks: list[str] = msgspec.field(default_factory=lambda: ["stdout"])
    endpoints: dict[str, str] = msgspec.field(default_factory=dict)
    rest_endpoints: dict[str, str] = msgspec.field(default_factory=dict)
    instruments: dict[str, InstrumentSettings] = msgspec.field(default_factory=dict)
    transport: TransportConfig = TransportConfig()
    aggregation: AggregationConfig = AggregationConfig()
    role: str = "all"  # all (one process), ingest or aggregate (scale-out on NATS)
    nats: NatsConfig = NatsConfig()
    process: ProcessConfig = ProcessConfig()
    record: RecordConfig = RecordConfig()
    metrics: str | None = None  # HOST:PORT serving /metrics and /debug/*; stage timing on with it
    metrics_token: str | None = None  # required when metrics is not on a loopback address
    ws: WsConfig = WsConfig()
    stage_sample: int = 64  # with metrics: the frames that end a socket read and every Nth one
    # inside a burst are timed (1: every frame)
    conflate: bool = False  # aggregate (or, role ingest, publish) once per socket read, each
    # symbol's latest quote of the read (every frame is still decoded); off: once per quote
    stdout_when_full: str = "drop-oldest"  # a stdout pipe its reader does not empty: drop-oldest
    # lines past a bounded backlog (ingestion never waits), or wait for the reader (no line lost)

    def instrument_list(self) -> list[Instrument]:
        """The subscribed instruments with their scales."""
        result = []
        for symbol in self.symbols:
            settings = self.instruments.get(symbol, InstrumentSettings())
            result.append(
                parse_symbol(
                    symbol, settings.price_scale, settings.size_scale, settings.contract_size
                )
            )
        return result

    def without_secrets(self) -> Config:
        """This configuration without the servers it opens and their tokens (what a recording
        keeps: a replay serves nothing, and a recording is shared)."""
        return msgspec.structs.replace(self, metrics=None, metrics_token=None, ws=WsConfig())


def load_config(path: str | None, overrides: dict[str, object]) -> Config:
    """Read ``path`` (TOML; optional), apply ``overrides`` (flag values that were given),
    and validate. Raises ConfigError."""
    raw: dict[str, object] = {}
    if path is not None:
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"config {path}: cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {path}: not valid TOML: {exc}") from None
    where = f"config {path}" if path else "settings"
    raw["aggregation"] = _complete_aggregation(
        raw.get("aggregation", {}), overrides.get("aggregation", {})  # type: ignore[arg-type]
    )
    for key, value in overrides.items():
        if key == "aggregation":
            continue
        if key in ("endpoints", "nats", "process", "ws", "record"):
            merged = dict(raw.get(key, {}))  # type: ignore[call-overload]
            merged.update(value)  # type: ignore[call-overload]
            raw[key] = merged
        elif key in TransportConfig.__struct_fields__:
            transport = dict(raw.get("transport", {}))  # type: ignore[call-overload]
            transport[key] = value
            raw["transport"] = transport
        else:
            raw[key] = value
    try:
        config = msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    validate(config, where)
    return config


def validate(config: Config, where: str) -> None:
    """Raise ConfigError for the first setting that cannot work."""
    _validate_record(config.record, where)
    if not config.venues:
        raise ConfigError(f"{where}: no venues given")
    for venue in config.venues:
        if venue not in VENUES:
            raise ConfigError(
                f"{where}: unknown venue {venue!r} (known: {', '.join(sorted(VENUES))})"
            )
    if len(set(config.venues)) != len(config.venues):
        raise ConfigError(f"{where}: a venue is listed twice in {config.venues}")
    if not config.symbols:
        raise ConfigError(f"{where}: no symbols given")
    try:
        instruments = config.instrument_list()
        for symbol, settings in config.instruments.items():  # may list more than is subscribed
            parse_symbol(symbol, settings.price_scale, settings.size_scale, settings.contract_size)
    except InstrumentError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    unknown = set(config.channels) - Channel.ALL
    if unknown or not config.channels:
        raise ConfigError(
            f"{where}: channels must be some of {', '.join(sorted(Channel.ALL))}, "
            f"got {', '.join(config.channels) or 'none'}"
        )
    if config.role != "aggregate":  # an aggregator takes every venue from NATS
        served: set[str] = set()
        for venue in config.venues:
            carried = instruments_for(venue, instruments)
            if not carried:
                raise ConfigError(f"{where}: venue {venue!r} carries none of {', '.join(config.symbols)}")
            served.update(i.symbol for i in carried)
            try:  # an adapter refuses what its venue cannot serve (channels, symbol spellings)
                VENUES[venue](carried, frozenset(config.channels))
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        for symbol in config.symbols:
            if symbol not in served:
                raise ConfigError(f"{where}: no listed venue carries {symbol}")
    if config.metrics is not None:
        try:
            host, _ = parse_address(config.metrics)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        _check_exposure(host, config.metrics_token, "metrics", "metrics_token", where)
    if config.stage_sample < 1:
        raise ConfigError(f"{where}: stage_sample must be >= 1, got {config.stage_sample}")
    if config.stdout_when_full not in STDOUT_WHEN_FULL:
        raise ConfigError(
            f"{where}: stdout_when_full must be one of {', '.join(STDOUT_WHEN_FULL)}, "
            f"got {config.stdout_when_full!r}"
        )
    for sink in config.sinks:
        if sink not in SINKS:
            raise ConfigError(f"{where}: unknown sink {sink!r} (known: {', '.join(sorted(SINKS))})")
    if "ws" in config.sinks:
        ws = config.ws
        if not 0 <= ws.port <= 65535:
            raise ConfigError(f"{where}: ws.port must be 0..65535, got {ws.port}")
        if ws.max_buffer_bytes < 4096:
            raise ConfigError(f"{where}: ws.max_buffer_bytes must be >= 4096")
        _check_exposure(ws.host, ws.token, "ws.host", "ws.token", where)
    for venue, url in config.endpoints.items():
        if venue not in VENUES:
            raise ConfigError(f"{where}: endpoint for unknown venue {venue!r}")
        _checked_url(url, ("ws", "wss"), f"{where}: endpoints.{venue}", "a ws:// or wss:// URL")
    for venue, url in config.rest_endpoints.items():
        if venue not in VENUES:
            raise ConfigError(f"{where}: rest endpoint for unknown venue {venue!r}")
        parts = _checked_url(
            url, ("http", "https"), f"{where}: rest_endpoints.{venue}", "an http:// or https:// base URL"
        )
        if parts.query:
            raise ConfigError(f"{where}: rest_endpoints.{venue} is not an http:// or https:// base URL (it has a query)")
    transport = config.transport
    if transport.ca_file is not None:
        try:
            ssl.create_default_context(cafile=transport.ca_file)
        except ssl.SSLError:
            raise ConfigError(f"{where}: transport.ca_file: holds no PEM CA certificate") from None
        except OSError as exc:
            raise ConfigError(f"{where}: transport.ca_file: cannot read: {exc.strerror or exc}") from None
    for name in ("connect_timeout", "silence_timeout"):
        if getattr(transport, name) <= 0:
            raise ConfigError(f"{where}: transport.{name} must be > 0")
    if transport.max_frame_bytes < 1024:
        raise ConfigError(f"{where}: transport.max_frame_bytes must be >= 1024")
    if transport.max_frames_per_second < 0:
        raise ConfigError(f"{where}: transport.max_frames_per_second must be >= 0 (0: no cap)")
    if transport.max_connection_age is not None and transport.max_connection_age <= 0:
        raise ConfigError(f"{where}: transport.max_connection_age must be > 0")
    try:
        transport.backoff.validate()
    except ValueError as exc:
        raise ConfigError(f"{where}: transport.{exc}") from None
    _validate_scaleout(config, where)
    _validate_process(config, where)
    _validate_aggregation(config, instruments, where)


def _validate_aggregation(config: Config, instruments: list[Instrument], where: str) -> None:
    aggregation = config.aggregation
    tables = [("aggregation", aggregation.rules(""))]
    tables += [(f"aggregation.instruments.{s}", r) for s, r in aggregation.instruments.items()]
    for name, rules in tables:
        try:
            rules.validate()
        except ValueError as exc:
            raise ConfigError(f"{where}: {name}: {exc}") from None
    merge = aggregation.merge_quotes
    for currency, into in merge.items():
        if into in merge or currency == into:
            raise ConfigError(
                f"{where}: aggregation.merge_quotes: {currency} -> {into}: map each currency "
                f"straight to the one it joins"
            )
    consolidated = {composite_instrument(i, merge).symbol for i in instruments}
    for symbol in aggregation.instruments:
        if symbol not in consolidated:
            raise ConfigError(
                f"{where}: aggregation.instruments.{symbol}: not a consolidated symbol "
                f"(those are {', '.join(sorted(consolidated))})"
            )
    try:
        Aggregator(instruments, aggregation.rules, merge)
    except ValueError as exc:
        raise ConfigError(f"{where}: aggregation.merge_quotes: {exc}") from None


def _validate_scaleout(config: Config, where: str) -> None:
    role, nats = config.role, config.nats
    if role not in ROLES:
        raise ConfigError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
    if role == "all":
        if nats.url is not None:
            raise ConfigError(f"{where}: a NATS URL needs role ingest or aggregate (role is all)")
        return
    if config.conflate and role == "aggregate":
        raise ConfigError(f"{where}: conflate holds a venue connection's quotes: role all or ingest")
    if nats.url is None:
        raise ConfigError(f"{where}: role {role} needs a NATS URL (--nats nats://HOST:4222)")
    _checked_url(nats.url, ("nats", "tls"), f"{where}: nats.url", "nats://HOST:PORT or tls://HOST:PORT")
    if not nats.heartbeat > 0:
        raise ConfigError(f"{where}: nats.heartbeat must be > 0 seconds")
    if nats.shard is not None:
        if role != "aggregate":
            raise ConfigError(f"{where}: a shard is for role aggregate (role is {role})")
        try:
            parse_shard(nats.shard)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if nats.jetstream_retention is not None:
        if role != "ingest":
            raise ConfigError(f"{where}: JetStream retention is set by role ingest (role is {role})")
        if not nats.jetstream_retention > 0:
            raise ConfigError(f"{where}: nats.jetstream_retention must be > 0 seconds")
    if nats.jetstream_replay and role != "aggregate":
        raise ConfigError(f"{where}: JetStream replay is for role aggregate (role is {role})")


def _checked_url(url: str, schemes: tuple[str, ...], setting: str, kind: str) -> SplitResult:
    """``url`` split, or ConfigError naming ``setting``: a scheme not in ``schemes``, no host or a
    bad port. The message never shows the URL, so a user name, password or token in it is not
    printed."""
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise ConfigError(f"{setting} is not {kind} (the scheme must be {' or '.join(schemes)})")
    if not parts.hostname:
        raise ConfigError(f"{setting} is not {kind} (no host)")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"{setting} is not {kind} (the port must be a number in 1..65535)")
    return parts


def _validate_process(config: Config, where: str) -> None:
    process = config.process
    if process.pin is not None:
        try:
            cpu_plan(process.pin, 1 + process.workers, os.sched_getaffinity(0))
        except ValueError as exc:
            raise ConfigError(f"{where}: process.{exc}") from None
    if not process.workers:
        return
    if process.workers < 0:
        raise ConfigError(f"{where}: process.workers must be >= 0, got {process.workers}")
    if process.workers > len(config.venues):
        raise ConfigError(
            f"{where}: process.workers is {process.workers} but there are {len(config.venues)} "
            f"venues (a worker needs at least one)"
        )
    if config.role != "all":
        raise ConfigError(f"{where}: process.workers needs role all (role is {config.role})")
    if config.metrics is not None:
        raise ConfigError(f"{where}: --metrics serves one process; with process.workers the ring "
                          f"and worker counters are printed at exit")
    try:
        Ring.check(process.ring_slots, process.ring_full)
    except RingError as exc:
        raise ConfigError(f"{where}: process.{exc}") from None
    if process.poll_spin < 0 or not process.poll_wait_max > 0:
        raise ConfigError(f"{where}: process.poll_spin must be >= 0 and poll_wait_max > 0 seconds")


def _check_exposure(host: str, token: str | None, setting: str, token_setting: str, where: str) -> None:
    """ConfigError unless a server on ``host`` is loopback-only or has a token long enough. The
    message names the setting, never the token."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"{where}: {token_setting} must be at least {MIN_TOKEN_LENGTH} characters")
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"{where}: {setting} {host} is reachable from other hosts: set {token_setting} (a secret "
            f"of at least {MIN_TOKEN_LENGTH} characters) or bind a loopback address such as 127.0.0.1"
        )


def _validate_record(record: RecordConfig, where: str) -> None:
    for name in ("rotate_mb", "rotate_seconds", "flush_seconds"):
        value = getattr(record, name)
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{where}: record.{name} must be > 0, got {value}")
    if not 64 <= record.chunk_kb <= 256 * 1024:
        raise ConfigError(f"{where}: record.chunk_kb must be 64..262144 (KiB), got {record.chunk_kb}")
    if not 1 <= record.level <= 22:
        raise ConfigError(f"{where}: record.level must be a zstd level 1..22, got {record.level}")
