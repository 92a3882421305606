"""Servers tickwire opens bind loopback unless told otherwise; anywhere else needs a token, which
is checked in constant time and never shown (config errors, recordings, metrics, status)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tickwire.cli import main
from tickwire.config import ConfigError, load_config
from tickwire.metrics_server import MetricsServer
from tickwire.record.reader import RecordingFile
from tickwire.record.writer import Recorder, RecordSettings

from .test_metrics_exposition import fed_engine, http_get

TOKEN = "tok-7f3a9c2e5b1d4f60"


def write(tmp_path, text: str) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "tickwire.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("sinks = ['ws']\n[ws]\nhost = '0.0.0.0'",
         "ws.host 0.0.0.0 is reachable from other hosts: set ws.token (a secret of at least 16 "
         "characters) or bind a loopback address such as 127.0.0.1"),
        ("sinks = ['ws']\n[ws]\nhost = '::'", "ws.host :: is reachable from other hosts"),
        ("sinks = ['ws']\n[ws]\ntoken = 'short'", "ws.token must be at least 16 characters"),
        ("sinks = ['ws']\n[ws]\nport = 70000", "ws.port must be 0..65535"),
        ("metrics = '0.0.0.0:9464'", "metrics 0.0.0.0 is reachable from other hosts: set metrics_token"),
        ("metrics = '127.0.0.1:9464'\nmetrics_token = 'short'", "metrics_token must be at least 16"),
    ],
)
def test_a_server_reachable_from_other_hosts_without_a_token_is_refused(tmp_path, text, complaint):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), {})
    assert complaint in str(info.value) and "\n" not in str(info.value)


def test_with_a_token_any_address_is_accepted_and_loopback_needs_none(tmp_path):
    remote = load_config(write(tmp_path, f"sinks = ['ws']\nmetrics = '0.0.0.0:0'\nmetrics_token = "
                                         f"'{TOKEN}'\n[ws]\nhost = '0.0.0.0'\ntoken = '{TOKEN}'"), {})
    assert (remote.ws.host, remote.ws.token, remote.metrics_token) == ("0.0.0.0", TOKEN, TOKEN)
    local = load_config(None, {"sinks": ["ws"], "metrics": "localhost:0"})
    assert (local.ws.host, local.ws.port, local.ws.token) == ("127.0.0.1", 9465, None)


@pytest.mark.parametrize(
    "text",
    [
        f"sinks = ['ws']\n[ws]\ntoken = '{TOKEN}'\ncolour = 'blue'",
        f"sinks = ['ws']\n[ws]\ntoken = '{TOKEN}'\nport = 'high'",
        f"metrics_token = '{TOKEN}'\nsinks = ['kafka']",
        f"metrics_token = '{TOKEN}'\nvenues = ['nasdaq']",
    ],
)
def test_no_config_error_shows_a_token(tmp_path, text, capsys):
    path = write(tmp_path, text)
    assert main(["run", "--config", path]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and TOKEN not in err


def test_the_ws_flag_sets_the_address_and_a_public_one_without_token_exits_2(capsys):
    assert load_config(None, {"sinks": ["ws"], "ws": {"host": "::1", "port": 0}}).ws.host == "::1"
    assert main(["run", "--sink", "ws", "--ws", "0.0.0.0:0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tickwire run: error: settings: ws.host 0.0.0.0 is reachable from other hosts")


def test_a_recording_keeps_the_configuration_but_no_server_and_no_token(tmp_path):
    config = load_config(write(tmp_path, f"sinks = ['ws']\nmetrics = '0.0.0.0:0'\nmetrics_token = "
                                         f"'{TOKEN}'\n[ws]\nhost = '0.0.0.0'\ntoken = '{TOKEN}'"), {})
    recorder = Recorder(RecordSettings(directory=str(tmp_path / "rec")), config)
    recorder.venue("binance").frame(b"{}", 1)
    recorder.close()
    (path,) = (tmp_path / "rec").iterdir()
    kept = RecordingFile(path).config
    assert (kept.ws.token, kept.metrics_token, kept.ws.host, kept.metrics) == (None, None, "127.0.0.1", None)
    assert kept.sinks == ["ws"] and kept.venues == config.venues
    assert TOKEN.encode() not in path.read_bytes()


def test_the_metrics_server_with_a_token_answers_only_requests_that_carry_it():
    async def scenario():
        server = MetricsServer(fed_engine(), token=TOKEN)
        await server.start("127.0.0.1", 0)
        port = int(server.url.rsplit(":", 1)[1])
        try:
            answers = [await http_get(port, request) for request in (
                b"GET /metrics HTTP/1.1\r\n\r\n",
                f"GET /metrics HTTP/1.1\r\nAuthorization: Bearer {TOKEN}x\r\n\r\n".encode(),
                f"GET /metrics HTTP/1.1\r\nauthorization: Basic {TOKEN}\r\n\r\n".encode(),
                f"GET /debug/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode(),
                f"GET /metrics HTTP/1.1\r\nAUTHORIZATION:   bearer {TOKEN}  \r\n\r\n".encode(),
            )]
        finally:
            await server.close()
        return answers, server.refused

    answers, refused = asyncio.run(asyncio.wait_for(scenario(), 20))
    *denied, status, metrics = answers
    for head, body in denied:
        assert head.startswith("HTTP/1.1 401 Unauthorized") and "WWW-Authenticate: Bearer" in head
        assert body == b"a valid token is required\n"
    assert refused == 3
    assert status[0].startswith("HTTP/1.1 200") and json.loads(status[1])["venues"]
    assert metrics[0].startswith("HTTP/1.1 200") and b"tickwire_frames_total" in metrics[1]
    assert all(TOKEN not in head and TOKEN.encode() not in body for head, body in answers)
