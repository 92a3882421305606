"""Run configuration: a TOML file and command-line flags, validated before anything connects.

Every problem raises ConfigError with one line that names the setting and what is wrong.
"""

from __future__ import annotations

import tomllib
from urllib.parse import urlsplit

import msgspec

from tickwire.aggregate import Aggregator, PriceRules, composite_instrument
from tickwire.instruments import (
    DEFAULT_PRICE_SCALE,
    DEFAULT_SIZE_SCALE,
    Instrument,
    InstrumentError,
    parse_symbol,
)
from tickwire.metrics import parse_address
from tickwire.policy import Backoff
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
    "TransportConfig",
    "load_config",
]

SINKS = frozenset({"stdout", "none"})
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
    max_connection_age: float | None = None
    ca_file: str | None = None
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
    metrics: str | None = None  # HOST:PORT serving /metrics and /debug/*; stage timing on with it
    stage_sample: int = 64  # with metrics: the frames that end a socket read and every Nth one
    # inside a burst are timed (1: every frame)

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
        if key in ("endpoints", "nats"):
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
            parse_address(config.metrics)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if config.stage_sample < 1:
        raise ConfigError(f"{where}: stage_sample must be >= 1, got {config.stage_sample}")
    for sink in config.sinks:
        if sink not in SINKS:
            raise ConfigError(f"{where}: unknown sink {sink!r} (known: {', '.join(sorted(SINKS))})")
    for venue, url in config.endpoints.items():
        if venue not in VENUES:
            raise ConfigError(f"{where}: endpoint for unknown venue {venue!r}")
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ConfigError(f"{where}: endpoint {venue}={url!r} is not a ws:// or wss:// URL")
    for venue, url in config.rest_endpoints.items():
        if venue not in VENUES:
            raise ConfigError(f"{where}: rest endpoint for unknown venue {venue!r}")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ConfigError(
                f"{where}: rest endpoint {venue}={url!r} is not an http:// or https:// base URL"
            )
    transport = config.transport
    for name in ("connect_timeout", "silence_timeout"):
        if getattr(transport, name) <= 0:
            raise ConfigError(f"{where}: transport.{name} must be > 0")
    if transport.max_frame_bytes < 1024:
        raise ConfigError(f"{where}: transport.max_frame_bytes must be >= 1024")
    if transport.max_connection_age is not None and transport.max_connection_age <= 0:
        raise ConfigError(f"{where}: transport.max_connection_age must be > 0")
    try:
        transport.backoff.validate()
    except ValueError as exc:
        raise ConfigError(f"{where}: transport.{exc}") from None
    _validate_scaleout(config, where)
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
    if nats.url is None:
        raise ConfigError(f"{where}: role {role} needs a NATS URL (--nats nats://HOST:4222)")
    parts = urlsplit(nats.url)
    if parts.scheme not in ("nats", "tls") or not parts.hostname:
        raise ConfigError(f"{where}: NATS URL {nats.url!r} is not nats://HOST:PORT or tls://HOST:PORT")
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
