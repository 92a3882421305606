"""Bad configuration through the real CLI: one line naming the setting, exit status 2, no secret
echoed, and no connection made (the endpoints point at a listening socket that must stay idle)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "s3cret-T0KEN"

# (TOML, with {ws} a ws:// URL of the listening socket; what the error line must say)
CASES = [
    ("colour = 'blue'\n[endpoints]\nbinance = '{ws}'", "unknown field `colour`"),
    ("[transport]\ntimeout = 3\n[endpoints]\nbinance = '{ws}'", "unknown field `timeout` - at `$.transport`"),
    ("venues = 'binance'\n[endpoints]\nbinance = '{ws}'", "Expected `array`, got `str` - at `$.venues`"),
    ("[transport]\nconnect_timeout = 'soon'\n[endpoints]\nbinance = '{ws}'",
     "Expected `float`, got `str` - at `$.transport.connect_timeout`"),
    ("stage_sample = 1.5\n[endpoints]\nbinance = '{ws}'", "Expected `int`, got `float` - at `$.stage_sample`"),
    ("venues = ['binance', 'nasdaq']\n[endpoints]\nbinance = '{ws}'", "unknown venue 'nasdaq'"),
    ("symbols = ['BTC/USDT']\n[endpoints]\nbinance = '{ws}'", "not canonical"),
    ("symbols = ['BTC-USDT-PERP']\n[endpoints]\nbinance = '{ws}'", "venue 'binance' carries none of BTC-USDT-PERP"),
    ("symbols = ['BTC-USDT', 'BTC-USD-PERP']\n[endpoints]\nbinance = '{ws}'", "no listed venue carries BTC-USD-PERP"),
    ("[endpoints]\nbinance = '{ws}'\nnasdaq = '{ws}'", "endpoint for unknown venue 'nasdaq'"),
    ("[endpoints]\nbinance = 'ftp://127.0.0.1:{port}/?token=" + SECRET + "'",
     "endpoints.binance is not a ws:// or wss:// URL (the scheme must be ws or wss)"),
    ("[endpoints]\nbinance = 'ws:///stream?token=" + SECRET + "'", "endpoints.binance is not a ws:// or wss:// URL (no host)"),
    ("[endpoints]\nbinance = 'wss://user:" + SECRET + "@127.0.0.1:99999/stream'",
     "endpoints.binance is not a ws:// or wss:// URL (the port must be a number in 1..65535)"),
    ("[endpoints]\nbinance = 'ws://127.0.0.1:port/" + SECRET + "'", "the port must be a number in 1..65535"),
    ("venues = ['okx']\n[endpoints]\nokx = '{ws}'\n[rest_endpoints]\nokx = 'ws://127.0.0.1:{port}'",
     "rest_endpoints.okx is not an http:// or https:// base URL (the scheme must be http or https)"),
    ("venues = ['okx']\n[endpoints]\nokx = '{ws}'\n[rest_endpoints]\nokx = 'https://127.0.0.1:{port}/?key=" + SECRET + "'",
     "rest_endpoints.okx is not an http:// or https:// base URL (it has a query)"),
    ("role = 'ingest'\n[nats]\nurl = 'http://app:" + SECRET + "@127.0.0.1:4222'\n[endpoints]\nbinance = '{ws}'",
     "nats.url is not nats://HOST:PORT or tls://HOST:PORT (the scheme must be nats or tls)"),
    ("[transport]\nca_file = '/nonexistent/ca.pem'\n[endpoints]\nbinance = '{ws}'", "transport.ca_file: cannot read"),
    ("metrics = '127.0.0.1:0'\nmetrics_token = '" + SECRET + "'\n[endpoints]\nbinance = '{ws}'",
     "metrics_token must be at least"),
    ("sinks = ['ws']\n[ws]\nport = 0\ntoken = '" + SECRET + "'\n[endpoints]\nbinance = '{ws}'",
     "ws.token must be at least"),
    ("metrics_token = 1234567890123456789\n[endpoints]\nbinance = '{ws}'",
     "Expected `str | null`, got `int` - at `$.metrics_token`"),
    ("venues = ['nasdaq']\nmetrics = '127.0.0.1:0'\nmetrics_token = '" + SECRET * 3 + "'\n[endpoints]\nbinance = '{ws}'",
     "unknown venue 'nasdaq'"),
    ("channels = ['depth']\n[endpoints]\nbinance = '{ws}'", "channels must be some of"),
    ("sinks = ['kafka']\n[endpoints]\nbinance = '{ws}'", "unknown sink 'kafka'"),
]


@pytest.fixture
def listener():
    """A listening loopback socket that no valid part of a refused configuration may reach."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


def assert_nothing_connected(sock: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        sock.accept()[0].close()


def refused(argv: list[str]) -> str:
    """The one stderr line of ``tickwire ARGV``, which must exit 2 without output."""
    result = subprocess.run([sys.executable, "-m", "tickwire", *argv], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(("toml", "complaint"), CASES, ids=[complaint for _, complaint in CASES])
def test_a_bad_config_file_is_one_line_exit_2_and_no_connection(tmp_path: Path, listener, toml, complaint):
    port = listener.getsockname()[1]
    config = tmp_path / "tickwire.toml"
    config.write_text(toml.replace("{ws}", f"ws://127.0.0.1:{port}/stream").replace("{port}", str(port)))
    line = refused(["run", "--config", str(config)])
    assert line.startswith(f"tickwire run: error: config {config}: ")
    assert complaint in line
    assert SECRET not in line
    assert_nothing_connected(listener)


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (["--symbols", "BTC-USDT,eth_usdt"], "not canonical"),
        (["--venues", "binance,nasdaq"], "unknown venue 'nasdaq'"),
        (["--ca-file", "/nonexistent/ca.pem"], "transport.ca_file: cannot read"),
        (["--sink", "kafka"], "unknown sink 'kafka'"),
    ],
)
def test_bad_flags_are_refused_before_connecting(listener, flags, complaint):
    port = listener.getsockname()[1]
    line = refused(["run", "--endpoint", f"binance=ws://127.0.0.1:{port}/stream", *flags])
    assert complaint in line
    assert_nothing_connected(listener)


def test_an_endpoint_flag_with_a_secret_is_refused_without_echoing_it(listener):
    port = listener.getsockname()[1]
    line = refused(["run", "--endpoint", f"binance=http://127.0.0.1:{port}/?token={SECRET}"])
    assert "endpoints.binance is not a ws:// or wss:// URL" in line
    assert SECRET not in line
    assert_nothing_connected(listener)
