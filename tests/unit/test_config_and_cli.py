"""Configuration and flags: valid settings load, every bad one is one clear line and exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tickwire.cli import main
from tickwire.config import ConfigError, load_config


def write(tmp_path, text: str) -> str:
    path = tmp_path / "tickwire.toml"
    path.write_text(text)
    return str(path)


def test_a_toml_file_says_the_same_things_as_flags_and_flags_win(tmp_path):
    path = write(tmp_path, """
venues = ["binance"]
symbols = ["BTC-USDT", "ETH-USDT"]
channels = ["bbo", "trades"]
[endpoints]
binance = "ws://127.0.0.1:9100"
[instruments."ETH-USDT"]
price_scale = 6
[transport]
silence_timeout = 12.5
[transport.backoff]
cap = 5.0
""")
    config = load_config(path, {})
    assert config.symbols == ["BTC-USDT", "ETH-USDT"]
    assert config.endpoints == {"binance": "ws://127.0.0.1:9100"}
    assert config.transport.silence_timeout == 12.5
    assert config.transport.backoff.cap == 5.0
    assert [i.price_scale for i in config.instrument_list()] == [8, 6]
    overridden = load_config(path, {"symbols": ["SOL-USDT"], "silence_timeout": 3.0,
                                    "endpoints": {"binance": "ws://127.0.0.1:9200"}})
    assert overridden.symbols == ["SOL-USDT"]
    assert overridden.transport.silence_timeout == 3.0
    assert overridden.endpoints == {"binance": "ws://127.0.0.1:9200"}


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("venues = ['nasdaq']", "unknown venue 'nasdaq'"),
        ("symbols = ['btcusdt']", "not canonical BASE-QUOTE"),
        ("symbols = []", "no symbols"),
        ("venues = ['binance_usdm_market']\nsymbols = ['BTC-USDT-PERP']",
         "binance_usdm_market serves only ticker, trades; asked for bbo"),
        ("symbols = ['BTC-USDT-PERP']", "venue 'binance' carries none of BTC-USDT-PERP"),
        ("symbols = ['BTC-USDT', 'ETH-USDT-PERP']", "no listed venue carries ETH-USDT-PERP"),
        ("venues = ['binance_usdm']\nsymbols = ['BTC-USD-PERP']",  # USD-M lists no USD perpetuals
         "venue 'binance_usdm' carries none of BTC-USD-PERP"),
        ("venues = ['bybit_linear', 'binance_usdm']\nsymbols = ['BTC-USD-PERP', 'BTC-USDC-PERP']",
         "no listed venue carries BTC-USD-PERP"),
        ("colour = 'blue'", "unknown field `colour`"),
        ("[transport]\nsilence_timeout = 'soon'", "Expected `float`, got `str`"),
        ("[transport]\nsilence_timeout = 0", "silence_timeout must be > 0"),
        ("[endpoints]\nbinance = 'http://x'", "is not a ws:// or wss:// URL"),
        ("channels = ['depth']", "channels must be some of"),
        ("sinks = ['kafka']", "unknown sink 'kafka'"),
        ("[instruments.'eth-usdt']\nprice_scale = 6", "not canonical"),
        ("[instruments.'BTC-USDT']\nprice_scale = 40", "outside 0..18"),
        ("[transport.backoff]\ninitial = 0", "backoff"),
        ("venues = [", "not valid TOML"),
        ("[record]\nrotate_mb = 0", "record.rotate_mb must be > 0"),
        ("[record]\nchunk_kb = 8", "record.chunk_kb must be 64..262144"),
        ("[record]\nlevel = 30", "record.level must be a zstd level"),
    ],
)
def test_each_bad_setting_is_refused_with_a_message_naming_it(tmp_path, text, complaint):
    with pytest.raises(ConfigError, match=None) as info:
        load_config(write(tmp_path, text), {})
    assert complaint in str(info.value)
    assert "\n" not in str(info.value)


def test_recording_settings_come_from_the_toml_file_and_flags_win(tmp_path):
    path = write(tmp_path, "[record]\ndirectory = 'rec'\nrotate_mb = 64\nchunk_kb = 256\nflush_seconds = 0.5\n")
    record = load_config(path, {}).record
    assert (record.directory, record.rotate_mb, record.chunk_kb, record.flush_seconds) == ("rec", 64, 256, 0.5)
    assert record.rotate_seconds == 3600 and record.level == 3  # the defaults
    record = load_config(path, {"record": {"directory": "other", "chunk_kb": 512}}).record
    assert (record.directory, record.rotate_mb, record.chunk_kb) == ("other", 64, 512)


def test_a_missing_config_file_is_named():
    with pytest.raises(ConfigError, match="no-such.toml: cannot read"):
        load_config("no-such.toml", {})


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["run", "--venues", "nasdaq"], "unknown venue 'nasdaq'"),
        (["run", "--symbols", "BTCUSDT"], "not canonical"),
        (["run", "--endpoint", "binance"], "expected VENUE=URL"),
        (["run", "--endpoint", "nasdaq=ws://127.0.0.1:1"], "endpoint for unknown venue 'nasdaq'"),
        (["run", "--silence-timeout", "-1"], "must be > 0"),
        (["run", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["run", "--config", "/nonexistent.toml"], "cannot read"),
        (["simulate", "--rate", "-5"], "rate must be"),
        (["fly"], "invalid choice: 'fly'"),
    ],
)
def test_bad_flags_print_one_line_and_exit_2(argv, complaint):
    result = subprocess.run([sys.executable, "-m", "tickwire", *argv], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert complaint in lines[0]


def test_main_returns_2_without_connecting_for_a_bad_config(capsys):
    assert main(["run", "--venues", "binance,binance"]) == 2
    assert "listed twice" in capsys.readouterr().err
