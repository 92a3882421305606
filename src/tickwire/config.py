"""Run configuration: a TOML file and command-line flags, validated before anything connects.

Every problem raises ConfigError with one line that names the setting and what is wrong.
"""

from __future__ import annotations

import tomllib
from urllib.parse import urlsplit

import msgspec

from tickwire.instruments import (
    DEFAULT_PRICE_SCALE,
    DEFAULT_SIZE_SCALE,
    Instrument,
    InstrumentError,
    parse_symbol,
)
from tickwire.policy import Backoff
from tickwire.venues.base import Channel
from tickwire.venues.registry import VENUES, instruments_for

__all__ = ["Config", "ConfigError", "InstrumentSettings", "TransportConfig", "load_config"]

SINKS = frozenset({"stdout", "none"})


class ConfigError(ValueError):
    """A configuration problem, described in one line."""


class InstrumentSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    price_scale: int = DEFAULT_PRICE_SCALE
    size_scale: int = DEFAULT_SIZE_SCALE


class TransportConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    connect_timeout: float = 10.0
    silence_timeout: float = 30.0
    max_frame_bytes: int = 4 * 1024 * 1024
    max_connection_age: float | None = None
    ca_file: str | None = None
    backoff: Backoff = Backoff()


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything ``tickwire run`` needs; field names are the TOML keys."""

    venues: list[str] = msgspec.field(default_factory=lambda: ["binance"])
    symbols: list[str] = msgspec.field(default_factory=lambda: ["BTC-USDT"])
    channels: list[str] = msgspec.field(default_factory=lambda: [Channel.BBO])
    sinks: list[str] = msgspec.field(default_factory=lambda: ["stdout"])
    endpoints: dict[str, str] = msgspec.field(default_factory=dict)
    instruments: dict[str, InstrumentSettings] = msgspec.field(default_factory=dict)
    transport: TransportConfig = TransportConfig()

    def instrument_list(self) -> list[Instrument]:
        """The subscribed instruments with their scales."""
        result = []
        for symbol in self.symbols:
            settings = self.instruments.get(symbol, InstrumentSettings())
            result.append(parse_symbol(symbol, settings.price_scale, settings.size_scale))
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
    for key, value in overrides.items():
        if key == "endpoints":
            merged = dict(raw.get("endpoints", {}))  # type: ignore[call-overload]
            merged.update(value)  # type: ignore[call-overload]
            raw["endpoints"] = merged
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
            parse_symbol(symbol, settings.price_scale, settings.size_scale)
    except InstrumentError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    unknown = set(config.channels) - Channel.ALL
    if unknown or not config.channels:
        raise ConfigError(
            f"{where}: channels must be some of {', '.join(sorted(Channel.ALL))}, "
            f"got {', '.join(config.channels) or 'none'}"
        )
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
    for sink in config.sinks:
        if sink not in SINKS:
            raise ConfigError(f"{where}: unknown sink {sink!r} (known: {', '.join(sorted(SINKS))})")
    for venue, url in config.endpoints.items():
        if venue not in VENUES:
            raise ConfigError(f"{where}: endpoint for unknown venue {venue!r}")
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ConfigError(f"{where}: endpoint {venue}={url!r} is not a ws:// or wss:// URL")
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
